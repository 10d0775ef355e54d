//! Runs: consecutive stock commands decided together, in memory.
//!
//! Run one by one, a stock command costs about a dozen statements in its
//! own savepoint. A run of consecutive commands (sync-stocks, decreases and
//! increases, holds made, extended, committed, released and expired, orders
//! made, paid and cancelled, transfers, items made and changed, stock set
//! at a version, import rows, locations made, a supplier's figures) is
//! instead read with a few set-based queries (`load.rs`: the orders and
//! holds it names and their lines, the holds due on its items, its items
//! locked in id order, their levels, the locations, its retry and
//! idempotency keys), decided in
//! memory in arrival order by the same `stock-core` rules and in the same
//! order of checks as one by one (`decide.rs`), and written with a few
//! multi-row statements (`write.rs`). Each command still succeeds or fails
//! on its own: a refused one is undone in memory (`state.rs` keeps an undo
//! log) and leaves nothing behind; each answers what it would answer run
//! alone, showing its rows as they were right after it.
//!
//! Anything unexpected while a run is read or written (a lock race with
//! another replica, a response renderer that panics, a case the one-by-one
//! path alone knows how to answer) rolls the run back to its savepoint; the
//! caller then runs its commands one by one instead.

mod decide;
mod load;
mod state;
mod write;

use std::collections::HashMap;

use anyhow::{bail, Context};
use stock_core::{ItemId, Level};

use super::alerts::{BatchChanges, ItemChange};
use super::contract::Conn;
use crate::model::*;
use decide::{decide, names, Answer};
use state::{Entry, NewRow, State};

pub(crate) use decide::in_runs;

/// Rows per multi-row INSERT: at most 16 parameters a row keeps every
/// statement well under both backends' limits on parameters.
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// What a run did: its replies, and what it did to each item's available
/// stock, for alerts.
pub(crate) struct Decided {
    pub replies: Vec<Reply>,
    pub changes: BatchChanges,
}

/// Runs consecutive commands in a few statements. `None`: the run left
/// nothing behind in the transaction, and its jobs must run one by one.
pub(crate) async fn run_commands(
    conn: &mut Conn,
    jobs: &[WriteJob],
) -> anyhow::Result<Option<Decided>> {
    sqlx::query("SAVEPOINT run").execute(&mut *conn).await?;
    match run(conn, jobs).await {
        Ok(decided) => {
            sqlx::query("RELEASE run").execute(&mut *conn).await?;
            Ok(Some(decided))
        }
        Err(error) => {
            tracing::info!(
                error = format!("{error:#}"),
                commands = jobs.len(),
                "a run is run one by one instead"
            );
            sqlx::query("ROLLBACK TO run").execute(&mut *conn).await?;
            sqlx::query("RELEASE run").execute(&mut *conn).await?;
            Ok(None)
        }
    }
}

enum Decision {
    /// The idempotency key was used before the run.
    Replayed(StoredResponse),
    /// The idempotency key was used earlier in this run, by that command.
    ReplayOf(usize),
    Refused(WriteError),
    Answered(Answer),
    /// It would change a row another transaction holds: left for a later
    /// batch, having done nothing.
    Busy,
}

