//! What a run knows: the rows its commands touch, as the run has changed
//! them so far, and an undo log so that a refused command leaves nothing
//! behind.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use stock_core::{
    check_totals, HoldStatus, Item, ItemId, Level, LocationId, Operation, OrderStatus, Totals,
    Transition,
};

use crate::model::*;

/// A hold as the run has it.
#[derive(Clone)]
pub(super) struct HoldState {
    pub view: HoldView,
    pub request_hash: String,
    /// Made in this run: written with an insert.
    pub is_new: bool,
    /// Changed in this run after it was read or made: written once more.
    pub changed: bool,
}

/// An order as the run has it.
#[derive(Clone)]
pub(super) struct OrderState {
    pub id: String,
    pub status: OrderStatus,
    pub hold_id: String,
    pub request_hash: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub is_new: bool,
    /// The states it took in this run after it was read or made, each
    /// written in turn so that every one reaches the outbox.
    pub moves: Vec<(OrderStatus, i64)>,
}

/// A ledger row the run adds; its id is known once it is written.
pub(super) struct NewRow {
    pub item: ItemId,
    pub location: LocationId,
    pub operation: Operation,
    pub transition: Transition,
    pub order_id: Option<String>,
    pub reservation_id: Option<String>,
    pub reason: Option<String>,
    pub operator: String,
    pub trace_id: Option<String>,
    pub id: i64,
}

/// A ledger row a sync-stock retry points at.
#[derive(Clone)]
pub(super) enum Entry {
    Stored(Box<LedgerEntry>),
    New(usize),
}

/// How an item's row is written at the end of a run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ItemWrite {
    /// Made in this run: inserted.
    New,
    /// Read, and its details changed in this run: updated.
    Changed,
}

/// A supplier's figure as its link records it.
#[derive(Clone)]
pub(super) struct Figure {
    pub stock: i64,
    pub county_code: String,
}

enum Undo {
    Item(ItemId, Option<(Item, i64, i64)>, Option<ItemWrite>),
    Location(LocationId),
    Figure((ItemId, String), Option<Figure>),
    Level {
        item: ItemId,
        key: (i64, LocationId),
        old: Option<LocationLevel>,
        was_changed: bool,
    },
    Hold(String, Option<HoldState>),
    Order(String, Option<OrderState>),
    OrderOfHold(String, Option<String>),
    Retried(String, Option<Entry>),
}

/// Where the undo log and the new rows stood when a command began.
#[derive(Clone, Copy)]
pub(super) struct Mark {
    undo: usize,
    rows: usize,
}

#[derive(Default)]
pub(super) struct State {
    pub items: HashMap<ItemId, (Item, i64, i64)>,
    /// The items the run made or changed the details of.
    pub item_writes: HashMap<ItemId, ItemWrite>,
    /// Locations the run made, with their names: inserted at the end.
    pub new_locations: Vec<(LocationId, String, i64)>,
    /// The last figure each item's link to a supplier records in this run.
    pub figures: HashMap<(ItemId, String), Figure>,
    /// Every level of the run's items, keyed by location priority and id:
    /// the order in which a view lists them.
    pub levels: HashMap<ItemId, BTreeMap<(i64, LocationId), LocationLevel>>,
    /// Every location, in fill order (priority, then id).
    pub locations: Vec<(LocationId, i64)>,
    pub priorities: HashMap<LocationId, i64>,
    pub holds: HashMap<String, HoldState>,
    pub orders: HashMap<String, OrderState>,
    pub order_of_hold: HashMap<String, String>,
    /// Active holds that were past their time when the run began.
    pub due: BTreeSet<String>,
    pub retried: HashMap<String, Entry>,
    pub rows: Vec<NewRow>,
    /// Levels the run changed; written once each at the end.
    pub changed: BTreeSet<(ItemId, i64, LocationId)>,
    /// What another transaction holds locked, and what a change of it
    /// would move with it: the commands that name any of these wait for a
    /// later batch (`runs/load.rs`).
    pub busy: Busy,
    /// The rows another transaction held locked when the run was read.
    pub locked: Busy,
    undo: Vec<Undo>,
}

#[derive(Default)]
pub(super) struct Busy {
    pub items: BTreeSet<ItemId>,
    pub holds: BTreeSet<String>,
    pub orders: BTreeSet<String>,
}

impl Busy {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.holds.is_empty() && self.orders.is_empty()
    }
}

impl State {
    pub fn mark(&self) -> Mark {
        Mark {
            undo: self.undo.len(),
            rows: self.rows.len(),
        }
    }

