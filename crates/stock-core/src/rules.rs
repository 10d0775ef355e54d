//! The rules that decide what a change does to a level.
//!
//! Every stock change in stockd is decided here, by pure functions over the
//! item and its current level, before anything is written. The store applies
//! the returned transitions exactly as they are.

use std::collections::HashSet;
use std::fmt;

use crate::ids::{ItemId, LocationId};
use crate::level::{Item, ItemStatus, Level};

/// The most lines one multi-item request may carry.
pub const LINES_MAX: usize = 100;

/// A level before and after one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub before: Level,
    pub after: Level,
}

impl Transition {
    pub fn on_hand_delta(&self) -> i64 {
        // Both values fit and were produced by checked arithmetic from each
        // other, so their difference fits too.
        self.after.on_hand - self.before.on_hand
    }

    pub fn reserved_delta(&self) -> i64 {
        self.after.reserved - self.before.reserved
    }
}

/// One line that lacks stock, with what was asked and what there is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    pub item: ItemId,
    /// `None` when the line could take from any location.
    pub location: Option<LocationId>,
    /// How much the line asked for; unsigned, so that the largest deduction
    /// (`i64::MIN`) is reported as the number it is.
    pub requested: u64,
    pub available: i64,
}

/// Why a change was refused. Nothing is written when any of these is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockError {
    /// One entry per line that lacks stock; never empty.
    InsufficientStock {
        shortages: Vec<Shortage>,
    },
    ItemLocked {
        item: ItemId,
    },
    ItemInactive {
        item: ItemId,
    },
    /// The result would not fit in a signed 64-bit integer.
    Overflow {
        item: ItemId,
    },
    VersionConflict {
        item: ItemId,
        expected: i64,
        actual: i64,
    },
    /// A change of zero, or a line that names the same item and location twice.
    InvalidChange {
        item: ItemId,
        reason: &'static str,
    },
}

impl fmt::Display for StockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StockError::InsufficientStock { shortages } => {
                write!(f, "insufficient stock for ")?;
                for (index, shortage) in shortages.iter().enumerate() {
                    if index > 0 {
                        write!(f, ", ")?;
                    }
                    let location = match &shortage.location {
                        Some(location) => format!("at {location}"),
                        None => "across all locations".to_owned(),
                    };
                    write!(
                        f,
                        "{} {location} (requested {}, available {})",
                        shortage.item, shortage.requested, shortage.available
                    )?;
                }
                Ok(())
            }
            StockError::ItemLocked { item } => write!(f, "item {item} is locked"),
            StockError::ItemInactive { item } => {
                write!(
                    f,
                    "item {item} is inactive: stock may come in, none may go out"
                )
            }
            StockError::Overflow { item } => {
                write!(
                    f,
                    "the change to item {item} would overflow a 64-bit quantity"
                )
            }
            StockError::VersionConflict {
                item,
                expected,
                actual,
            } => write!(
                f,
                "item {item} is at version {actual}, not the expected {expected}"
            ),
            StockError::InvalidChange { item, reason } => write!(f, "item {item}: {reason}"),
        }
    }
}

impl std::error::Error for StockError {}

fn next_version(item: &Item, level: &Level) -> Result<i64, StockError> {
    level
        .version
        .checked_add(1)
        .ok_or_else(|| StockError::Overflow {
            item: item.id.clone(),
        })
}

/// Adds `delta` (which may be negative) to the on-hand quantity.
///
/// A decrease may not take available stock below zero unless the item allows
/// backorder; a locked item takes no change, an inactive one takes no decrease.
pub fn apply_delta(
    item: &Item,
    location: &LocationId,
    level: &Level,
    delta: i64,
) -> Result<Transition, StockError> {
    if delta == 0 {
        return Err(StockError::InvalidChange {
            item: item.id.clone(),
            reason: "a change of zero",
        });
    }
    if item.status == ItemStatus::Locked {
        return Err(StockError::ItemLocked {
            item: item.id.clone(),
        });
    }
    if delta < 0 && item.status == ItemStatus::Inactive {
        return Err(StockError::ItemInactive {
            item: item.id.clone(),
        });
    }
    let on_hand = level
        .on_hand
        .checked_add(delta)
        .ok_or_else(|| StockError::Overflow {
            item: item.id.clone(),
        })?;
    let available_after =
        on_hand
            .checked_sub(level.reserved)
            .ok_or_else(|| StockError::Overflow {
                item: item.id.clone(),
            })?;
    if delta < 0 && available_after < 0 && !item.allow_backorder {
        return Err(StockError::InsufficientStock {
            shortages: vec![Shortage {
                item: item.id.clone(),
                location: Some(location.clone()),
                requested: delta.unsigned_abs(),
                available: level.available(),
            }],
        });
    }
    let after = Level {
        on_hand,
        reserved: level.reserved,
        version: next_version(item, level)?,
    };
    Ok(Transition {
        before: *level,
        after,
    })
}

