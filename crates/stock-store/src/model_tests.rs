//! A property-based test of the store against a simple model.
//!
//! Random sequences of create, extend, commit, release and expire of holds,
//! adjustments, transfers and decreases run against a real SQLite store and
//! against a plain map of levels. After every step: the store agrees with the
//! model on every level and on whether the step was allowed, available stock
//! is never negative, reserved equals the active holds, and on hand equals
//! the ledger.

use std::collections::HashMap;

use proptest::prelude::*;
use stock_core::{HoldStatus, Item, ItemId, ItemStatus, LocationId, Operation};

use crate::*;

const ITEMS: [&str; 2] = ["apple", "pear"];
const LOCATIONS: [&str; 2] = ["default", "north"];

#[derive(Debug, Clone)]
enum Step {
    Hold {
        item: usize,
        location: Option<usize>,
        quantity: i64,
    },
    Extend {
        hold: usize,
    },
    Commit {
        hold: usize,
    },
    Release {
        hold: usize,
    },
    Expire {
        hold: usize,
    },
    Adjust {
        item: usize,
        location: usize,
        delta: i64,
    },
    Transfer {
        item: usize,
        source: usize,
        target: usize,
        quantity: i64,
    },
    Decrease {
        item: usize,
        location: usize,
        quantity: i64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let item = 0..ITEMS.len();
    let location = 0..LOCATIONS.len();
    prop_oneof![
        3 => (item.clone(), proptest::option::of(location.clone()), 1..8i64)
            .prop_map(|(item, location, quantity)| Step::Hold { item, location, quantity }),
        1 => (0..8usize).prop_map(|hold| Step::Extend { hold }),
        2 => (0..8usize).prop_map(|hold| Step::Commit { hold }),
        2 => (0..8usize).prop_map(|hold| Step::Release { hold }),
        1 => (0..8usize).prop_map(|hold| Step::Expire { hold }),
        2 => (item.clone(), location.clone(), -6..10i64).prop_map(|(item, location, delta)| Step::Adjust { item, location, delta }),
        1 => (item.clone(), location.clone(), location.clone(), 1..6i64)
            .prop_map(|(item, source, target, quantity)| Step::Transfer { item, source, target, quantity }),
        1 => (item, location, 1..6i64).prop_map(|(item, location, quantity)| Step::Decrease { item, location, quantity }),
    ]
}

/// A hold as the model sees it: id, status, lines of (item, location, quantity).
type ModelHold = (String, HoldStatus, Vec<(usize, usize, i64)>);

#[derive(Default)]
struct Model {
    /// (item, location) → (on_hand, reserved)
    levels: HashMap<(usize, usize), (i64, i64)>,
    /// Holds in creation order: id, status, lines of (item, location, quantity).
    holds: Vec<ModelHold>,
}

impl Model {
    fn available(&self, item: usize, location: usize) -> i64 {
        let (on_hand, reserved) = self
            .levels
            .get(&(item, location))
            .copied()
            .unwrap_or_default();
        on_hand - reserved
    }

