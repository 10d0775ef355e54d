//! `stockd import FILE.csv`: items with their stock, from a spreadsheet.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use stock_core::{Item, ItemId, ItemStatus, LocationId};
use stock_engine::Engine;
use stock_store::{Command, ImportKind, Outcome, Reply, Store, WriteMeta};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::open_store;
use crate::serve::engine_config;

/// The most data rows one file may hold.
pub const IMPORT_ROWS_MAX: usize = 1_000_000;
/// Rows in flight at once; the engine commits them in groups.
const IMPORT_ROWS_IN_FLIGHT: usize = 256;
const NAME_LENGTH_MAX: usize = 200;

const REQUIRED: &[&str] = &["product_id", "name", "stock"];
const OPTIONAL: &[&str] = &[
    "min_stock",
    "max_stock",
    "status",
    "allow_backorder",
    "location",
];

/// A row ready to write.
struct Row {
    line: u64,
    item: Item,
    location: LocationId,
    on_hand: i64,
}

/// A row that will not be written, and why.
struct Rejection {
    line: u64,
    product_id: String,
    reason: String,
}

#[derive(Default)]
struct Tally {
    created: u64,
    updated: u64,
    unchanged: u64,
    rejected: Vec<Rejection>,
}

pub async fn import(config: &Config, file: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .with_context(|| format!("opening {}", file.display()))?;
    let columns = columns(reader.headers().context("reading the header row")?)?;
    let mut rows = Vec::new();
    let mut tally = Tally::default();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map(|p| p.line()).unwrap_or(0);
                tally.rejected.push(Rejection {
                    line,
                    product_id: String::new(),
                    reason: error.to_string(),
                });
                continue;
            }
        };
        if rows.len() + tally.rejected.len() >= IMPORT_ROWS_MAX {
            bail!(
                "{} holds more than {IMPORT_ROWS_MAX} rows; split it",
                file.display()
            );
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let fields = Fields {
            record: &record,
            columns: &columns,
        };
        let field = |name: &str| fields.get(name);
        match parse_row(line, &fields) {
            Ok(row) => match first_line.get(row.item.id.as_str()) {
                Some(first) => tally.rejected.push(Rejection {
                    line,
                    product_id: row.item.id.to_string(),
                    reason: format!("the same product_id is on line {first} already"),
                }),
                None => {
                    first_line.insert(row.item.id.to_string(), line);
                    rows.push(row);
                }
            },
            Err(reason) => tally.rejected.push(Rejection {
                line,
                product_id: field("product_id").to_owned(),
                reason,
            }),
        }
    }

    let store = open_store(config).await?;
    let progress = ProgressBar::new(rows.len() as u64);
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    if dry_run {
        check_rows(store.as_ref(), rows, &mut tally, &progress).await?;
    } else {
        write_rows(store, config, rows, &mut tally, &progress).await?;
    }
    progress.finish_and_clear();
    Ok(report(file, dry_run, tally))
}

fn columns(headers: &csv::StringRecord) -> anyhow::Result<HashMap<String, usize>> {
    let mut columns = HashMap::new();
    for (index, name) in headers.iter().enumerate() {
        let name = name.trim().to_ascii_lowercase();
        if !REQUIRED.contains(&name.as_str()) && !OPTIONAL.contains(&name.as_str()) {
            bail!(
                "unknown column {name:?}; the columns are {} and optionally {}",
                REQUIRED.join(","),
                OPTIONAL.join(",")
            );
        }
        if columns.insert(name.clone(), index).is_some() {
            bail!("the column {name:?} appears twice");
        }
    }
    for name in REQUIRED {
        if !columns.contains_key(*name) {
            bail!(
                "the header row has no {name:?} column; the columns are {}",
                REQUIRED.join(",")
            );
        }
    }
    Ok(columns)
}

/// One record's fields by column name; an absent column reads as empty.
struct Fields<'a> {
    record: &'a csv::StringRecord,
    columns: &'a HashMap<String, usize>,
}

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> &'a str {
        self.columns
            .get(name)
            .and_then(|&index| self.record.get(index))
            .unwrap_or("")
    }
}

