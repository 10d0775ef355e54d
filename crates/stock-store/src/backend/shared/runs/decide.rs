//! Each command of a run decided against the run's state, in the order and
//! with the answers the one-by-one path (`sales.rs`, `holds.rs`,
//! `items.rs`, `supplier_links.rs`) gives.
//! A decision either returns what the command answers or a refusal; the
//! caller undoes a refused command's changes.

use stock_core::{
    allocate, apply_delta, commit, give_back, release, reserve, set_on_hand, sync_on_hand,
    transfer, HoldAction, HoldStatus, Item, ItemId, LineRequest, LocationId, Operation,
    OrderAction, OrderEffect, OrderStatus, Shortage, Step, StockError,
};

use super::super::holds::request_hash;
use super::super::items::{opening, patched, IMPORT_REASON, OPENING_REASON};
use super::super::levels::every_item;
use super::super::sales::sync_retry_keys;
use super::super::supplier_links::{figure_reason, SupplierFigure};
use super::state::{Entry, Figure, HoldState, OrderState, State};
use crate::model::*;

/// What a command answers, once the ledger ids of its new rows are known.
pub(super) enum Answer {
    Ready(Box<Outcome>),
    Synced {
        view: Box<ItemView>,
        entry: Entry,
        replayed: bool,
    },
    Lines {
        views: Vec<ItemView>,
        rows: Vec<usize>,
    },
    Transferred {
        view: Box<ItemView>,
        rows: Vec<usize>,
    },
    Item {
        view: Box<ItemView>,
        rows: Vec<usize>,
    },
    SupplierSynced {
        view: Box<ItemView>,
        row: Option<usize>,
        shortfall: i64,
    },
}

/// The items a command's stock moves on, before the hold and order rows
/// are read: what must be read and locked for it.
pub(super) struct Names<'a> {
    pub items: Vec<&'a ItemId>,
    pub holds: Vec<&'a str>,
    pub orders: Vec<&'a str>,
}

fn ready(outcome: Outcome) -> Answer {
    Answer::Ready(Box::new(outcome))
}

/// Commands a run decides in memory; the rest run one by one.
pub(crate) fn in_runs(command: &Command) -> bool {
    matches!(
        command,
        Command::SyncStock { .. }
            | Command::ApplyLines { .. }
            | Command::CreateHold { .. }
            | Command::ExtendHold { .. }
            | Command::CommitHold { .. }
            | Command::ReleaseHold { .. }
            | Command::ExpireHolds { .. }
            | Command::CreateOrder { .. }
            | Command::PayOrder { .. }
            | Command::CancelOrder { .. }
            | Command::Transfer { .. }
            | Command::CreateItem { .. }
            | Command::UpdateItem { .. }
            | Command::ImportItem { .. }
            | Command::CreateLocation { .. }
            | Command::SyncSupplierStock { .. }
    )
}

pub(super) fn names(command: &Command) -> Names<'_> {
    let mut names = Names {
        items: Vec::new(),
        holds: Vec::new(),
        orders: Vec::new(),
    };
    match command {
        Command::SyncStock { item, .. }
        | Command::Transfer { item, .. }
        | Command::UpdateItem { id: item, .. }
        | Command::SyncSupplierStock { item, .. } => names.items.push(item),
        Command::CreateItem { item, .. } | Command::ImportItem { item, .. } => {
            names.items.push(&item.id)
        }
        Command::CreateLocation { .. } => {}
        Command::ApplyLines { lines, .. } => names.items.extend(lines.iter().map(|l| &l.item)),
        Command::CreateHold { id, lines, .. } => {
            names.holds.push(id);
            names.items.extend(lines.iter().map(|l| &l.item));
        }
        Command::ExtendHold { id, .. }
        | Command::CommitHold { id }
        | Command::ReleaseHold { id, .. } => names.holds.push(id),
        Command::ExpireHolds { ids, .. } => names.holds.extend(ids.iter().map(String::as_str)),
        Command::CreateOrder {
            id, hold_id, lines, ..
        } => {
            names.orders.push(id);
            names.holds.push(hold_id);
            names.items.extend(lines.iter().map(|l| &l.item));
        }
        Command::PayOrder { id } | Command::CancelOrder { id, .. } => names.orders.push(id),
        _ => unreachable!("only commands in runs are named"),
    }
    names
}