async fn run(conn: &mut Conn, jobs: &[WriteJob]) -> anyhow::Result<Decided> {
    let now = now_ms();
    let mut state = load::read_state(conn, jobs, now).await?;
    // A run that has nothing to do but wait waits a little (the lock
    // timeout): another replica's batch on the same item ends soon.
    let all_wait = || {
        let mut waiting = state::Busy::default();
        jobs.iter()
            .all(|job| waits(&state, &mut waiting, &job.command))
    };
    if !state.locked.is_empty() && all_wait() && load::wait_for_locked(conn, &state.locked).await? {
        state = load::read_state(conn, jobs, now).await?;
    }
    let stored = load::read_idempotency_keys(conn, jobs).await?;
    let available_before: HashMap<ItemId, i64> = state
        .items
        .keys()
        .map(|id| (id.clone(), state.available(id)))
        .collect();

    let mut claimed: HashMap<(&str, &str), usize> = HashMap::new();
    let mut decisions = Vec::with_capacity(jobs.len());
    let mut waiting = state::Busy::default();
    for (index, job) in jobs.iter().enumerate() {
        if let Some(claim) = &job.meta.idempotency {
            let key = (claim.key_id.as_str(), claim.idempotency_key.as_str());
            if let Some(response) = stored.get(&key) {
                decisions.push(Decision::Replayed(response.clone()));
                continue;
            }
        }
        if waits(&state, &mut waiting, &job.command) {
            decisions.push(Decision::Busy);
            continue;
        }
        if let Some(claim) = &job.meta.idempotency {
            let key = (claim.key_id.as_str(), claim.idempotency_key.as_str());
            if let Some(first) = claimed.get(&key) {
                decisions.push(Decision::ReplayOf(*first));
                continue;
            }
            claimed.insert(key, index);
        }
        let mark = state.mark();
        match decide(&mut state, &job.command, &job.meta, now) {
            Ok(answer) => decisions.push(Decision::Answered(answer)),
            Err(WriteError::Internal(error)) => return Err(error),
            Err(refused) => {
                state.roll_back(mark);
                decisions.push(Decision::Refused(refused));
            }
        }
    }

    write::write_state(conn, &mut state, now).await?;

    let mut results: Vec<Option<Result<Outcome, WriteError>>> = Vec::with_capacity(jobs.len());
    for decision in &mut decisions {
        let result = match std::mem::replace(decision, Decision::ReplayOf(usize::MAX)) {
            Decision::Refused(error) => Some(Err(error)),
            Decision::Busy => Some(Err(WriteError::Busy)),
            Decision::Answered(answer) => Some(Ok(outcome(answer, &state, now))),
            other => {
                *decision = other;
                None
            }
        };
        results.push(result);
    }

    // The responses kept for idempotency keys, written with the change.
    let mut responses: HashMap<usize, StoredResponse> = HashMap::new();
    for (index, (job, result)) in jobs.iter().zip(&results).enumerate() {
        let (Some(claim), Some(result)) = (&job.meta.idempotency, result) else {
            continue;
        };
        if matches!(result, Err(WriteError::Busy)) {
            continue;
        }
        let rendered =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (claim.render)(result)));
        let Ok((status, body)) = rendered else {
            bail!("rendering the response for an idempotency key failed");
        };
        responses.insert(
            index,
            StoredResponse {
                request_hash: claim.request_hash.clone(),
                status,
                body,
            },
        );
    }
    let mut kept: Vec<(&IdempotencyClaim, &StoredResponse)> = responses
        .iter()
        .filter_map(|(index, response)| Some((jobs[*index].meta.idempotency.as_ref()?, response)))
        .collect();
    write::write_idempotency_keys(conn, &mut kept, now).await?;

    let mut replies = Vec::with_capacity(jobs.len());
    for ((job, decision), result) in jobs.iter().zip(decisions).zip(results) {
        let same = |stored: &StoredResponse| {
            job.meta
                .idempotency
                .as_ref()
                .is_some_and(|claim| claim.request_hash == stored.request_hash)
        };
        let reply = match (decision, result) {
            (_, Some(result)) => Reply::Fresh(result),
            (Decision::Replayed(stored), None) => Reply::Replayed {
                same_request: same(&stored),
                stored,
            },
            (Decision::ReplayOf(first), None) => {
                let stored = responses
                    .get(&first)
                    .context("a repeated idempotency key without a first response")?
                    .clone();
                Reply::Replayed {
                    same_request: same(&stored),
                    stored,
                }
            }
            (_, None) => unreachable!("every other decision has a result"),
        };
        replies.push(reply);
    }
    let changes = BatchChanges::Known(known_changes(&state, &available_before));
    Ok(Decided { replies, changes })
}

/// Whether a command must wait for a later batch: it names a busy item,
/// hold or order (`load::settle_busy`), or one a command that waits before
/// it in this run names, so that commands on the same rows keep their
/// order. `waiting` gathers the names of the commands that wait. Expiring
/// holds never waits: a busy hold is simply not expired this time.
fn waits(state: &State, waiting: &mut state::Busy, command: &Command) -> bool {
    if matches!(command, Command::ExpireHolds { .. })
        || (state.busy.is_empty() && waiting.is_empty())
    {
        return false;
    }
    let named = names(command);
    let busy = |set: &state::Busy| {
        named.items.iter().any(|id| set.items.contains(*id))
            || named.holds.iter().any(|id| set.holds.contains(*id))
            || named.orders.iter().any(|id| set.orders.contains(*id))
    };
    if !busy(&state.busy) && !busy(waiting) {
        return false;
    }
    waiting.items.extend(named.items.into_iter().cloned());
    waiting
        .holds
        .extend(named.holds.into_iter().map(str::to_owned));
    waiting
        .orders
        .extend(named.orders.into_iter().map(str::to_owned));
    true
}

