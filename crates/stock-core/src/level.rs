//! Items, levels and the ledger's operations.

use crate::ids::ItemId;

/// Whether an item may be sold, restocked or touched at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    /// Sold and restocked as usual.
    Active,
    /// Not for sale: stock may come in, none may go out.
    Inactive,
    /// Frozen: no stock change at all until unlocked (for a count, say).
    Locked,
}

impl ItemStatus {
    pub const ALL: [ItemStatus; 3] = [ItemStatus::Active, ItemStatus::Inactive, ItemStatus::Locked];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Active => "active",
            ItemStatus::Inactive => "inactive",
            ItemStatus::Locked => "locked",
        }
    }

    pub fn parse(raw: &str) -> Option<ItemStatus> {
        ItemStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == raw)
    }
}

/// An item (SKU) and the rules its stock follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: ItemId,
    pub name: String,
    pub status: ItemStatus,
    /// The low-stock threshold; `None` means the configured default.
    pub min_stock: Option<i64>,
    pub max_stock: Option<i64>,
    pub allow_backorder: bool,
}

/// Stock of one item at one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Level {
    pub on_hand: i64,
    pub reserved: i64,
    /// Bumped by every change; a caller may compare and set against it.
    pub version: i64,
}

impl Level {
    /// What can still be sold. Saturates rather than wraps: a level whose
    /// difference does not fit in 64 bits is reported at the bound.
    pub fn available(&self) -> i64 {
        self.on_hand.saturating_sub(self.reserved)
    }
}

/// How an available quantity stands against a low-stock threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelState {
    InStock,
    LowStock,
    OutOfStock,
}

impl LevelState {
    pub fn of(available: i64, low_stock_threshold: i64) -> LevelState {
        if available <= 0 {
            LevelState::OutOfStock
        } else if available <= low_stock_threshold {
            LevelState::LowStock
        } else {
            LevelState::InStock
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LevelState::InStock => "in_stock",
            LevelState::LowStock => "low_stock",
            LevelState::OutOfStock => "out_of_stock",
        }
    }
}

/// What a ledger row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Init,
    Add,
    Deduct,
    Reserve,
    Release,
    Commit,
    Adjust,
    Set,
    Sync,
    Transfer,
    /// Sold stock put back, as when a paid order is cancelled.
    Return,
}

impl Operation {
    pub const ALL: [Operation; 11] = [
        Operation::Init,
        Operation::Add,
        Operation::Deduct,
        Operation::Reserve,
        Operation::Release,
        Operation::Commit,
        Operation::Adjust,
        Operation::Set,
        Operation::Sync,
        Operation::Transfer,
        Operation::Return,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Init => "init",
            Operation::Add => "add",
            Operation::Deduct => "deduct",
            Operation::Reserve => "reserve",
            Operation::Release => "release",
            Operation::Commit => "commit",
            Operation::Adjust => "adjust",
            Operation::Set => "set",
            Operation::Sync => "sync",
            Operation::Transfer => "transfer",
            Operation::Return => "return",
        }
    }

    pub fn parse(raw: &str) -> Option<Operation> {
        Operation::ALL
            .into_iter()
            .find(|operation| operation.as_str() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_follow_the_threshold() {
        let check = |available, threshold, expect| {
            assert_eq!(
                LevelState::of(available, threshold),
                expect,
                "{available} vs {threshold}"
            )
        };
        check(-3, 10, LevelState::OutOfStock);
        check(0, 10, LevelState::OutOfStock);
        check(1, 10, LevelState::LowStock);
        check(10, 10, LevelState::LowStock);
        check(11, 10, LevelState::InStock);
        check(1, 0, LevelState::InStock);
    }

    #[test]
    fn names_round_trip() {
        for operation in Operation::ALL {
            assert_eq!(Operation::parse(operation.as_str()), Some(operation));
        }
        for status in ItemStatus::ALL {
            assert_eq!(ItemStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ItemStatus::parse("ACTIVE"), None);
    }

    #[test]
    fn available_saturates() {
        let level = Level {
            on_hand: i64::MIN,
            reserved: 1,
            version: 0,
        };
        assert_eq!(level.available(), i64::MIN);
    }
}
