//! Identifiers that cannot be invalid once they exist.

use std::fmt;

/// The longest item or location id accepted, in bytes.
pub const ID_LENGTH_MAX: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    Empty,
    TooLong { length: usize },
    BadCharacter { character: char },
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Empty => write!(f, "must not be empty"),
            IdError::TooLong { length } => {
                write!(f, "is {length} bytes long; the limit is {ID_LENGTH_MAX}")
            }
            IdError::BadCharacter { character } => write!(
                f,
                "contains {character:?}; only letters, digits and - _ . : are allowed"
            ),
        }
    }
}

impl std::error::Error for IdError {}

fn check_id(raw: &str) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty);
    }
    if raw.len() > ID_LENGTH_MAX {
        return Err(IdError::TooLong { length: raw.len() });
    }
    // Ids travel in URL paths and CSV files, so they keep to a safe alphabet.
    if let Some(character) = raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return Err(IdError::BadCharacter { character });
    }
    Ok(())
}

/// An item (SKU) id. A shop's numeric product id `1001` becomes `"1001"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(String);

impl ItemId {
    pub fn parse(raw: &str) -> Result<ItemId, IdError> {
        check_id(raw)?;
        Ok(ItemId(raw.to_owned()))
    }

    /// The decimal form of a numeric id, as shops that number products send it.
    pub fn from_number(number: i64) -> ItemId {
        ItemId(number.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A location (warehouse) id. The location `default` always exists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocationId(String);

impl LocationId {
    pub const DEFAULT: &'static str = "default";

    pub fn parse(raw: &str) -> Result<LocationId, IdError> {
        check_id(raw)?;
        Ok(LocationId(raw.to_owned()))
    }

    pub fn default_location() -> LocationId {
        LocationId(Self::DEFAULT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LocationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Result<&str, IdError>) {
        let got = ItemId::parse(input);
        assert_eq!(
            got.as_ref().map(ItemId::as_str).map_err(Clone::clone),
            expect
        );
    }

    #[test]
    fn item_ids() {
        check("1001", Ok("1001"));
        check("SKU-001_a.b:c", Ok("SKU-001_a.b:c"));
        check("", Err(IdError::Empty));
        check("a b", Err(IdError::BadCharacter { character: ' ' }));
        check("a/b", Err(IdError::BadCharacter { character: '/' }));
        check("商品", Err(IdError::BadCharacter { character: '商' }));
        check(&"x".repeat(65), Err(IdError::TooLong { length: 65 }));
        check(&"x".repeat(64), Ok(&"x".repeat(64)));
    }

    #[test]
    fn numbers_become_their_decimal_string() {
        assert_eq!(ItemId::from_number(1001).as_str(), "1001");
        assert_eq!(ItemId::from_number(-7).as_str(), "-7");
    }
}
