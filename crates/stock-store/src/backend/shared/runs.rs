//! Runs of sales, decided in memory.
//!
//! Under load most of a batch is sales: `sync-stock` commands on a few hot
//! items or on many cold ones. Run one by one, a sale costs about ten
//! statements. A run of consecutive sync-stock commands is instead read with
//! a few set-based queries (its items, locked; their levels; its locations;
//! the retry keys and idempotency keys it names), decided in memory in
//! arrival order by the same `stock-core` rules, and written with a few
//! multi-row statements: the ledger rows, the final state of each level it
//! touched, its retry keys and its idempotency responses. Each sale still
//! succeeds or fails on its own, and its answer shows the item as it was
//! right after that sale.
//!
//! Anything unexpected while a run is read or written (a lock race with
//! another replica, a response renderer that panics) rolls the run back to
//! its savepoint; the caller then runs its commands one by one instead.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{bail, Context};
use sqlx::Row;
use stock_core::{
    apply_delta, check_totals, Item, ItemId, Level, LocationId, Operation, Totals, Transition,
};

use super::alerts::{self, BatchChanges, ItemChange};
use super::contract::{self, Conn, Db};
use super::holds;
use super::rows::{fetch_in, item_from_row, item_id_at, ledger_entry, location_id_at, IN_LIST_MAX};
use super::sales::sync_retry_keys;
use crate::model::*;

/// Rows per multi-row INSERT: at most 16 parameters a row keeps every
/// statement well under both backends' limits on parameters.
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// Commands a run may hold.
pub(crate) fn is_sale(command: &Command) -> bool {
    matches!(command, Command::SyncStock { .. })
}

/// What a run did: its replies, and how to find what it did to each item's
/// available stock, for alerts.
pub(crate) struct Sold {
    pub replies: Vec<Reply>,
    pub changes: BatchChanges,
}

/// Runs consecutive sales in a few statements. `None`: the run left nothing
/// behind in the transaction, and its jobs must run one by one.
pub(crate) async fn run_sales(conn: &mut Conn, jobs: &[WriteJob]) -> anyhow::Result<Option<Sold>> {
    sqlx::query("SAVEPOINT run").execute(&mut *conn).await?;
    match sell(conn, jobs).await {
        Ok(sold) => {
            sqlx::query("RELEASE run").execute(&mut *conn).await?;
            Ok(Some(sold))
        }
        Err(error) => {
            tracing::info!(
                error = format!("{error:#}"),
                sales = jobs.len(),
                "a run of sales is run one by one instead"
            );
            sqlx::query("ROLLBACK TO run").execute(&mut *conn).await?;
            sqlx::query("RELEASE run").execute(&mut *conn).await?;
            Ok(None)
        }
    }
}

struct Sale<'a> {
    job: &'a WriteJob,
    item: &'a ItemId,
    location: &'a LocationId,
    delta: i64,
    order_id: Option<&'a str>,
    reason: Option<&'a str>,
    /// The trace id the ledger row carries: the command's, else the request's.
    trace_id: Option<&'a str>,
    retry_keys: Vec<String>,
}

impl<'a> Sale<'a> {
    fn of(job: &'a WriteJob) -> Sale<'a> {
        let Command::SyncStock {
            item,
            location,
            delta,
            order_id,
            reason,
            trace_id,
        } = &job.command
        else {
            unreachable!("a run holds sales only")
        };
        Sale {
            job,
            item,
            location,
            delta: *delta,
            order_id: order_id.as_deref(),
            reason: reason.as_deref(),
            trace_id: trace_id.as_deref().or(job.meta.trace_id.as_deref()),
            retry_keys: sync_retry_keys(item, *delta, order_id.as_deref(), trace_id.as_deref()),
        }
    }
}

/// The items a run touches, as the run has changed them so far.
struct Stock {
    items: HashMap<ItemId, (Item, i64, i64)>,
    /// Every level of the run's items, keyed by location priority and id:
    /// the order in which a view lists them.
    levels: HashMap<ItemId, BTreeMap<(i64, LocationId), LocationLevel>>,
    /// The priority of each location the run names that exists.
    locations: HashMap<LocationId, i64>,
    /// Levels the run changed; written once each at the end.
    changed: BTreeSet<(ItemId, i64, LocationId)>,
}

impl Stock {
    fn level(&self, item: &ItemId, location: &LocationId, priority: i64) -> Level {
        self.levels
            .get(item)
            .and_then(|levels| levels.get(&(priority, location.clone())))
            .map(|level| level.level)
            .unwrap_or_default()
    }