/// A command of a run, decided.
pub(super) fn decide(
    state: &mut State,
    command: &Command,
    meta: &WriteMeta,
    now: i64,
) -> Result<Answer, WriteError> {
    match command {
        Command::SyncStock {
            item,
            location,
            delta,
            order_id,
            reason,
            trace_id,
        } => sync_stock(
            state,
            item,
            location,
            *delta,
            order_id.as_deref(),
            reason.as_deref(),
            trace_id.as_deref().or(meta.trace_id.as_deref()),
            trace_id.as_deref(),
            meta,
            now,
        ),
        Command::ApplyLines {
            operation,
            lines,
            order_id,
            reason,
        } => apply_lines(
            state,
            *operation,
            lines,
            order_id.as_deref(),
            reason.as_deref(),
            meta,
            now,
        ),
        Command::CreateHold {
            id,
            order_id,
            lines,
            ttl_ms,
        } => {
            let hash = request_hash("hold", order_id, lines);
            create_hold(state, id, order_id, lines, *ttl_ms, &hash, meta, now)
        }
        Command::ExtendHold { id, ttl_ms } => {
            step_hold(state, id, HoldAction::Extend, *ttl_ms, None, meta, now)
        }
        Command::CommitHold { id } => step_hold(state, id, HoldAction::Commit, 0, None, meta, now),
        Command::ReleaseHold { id, reason } => {
            let reason = reason.as_deref().or(Some("released"));
            step_hold(state, id, HoldAction::Release, 0, reason, meta, now)
        }
        Command::ExpireHolds { ids, now_ms } => {
            let mut expired = 0;
            for id in ids {
                if expire_if_due(state, id, meta, *now_ms)? {
                    expired += 1;
                }
            }
            Ok(ready(Outcome::Expired { holds: expired }))
        }
        Command::CreateOrder {
            id,
            hold_id,
            lines,
            ttl_ms,
        } => create_order(state, id, hold_id, lines, *ttl_ms, meta, now),
        Command::PayOrder { id } => step_order(state, id, OrderAction::Pay, None, meta, now),
        Command::CancelOrder { id, reason } => {
            step_order(state, id, OrderAction::Cancel, reason.as_deref(), meta, now)
        }
        Command::Transfer {
            item,
            source,
            target,
            quantity,
            reason,
        } => move_stock(
            state,
            item,
            source,
            target,
            *quantity,
            reason.as_deref(),
            meta,
            now,
        ),
        Command::CreateItem {
            item,
            location,
            opening_stock,
        } => {
            if state.items.contains_key(&item.id) {
                return Err(WriteError::AlreadyExists {
                    entity: "item",
                    id: item.id.to_string(),
                });
            }
            let row = insert_item(state, item, location, *opening_stock, meta, now)?;
            Ok(Answer::Item {
                view: Box::new(state.view(&item.id)),
                rows: vec![row],
            })
        }
        Command::UpdateItem {
            id,
            patch,
            set_stock,
        } => update_item(state, id, patch, set_stock.as_ref(), meta, now),
        Command::ImportItem {
            item,
            location,
            on_hand,
        } => import_item(state, item, location, *on_hand, meta, now),
        Command::CreateLocation { id, name, priority } => {
            if state.priorities.contains_key(id) {
                return Err(WriteError::AlreadyExists {
                    entity: "location",
                    id: id.to_string(),
                });
            }
            state.put_location(id, name, *priority);
            Ok(ready(Outcome::Location(Location {
                id: id.clone(),
                name: name.clone(),
                priority: *priority,
                created_at_ms: now,
            })))
        }
        Command::SyncSupplierStock { .. } => {
            let figure = SupplierFigure::of(command).expect("a supplier's figure");
            sync_supplier_stock(state, &figure, meta, now)
        }
        _ => unreachable!("only commands in runs are decided"),
    }
}