/// Sets the on-hand quantity to `target` after a count, if the level is still
/// at `expected_version`. Allowed on a locked item: locking for a count and
/// then setting the counted figure is the usual way to count.
pub fn set_on_hand(
    item: &Item,
    level: &Level,
    target: i64,
    expected_version: i64,
) -> Result<Transition, StockError> {
    if level.version != expected_version {
        return Err(StockError::VersionConflict {
            item: item.id.clone(),
            expected: expected_version,
            actual: level.version,
        });
    }
    if !item.allow_backorder && target < level.reserved {
        return Err(StockError::InvalidChange {
            item: item.id.clone(),
            reason: "the new stock is below what is reserved and the item does not allow backorder",
        });
    }
    let after = Level {
        on_hand: target,
        reserved: level.reserved,
        version: next_version(item, level)?,
    };
    Ok(Transition {
        before: *level,
        after,
    })
}

/// Takes the on-hand quantity to `target`, the figure a supplier reports for
/// stock it keeps; `None` when the level is there already, so nothing need
/// be written. An item without backorder keeps what is held: on hand goes no
/// lower than reserved, and the caller reports the part of the figure that
/// could not be applied. Allowed whatever the item's status: a sync records
/// a fact about stock elsewhere, it neither sells nor restocks.
pub fn sync_on_hand(
    item: &Item,
    level: &Level,
    target: i64,
) -> Result<Option<Transition>, StockError> {
    if target < 0 {
        return Err(StockError::InvalidChange {
            item: item.id.clone(),
            reason: "a supplier's stock is never below zero",
        });
    }
    let on_hand = if item.allow_backorder {
        target
    } else {
        target.max(level.reserved)
    };
    if on_hand == level.on_hand {
        return Ok(None);
    }
    let after = Level {
        on_hand,
        reserved: level.reserved,
        version: next_version(item, level)?,
    };
    Ok(Some(Transition {
        before: *level,
        after,
    }))
}

fn positive(item: &Item, quantity: i64) -> Result<(), StockError> {
    if quantity <= 0 {
        return Err(StockError::InvalidChange {
            item: item.id.clone(),
            reason: "a quantity must be at least 1",
        });
    }
    Ok(())
}

/// Holds `quantity` for an order: reserved rises, available falls. Refused
/// beyond available stock unless the item allows backorder.
pub fn reserve(
    item: &Item,
    location: &LocationId,
    level: &Level,
    quantity: i64,
) -> Result<Transition, StockError> {
    positive(item, quantity)?;
    match item.status {
        ItemStatus::Locked => {
            return Err(StockError::ItemLocked {
                item: item.id.clone(),
            })
        }
        ItemStatus::Inactive => {
            return Err(StockError::ItemInactive {
                item: item.id.clone(),
            })
        }
        ItemStatus::Active => {}
    }
    let overflow = || StockError::Overflow {
        item: item.id.clone(),
    };
    let reserved = level.reserved.checked_add(quantity).ok_or_else(overflow)?;
    let available_after = level.on_hand.checked_sub(reserved).ok_or_else(overflow)?;
    if available_after < 0 && !item.allow_backorder {
        return Err(StockError::InsufficientStock {
            shortages: vec![Shortage {
                item: item.id.clone(),
                location: Some(location.clone()),
                requested: quantity.unsigned_abs(),
                available: level.available(),
            }],
        });
    }
    let after = Level {
        on_hand: level.on_hand,
        reserved,
        version: next_version(item, level)?,
    };
    Ok(Transition {
        before: *level,
        after,
    })
}

