//! An item's stock over all its locations, and the rule that keeps it
//! within 64 bits.
//!
//! Each level's quantities are checked by the rules that change them; an
//! item's totals (what its views, lists and reports show) are sums over its
//! levels, and would overflow if nothing checked them. A change to one level
//! is refused when it would take a total out of range, so every item's
//! totals always fit; totals over many items (the inventory's) are summed
//! wider and shown at the bound ([`saturate`]).

use crate::ids::ItemId;
use crate::level::Level;
use crate::rules::{StockError, Transition};

/// On hand and reserved summed over levels, in 128 bits, where no sum of
/// 64-bit quantities overflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    on_hand: i128,
    reserved: i128,
}

impl Totals {
    pub fn of<'a>(levels: impl IntoIterator<Item = &'a Level>) -> Totals {
        levels
            .into_iter()
            .fold(Totals::default(), |totals, level| totals.plus(level))
    }

    pub fn plus(self, level: &Level) -> Totals {
        Totals {
            on_hand: self.on_hand + i128::from(level.on_hand),
            reserved: self.reserved + i128::from(level.reserved),
        }
    }

    /// On hand, at the bound of 64 bits when beyond it.
    pub fn on_hand(&self) -> i64 {
        saturate(self.on_hand)
    }

    /// Reserved, at the bound of 64 bits when beyond it.
    pub fn reserved(&self) -> i64 {
        saturate(self.reserved)
    }

    /// On hand less reserved, at the bound of 64 bits when beyond it.
    pub fn available(&self) -> i64 {
        saturate(self.on_hand - self.reserved)
    }

    /// Whether on hand, reserved and available each fit in 64 bits.
    pub fn fit(&self) -> bool {
        [self.on_hand, self.reserved, self.on_hand - self.reserved]
            .into_iter()
            .all(|total| i64::try_from(total).is_ok())
    }
}

/// A sum as a 64-bit quantity: itself when it fits, else the bound it is
/// beyond. What a total over many items shows when it does not fit.
pub fn saturate(total: i128) -> i64 {
    i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX })
}

/// Refuses a change that leaves a level at `after` when the item's totals
/// over all its locations would then not fit in 64 bits; `others` are its
/// levels at every other location.
pub fn check_totals(item: &ItemId, others: Totals, after: &Level) -> Result<(), StockError> {
    if others.plus(after).fit() {
        Ok(())
    } else {
        Err(StockError::Overflow { item: item.clone() })
    }
}

impl Transition {
    /// Whether this change can take an item's totals out of range when they
    /// were in range before: only a rise of on hand or of reserved, or a fall
    /// of available, can. Reserved is never negative, so totals that fit
    /// keep on hand at least available, and available at most on hand: a
    /// change that lowers neither quantity and does not lower available
    /// (a release, a commit) keeps all three in range.
    pub fn may_overflow_totals(&self) -> bool {
        let on_hand = self.on_hand_delta();
        let reserved = self.reserved_delta();
        on_hand > 0 || reserved > 0 || i128::from(on_hand) < i128::from(reserved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: i64 = i64::MAX;

    fn level(on_hand: i64, reserved: i64) -> Level {
        Level {
            on_hand,
            reserved,
            version: 1,
        }
    }

    fn item() -> ItemId {
        ItemId::parse("x").unwrap()
    }

    /// (others, after, whether the change is allowed)
    fn check(others: &[Level], after: Level, allowed: bool) {
        let got = check_totals(&item(), Totals::of(others), &after);
        assert_eq!(got.is_ok(), allowed, "{others:?} then {after:?}");
        if !allowed {
            assert_eq!(got, Err(StockError::Overflow { item: item() }));
        }
    }

    #[test]
    fn a_change_is_refused_when_a_total_would_not_fit() {
        check(&[], level(MAX, 0), true);
        check(&[level(MAX, 0)], level(0, 0), true);
        check(&[level(MAX, 0)], level(1, 0), false);
        check(&[level(MAX - 1, 0)], level(1, 0), true);
        // Reserved over two levels, as backorder allows.
        check(&[level(0, MAX)], level(0, 1), false);
        check(&[level(MAX, MAX)], level(1, 1), false);
        // Available below the smallest quantity.
        check(&[level(i64::MIN + 1, 0)], level(-1, 0), true);
        check(&[level(i64::MIN + 1, 0)], level(-2, 0), false);
        check(&[level(-MAX, 0)], level(0, 2), false);
    }

    #[test]
    fn totals_saturate_only_beyond_the_bounds() {
        let totals = Totals::of(&[level(MAX, 0), level(MAX, 1)]);
        assert!(!totals.fit());
        assert_eq!(
            (totals.on_hand(), totals.reserved(), totals.available()),
            (MAX, 1, MAX)
        );
        let totals = Totals::of(&[level(MAX, 0), level(-5, 2)]);
        assert!(totals.fit());
        assert_eq!(
            (totals.on_hand(), totals.reserved(), totals.available()),
            (MAX - 5, 2, MAX - 7)
        );
        assert_eq!(saturate(i128::from(i64::MIN) - 1), i64::MIN);
        assert_eq!(saturate(-3), -3);
    }

    #[test]
    fn only_rises_and_falls_of_available_can_overflow() {
        let change = |before: Level, after: Level| Transition { before, after };
        // A release and a commit cannot.
        assert!(!change(level(5, 3), level(5, 1)).may_overflow_totals());
        assert!(!change(level(5, 3), level(3, 1)).may_overflow_totals());
        // A restock, a hold, a sale without a hold can.
        assert!(change(level(5, 0), level(6, 0)).may_overflow_totals());
        assert!(change(level(5, 0), level(5, 1)).may_overflow_totals());
        assert!(change(level(5, 0), level(4, 0)).may_overflow_totals());
    }
}