#[allow(clippy::too_many_arguments)]
fn sync_stock(
    state: &mut State,
    item_id: &ItemId,
    location: &LocationId,
    delta: i64,
    order_id: Option<&str>,
    reason: Option<&str>,
    trace_id: Option<&str>,
    command_trace_id: Option<&str>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Answer, WriteError> {
    let item = state.item(item_id)?;
    let retry_keys = sync_retry_keys(item_id, delta, order_id, command_trace_id);
    for retry_key in &retry_keys {
        let Some(entry) = state.retried.get(retry_key) else {
            continue;
        };
        let (first_item, first_location, first_delta) = match entry {
            Entry::Stored(entry) => (&entry.item, &entry.location, entry.on_hand_delta),
            Entry::New(row) => {
                let row = &state.rows[*row];
                (&row.item, &row.location, row.transition.on_hand_delta())
            }
        };
        if first_item != item_id || first_location != location || first_delta != delta {
            return Err(WriteError::RetryMismatch {
                message: format!(
                    "sync-stock with this {} was applied before with delta {first_delta} for item {first_item} at {first_location}",
                    if retry_key.starts_with("o:") { "order_id" } else { "trace_id" },
                ),
            });
        }
        let entry = entry.clone();
        return Ok(Answer::Synced {
            view: Box::new(state.view(item_id)),
            entry,
            replayed: true,
        });
    }
    expire_due_for_items(state, [item_id], meta, now)?;
    state.priority(location)?;
    let level = state.level(item_id, location);
    let transition = apply_delta(&item, location, &level, delta)?;
    let operation = if delta > 0 {
        Operation::Add
    } else {
        Operation::Deduct
    };
    let row = state.change(
        item_id,
        location,
        operation,
        transition,
        order_id,
        None,
        reason,
        &meta.operator,
        trace_id,
        now,
    )?;
    for retry_key in retry_keys {
        state.put_retry_key(retry_key, Entry::New(row));
    }
    Ok(Answer::Synced {
        view: Box::new(state.view(item_id)),
        entry: Entry::New(row),
        replayed: false,
    })
}

/// Every item named, in the request's order, or a 404 naming each missing one.
fn require_items<'a>(
    state: &State,
    ids: impl Iterator<Item = &'a ItemId>,
) -> Result<Vec<stock_core::Item>, WriteError> {
    every_item(ids.map(|id| (id, state.items.get(id).map(|(item, ..)| item.clone()))))
}

fn apply_lines(
    state: &mut State,
    operation: Operation,
    lines: &[LineDelta],
    order_id: Option<&str>,
    reason: Option<&str>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Answer, WriteError> {
    expire_due_for_items(state, lines.iter().map(|l| &l.item), meta, now)?;
    let items = require_items(state, lines.iter().map(|l| &l.item))?;
    let mut requests = Vec::with_capacity(lines.len());
    for (line, item) in lines.iter().zip(&items) {
        state.priority(&line.location)?;
        requests.push(LineRequest {
            item,
            location: &line.location,
            level: state.level(&line.item, &line.location),
            delta: line.delta,
        });
    }
    let changes = stock_core::apply_lines(&requests)?;
    let mut rows = Vec::with_capacity(changes.len());
    for line in changes {
        rows.push(state.change(
            &line.item,
            &line.location,
            operation,
            line.transition,
            order_id,
            None,
            reason,
            &meta.operator,
            meta.trace_id.as_deref(),
            now,
        )?);
    }
    let views = items.iter().map(|item| state.view(&item.id)).collect();
    Ok(Answer::Lines { views, rows })
}

/// Expires the holds that were due when the run began and hold any of
/// these items, in id order, as `holds::expire_due_for_items` does.
fn expire_due_for_items<'a>(
    state: &mut State,
    items: impl IntoIterator<Item = &'a ItemId>,
    meta: &WriteMeta,
    now: i64,
) -> Result<(), WriteError> {
    if state.due.is_empty() {
        return Ok(());
    }
    let items: Vec<&ItemId> = items.into_iter().collect();
    let due: Vec<String> = state
        .due
        .iter()
        .filter(|id| {
            state.holds.get(id.as_str()).is_some_and(|hold| {
                hold.view.status == HoldStatus::Active
                    && hold.view.expires_at_ms <= now
                    && hold
                        .view
                        .lines
                        .iter()
                        .any(|line| items.contains(&&line.item))
            })
        })
        .cloned()
        .collect();
    for id in due {
        expire_if_due(state, &id, meta, now)?;
    }
    Ok(())
}