/// Gives a hold's `quantity` back: reserved falls. Always allowed, whatever
/// the item's status: stock that was held must be able to come back.
pub fn release(item: &Item, level: &Level, quantity: i64) -> Result<Transition, StockError> {
    positive(item, quantity)?;
    assert!(
        level.reserved >= quantity,
        "a hold never releases more than is reserved"
    );
    let after = Level {
        on_hand: level.on_hand,
        reserved: level.reserved - quantity,
        version: next_version(item, level)?,
    };
    Ok(Transition {
        before: *level,
        after,
    })
}

/// Turns a hold's `quantity` into a sale: on hand and reserved both fall, so
/// available does not move. Allowed whatever the item's status: the stock
/// was promised when the hold was made.
pub fn commit(item: &Item, level: &Level, quantity: i64) -> Result<Transition, StockError> {
    positive(item, quantity)?;
    assert!(
        level.reserved >= quantity,
        "a hold never commits more than is reserved"
    );
    let on_hand = level
        .on_hand
        .checked_sub(quantity)
        .ok_or_else(|| StockError::Overflow {
            item: item.id.clone(),
        })?;
    let after = Level {
        on_hand,
        reserved: level.reserved - quantity,
        version: next_version(item, level)?,
    };
    Ok(Transition {
        before: *level,
        after,
    })
}

/// Puts sold stock back (a paid order cancelled): on hand rises.
pub fn give_back(item: &Item, level: &Level, quantity: i64) -> Result<Transition, StockError> {
    positive(item, quantity)?;
    let on_hand = level
        .on_hand
        .checked_add(quantity)
        .ok_or_else(|| StockError::Overflow {
            item: item.id.clone(),
        })?;
    let after = Level {
        on_hand,
        reserved: level.reserved,
        version: next_version(item, level)?,
    };
    Ok(Transition {
        before: *level,
        after,
    })
}

/// Moves `quantity` from one location's level to another's. The source must
/// have it available: a transfer never makes stock negative, backorder or
/// not. Refused for a locked item only; moving stock is not selling it.
pub fn transfer(
    item: &Item,
    source_location: &LocationId,
    source: &Level,
    target: &Level,
    quantity: i64,
) -> Result<(Transition, Transition), StockError> {
    positive(item, quantity)?;
    if item.status == ItemStatus::Locked {
        return Err(StockError::ItemLocked {
            item: item.id.clone(),
        });
    }
    if source.available() < quantity {
        return Err(StockError::InsufficientStock {
            shortages: vec![Shortage {
                item: item.id.clone(),
                location: Some(source_location.clone()),
                requested: quantity.unsigned_abs(),
                available: source.available(),
            }],
        });
    }
    let overflow = || StockError::Overflow {
        item: item.id.clone(),
    };
    let out = Level {
        on_hand: source.on_hand - quantity,
        reserved: source.reserved,
        version: next_version(item, source)?,
    };
    let on_hand = target.on_hand.checked_add(quantity).ok_or_else(overflow)?;
    let into = Level {
        on_hand,
        reserved: target.reserved,
        version: next_version(item, target)?,
    };
    Ok((
        Transition {
            before: *source,
            after: out,
        },
        Transition {
            before: *target,
            after: into,
        },
    ))
}

/// Splits `quantity` of an item over its locations, in the order given
/// (priority order): each gives what it has available, the next the rest.
/// What no location has is refused, naming the total available; an item
/// that allows backorder puts the rest on the first location.
pub fn allocate(
    item: &Item,
    quantity: i64,
    levels: &[(LocationId, Level)],
) -> Result<Vec<(LocationId, i64)>, StockError> {
    positive(item, quantity)?;
    assert!(!levels.is_empty(), "the default location always exists");
    let mut remaining = quantity;
    let mut parts = Vec::new();
    for (location, level) in levels {
        if remaining == 0 {
            break;
        }
        let take = level.available().clamp(0, remaining);
        if take > 0 {
            parts.push((location.clone(), take));
            remaining -= take;
        }
    }
    if remaining > 0 {
        if !item.allow_backorder {
            let available = levels
                .iter()
                .fold(0i64, |sum, (_, l)| sum.saturating_add(l.available().max(0)));
            return Err(StockError::InsufficientStock {
                shortages: vec![Shortage {
                    item: item.id.clone(),
                    location: None,
                    requested: quantity.unsigned_abs(),
                    available,
                }],
            });
        }
        match parts
            .iter_mut()
            .find(|(location, _)| location == &levels[0].0)
        {
            Some((_, part)) => *part += remaining,
            None => parts.insert(0, (levels[0].0.clone(), remaining)),
        }
    }
    Ok(parts)
}