fn outcome(answer: Answer, state: &State, now: i64) -> Outcome {
    let entry = |row: usize| entry_of(&state.rows[row], now);
    match answer {
        Answer::Ready(outcome) => *outcome,
        Answer::Synced {
            view,
            entry: first,
            replayed,
        } => Outcome::Synced {
            view: *view,
            entry: match first {
                Entry::Stored(stored) => *stored,
                Entry::New(row) => entry(row),
            },
            replayed,
        },
        Answer::Lines { views, rows } => Outcome::Lines {
            views,
            entries: rows.into_iter().map(entry).collect(),
        },
        Answer::Transferred { view, rows } => Outcome::Transferred {
            view: *view,
            entries: rows.into_iter().map(entry).collect(),
        },
        Answer::Item { view, rows } => Outcome::Item {
            view: *view,
            entries: rows.into_iter().map(entry).collect(),
        },
        Answer::SupplierSynced {
            view,
            row,
            shortfall,
        } => Outcome::SupplierSynced {
            view: *view,
            entry: row.map(entry),
            shortfall,
        },
    }
}

/// What the run did to each item it changed.
fn known_changes(state: &State, available_before: &HashMap<ItemId, i64>) -> Vec<ItemChange> {
    let mut last_ids: HashMap<&ItemId, i64> = HashMap::new();
    for row in &state.rows {
        let last = last_ids.entry(&row.item).or_insert(row.id);
        *last = (*last).max(row.id);
    }
    // As one by one: an item made in the batch raises no alert.
    last_ids
        .into_iter()
        .filter(|(id, _)| state.item_writes.get(*id) != Some(&state::ItemWrite::New))
        .map(|(id, last_id)| {
            let (item, ..) = &state.items[id];
            ItemChange {
                item: id.clone(),
                name: item.name.clone(),
                min_stock: item.min_stock,
                before: available_before[id],
                after: state.available(id),
                last_id,
            }
        })
        .collect()
}

fn entry_of(row: &NewRow, now: i64) -> LedgerEntry {
    let (before, after) = (row.transition.before, row.transition.after);
    LedgerEntry {
        id: row.id,
        item: row.item.clone(),
        location: row.location.clone(),
        operation: row.operation,
        on_hand_delta: row.transition.on_hand_delta(),
        reserved_delta: row.transition.reserved_delta(),
        on_hand_before: before.on_hand,
        on_hand_after: after.on_hand,
        reserved_before: before.reserved,
        reserved_after: after.reserved,
        version_after: after.version,
        order_id: row.order_id.clone(),
        reservation_id: row.reservation_id.clone(),
        reason: row.reason.clone(),
        operator: row.operator.clone(),
        trace_id: row.trace_id.clone(),
        created_at_ms: now,
    }
}

/// A ledger row as the backends write it in bulk.
pub(crate) struct LedgerRow<'a> {
    pub item: &'a str,
    pub location: &'a str,
    pub operation: &'static str,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    pub on_hand_before: i64,
    pub on_hand_after: i64,
    pub reserved_before: i64,
    pub reserved_after: i64,
    pub version_after: i64,
    pub order_id: Option<&'a str>,
    pub reservation_id: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub operator: &'a str,
    pub trace_id: Option<&'a str>,
    pub created_at: i64,
}

impl<'a> LedgerRow<'a> {
    fn of(row: &'a NewRow, now: i64) -> LedgerRow<'a> {
        let (before, after) = (row.transition.before, row.transition.after);
        LedgerRow {
            item: row.item.as_str(),
            location: row.location.as_str(),
            operation: row.operation.as_str(),
            on_hand_delta: row.transition.on_hand_delta(),
            reserved_delta: row.transition.reserved_delta(),
            on_hand_before: before.on_hand,
            on_hand_after: after.on_hand,
            reserved_before: before.reserved,
            reserved_after: after.reserved,
            version_after: after.version,
            order_id: row.order_id.as_deref(),
            reservation_id: row.reservation_id.as_deref(),
            reason: row.reason.as_deref(),
            operator: row.operator.as_str(),
            trace_id: row.trace_id.as_deref(),
            created_at: now,
        }
    }
}

/// A level as the backends write it in bulk.
pub(crate) struct LevelRow<'a> {
    pub item: &'a str,
    pub location: &'a str,
    pub level: Level,
    pub updated_at: i64,
}
