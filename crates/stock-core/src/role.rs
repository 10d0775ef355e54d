//! Who may do what.

/// The role an API key carries. Each role may do everything the one below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads availability and checks a basket.
    Storefront,
    /// An order service: also decreases, increases and syncs stock.
    Service,
    /// Everything, including items, locations and reports.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Storefront, Role::Service, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Storefront => "storefront",
            Role::Service => "service",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == raw)
    }

    /// Whether a key with this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest() {
        assert!(Role::Admin.allows(Role::Service));
        assert!(Role::Admin.allows(Role::Storefront));
        assert!(Role::Service.allows(Role::Storefront));
        assert!(!Role::Service.allows(Role::Admin));
        assert!(!Role::Storefront.allows(Role::Service));
        assert_eq!(Role::parse("service"), Some(Role::Service));
        assert_eq!(Role::parse("root"), None);
    }
}