/// One line of a multi-item change.
#[derive(Debug, Clone)]
pub struct LineRequest<'a> {
    pub item: &'a Item,
    pub location: &'a LocationId,
    pub level: Level,
    pub delta: i64,
}

/// A line's decided change.
#[derive(Debug, Clone)]
pub struct LineChange {
    pub item: ItemId,
    pub location: LocationId,
    pub transition: Transition,
}

/// Decides a multi-item change: every line or none.
///
/// When lines lack stock, the error names every one of them, not just the
/// first, so a caller can tell its customer everything at once.
pub fn apply_lines(lines: &[LineRequest<'_>]) -> Result<Vec<LineChange>, StockError> {
    assert!(lines.len() <= LINES_MAX, "the edge caps lines at LINES_MAX");
    let mut seen = HashSet::with_capacity(lines.len());
    let mut shortages = Vec::new();
    let mut changes = Vec::with_capacity(lines.len());
    for line in lines {
        if !seen.insert((&line.item.id, line.location)) {
            return Err(StockError::InvalidChange {
                item: line.item.id.clone(),
                reason: "the same item and location appear twice in one request",
            });
        }
        match apply_delta(line.item, line.location, &line.level, line.delta) {
            Ok(transition) => changes.push(LineChange {
                item: line.item.id.clone(),
                location: line.location.clone(),
                transition,
            }),
            Err(StockError::InsufficientStock {
                shortages: mut found,
            }) => shortages.append(&mut found),
            Err(other) => return Err(other),
        }
    }
    if !shortages.is_empty() {
        return Err(StockError::InsufficientStock { shortages });
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_reserve_commit_release_and_give_back() {
        let a = item("a");
        let reserved = reserve(&a, &here(), &level(10, 2), 8).unwrap();
        assert_eq!(
            reserved.after,
            Level {
                on_hand: 10,
                reserved: 10,
                version: 4
            }
        );
        assert_eq!(reserved.reserved_delta(), 8);
        assert!(matches!(
            reserve(&a, &here(), &level(10, 2), 9),
            Err(StockError::InsufficientStock { .. })
        ));
        let committed = commit(&a, &reserved.after, 8).unwrap();
        assert_eq!((committed.after.on_hand, committed.after.reserved), (2, 2));
        assert_eq!(
            committed.after.available(),
            reserved.after.available(),
            "a commit moves no availability"
        );
        let released = release(&a, &level(10, 2), 2).unwrap();
        assert_eq!(released.after.reserved, 0);
        let returned = give_back(&a, &level(10, 2), 5).unwrap();
        assert_eq!(returned.after.on_hand, 15);
        let mut locked = item("a");
        locked.status = ItemStatus::Locked;
        assert!(matches!(
            reserve(&locked, &here(), &level(10, 0), 1),
            Err(StockError::ItemLocked { .. })
        ));
        assert!(
            release(&locked, &level(10, 2), 2).is_ok(),
            "held stock can always come back"
        );
        assert!(reserve(&a, &here(), &level(10, 0), 0).is_err());
    }

    #[test]
    fn transfers_move_only_available_stock() {
        let mut a = item("a");
        a.allow_backorder = true;
        let (out, into) = transfer(&a, &here(), &level(10, 4), &level(1, 0), 6).unwrap();
        assert_eq!((out.after.on_hand, into.after.on_hand), (4, 7));
        assert!(matches!(
            transfer(&a, &here(), &level(10, 4), &level(1, 0), 7),
            Err(StockError::InsufficientStock { .. })
        ));
        a.status = ItemStatus::Inactive;
        assert!(transfer(&a, &here(), &level(10, 0), &level(0, 0), 1).is_ok());
        a.status = ItemStatus::Locked;
        assert!(transfer(&a, &here(), &level(10, 0), &level(0, 0), 1).is_err());
    }

    #[test]
    fn allocation_fills_locations_in_order_and_splits() {
        let a = item("a");
        let north = LocationId::parse("north").unwrap();
        let south = LocationId::parse("south").unwrap();
        let levels = [(north.clone(), level(3, 1)), (south.clone(), level(10, 0))];
        assert_eq!(allocate(&a, 2, &levels).unwrap(), [(north.clone(), 2)]);
        assert_eq!(
            allocate(&a, 5, &levels).unwrap(),
            [(north.clone(), 2), (south.clone(), 3)]
        );
        assert_eq!(
            allocate(&a, 12, &levels).unwrap(),
            [(north.clone(), 2), (south.clone(), 10)]
        );
        let got = allocate(&a, 13, &levels).unwrap_err();
        let StockError::InsufficientStock { shortages } = got else {
            panic!()
        };
        assert_eq!((shortages[0].requested, shortages[0].available), (13, 12));
        let empty_first = [(north.clone(), level(0, 0)), (south.clone(), level(4, 0))];
        assert_eq!(allocate(&a, 4, &empty_first).unwrap(), [(south.clone(), 4)]);
        let mut backordered = item("a");
        backordered.allow_backorder = true;
        assert_eq!(
            allocate(&backordered, 15, &levels).unwrap(),
            [(north.clone(), 5), (south.clone(), 10)]
        );
        assert_eq!(
            allocate(&backordered, 6, &empty_first).unwrap(),
            [(north, 2), (south, 4)]
        );
    }

    fn item(id: &str) -> Item {
        Item {
            id: ItemId::parse(id).unwrap(),
            name: id.to_owned(),
            status: ItemStatus::Active,
            min_stock: None,
            max_stock: None,
            allow_backorder: false,
        }
    }

    fn level(on_hand: i64, reserved: i64) -> Level {
        Level {
            on_hand,
            reserved,
            version: 3,
        }
    }

    fn here() -> LocationId {
        LocationId::default_location()
    }

    #[test]
    fn a_decrease_within_available_succeeds() {
        let got = apply_delta(&item("a"), &here(), &level(10, 2), -8).unwrap();
        assert_eq!(
            got.after,
            Level {
                on_hand: 2,
                reserved: 2,
                version: 4
            }
        );
        assert_eq!(got.on_hand_delta(), -8);
        assert_eq!(got.reserved_delta(), 0);
    }

    #[test]
    fn a_decrease_beyond_available_fails_and_names_the_shortage() {
        let got = apply_delta(&item("a"), &here(), &level(10, 2), -9).unwrap_err();
        assert_eq!(
            got,
            StockError::InsufficientStock {
                shortages: vec![Shortage {
                    item: ItemId::parse("a").unwrap(),
                    location: Some(here()),
                    requested: 9,
                    available: 8
                }]
            }
        );
    }

    #[test]
    fn backorder_goes_below_zero() {
        let mut backordered = item("a");
        backordered.allow_backorder = true;
        let got = apply_delta(&backordered, &here(), &level(1, 0), -5).unwrap();
        assert_eq!(got.after.on_hand, -4);
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        let got = apply_delta(&item("a"), &here(), &level(i64::MAX - 1, 0), 2);
        assert!(matches!(got, Err(StockError::Overflow { .. })));
        let mut backordered = item("a");
        backordered.allow_backorder = true;
        let got = apply_delta(&backordered, &here(), &level(i64::MIN + 1, 0), -2);
        assert!(matches!(got, Err(StockError::Overflow { .. })));
        let got = apply_delta(
            &item("a"),
            &here(),
            &Level {
                on_hand: 5,
                reserved: 0,
                version: i64::MAX,
            },
            1,
        );
        assert!(matches!(got, Err(StockError::Overflow { .. })));
    }

    #[test]
    fn status_gates_changes() {
        let mut locked = item("a");
        locked.status = ItemStatus::Locked;
        assert!(matches!(
            apply_delta(&locked, &here(), &level(5, 0), 1),
            Err(StockError::ItemLocked { .. })
        ));
        let mut inactive = item("a");
        inactive.status = ItemStatus::Inactive;
        assert!(apply_delta(&inactive, &here(), &level(5, 0), 1).is_ok());
        assert!(matches!(
            apply_delta(&inactive, &here(), &level(5, 0), -1),
            Err(StockError::ItemInactive { .. })
        ));
        assert!(set_on_hand(&locked, &level(5, 0), 7, 3).is_ok());
    }

    #[test]
    fn zero_is_not_a_change() {
        assert!(matches!(
            apply_delta(&item("a"), &here(), &level(5, 0), 0),
            Err(StockError::InvalidChange { .. })
        ));
    }

    #[test]
    fn set_needs_the_current_version() {
        let got = set_on_hand(&item("a"), &level(5, 0), 9, 2).unwrap_err();
        assert_eq!(
            got,
            StockError::VersionConflict {
                item: ItemId::parse("a").unwrap(),
                expected: 2,
                actual: 3
            }
        );
        let got = set_on_hand(&item("a"), &level(5, 0), 9, 3).unwrap();
        assert_eq!(
            got.after,
            Level {
                on_hand: 9,
                reserved: 0,
                version: 4
            }
        );
        assert!(set_on_hand(&item("a"), &level(5, 4), 3, 3).is_err());
        assert!(set_on_hand(&item("a"), &level(5, 0), -1, 3).is_err());
    }

    #[test]
    fn a_sync_takes_on_hand_to_the_supplier_figure() {
        let a = item("a");
        let check = |level: Level, target: i64, expect: Option<(i64, i64)>| {
            let got = sync_on_hand(&a, &level, target).unwrap();
            assert_eq!(
                got.map(|t| (t.after.on_hand, t.after.reserved)),
                expect,
                "{level:?} to {target}"
            );
            if let Some(transition) = got {
                assert_eq!(transition.before, level);
                assert_eq!(transition.after.version, level.version + 1);
            }
        };
        check(level(5, 0), 9, Some((9, 0)));
        check(level(5, 0), 0, Some((0, 0)));
        check(level(5, 2), 5, None);
        check(level(0, 0), 0, None);
        check(level(5, 3), 1, Some((3, 3)));
        check(level(3, 3), 1, None);
        check(level(1, 3), 0, Some((3, 3)));
    }

    #[test]
    fn a_sync_goes_below_reserved_only_with_backorder() {
        let mut backordered = item("a");
        backordered.allow_backorder = true;
        let got = sync_on_hand(&backordered, &level(5, 3), 1)
            .unwrap()
            .unwrap();
        assert_eq!((got.after.on_hand, got.after.reserved), (1, 3));
        assert_eq!(got.after.available(), -2);
    }

    #[test]
    fn a_sync_records_a_fact_whatever_the_status() {
        for status in ItemStatus::ALL {
            let mut a = item("a");
            a.status = status;
            assert!(
                sync_on_hand(&a, &level(5, 0), 2).unwrap().is_some(),
                "{status:?}"
            );
        }
    }

    #[test]
    fn a_sync_refuses_a_negative_figure_and_overflow() {
        assert!(matches!(
            sync_on_hand(&item("a"), &level(5, 0), -1),
            Err(StockError::InvalidChange { .. })
        ));
        let worn = Level {
            on_hand: 5,
            reserved: 0,
            version: i64::MAX,
        };
        assert!(matches!(
            sync_on_hand(&item("a"), &worn, 6),
            Err(StockError::Overflow { .. })
        ));
        assert_eq!(sync_on_hand(&item("a"), &worn, 5), Ok(None));
    }

    #[test]
    fn lines_are_all_or_nothing_and_name_every_shortage() {
        let (a, b, c) = (item("a"), item("b"), item("c"));
        let location = here();
        let line = |item, on_hand, delta| LineRequest {
            item,
            location: &location,
            level: level(on_hand, 0),
            delta,
        };
        let got = apply_lines(&[line(&a, 5, -6), line(&b, 5, -1), line(&c, 0, -1)]).unwrap_err();
        let StockError::InsufficientStock { shortages } = got else {
            panic!("{got:?}")
        };
        let named: Vec<&str> = shortages.iter().map(|s| s.item.as_str()).collect();
        assert_eq!(named, ["a", "c"]);

        let got = apply_lines(&[line(&a, 5, -5), line(&b, 5, 2)]).unwrap();
        assert_eq!(got[0].transition.after.on_hand, 0);
        assert_eq!(got[1].transition.after.on_hand, 7);
    }

    #[test]
    fn a_line_may_not_repeat() {
        let a = item("a");
        let location = here();
        let line = LineRequest {
            item: &a,
            location: &location,
            level: level(5, 0),
            delta: -1,
        };
        assert!(matches!(
            apply_lines(&[line.clone(), line]),
            Err(StockError::InvalidChange { .. })
        ));
    }
}