/// Expires a hold if it is active and past its time; whether it did.
fn expire_if_due(
    state: &mut State,
    id: &str,
    meta: &WriteMeta,
    now: i64,
) -> Result<bool, WriteError> {
    let Some(hold) = state.holds.get(id) else {
        return Ok(false);
    };
    if hold.view.status != HoldStatus::Active || hold.view.expires_at_ms > now {
        return Ok(false);
    }
    finish_hold(state, id, HoldStatus::Expired, Some("expired"), meta, now)?;
    Ok(true)
}

/// Moves an active hold to `status` with what that does to stock; an
/// order on it that is pending follows.
fn finish_hold(
    state: &mut State,
    id: &str,
    status: HoldStatus,
    reason: Option<&str>,
    meta: &WriteMeta,
    now: i64,
) -> Result<(), WriteError> {
    let hold = state.holds[id].view.clone();
    assert_eq!(
        hold.status,
        HoldStatus::Active,
        "only an active hold finishes"
    );
    for line in &hold.lines {
        let item = state.item(&line.item)?;
        let level = state.level(&line.item, &line.location);
        let (operation, transition) = match status {
            HoldStatus::Committed => (Operation::Commit, commit(&item, &level, line.quantity)?),
            HoldStatus::Released | HoldStatus::Expired => {
                (Operation::Release, release(&item, &level, line.quantity)?)
            }
            HoldStatus::Active => unreachable!("finishing moves a hold out of active"),
        };
        state.change(
            &line.item,
            &line.location,
            operation,
            transition,
            Some(&hold.order_id),
            Some(&hold.id),
            reason,
            &meta.operator,
            meta.trace_id.as_deref(),
            now,
        )?;
    }
    state.move_hold(id, status, hold.expires_at_ms, now);
    let order_status = match status {
        HoldStatus::Committed => OrderStatus::Paid,
        HoldStatus::Released => OrderStatus::Cancelled,
        HoldStatus::Expired => OrderStatus::Expired,
        HoldStatus::Active => unreachable!("finishing moves a hold out of active"),
    };
    if let Some(order) = state.order_of_hold.get(id).cloned() {
        if state.orders[&order].status == OrderStatus::Pending {
            state.move_order(&order, order_status, now);
        }
    }
    Ok(())
}

