//! Holds (reservations) and orders: their states and the moves between them.
//!
//! Pure state machines: given a state and an action, they say the next state
//! and what must happen to stock, or why the action is refused. Repeating an
//! action that already happened is not an error: it changes nothing.

use std::fmt;

/// Where a hold is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatus {
    /// Holding stock until `expires_at`.
    Active,
    /// Turned into a sale: on hand and reserved both dropped.
    Committed,
    /// Given back by a caller.
    Released,
    /// Given back because its time ran out.
    Expired,
}

impl HoldStatus {
    pub const ALL: [HoldStatus; 4] = [
        HoldStatus::Active,
        HoldStatus::Committed,
        HoldStatus::Released,
        HoldStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Active => "active",
            HoldStatus::Committed => "committed",
            HoldStatus::Released => "released",
            HoldStatus::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<HoldStatus> {
        HoldStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Decides `action` on a hold in this state. An active hold whose time
    /// has run out must be expired before this is asked.
    pub fn step(
        self,
        action: HoldAction,
    ) -> Result<Step<HoldStatus>, TransitionRefused<HoldStatus>> {
        use HoldAction as A;
        use HoldStatus as S;
        match (self, action) {
            (S::Active, A::Extend) => Ok(Step::Move(S::Active)),
            (S::Active, A::Commit) => Ok(Step::Move(S::Committed)),
            (S::Active, A::Release) => Ok(Step::Move(S::Released)),
            (S::Active, A::Expire) => Ok(Step::Move(S::Expired)),
            (S::Committed, A::Commit) | (S::Released | S::Expired, A::Release) => Ok(Step::Already),
            (S::Committed | S::Released | S::Expired, A::Expire) => Ok(Step::Already),
            (state, action) => Err(TransitionRefused {
                state,
                action: action.as_str(),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldAction {
    Extend,
    Commit,
    Release,
    Expire,
}

impl HoldAction {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldAction::Extend => "extend",
            HoldAction::Commit => "commit",
            HoldAction::Release => "release",
            HoldAction::Expire => "expire",
        }
    }
}

/// What an allowed action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<S> {
    /// Move to this state (possibly the same one, as an extend does).
    Move(S),
    /// The action happened before: change nothing, answer as before.
    Already,
}

/// An action the current state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionRefused<S> {
    pub state: S,
    pub action: &'static str,
}

impl fmt::Display for TransitionRefused<HoldStatus> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.action {
            "extend" => "extended",
            "commit" => "committed",
            "release" => "released",
            other => other,
        };
        write!(f, "a hold that is {} cannot be {verb}", self.state.as_str())
    }
}

impl fmt::Display for TransitionRefused<OrderStatus> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.action {
            "pay" => "paid",
            "cancel" => "cancelled",
            other => other,
        };
        write!(
            f,
            "an order that is {} cannot be {verb}",
            self.state.as_str()
        )
    }
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Placed and holding its stock, not paid yet.
    Pending,
    Paid,
    Cancelled,
    /// Not paid in time; its hold expired.
    Expired,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 4] = [
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::Cancelled,
        OrderStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Decides `action` on an order in this state, and what it does to stock.
    pub fn step(
        self,
        action: OrderAction,
    ) -> Result<(Step<OrderStatus>, OrderEffect), TransitionRefused<OrderStatus>> {
        use OrderAction as A;
        use OrderEffect as E;
        use OrderStatus as S;
        match (self, action) {
            (S::Pending, A::Pay) => Ok((Step::Move(S::Paid), E::CommitHold)),
            (S::Pending, A::Cancel) => Ok((Step::Move(S::Cancelled), E::ReleaseHold)),
            (S::Pending, A::Expire) => Ok((Step::Move(S::Expired), E::None)),
            (S::Paid, A::Cancel) => Ok((Step::Move(S::Cancelled), E::ReturnStock)),
            (S::Paid, A::Pay) | (S::Cancelled | S::Expired, A::Cancel) => {
                Ok((Step::Already, E::None))
            }
            (S::Paid | S::Cancelled | S::Expired, A::Expire) => Ok((Step::Already, E::None)),
            (state, action) => Err(TransitionRefused {
                state,
                action: action.as_str(),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderAction {
    Pay,
    Cancel,
    /// The order's hold ran out before payment.
    Expire,
}

impl OrderAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderAction::Pay => "pay",
            OrderAction::Cancel => "cancel",
            OrderAction::Expire => "expire",
        }
    }
}

/// What an order's move does to stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEffect {
    /// Commit the order's hold: the sale.
    CommitHold,
    /// Release the order's hold: nothing was sold.
    ReleaseHold,
    /// Put sold stock back where it came from (`return` ledger rows).
    ReturnStock,
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_move_only_where_it_makes_sense() {
        use HoldAction as A;
        use HoldStatus as S;
        let check = |state: S, action: A, expect: Result<Step<S>, S>| {
            let got = state.step(action).map_err(|refused| refused.state);
            assert_eq!(got, expect, "{state:?} {action:?}");
        };
        check(S::Active, A::Extend, Ok(Step::Move(S::Active)));
        check(S::Active, A::Commit, Ok(Step::Move(S::Committed)));
        check(S::Active, A::Release, Ok(Step::Move(S::Released)));
        check(S::Active, A::Expire, Ok(Step::Move(S::Expired)));
        check(S::Committed, A::Commit, Ok(Step::Already));
        check(S::Committed, A::Release, Err(S::Committed));
        check(S::Committed, A::Extend, Err(S::Committed));
        check(S::Released, A::Release, Ok(Step::Already));
        check(S::Released, A::Commit, Err(S::Released));
        check(S::Released, A::Extend, Err(S::Released));
        check(S::Expired, A::Commit, Err(S::Expired));
        check(S::Expired, A::Extend, Err(S::Expired));
        check(S::Expired, A::Release, Ok(Step::Already));
        for state in S::ALL {
            assert_ne!(
                state.step(A::Expire),
                Err(TransitionRefused {
                    state,
                    action: "expire"
                })
            );
        }
    }

    #[test]
    fn orders_move_only_where_it_makes_sense() {
        use OrderAction as A;
        use OrderEffect as E;
        use OrderStatus as S;
        let check = |state: S, action: A, expect: Result<(Step<S>, E), S>| {
            let got = state.step(action).map_err(|refused| refused.state);
            assert_eq!(got, expect, "{state:?} {action:?}");
        };
        check(S::Pending, A::Pay, Ok((Step::Move(S::Paid), E::CommitHold)));
        check(
            S::Pending,
            A::Cancel,
            Ok((Step::Move(S::Cancelled), E::ReleaseHold)),
        );
        check(S::Pending, A::Expire, Ok((Step::Move(S::Expired), E::None)));
        check(S::Paid, A::Pay, Ok((Step::Already, E::None)));
        check(
            S::Paid,
            A::Cancel,
            Ok((Step::Move(S::Cancelled), E::ReturnStock)),
        );
        check(S::Paid, A::Expire, Ok((Step::Already, E::None)));
        check(S::Cancelled, A::Pay, Err(S::Cancelled));
        check(S::Cancelled, A::Cancel, Ok((Step::Already, E::None)));
        check(S::Expired, A::Pay, Err(S::Expired));
        check(S::Expired, A::Cancel, Ok((Step::Already, E::None)));
    }

    #[test]
    fn refusals_read_well() {
        let refused = HoldStatus::Expired.step(HoldAction::Commit).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "a hold that is expired cannot be committed"
        );
        let refused = OrderStatus::Cancelled.step(OrderAction::Pay).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "an order that is cancelled cannot be paid"
        );
    }

    #[test]
    fn names_round_trip() {
        for status in HoldStatus::ALL {
            assert_eq!(HoldStatus::parse(status.as_str()), Some(status));
        }
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
    }
}