fn parse_row(line: u64, fields: &Fields<'_>) -> Result<Row, String> {
    let field = |name: &str| fields.get(name);
    let id = ItemId::parse(field("product_id")).map_err(|error| format!("product_id {error}"))?;
    let name = field("name");
    if name.is_empty()
        || name.chars().count() > NAME_LENGTH_MAX
        || name.chars().any(char::is_control)
    {
        return Err(format!(
            "name must be 1 to {NAME_LENGTH_MAX} characters, without control characters"
        ));
    }
    let number = |column: &str| -> Result<Option<i64>, String> {
        let raw = field(column);
        if raw.is_empty() {
            return Ok(None);
        }
        raw.parse::<i64>()
            .map(Some)
            .map_err(|_| format!("{column} {raw:?} is not a whole number"))
    };
    let on_hand = number("stock")?.ok_or("stock is empty")?;
    let min_stock = number("min_stock")?;
    let max_stock = number("max_stock")?;
    if min_stock.is_some_and(|v| v < 0) || max_stock.is_some_and(|v| v < 0) {
        return Err("min_stock and max_stock must not be negative".into());
    }
    if let (Some(min), Some(max)) = (min_stock, max_stock) {
        if min > max {
            return Err(format!("min_stock {min} is above max_stock {max}"));
        }
    }
    let status = match field("status") {
        "" => ItemStatus::Active,
        raw => ItemStatus::parse(&raw.to_ascii_lowercase())
            .ok_or_else(|| format!("status {raw:?} is not active, inactive or locked"))?,
    };
    let allow_backorder = match field("allow_backorder").to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "0" => false,
        "true" | "yes" | "1" => true,
        raw => return Err(format!("allow_backorder {raw:?} is not true or false")),
    };
    if on_hand < 0 && !allow_backorder {
        return Err(format!(
            "stock {on_hand} is negative and the item does not allow backorder"
        ));
    }
    let location = match field("location") {
        "" => LocationId::default_location(),
        raw => LocationId::parse(raw).map_err(|error| format!("location {error}"))?,
    };
    let item = Item {
        id,
        name: name.to_owned(),
        status,
        min_stock,
        max_stock,
        allow_backorder,
    };
    Ok(Row {
        line,
        item,
        location,
        on_hand,
    })
}

async fn write_rows(
    store: Arc<dyn Store>,
    config: &Config,
    rows: Vec<Row>,
    tally: &mut Tally,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let engine = Engine::start(store, engine_config(config));
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut in_flight = JoinSet::new();
        for row in rows.by_ref().take(IMPORT_ROWS_IN_FLIGHT) {
            let engine = engine.clone();
            in_flight.spawn(async move {
                let command = Command::ImportItem {
                    item: row.item.clone(),
                    location: row.location,
                    on_hand: row.on_hand,
                };
                let meta = WriteMeta {
                    operator: "import".into(),
                    trace_id: None,
                    idempotency: None,
                };
                (row.line, row.item.id, engine.submit(command, meta).await)
            });
        }
        while let Some(joined) = in_flight.join_next().await {
            let (line, id, reply) = joined.context("an import task failed")?;
            match reply {
                Reply::Fresh(Ok(Outcome::Imported { kind, .. })) => count(tally, kind),
                Reply::Fresh(Ok(other)) => {
                    unreachable!("an import yields Outcome::Imported, not {other:?}")
                }
                Reply::Fresh(Err(stock_store::WriteError::Internal(error))) => {
                    return Err(error).context("the database failed during the import")
                }
                Reply::Fresh(Err(error)) => tally.rejected.push(Rejection {
                    line,
                    product_id: id.to_string(),
                    reason: error.to_string(),
                }),
                Reply::Replayed { .. } => unreachable!("imports carry no idempotency key"),
            }
            progress.inc(1);
        }
    }
    Ok(())
}

/// A dry run: says what each row would do, writing nothing.
async fn check_rows(
    store: &dyn Store,
    rows: Vec<Row>,
    tally: &mut Tally,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let locations = store.locations().await?;
    for row in rows {
        progress.inc(1);
        if !locations.iter().any(|l| l.id == row.location) {
            tally.rejected.push(Rejection {
                line: row.line,
                product_id: row.item.id.to_string(),
                reason: format!("location {} not found", row.location),
            });
            continue;
        }
        let kind = match store.item(&row.item.id).await? {
            None => ImportKind::Created,
            Some(view) => {
                let on_hand = view
                    .level_at(&row.location)
                    .map(|l| l.level.on_hand)
                    .unwrap_or(0);
                if view.item == row.item && on_hand == row.on_hand {
                    ImportKind::Unchanged
                } else {
                    ImportKind::Updated
                }
            }
        };
        count(tally, kind);
    }
    Ok(())
}

fn count(tally: &mut Tally, kind: ImportKind) {
    match kind {
        ImportKind::Created => tally.created += 1,
        ImportKind::Updated => tally.updated += 1,
        ImportKind::Unchanged => tally.unchanged += 1,
    }
}

fn report(file: &Path, dry_run: bool, mut tally: Tally) -> ExitCode {
    let verb = if dry_run { "Would import" } else { "Imported" };
    println!(
        "{verb} {}: {} created, {} updated, {} unchanged, {} rejected.",
        file.display(),
        tally.created,
        tally.updated,
        tally.unchanged,
        tally.rejected.len()
    );
    if tally.rejected.is_empty() {
        return ExitCode::SUCCESS;
    }
    tally.rejected.sort_by_key(|r| r.line);
    println!("Rejected rows:");
    for rejection in &tally.rejected {
        if rejection.product_id.is_empty() {
            println!("  line {}: {}", rejection.line, rejection.reason);
        } else {
            println!(
                "  line {} ({}): {}",
                rejection.line, rejection.product_id, rejection.reason
            );
        }
    }
    ExitCode::from(1)
}