/// Creates a hold: every line or none, every short line named.
#[allow(clippy::too_many_arguments)]
fn create_hold(
    state: &mut State,
    id: &str,
    order_id: &str,
    lines: &[HoldLineRequest],
    ttl_ms: i64,
    hash: &str,
    meta: &WriteMeta,
    now: i64,
) -> Result<Answer, WriteError> {
    if let Some(existing) = state.holds.get(id) {
        if existing.request_hash != hash {
            return Err(WriteError::RetryMismatch {
                message: format!("reservation {id} exists with other lines or another order"),
            });
        }
        return Ok(ready(Outcome::Hold {
            hold: existing.view.clone(),
            replayed: true,
        }));
    }
    expire_due_for_items(state, lines.iter().map(|l| &l.item), meta, now)?;
    let items = require_items(state, lines.iter().map(|l| &l.item))?;
    let expires_at = now
        .checked_add(ttl_ms)
        .expect("the edge caps the time to live");
    let mut shortages: Vec<Shortage> = Vec::new();
    let mut held = Vec::new();
    for (line, item) in lines.iter().zip(&items) {
        let parts = match &line.location {
            Some(location) => {
                state.priority(location)?;
                vec![(location.clone(), line.quantity)]
            }
            None => match allocate(item, line.quantity, &state.levels_in_fill_order(&item.id)) {
                Ok(parts) => parts,
                Err(StockError::InsufficientStock {
                    shortages: mut found,
                }) => {
                    shortages.append(&mut found);
                    continue;
                }
                Err(other) => return Err(other.into()),
            },
        };
        for (location, quantity) in parts {
            let level = state.level(&item.id, &location);
            let transition = match reserve(item, &location, &level, quantity) {
                Ok(transition) => transition,
                Err(StockError::InsufficientStock {
                    shortages: mut found,
                }) => {
                    shortages.append(&mut found);
                    continue;
                }
                Err(other) => return Err(other.into()),
            };
            state.change(
                &item.id,
                &location,
                Operation::Reserve,
                transition,
                Some(order_id),
                Some(id),
                None,
                &meta.operator,
                meta.trace_id.as_deref(),
                now,
            )?;
            held.push(HoldLine {
                item: item.id.clone(),
                location,
                quantity,
            });
        }
    }
    if !shortages.is_empty() {
        return Err(WriteError::Stock(StockError::InsufficientStock {
            shortages,
        }));
    }
    let view = HoldView {
        id: id.to_owned(),
        order_id: order_id.to_owned(),
        status: HoldStatus::Active,
        expires_at_ms: expires_at,
        created_at_ms: now,
        updated_at_ms: now,
        lines: held,
    };
    state.put_hold(HoldState {
        view: view.clone(),
        request_hash: hash.to_owned(),
        is_new: true,
        changed: false,
    });
    Ok(ready(Outcome::Hold {
        hold: view,
        replayed: false,
    }))
}