    /// Undoes everything since `mark`.
    pub fn roll_back(&mut self, mark: Mark) {
        while self.undo.len() > mark.undo {
            match self.undo.pop().expect("above the mark") {
                Undo::Level {
                    item,
                    key,
                    old,
                    was_changed,
                } => {
                    if !was_changed {
                        self.changed.remove(&(item.clone(), key.0, key.1.clone()));
                    }
                    let levels = self.levels.entry(item).or_default();
                    match old {
                        Some(old) => levels.insert(key, old),
                        None => levels.remove(&key),
                    };
                }
                Undo::Item(id, old, write) => {
                    restore(&mut self.item_writes, id.clone(), write);
                    restore(&mut self.items, id, old);
                }
                Undo::Location(id) => {
                    self.priorities.remove(&id);
                    self.locations.retain(|(location, _)| *location != id);
                    self.new_locations.retain(|(location, ..)| *location != id);
                }
                Undo::Figure(key, old) => restore(&mut self.figures, key, old),
                Undo::Hold(id, old) => restore(&mut self.holds, id, old),
                Undo::Order(id, old) => restore(&mut self.orders, id, old),
                Undo::OrderOfHold(id, old) => restore(&mut self.order_of_hold, id, old),
                Undo::Retried(key, old) => restore(&mut self.retried, key, old),
            }
        }
        self.rows.truncate(mark.rows);
    }

    /// The item, or a 404.
    pub fn item(&self, id: &ItemId) -> Result<Item, WriteError> {
        match self.items.get(id) {
            Some((item, ..)) => Ok(item.clone()),
            None => Err(WriteError::NotFound {
                entity: "item",
                id: id.to_string(),
            }),
        }
    }

    /// The location's priority, or a 404.
    pub fn priority(&self, id: &LocationId) -> Result<i64, WriteError> {
        self.priorities
            .get(id)
            .copied()
            .ok_or_else(|| WriteError::NotFound {
                entity: "location",
                id: id.to_string(),
            })
    }

    pub fn level(&self, item: &ItemId, location: &LocationId) -> Level {
        let Some(&priority) = self.priorities.get(location) else {
            return Level::default();
        };
        self.levels
            .get(item)
            .and_then(|levels| levels.get(&(priority, location.clone())))
            .map(|level| level.level)
            .unwrap_or_default()
    }

    /// The item's level at every location, in fill order.
    pub fn levels_in_fill_order(&self, item: &ItemId) -> Vec<(LocationId, Level)> {
        self.locations
            .iter()
            .map(|(location, _)| (location.clone(), self.level(item, location)))
            .collect()
    }

    /// The item's available stock over all its locations.
    pub fn available(&self, id: &ItemId) -> i64 {
        let levels = self
            .levels
            .get(id)
            .into_iter()
            .flat_map(|levels| levels.values());
        Totals::of(levels.map(|l| &l.level)).available()
    }

    fn totals_elsewhere(&self, id: &ItemId, key: &(i64, LocationId)) -> Totals {
        let levels = self
            .levels
            .get(id)
            .into_iter()
            .flat_map(|levels| levels.iter());
        Totals::of(levels.filter(|(k, _)| *k != key).map(|(_, l)| &l.level))
    }

    pub fn view(&self, id: &ItemId) -> ItemView {
        let (item, created_at_ms, updated_at_ms) = &self.items[id];
        ItemView {
            item: item.clone(),
            levels: self
                .levels
                .get(id)
                .map(|levels| levels.values().cloned().collect())
                .unwrap_or_default(),
            created_at_ms: *created_at_ms,
            updated_at_ms: *updated_at_ms,
        }
    }

    /// Writes a decided transition as `write_change` does one by one: the
    /// level and a ledger row, refused when the item's totals over every
    /// location would overflow. Returns the row's index.
    #[allow(clippy::too_many_arguments)]
    pub fn change(
        &mut self,
        item: &ItemId,
        location: &LocationId,
        operation: Operation,
        transition: Transition,
        order_id: Option<&str>,
        reservation_id: Option<&str>,
        reason: Option<&str>,
        operator: &str,
        trace_id: Option<&str>,
        now: i64,
    ) -> Result<usize, WriteError> {
        let priority = self.priority(location)?;
        let key = (priority, location.clone());
        if transition.may_overflow_totals() {
            check_totals(item, self.totals_elsewhere(item, &key), &transition.after)?;
        }
        let was_changed = !self
            .changed
            .insert((item.clone(), priority, location.clone()));
        let old = self.levels.entry(item.clone()).or_default().insert(
            key.clone(),
            LocationLevel {
                location: location.clone(),
                level: transition.after,
                updated_at_ms: now,
            },
        );
        self.undo.push(Undo::Level {
            item: item.clone(),
            key,
            old,
            was_changed,
        });
        self.rows.push(NewRow {
            item: item.clone(),
            location: location.clone(),
            operation,
            transition,
            order_id: order_id.map(str::to_owned),
            reservation_id: reservation_id.map(str::to_owned),
            reason: reason.map(str::to_owned),
            operator: operator.to_owned(),
            trace_id: trace_id.map(str::to_owned),
            id: 0,
        });
        Ok(self.rows.len() - 1)
    }

