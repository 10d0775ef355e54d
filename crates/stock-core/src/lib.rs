//! The stockd domain.
//!
//! Items, locations, levels and ledger entries, and the pure rules that decide
//! what a change does to a level. This crate does no IO and knows nothing of
//! SQL, HTTP or JSON: every function here can be called in a test with plain
//! values, and every rule that keeps stock right lives here once.

mod hold;
mod ids;
mod level;
mod role;
mod rules;
mod totals;

pub use hold::{
    HoldAction, HoldStatus, OrderAction, OrderEffect, OrderStatus, Step, TransitionRefused,
};
pub use ids::{IdError, ItemId, LocationId, ID_LENGTH_MAX};
pub use level::{Item, ItemStatus, Level, LevelState, Operation};
pub use role::Role;
pub use rules::{
    allocate, apply_delta, apply_lines, commit, give_back, release, reserve, set_on_hand,
    sync_on_hand, transfer, LineChange, LineRequest, Shortage, StockError, Transition, LINES_MAX,
};
pub use totals::{check_totals, saturate, Totals};