fn step_hold(
    state: &mut State,
    id: &str,
    action: HoldAction,
    ttl_ms: i64,
    reason: Option<&str>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Answer, WriteError> {
    expire_if_due(state, id, meta, now)?;
    let hold = state.hold(id)?;
    let step = hold
        .status
        .step(action)
        .map_err(|refused| WriteError::HoldState {
            id: id.to_owned(),
            refused,
        })?;
    match step {
        Step::Already => {
            return Ok(ready(Outcome::Hold {
                hold,
                replayed: true,
            }))
        }
        Step::Move(HoldStatus::Active) => {
            let expires_at = now
                .checked_add(ttl_ms)
                .expect("the edge caps the time to live");
            state.move_hold(id, HoldStatus::Active, expires_at, now);
        }
        Step::Move(status) => finish_hold(state, id, status, reason, meta, now)?,
    }
    Ok(ready(Outcome::Hold {
        hold: state.hold(id)?,
        replayed: false,
    }))
}

fn create_order(
    state: &mut State,
    id: &str,
    hold_id: &str,
    lines: &[HoldLineRequest],
    ttl_ms: i64,
    meta: &WriteMeta,
    now: i64,
) -> Result<Answer, WriteError> {
    let hash = request_hash("order", id, lines);
    if let Some(existing) = state.orders.get(id) {
        if existing.request_hash != hash {
            return Err(WriteError::RetryMismatch {
                message: format!("order {id} exists with other lines"),
            });
        }
        return Ok(ready(Outcome::Order {
            order: state.order(id)?,
            replayed: true,
        }));
    }
    let hold_hash = request_hash("hold", id, lines);
    create_hold(state, hold_id, id, lines, ttl_ms, &hold_hash, meta, now)?;
    if state.order_of_hold.contains_key(hold_id) {
        // Another order stands on this hold: the one-by-one path tells.
        return Err(WriteError::Internal(anyhow::anyhow!(
            "hold {hold_id} belongs to another order"
        )));
    }
    state.put_order(OrderState {
        id: id.to_owned(),
        status: OrderStatus::Pending,
        hold_id: hold_id.to_owned(),
        request_hash: hash,
        created_at_ms: now,
        updated_at_ms: now,
        is_new: true,
        moves: Vec::new(),
    });
    Ok(ready(Outcome::Order {
        order: state.order(id)?,
        replayed: false,
    }))
}

fn step_order(
    state: &mut State,
    id: &str,
    action: OrderAction,
    reason: Option<&str>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Answer, WriteError> {
    let order = state.order(id)?;
    // An unpaid order whose hold ran out has expired, whether or not the
    // expiry task has got to it yet.
    expire_if_due(state, &order.hold.id, meta, now)?;
    let order = state.order(id)?;
    let (step, effect) = order
        .status
        .step(action)
        .map_err(|refused| WriteError::OrderState {
            id: id.to_owned(),
            refused,
        })?;
    let Step::Move(status) = step else {
        return Ok(ready(Outcome::Order {
            order,
            replayed: true,
        }));
    };
    match effect {
        OrderEffect::CommitHold => finish_hold(
            state,
            &order.hold.id,
            HoldStatus::Committed,
            reason,
            meta,
            now,
        )?,
        OrderEffect::ReleaseHold => finish_hold(
            state,
            &order.hold.id,
            HoldStatus::Released,
            reason.or(Some("order cancelled")),
            meta,
            now,
        )?,
        OrderEffect::ReturnStock => {
            for line in &order.hold.lines {
                let item = state.item(&line.item)?;
                let level = state.level(&line.item, &line.location);
                state.change(
                    &line.item,
                    &line.location,
                    Operation::Return,
                    give_back(&item, &level, line.quantity)?,
                    Some(&order.id),
                    Some(&order.hold.id),
                    reason.or(Some("order cancelled after payment")),
                    &meta.operator,
                    meta.trace_id.as_deref(),
                    now,
                )?;
            }
        }
        OrderEffect::None => {}
    }
    state.move_order(id, status, now);
    Ok(ready(Outcome::Order {
        order: state.order(id)?,
        replayed: false,
    }))
}

#[allow(clippy::too_many_arguments)]
fn move_stock(
    state: &mut State,
    item_id: &ItemId,
    source: &LocationId,
    target: &LocationId,
    quantity: i64,
    reason: Option<&str>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Answer, WriteError> {
    assert_ne!(
        source, target,
        "the edge refuses a transfer to the same location"
    );
    expire_due_for_items(state, [item_id], meta, now)?;
    let item = state.item(item_id)?;
    state.priority(source)?;
    state.priority(target)?;
    let from = state.level(item_id, source);
    let to = state.level(item_id, target);
    let (out, into) = transfer(&item, source, &from, &to, quantity)?;
    let mut rows = Vec::with_capacity(2);
    for (location, transition) in [(source, out), (target, into)] {
        rows.push(state.change(
            item_id,
            location,
            Operation::Transfer,
            transition,
            None,
            None,
            reason,
            &meta.operator,
            meta.trace_id.as_deref(),
            now,
        )?);
    }
    Ok(Answer::Transferred {
        view: Box::new(state.view(item_id)),
        rows,
    })
}

/// Makes an item with its opening stock at `location`, as `items::create`
/// and an import of a new item do; the index of its `init` row.
fn insert_item(
    state: &mut State,
    item: &Item,
    location: &LocationId,
    opening_stock: i64,
    meta: &WriteMeta,
    now: i64,
) -> Result<usize, WriteError> {
    state.priority(location)?;
    state.put_item(item.clone(), now);
    state.change(
        &item.id,
        location,
        Operation::Init,
        opening(opening_stock),
        None,
        None,
        Some(OPENING_REASON),
        &meta.operator,
        meta.trace_id.as_deref(),
        now,
    )
}

/// Changes an item's details and, when asked, sets its stock at one
/// location at the expected version, as `items::update` does.
fn update_item(
    state: &mut State,
    id: &ItemId,
    patch: &ItemPatch,
    set_stock: Option<&StockSet>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Answer, WriteError> {
    if set_stock.is_some() {
        expire_due_for_items(state, [id], meta, now)?;
    }
    let current = state.item(id)?;
    let item = patched(&current, patch);
    if item != current {
        state.put_item(item.clone(), now);
    }
    let mut rows = Vec::new();
    if let Some(set) = set_stock {
        state.priority(&set.location)?;
        let level = state.level(id, &set.location);
        let transition = set_on_hand(&item, &level, set.on_hand, set.expected_version)?;
        rows.push(state.change(
            id,
            &set.location,
            Operation::Set,
            transition,
            None,
            None,
            set.reason.as_deref(),
            &meta.operator,
            meta.trace_id.as_deref(),
            now,
        )?);
    }
    Ok(Answer::Item {
        view: Box::new(state.effective_view(id, now)),
        rows,
    })
}

/// Makes the item of an imported row, or brings it and its stock at
/// `location` to what the row says, as `items::import` does.
fn import_item(
    state: &mut State,
    item: &Item,
    location: &LocationId,
    on_hand: i64,
    meta: &WriteMeta,
    now: i64,
) -> Result<Answer, WriteError> {
    state.priority(location)?;
    expire_due_for_items(state, [&item.id], meta, now)?;
    let Some((current, ..)) = state.items.get(&item.id).cloned() else {
        insert_item(state, item, location, on_hand, meta, now)?;
        return Ok(ready(Outcome::Imported {
            kind: ImportKind::Created,
            view: state.view(&item.id),
        }));
    };
    let mut kind = ImportKind::Unchanged;
    if current != *item {
        state.put_item(item.clone(), now);
        kind = ImportKind::Updated;
    }
    let level = state.level(&item.id, location);
    if level.on_hand != on_hand {
        let transition = set_on_hand(item, &level, on_hand, level.version)?;
        state.change(
            &item.id,
            location,
            Operation::Set,
            transition,
            None,
            None,
            Some(IMPORT_REASON),
            &meta.operator,
            meta.trace_id.as_deref(),
            now,
        )?;
        kind = ImportKind::Updated;
    }
    Ok(ready(Outcome::Imported {
        kind,
        view: state.effective_view(&item.id, now),
    }))
}

/// Writes a supplier's figure into the item's level at the supplier's
/// location (made if missing) and onto its link, as
/// `supplier_links::sync_stock` does.
fn sync_supplier_stock(
    state: &mut State,
    figure: &SupplierFigure<'_>,
    meta: &WriteMeta,
    now: i64,
) -> Result<Answer, WriteError> {
    let item = state.item(figure.item)?;
    expire_due_for_items(state, [figure.item], meta, now)?;
    let level = state.level(figure.item, figure.location);
    let transition = sync_on_hand(&item, &level, figure.stock)?;
    if !state.priorities.contains_key(figure.location) {
        state.put_location(
            figure.location,
            figure.location_name,
            figure.location_priority,
        );
    }
    let row = match transition {
        Some(transition) => Some(state.change(
            figure.item,
            figure.location,
            Operation::Sync,
            transition,
            None,
            None,
            Some(&figure_reason(
                figure.supplier,
                figure.stock,
                figure.county_code,
            )),
            &meta.operator,
            meta.trace_id.as_deref(),
            now,
        )?),
        None => None,
    };
    let on_hand = transition.map_or(level.on_hand, |t| t.after.on_hand);
    assert!(
        on_hand >= figure.stock,
        "a sync keeps on hand at the figure or above"
    );
    state.put_figure(
        figure.item,
        figure.supplier,
        Figure {
            stock: figure.stock,
            county_code: figure.county_code.to_owned(),
        },
    );
    Ok(Answer::SupplierSynced {
        view: Box::new(state.effective_view(figure.item, now)),
        row,
        shortfall: on_hand - figure.stock,
    })
}