    fn change(&mut self, item: usize, location: usize, on_hand: i64, reserved: i64) {
        let level = self.levels.entry((item, location)).or_default();
        level.0 += on_hand;
        level.1 += reserved;
    }
}

fn item_id(index: usize) -> ItemId {
    ItemId::parse(ITEMS[index]).unwrap()
}

fn location_id(index: usize) -> LocationId {
    LocationId::parse(LOCATIONS[index]).unwrap()
}

fn location_index(location: &LocationId) -> usize {
    LOCATIONS
        .iter()
        .position(|l| *l == location.as_str())
        .expect("a known location")
}

async fn run(store: &SqliteStore, command: Command) -> Result<Outcome, WriteError> {
    let meta = WriteMeta {
        operator: "model".into(),
        trace_id: None,
        idempotency: None,
    };
    match store
        .execute(&[WriteJob { command, meta }])
        .await
        .pop()
        .expect("one reply")
    {
        Reply::Fresh(result) => result,
        Reply::Replayed { .. } => unreachable!("no idempotency keys here"),
    }
}

/// Applies one step to the store and the model; checks they agree on
/// whether it was allowed.
async fn apply(store: &SqliteStore, model: &mut Model, step: &Step, counter: &mut usize) {
    match *step {
        Step::Hold {
            item,
            location,
            quantity,
        } => {
            let can = match location {
                Some(location) => model.available(item, location) >= quantity,
                None => {
                    (0..LOCATIONS.len())
                        .map(|l| model.available(item, l).max(0))
                        .sum::<i64>()
                        >= quantity
                }
            };
            *counter += 1;
            let id = format!("h{counter}");
            let lines = vec![HoldLineRequest {
                item: item_id(item),
                location: location.map(location_id),
                quantity,
            }];
            let result = run(
                store,
                Command::CreateHold {
                    id: id.clone(),
                    order_id: "o".into(),
                    lines,
                    ttl_ms: 3_600_000,
                },
            )
            .await;
            assert_eq!(result.is_ok(), can, "{step:?}: {result:?}");
            if let Ok(Outcome::Hold { hold, .. }) = result {
                let mut lines = Vec::new();
                for line in &hold.lines {
                    let at = location_index(&line.location);
                    assert!(
                        model.available(item, at) >= line.quantity,
                        "a hold took more than was available"
                    );
                    model.change(item, at, 0, line.quantity);
                    lines.push((item, at, line.quantity));
                }
                assert_eq!(lines.iter().map(|l| l.2).sum::<i64>(), quantity);
                model.holds.push((id, HoldStatus::Active, lines));
            }
        }
        Step::Extend { hold }
        | Step::Commit { hold }
        | Step::Release { hold }
        | Step::Expire { hold } => {
            let Some(index) = (!model.holds.is_empty()).then(|| hold % model.holds.len()) else {
                return;
            };
            let (id, status, lines) = model.holds[index].clone();
            let (command, allowed, next) = match step {
                Step::Extend { .. } => (
                    Command::ExtendHold {
                        id,
                        ttl_ms: 3_600_000,
                    },
                    status == HoldStatus::Active,
                    status,
                ),
                Step::Commit { .. } => (
                    Command::CommitHold { id },
                    matches!(status, HoldStatus::Active | HoldStatus::Committed),
                    HoldStatus::Committed,
                ),
                Step::Release { .. } => (
                    Command::ReleaseHold { id, reason: None },
                    status != HoldStatus::Committed,
                    if status == HoldStatus::Active {
                        HoldStatus::Released
                    } else {
                        status
                    },
                ),
                _ => (
                    Command::ExpireHolds {
                        ids: vec![id],
                        now_ms: i64::MAX,
                    },
                    true,
                    if status == HoldStatus::Active {
                        HoldStatus::Expired
                    } else {
                        status
                    },
                ),
            };
            let result = run(store, command).await;
            assert_eq!(
                result.is_ok(),
                allowed,
                "{step:?} on a {status:?} hold: {result:?}"
            );
            if allowed && status == HoldStatus::Active && next != HoldStatus::Active {
                for (item, location, quantity) in &lines {
                    let on_hand = if next == HoldStatus::Committed {
                        -quantity
                    } else {
                        0
                    };
                    model.change(*item, *location, on_hand, -quantity);
                }
                model.holds[index].1 = next;
            }
        }
        Step::Adjust {
            item,
            location,
            delta,
        } => {
            let allowed = delta != 0 && (delta > 0 || model.available(item, location) >= -delta);
            let command = Command::SyncStock {
                item: item_id(item),
                location: location_id(location),
                delta,
                order_id: None,
                reason: None,
                trace_id: None,
            };
            let result = run(store, command).await;
            assert_eq!(result.is_ok(), allowed, "{step:?}: {result:?}");
            if allowed {
                model.change(item, location, delta, 0);
            }
        }
        Step::Transfer {
            item,
            source,
            target,
            quantity,
        } => {
            if source == target {
                return;
            }
            let allowed = model.available(item, source) >= quantity;
            let command = Command::Transfer {
                item: item_id(item),
                source: location_id(source),
                target: location_id(target),
                quantity,
                reason: None,
            };
            let result = run(store, command).await;
            assert_eq!(result.is_ok(), allowed, "{step:?}: {result:?}");
            if allowed {
                model.change(item, source, -quantity, 0);
                model.change(item, target, quantity, 0);
            }
        }
        Step::Decrease {
            item,
            location,
            quantity,
        } => {
            let allowed = model.available(item, location) >= quantity;
            let lines = vec![LineDelta {
                item: item_id(item),
                location: location_id(location),
                delta: -quantity,
            }];
            let command = Command::ApplyLines {
                operation: Operation::Deduct,
                lines,
                order_id: None,
                reason: None,
            };
            let result = run(store, command).await;
            assert_eq!(result.is_ok(), allowed, "{step:?}: {result:?}");
            if allowed {
                model.change(item, location, -quantity, 0);
            }
        }
    }
}

async fn check(store: &SqliteStore, model: &Model) {
    for (index, _) in ITEMS.iter().enumerate() {
        let view = store.item(&item_id(index)).await.unwrap().unwrap();
        for (at, _) in LOCATIONS.iter().enumerate() {
            let expected = model.levels.get(&(index, at)).copied().unwrap_or_default();
            let level = view
                .level_at(&location_id(at))
                .map(|l| (l.level.on_hand, l.level.reserved))
                .unwrap_or_default();
            assert_eq!(level, expected, "{} at {}", ITEMS[index], LOCATIONS[at]);
            assert!(level.0 - level.1 >= 0, "available went negative");
        }
    }
    let report = store.verify().await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    let active = model
        .holds
        .iter()
        .filter(|h| h.1 == HoldStatus::Active)
        .count() as u64;
    assert_eq!(report.active_holds, active);
}

async fn scenario(steps: Vec<Step>, opening: [i64; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("model.db")))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let mut model = Model::default();
    let north = Command::CreateLocation {
        id: location_id(1),
        name: "North".into(),
        priority: 1,
    };
    run(&store, north).await.unwrap();
    for (index, stock) in opening.into_iter().enumerate() {
        let item = Item {
            id: item_id(index),
            name: ITEMS[index].into(),
            status: ItemStatus::Active,
            min_stock: None,
            max_stock: None,
            allow_backorder: false,
        };
        run(
            &store,
            Command::CreateItem {
                item,
                location: location_id(0),
                opening_stock: stock,
            },
        )
        .await
        .unwrap();
        model.change(index, 0, stock, 0);
    }
    let mut counter = 0;
    for step in &steps {
        apply(&store, &mut model, step, &mut counter).await;
        check(&store, &model).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_store_keeps_stock_right_under_any_sequence(
        steps in proptest::collection::vec(step(), 1..40),
        opening in [0..15i64, 0..15i64],
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(scenario(steps, opening));
    }
}