    fn set(&mut self, item: &ItemId, location: &LocationId, priority: i64, level: Level, now: i64) {
        self.levels.entry(item.clone()).or_default().insert(
            (priority, location.clone()),
            LocationLevel {
                location: location.clone(),
                level,
                updated_at_ms: now,
            },
        );
        self.changed
            .insert((item.clone(), priority, location.clone()));
    }

    /// The item's available stock over all its locations.
    fn available(&self, id: &ItemId) -> i64 {
        let levels = self
            .levels
            .get(id)
            .into_iter()
            .flat_map(|levels| levels.values());
        Totals::of(levels.map(|l| &l.level)).available()
    }

    /// The item's stock over every location but one.
    fn totals_elsewhere(&self, id: &ItemId, location: &LocationId, priority: i64) -> Totals {
        let levels = self
            .levels
            .get(id)
            .into_iter()
            .flat_map(|levels| levels.iter());
        let elsewhere = levels.filter(|(key, _)| key.0 != priority || key.1 != *location);
        Totals::of(elsewhere.map(|(_, l)| &l.level))
    }

    fn view(&self, id: &ItemId) -> ItemView {
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
}

/// A ledger row the run adds; its id is known once it is written.
struct NewRow {
    sale: usize,
    operation: Operation,
    transition: Transition,
    id: i64,
}

/// A ledger row a sale points at.
enum Entry {
    Stored(Box<LedgerEntry>),
    New(usize),
}

enum Decision {
    /// The idempotency key was used before the run.
    Replayed(StoredResponse),
    /// The idempotency key was used earlier in this run, by that sale.
    ReplayOf(usize),
    Refused(WriteError),
    Synced {
        view: Box<ItemView>,
        entry: Entry,
        replayed: bool,
    },
}

async fn sell(conn: &mut Conn, jobs: &[WriteJob]) -> anyhow::Result<Sold> {
    let now = now_ms();
    let sales: Vec<Sale> = jobs.iter().map(Sale::of).collect();
    let item_ids: BTreeSet<&ItemId> = sales.iter().map(|sale| sale.item).collect();
    let location_ids: BTreeSet<&LocationId> = sales.iter().map(|sale| sale.location).collect();

    // Due holds on these items give their stock back first, as they would
    // for a sale run on its own. That is rare (the expiry task is quicker),
    // and then the ledger, not the run, tells what changed.
    let due = holds::due_for_items(conn, item_ids.iter().copied(), now).await?;
    let mark = if due.is_empty() {
        None
    } else {
        Some(alerts::ledger_mark(conn).await?)
    };
    for id in &due {
        holds::expire_if_due(conn, id, &jobs[0].meta, now)
            .await
            .map_err(|error| anyhow::anyhow!("expiring due hold {id}: {error:?}"))?;
    }
    let mut stock = read_stock(conn, &item_ids, &location_ids).await?;
    let available_before: HashMap<ItemId, i64> = stock
        .items
        .keys()
        .map(|id| (id.clone(), stock.available(id)))
        .collect();
    let mut retried = read_retry_keys(conn, &sales).await?;
    let stored = read_idempotency_keys(conn, &sales).await?;

    let mut rows: Vec<NewRow> = Vec::new();
    let mut claimed: HashMap<(&str, &str), usize> = HashMap::new();
    let mut decisions = Vec::with_capacity(sales.len());
    for (index, sale) in sales.iter().enumerate() {
        if let Some(claim) = &sale.job.meta.idempotency {
            let key = (claim.key_id.as_str(), claim.idempotency_key.as_str());
            if let Some(response) = stored.get(&key) {
                decisions.push(Decision::Replayed(response.clone()));
                continue;
            }
            if let Some(first) = claimed.get(&key) {
                decisions.push(Decision::ReplayOf(*first));
                continue;
            }
            claimed.insert(key, index);
        }
        decisions.push(decide(
            &sales,
            index,
            &mut stock,
            &mut retried,
            &mut rows,
            now,
        ));
    }

    write_ledger(conn, &sales, &mut rows, now).await?;
    write_levels(conn, &stock).await?;
    write_retry_keys(conn, &sales, &rows, now).await?;

    let mut results: Vec<Option<Result<Outcome, WriteError>>> = Vec::with_capacity(sales.len());
    for decision in &mut decisions {
        let result = match std::mem::replace(decision, Decision::ReplayOf(usize::MAX)) {
            Decision::Refused(error) => Some(Err(error)),
            Decision::Synced {
                view,
                entry,
                replayed,
            } => {
                let entry = match entry {
                    Entry::Stored(entry) => *entry,
                    Entry::New(row) => entry_of(&sales, &rows[row], now),
                };
                Some(Ok(Outcome::Synced {
                    view: *view,
                    entry,
                    replayed,
                }))
            }
            other => {
                *decision = other;
                None
            }
        };
        results.push(result);
    }

    // The responses kept for idempotency keys, written with the change.
    let mut responses: HashMap<usize, StoredResponse> = HashMap::new();
    for (index, (sale, result)) in sales.iter().zip(&results).enumerate() {
        let (Some(claim), Some(result)) = (&sale.job.meta.idempotency, result) else {
            continue;
        };
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
    write_idempotency_keys(conn, &sales, &responses, now).await?;

    let mut replies = Vec::with_capacity(sales.len());
    for ((sale, decision), result) in sales.iter().zip(decisions).zip(results) {
        let reply = match (decision, result) {
            (_, Some(result)) => Reply::Fresh(result),
            (Decision::Replayed(stored), None) => {
                let same_request = sale
                    .job
                    .meta
                    .idempotency
                    .as_ref()
                    .is_some_and(|claim| claim.request_hash == stored.request_hash);
                Reply::Replayed {
                    stored,
                    same_request,
                }
            }
            (Decision::ReplayOf(first), None) => {
                let stored = responses
                    .get(&first)
                    .context("a repeated idempotency key without a first response")?
                    .clone();
                let same_request = sale
                    .job
                    .meta
                    .idempotency
                    .as_ref()
                    .is_some_and(|claim| claim.request_hash == stored.request_hash);
                Reply::Replayed {
                    stored,
                    same_request,
                }
            }
            (_, None) => unreachable!("every other decision has a result"),
        };
        replies.push(reply);
    }
    let changes = match mark {
        Some(mark) => BatchChanges::InLedgerAfter(mark),
        None => BatchChanges::Known(known_changes(&sales, &rows, &stock, &available_before)),
    };
    Ok(Sold { replies, changes })
}

/// What the run's sales did to each item they changed.
fn known_changes(
    sales: &[Sale],
    rows: &[NewRow],
    stock: &Stock,
    available_before: &HashMap<ItemId, i64>,
) -> Vec<ItemChange> {
    let mut last_ids: HashMap<&ItemId, i64> = HashMap::new();
    for row in rows {
        let last = last_ids.entry(sales[row.sale].item).or_insert(row.id);
        *last = (*last).max(row.id);
    }
    last_ids
        .into_iter()
        .map(|(id, last_id)| {
            let (item, ..) = &stock.items[id];
            ItemChange {
                item: id.clone(),
                name: item.name.clone(),
                min_stock: item.min_stock,
                before: available_before[id],
                after: stock.available(id),
                last_id,
            }
        })
        .collect()
}

/// One sale against the run's stock, checked in the order a sale run on its
/// own is: the item, its retry keys, the location, then the rules.
fn decide(
    sales: &[Sale],
    index: usize,
    stock: &mut Stock,
    retried: &mut HashMap<String, Entry>,
    rows: &mut Vec<NewRow>,
    now: i64,
) -> Decision {
    let sale = &sales[index];
    let Some((item, ..)) = stock.items.get(sale.item) else {
        return Decision::Refused(WriteError::NotFound {
            entity: "item",
            id: sale.item.to_string(),
        });
    };
    let item = item.clone();
    for retry_key in &sale.retry_keys {
        let Some(entry) = retried.get(retry_key) else {
            continue;
        };
        let (item_id, location, delta) = match entry {
            Entry::Stored(entry) => (&entry.item, &entry.location, entry.on_hand_delta),
            Entry::New(row) => {
                let first = &sales[rows[*row].sale];
                (
                    first.item,
                    first.location,
                    rows[*row].transition.on_hand_delta(),
                )
            }
        };
        if item_id != sale.item || location != sale.location || delta != sale.delta {
            return Decision::Refused(WriteError::RetryMismatch {
                message: format!(
                    "sync-stock with this {} was applied before with delta {delta} for item {item_id} at {location}",
                    if retry_key.starts_with("o:") { "order_id" } else { "trace_id" },
                ),
            });
        }
        let entry = match entry {
            Entry::Stored(entry) => Entry::Stored(entry.clone()),
            Entry::New(row) => Entry::New(*row),
        };
        return Decision::Synced {
            view: Box::new(stock.view(sale.item)),
            entry,
            replayed: true,
        };
    }
    let Some(&priority) = stock.locations.get(sale.location) else {
        return Decision::Refused(WriteError::NotFound {
            entity: "location",
            id: sale.location.to_string(),
        });
    };
    let level = stock.level(sale.item, sale.location, priority);
    let transition = match apply_delta(&item, sale.location, &level, sale.delta) {
        Ok(transition) => transition,
        Err(refused) => return Decision::Refused(refused.into()),
    };
    let elsewhere = stock.totals_elsewhere(sale.item, sale.location, priority);
    if let Err(refused) = check_totals(sale.item, elsewhere, &transition.after) {
        return Decision::Refused(refused.into());
    }
    stock.set(sale.item, sale.location, priority, transition.after, now);
    let row = rows.len();
    rows.push(NewRow {
        sale: index,
        operation: if sale.delta > 0 {
            Operation::Add
        } else {
            Operation::Deduct
        },
        transition,
        id: 0,
    });
    for retry_key in &sale.retry_keys {
        retried.insert(retry_key.clone(), Entry::New(row));
    }
    Decision::Synced {
        view: Box::new(stock.view(sale.item)),
        entry: Entry::New(row),
        replayed: false,
    }
}

fn entry_of(sales: &[Sale], row: &NewRow, now: i64) -> LedgerEntry {
    let sale = &sales[row.sale];
    let (before, after) = (row.transition.before, row.transition.after);
    LedgerEntry {
        id: row.id,
        item: sale.item.clone(),
        location: sale.location.clone(),
        operation: row.operation,
        on_hand_delta: row.transition.on_hand_delta(),
        reserved_delta: row.transition.reserved_delta(),
        on_hand_before: before.on_hand,
        on_hand_after: after.on_hand,
        reserved_before: before.reserved,
        reserved_after: after.reserved,
        version_after: after.version,
        order_id: sale.order_id.map(str::to_owned),
        reservation_id: None,
        reason: sale.reason.map(str::to_owned),
        operator: sale.job.meta.operator.clone(),
        trace_id: sale.trace_id.map(str::to_owned),
        created_at_ms: now,
    }
}

/// The run's items (locked), all their levels, and its locations.
async fn read_stock(
    conn: &mut Conn,
    item_ids: &BTreeSet<&ItemId>,
    location_ids: &BTreeSet<&LocationId>,
) -> anyhow::Result<Stock> {
    let mut stock = Stock {
        items: HashMap::with_capacity(item_ids.len()),
        levels: HashMap::with_capacity(item_ids.len()),
        locations: HashMap::with_capacity(location_ids.len()),
        changed: BTreeSet::new(),
    };
    let item_ids: Vec<&str> = item_ids.iter().map(|id| id.as_str()).collect();
    let rows = fetch_in(
        conn,
        "SELECT * FROM items WHERE id IN ",
        &item_ids,
        dialect_lock!(),
    )
    .await?;
    for row in rows {
        let (item, created, updated) = item_from_row(&row)?;
        stock
            .items
            .insert(item.id.clone(), (item, created, updated));
    }
    let rows = fetch_in(
        conn,
        "SELECT l.item_id, l.location_id, l.on_hand, l.reserved, l.version, l.updated_at, o.priority
         FROM levels l JOIN locations o ON o.id = l.location_id WHERE l.item_id IN ",
        &item_ids,
        "",
    )
    .await?;
    for row in rows {
        let location = location_id_at(&row, 1)?;
        let level = LocationLevel {
            location: location.clone(),
            level: Level {
                on_hand: row.try_get(2)?,
                reserved: row.try_get(3)?,
                version: row.try_get(4)?,
            },
            updated_at_ms: row.try_get(5)?,
        };
        stock
            .levels
            .entry(item_id_at(&row, 0)?)
            .or_default()
            .insert((row.try_get(6)?, location), level);
    }
    let location_ids: Vec<&str> = location_ids.iter().map(|id| id.as_str()).collect();
    let rows = fetch_in(
        conn,
        "SELECT id, priority FROM locations WHERE id IN ",
        &location_ids,
        "",
    )
    .await?;
    for row in rows {
        stock
            .locations
            .insert(location_id_at(&row, 0)?, row.try_get(1)?);
    }
    Ok(stock)
}

/// The ledger rows that earlier sales with the run's retry keys produced.
async fn read_retry_keys(
    conn: &mut Conn,
    sales: &[Sale<'_>],
) -> anyhow::Result<HashMap<String, Entry>> {
    let keys: BTreeSet<&str> = sales
        .iter()
        .flat_map(|sale| sale.retry_keys.iter().map(String::as_str))
        .collect();
    let keys: Vec<&str> = keys.into_iter().collect();
    let rows = fetch_in(
        conn,
        "SELECT k.retry_key, g.* FROM sync_retry_keys k JOIN ledger g ON g.id = k.ledger_id
         WHERE k.retry_key IN ",
        &keys,
        "",
    )
    .await?;
    let mut found = HashMap::new();
    for row in rows {
        found.insert(
            row.try_get("retry_key")?,
            Entry::Stored(Box::new(ledger_entry(&row)?)),
        );
    }
    Ok(found)
}

/// The responses kept for idempotency keys the run's sales carry.
async fn read_idempotency_keys<'a>(
    conn: &mut Conn,
    sales: &'a [Sale<'_>],
) -> anyhow::Result<HashMap<(&'a str, &'a str), StoredResponse>> {
    let claims: Vec<&IdempotencyClaim> = sales
        .iter()
        .filter_map(|sale| sale.job.meta.idempotency.as_ref())
        .collect();
    let mut found = HashMap::new();
    for chunk in claims.chunks(IN_LIST_MAX) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "SELECT key_id, idempotency_key, request_hash, status_code, body FROM idempotency_keys
             WHERE (key_id, idempotency_key) IN (VALUES ",
        );
        let mut list = query.separated(", ");
        for claim in chunk {
            list.push("(");
            list.push_bind_unseparated(claim.key_id.as_str());
            list.push_unseparated(", ");
            list.push_bind_unseparated(claim.idempotency_key.as_str());
            list.push_unseparated(")");
        }
        query.push(")");
        for row in query.build().fetch_all(&mut *conn).await? {
            let key_id: String = row.try_get(0)?;
            let idempotency_key: String = row.try_get(1)?;
            let Some(claim) = chunk
                .iter()
                .find(|claim| claim.key_id == key_id && claim.idempotency_key == idempotency_key)
            else {
                bail!("the database returned an idempotency key that was not asked for");
            };
            let status: i64 = row.try_get(3)?;
            found.insert(
                (claim.key_id.as_str(), claim.idempotency_key.as_str()),
                StoredResponse {
                    request_hash: row.try_get(2)?,
                    status: u16::try_from(status).context("a stored status code")?,
                    body: row.try_get(4)?,
                },
            );
        }
    }
    Ok(found)
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
    pub reason: Option<&'a str>,
    pub operator: &'a str,
    pub trace_id: Option<&'a str>,
    pub created_at: i64,
}

/// A level as the backends write it in bulk.
pub(crate) struct LevelRow<'a> {
    pub item: &'a str,
    pub location: &'a str,
    pub level: Level,
    pub updated_at: i64,
}