    /// Makes an item in this run, or changes the details of one it read
    /// (its update time now).
    pub fn put_item(&mut self, item: Item, now: i64) {
        let id = item.id.clone();
        let old = self.items.get(&id).cloned();
        let write = self.item_writes.get(&id).copied();
        let (created_at, next) = match (&old, write) {
            (Some((_, created_at, _)), Some(ItemWrite::New)) => (*created_at, ItemWrite::New),
            (Some((_, created_at, _)), _) => (*created_at, ItemWrite::Changed),
            (None, _) => (now, ItemWrite::New),
        };
        self.items.insert(id.clone(), (item, created_at, now));
        self.item_writes.insert(id.clone(), next);
        self.undo.push(Undo::Item(id, old, write));
    }

    /// Makes a location in this run, in its place in fill order.
    pub fn put_location(&mut self, id: &LocationId, name: &str, priority: i64) {
        let at = self
            .locations
            .partition_point(|(other, p)| (*p, other) < (priority, id));
        self.locations.insert(at, (id.clone(), priority));
        self.priorities.insert(id.clone(), priority);
        self.new_locations
            .push((id.clone(), name.to_owned(), priority));
        self.undo.push(Undo::Location(id.clone()));
    }

    /// Records a supplier's figure on the item's link to it.
    pub fn put_figure(&mut self, item: &ItemId, supplier: &str, figure: Figure) {
        let key = (item.clone(), supplier.to_owned());
        let old = self.figures.insert(key.clone(), figure);
        self.undo.push(Undo::Figure(key, old));
    }

    /// The item's view as a read shows it: a hold past its time that is
    /// still active no longer counts as reserved.
    pub fn effective_view(&self, id: &ItemId, now: i64) -> ItemView {
        let mut view = self.view(id);
        for hold_id in &self.due {
            let Some(hold) = self.holds.get(hold_id) else {
                continue;
            };
            if hold.view.status != HoldStatus::Active || hold.view.expires_at_ms > now {
                continue;
            }
            for line in hold.view.lines.iter().filter(|line| line.item == *id) {
                if let Some(level) = view
                    .levels
                    .iter_mut()
                    .find(|level| level.location == line.location)
                {
                    level.level.reserved -= line.quantity;
                }
            }
        }
        view
    }

    pub fn put_hold(&mut self, hold: HoldState) {
        let old = self.holds.insert(hold.view.id.clone(), hold.clone());
        self.undo.push(Undo::Hold(hold.view.id, old));
    }

    pub fn put_order(&mut self, order: OrderState) {
        let id = order.id.clone();
        if order.is_new {
            let old = self.order_of_hold.insert(order.hold_id.clone(), id.clone());
            self.undo
                .push(Undo::OrderOfHold(order.hold_id.clone(), old));
        }
        let old = self.orders.insert(id.clone(), order);
        self.undo.push(Undo::Order(id, old));
    }

    pub fn put_retry_key(&mut self, key: String, entry: Entry) {
        let old = self.retried.insert(key.clone(), entry);
        self.undo.push(Undo::Retried(key, old));
    }

    /// The hold's view, or a 404.
    pub fn hold(&self, id: &str) -> Result<HoldView, WriteError> {
        self.holds
            .get(id)
            .map(|hold| hold.view.clone())
            .ok_or_else(|| WriteError::NotFound {
                entity: "reservation",
                id: id.to_owned(),
            })
    }

    /// The order's view, or a 404.
    pub fn order(&self, id: &str) -> Result<OrderView, WriteError> {
        let Some(order) = self.orders.get(id) else {
            return Err(WriteError::NotFound {
                entity: "order",
                id: id.to_owned(),
            });
        };
        Ok(OrderView {
            id: order.id.clone(),
            status: order.status,
            hold: self.hold(&order.hold_id)?,
            created_at_ms: order.created_at_ms,
            updated_at_ms: order.updated_at_ms,
        })
    }

    /// Moves an order to `status` at `now`, as an update of its row does.
    pub fn move_order(&mut self, id: &str, status: OrderStatus, now: i64) {
        let mut order = self.orders[id].clone();
        order.status = status;
        order.updated_at_ms = now;
        match order.moves.last_mut() {
            Some(last) if last.0 == status => last.1 = now,
            _ => order.moves.push((status, now)),
        }
        self.put_order(order);
    }

    /// Moves a hold to `status` (or a new expiry) at `now`.
    pub fn move_hold(&mut self, id: &str, status: HoldStatus, expires_at_ms: i64, now: i64) {
        let mut hold = self.holds[id].clone();
        hold.view.status = status;
        hold.view.expires_at_ms = expires_at_ms;
        hold.view.updated_at_ms = now;
        hold.changed = true;
        self.put_hold(hold);
    }
}

fn restore<K: std::hash::Hash + Eq, T>(map: &mut HashMap<K, T>, key: K, old: Option<T>) {
    match old {
        Some(old) => map.insert(key, old),
        None => map.remove(&key),
    };
}
