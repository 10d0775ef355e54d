//! `stockd supplier sync`: every item linked to a supplier, its stock asked
//! and written, with a progress bar and a summary; `stockd mock-supplier`:
//! the mock supplier on a port of its own.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use stock_engine::Engine;
use stock_jobs::supplier_sync::{
    sync_supplier, ItemSync, ItemSyncResult, SyncProgress, SyncRequest,
};
use stock_supplier::regions::is_county_code;

use crate::config::Config;
use crate::open_existing_store;
use crate::serve::engine_config;

/// What `stockd supplier sync` is asked.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The supplier (`suppliers.<name>`); may be left out when only one is configured.
    #[arg(long)]
    pub supplier: Option<String>,
    /// The region (6-digit code); default: the supplier's sync region.
    #[arg(long)]
    pub county_code: Option<String>,
    /// Only the supplier's products of this category (e.g. 冰箱).
    #[arg(long)]
    pub category: Option<String>,
    /// Only the supplier's products of this brand (e.g. 海尔).
    #[arg(long)]
    pub brand: Option<String>,
    /// Ask and report, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Supplier calls in flight at once; default: the supplier's sync.concurrency.
    #[arg(long)]
    pub concurrency: Option<usize>,
}

struct Bar(ProgressBar);

impl SyncProgress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }

    fn done(&self, item: &ItemSync) {
        if let ItemSyncResult::Failed { reason } = &item.result {
            self.0.println(format!(
                "failed: {} ({}): {reason}",
                item.product_id, item.product_code
            ));
        }
        self.0.inc(1);
    }
}

fn progress_bar() -> ProgressBar {
    // Drawn only on a terminal: in a pipe or a log the summary says it all.
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} items ({percent}%), {elapsed} so far, {eta} left",
        )
        .expect("a valid progress template"),
    );
    bar
}

pub async fn sync(config: &Config, args: SyncArgs) -> anyhow::Result<ExitCode> {
    let suppliers = config.build_suppliers()?;
    let name = match (&args.supplier, suppliers.entries().count()) {
        (Some(name), _) => name.clone(),
        (None, 1) => suppliers
            .entries()
            .next()
            .map(|e| e.api.name().to_owned())
            .expect("one supplier"),
        (None, 0) => bail!("no supplier is configured (suppliers.<name> in config.yaml)"),
        (None, _) => bail!("several suppliers are configured; name one with --supplier"),
    };
    let Some(entry) = suppliers.get(&name) else {
        bail!("supplier {name:?} is not configured");
    };
    let county_code = args
        .county_code
        .clone()
        .unwrap_or_else(|| entry.sync.county_code.clone());
    if !is_county_code(&county_code) {
        bail!("--county-code must be 6 digits, not {county_code:?}");
    }
    let concurrency = args.concurrency.unwrap_or(entry.sync.concurrency);
    if !(1..=64).contains(&concurrency) {
        bail!("--concurrency must be 1 to 64");
    }
    let store = open_existing_store(config).await?;
    let engine = Engine::start(std::sync::Arc::clone(&store), engine_config(config));
    let request = SyncRequest {
        county_code,
        category: args.category.or_else(|| entry.sync.category.clone()),
        brand: args.brand.or_else(|| entry.sync.brand.clone()),
        dry_run: args.dry_run,
        concurrency,
    };
    let bar = Bar(progress_bar());
    let summary = sync_supplier(&engine, store.as_ref(), entry, &request, "cli", &bar)
        .await
        .with_context(|| format!("syncing supplier {name}"))?;
    bar.0.finish_and_clear();
    let verb = if summary.dry_run {
        "would update"
    } else {
        "updated"
    };
    println!(
        "Supplier {name}, region {}{}: {} {verb}, {} unchanged, {} failed{}.",
        summary.county_code,
        if summary.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        },
        summary.updated,
        summary.unchanged,
        summary.failed(),
        if summary.not_linked > 0 {
            format!(
                ", {} supplier products linked to no item",
                summary.not_linked
            )
        } else {
            String::new()
        },
    );
    for change in &summary.changes {
        if let ItemSyncResult::Updated {
            before,
            after,
            shortfall,
        } = &change.result
        {
            let short = if *shortfall > 0 {
                format!(" ({shortfall} short of what is held)")
            } else {
                String::new()
            };
            println!(
                "  {verb} {} ({}): {before} -> {after}{short}",
                change.product_id, change.product_code
            );
        }
    }
    for failure in &summary.failures {
        if let ItemSyncResult::Failed { reason } = &failure.result {
            println!(
                "  failed {} ({}): {reason}",
                failure.product_id, failure.product_code
            );
        }
    }
    Ok(if summary.failed() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn mock(host: &str, port: u16) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .with_context(|| format!("listening on {host}:{port}"))?;
    let address = listener.local_addr()?;
    let base = format!("http://{address}");
    println!("Mock supplier listening on {base}. To use it, put this in config.yaml:");
    println!();
    println!("suppliers:");
    println!("  mock:");
    println!("    base_url: {base}");
    println!(
        "    token_url: {base}{}",
        stock_supplier_mock::MOCK_TOKEN_PATH
    );
    println!("    client_id: {}", stock_supplier_mock::MOCK_CLIENT_ID);
    println!(
        "    client_secret: {}",
        stock_supplier_mock::MOCK_CLIENT_SECRET
    );
    println!(
        "    customer_code: {}",
        stock_supplier_mock::MOCK_CUSTOMER_CODE
    );
    println!();
    println!("Faults for trying things out: POST {base}/mock/faults (see the README).");
    std::io::stdout().flush().ok();
    let mock = stock_supplier_mock::MockSupplier::new(Default::default());
    tokio::select! {
        result = mock.serve(listener) => result.context("serving the mock supplier")?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}