/// Inserts the run's ledger rows and learns their ids.
async fn write_ledger(
    conn: &mut Conn,
    sales: &[Sale<'_>],
    rows: &mut [NewRow],
    now: i64,
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let written: Vec<LedgerRow> = rows
        .iter()
        .map(|row| {
            let sale = &sales[row.sale];
            let (before, after) = (row.transition.before, row.transition.after);
            LedgerRow {
                item: sale.item.as_str(),
                location: sale.location.as_str(),
                operation: row.operation.as_str(),
                on_hand_delta: row.transition.on_hand_delta(),
                reserved_delta: row.transition.reserved_delta(),
                on_hand_before: before.on_hand,
                on_hand_after: after.on_hand,
                reserved_before: before.reserved,
                reserved_after: after.reserved,
                version_after: after.version,
                order_id: sale.order_id,
                reason: sale.reason,
                operator: sale.job.meta.operator.as_str(),
                trace_id: sale.trace_id,
                created_at: now,
            }
        })
        .collect();
    let returned = contract::insert_ledger_rows(conn, &written).await?;
    // A level's version grows by one with each change, so (item, location,
    // version after) names each new row.
    let mut by_change: HashMap<(&str, &str, i64), usize> = written
        .iter()
        .enumerate()
        .map(|(index, row)| ((row.item, row.location, row.version_after), index))
        .collect();
    if returned.len() != rows.len() {
        bail!(
            "the ledger returned {} rows for {}",
            returned.len(),
            rows.len()
        );
    }
    for (id, item, location, version) in &returned {
        let index = by_change
            .remove(&(item.as_str(), location.as_str(), *version))
            .context("the ledger returned a row the run did not write")?;
        rows[index].id = *id;
    }
    Ok(())
}

/// Writes the final state of every level the run changed.
async fn write_levels(conn: &mut Conn, stock: &Stock) -> anyhow::Result<()> {
    let levels: Vec<LevelRow> = stock
        .changed
        .iter()
        .map(|(item, priority, location)| {
            let level = &stock.levels[item][&(*priority, location.clone())];
            LevelRow {
                item: item.as_str(),
                location: location.as_str(),
                level: level.level,
                updated_at: level.updated_at_ms,
            }
        })
        .collect();
    if !levels.is_empty() {
        contract::upsert_levels(conn, &levels).await?;
    }
    Ok(())
}

async fn write_retry_keys(
    conn: &mut Conn,
    sales: &[Sale<'_>],
    rows: &[NewRow],
    now: i64,
) -> anyhow::Result<()> {
    let keys: Vec<(&str, i64)> = rows
        .iter()
        .flat_map(|row| {
            sales[row.sale]
                .retry_keys
                .iter()
                .map(move |key| (key.as_str(), row.id))
        })
        .collect();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO sync_retry_keys (retry_key, ledger_id, created_at) ",
        );
        query.push_values(chunk.iter(), |mut values, (key, ledger_id)| {
            values.push_bind(*key).push_bind(*ledger_id).push_bind(now);
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn write_idempotency_keys(
    conn: &mut Conn,
    sales: &[Sale<'_>],
    responses: &HashMap<usize, StoredResponse>,
    now: i64,
) -> anyhow::Result<()> {
    let mut kept: Vec<(&IdempotencyClaim, &StoredResponse)> = responses
        .iter()
        .filter_map(|(index, response)| {
            let claim = sales[*index].job.meta.idempotency.as_ref()?;
            Some((claim, response))
        })
        .collect();
    kept.sort_by(|a, b| {
        (&a.0.key_id, &a.0.idempotency_key).cmp(&(&b.0.key_id, &b.0.idempotency_key))
    });
    for chunk in kept.chunks(ROWS_PER_STATEMENT) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO idempotency_keys
                (key_id, idempotency_key, request_hash, status_code, body, created_at) ",
        );
        query.push_values(chunk.iter(), |mut values, (claim, response)| {
            values
                .push_bind(claim.key_id.as_str())
                .push_bind(claim.idempotency_key.as_str())
                .push_bind(claim.request_hash.as_str())
                .push_bind(i64::from(response.status))
                .push_bind(response.body.as_slice())
                .push_bind(now);
        });
        query.push(" ON CONFLICT (key_id, idempotency_key) DO NOTHING");
        let inserted = query.build().execute(&mut *conn).await?.rows_affected();
        if inserted != chunk.len() as u64 {
            // Another writer kept one of these keys meanwhile.
            bail!("an idempotency key of the run was taken meanwhile");
        }
    }
    Ok(())
}
