//! `stockd`: the binary. Commands, configuration, logging and start-up.

mod bench;
mod bench_imports;
mod bench_kit;
mod bench_paths;
mod bench_sales;
mod commands;
mod config;
mod demo;
mod import;
mod listener;
mod serve;
mod supplier_command;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use stock_core::Role;
use stock_store::{
    PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, SqliteSynchronous, Store,
};

use config::{Config, DatabaseTarget, Flags};

#[derive(Debug, Parser)]
#[command(
    name = "stockd",
    version,
    about = "An inventory service that never sells what it does not have."
)]
struct Cli {
    /// A config.yaml (default: ./config.yaml if present).
    #[arg(long, global = true, env = "STOCKD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The database: sqlite://PATH (default: sqlite://stockd.db) or postgres://USER@HOST:PORT/DATABASE.
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (HTTP on port 8083 by default).
    Serve {
        /// The port to listen on; 0 picks a free one.
        #[arg(long)]
        port: Option<u16>,
        /// Fill an empty database with sample items.
        #[arg(long)]
        demo: bool,
        /// Serve storefront reads from this Redis: redis://[:password@]host[:port][/db]
        /// (also STOCKD_REDIS_URL or `redis:` in config.yaml).
        #[arg(long, value_name = "URL")]
        redis: Option<String>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Recompute every level from the ledger; exit 1 naming each that differs.
    Verify,
    /// Create, list and revoke API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// People who sign in to the admin console with a name and a password.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Measure the write path; prints a Markdown table.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// A supplier's stock: sync it into the linked items.
    Supplier {
        #[command(subcommand)]
        command: SupplierCommand,
    },
    /// Serve a mock supplier (the Haier-style stock API with sample
    /// products), to try suppliers without credentials.
    MockSupplier {
        #[arg(long, default_value_t = 8090)]
        port: u16,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
    },
    /// Import items with their stock from a CSV file.
    ///
    /// Columns: product_id,name,stock and optionally min_stock, max_stock,
    /// status, allow_backorder, location. New items are created with the
    /// stock as opening stock; existing ones are updated and their stock set
    /// to the file's figure. Exits 1 if any row was rejected.
    Import {
        /// The CSV file, with a header row.
        file: PathBuf,
        /// Check every row and report, but change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Holds created, and holds created and committed, per second through
    /// the write path in process, for one hot item and for many items, at 1,
    /// 16 and 256 concurrent callers.
    Holds {
        /// Seconds each run lasts.
        #[arg(long, default_value_t = 3)]
        duration_s: u64,
        /// Items in the many-items scenario.
        #[arg(long, default_value_t = 10_000)]
        items: usize,
        /// Where the benchmark's database files go (default: the system's temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Sales per second: the SQL of the usual shop code (V1–V3) and a Redis
    /// Lua script (V4) against stockd's engine on SQLite and on PostgreSQL and
    /// stockd over HTTP, side by side, for a hot item, 10,000 items and a
    /// sell-out. Needs PostgreSQL and Redis; starts a second Redis itself.
    Sales {
        /// Seconds each run lasts.
        #[arg(long, default_value_t = 2)]
        duration_s: u64,
        /// Concurrent callers, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,16,256,1024")]
        concurrency: Vec<usize>,
        #[command(flatten)]
        common: bench_kit::Common,
    },
    /// Every path over HTTP: a read of one item, sync-stock, decrease, hold,
    /// the commit of a hold, and an order with its payment, on SQLite and on
    /// PostgreSQL, beside the no-op ceiling of HTTP, V1 (SQL) and V4 (Redis
    /// Lua), for a hot item and 10,000 items; checks sold + left = initial
    /// and runs verify after each row that writes. Needs PostgreSQL and
    /// Redis for the rows on them.
    Paths {
        /// Seconds each row lasts (fractions allowed).
        #[arg(long, default_value_t = 3.0)]
        duration_s: f64,
        /// Concurrent connections, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "16,256,1024")]
        concurrency: Vec<usize>,
        #[command(flatten)]
        common: bench_kit::Common,
        /// Only the stockd paths whose name contains one of these words
        /// (`read`, `sync-stock`, `decrease`, `hold`, `commit`, `order`).
        #[arg(long, value_delimiter = ',')]
        paths: Vec<String>,
    },
    /// The writes of a shop's upkeep per second, in process: import rows
    /// (new items, then their stock changed), a supplier's figures, a count
    /// at a version and a change of details, decided in runs and one
    /// command at a time side by side, on SQLite and PostgreSQL.
    Imports {
        /// Items, and so commands in each step.
        #[arg(long, default_value_t = 20_000)]
        items: usize,
        /// A PostgreSQL server (without a database); the benchmark makes and drops its own.
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
        postgres: String,
        /// SQLite only: no PostgreSQL needed.
        #[arg(long)]
        sqlite_only: bool,
        /// Where the benchmark's SQLite files go (default: the system's temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum SupplierCommand {
    /// Ask the supplier for the stock of every linked item (of a category
    /// or brand, if given) and write each figure at the supplier's
    /// location. Exits 1 if any item failed.
    Sync(supplier_command::SyncArgs),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key and print its secret, once.
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long)]
        name: String,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by its id (key_…).
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Create a console user (an admin). The password is read from the
    /// first line of standard input, so it stays out of the shell history.
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Service,
    Storefront,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Service => Role::Service,
            RoleArg::Storefront => Role::Storefront,
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("stockd: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let (port, redis) = match &cli.command {
        Command::Serve { port, redis, .. } => (*port, redis.clone()),
        _ => (None, None),
    };
    let config = load_config(
        &cli,
        Flags {
            port,
            database: cli.database.clone(),
            redis,
        },
    )?;
    init_logging(&config, matches!(cli.command, Command::Serve { .. }))?;
    match cli.command {
        Command::Serve { demo, .. } => serve::serve(config, demo).await,
        Command::Migrate => commands::migrate(&config).await,
        Command::Verify => commands::verify(&config).await,
        Command::Keys { command } => match command {
            KeysCommand::Create { role, name } => {
                commands::create_key(&config, role.into(), &name).await
            }
            KeysCommand::List => commands::list_keys(&config).await,
            KeysCommand::Revoke { id } => commands::revoke_key(&config, &id).await,
        },
        Command::Users {
            command: UsersCommand::Create { name },
        } => commands::create_user(&config, &name).await,
        Command::Import { file, dry_run } => import::import(&config, &file, dry_run).await,
        Command::Supplier {
            command: SupplierCommand::Sync(args),
        } => supplier_command::sync(&config, args).await,
        Command::MockSupplier { port, host } => supplier_command::mock(&host, port).await,
        Command::Bench {
            command:
                BenchCommand::Holds {
                    duration_s,
                    items,
                    dir,
                },
        } => bench::holds(Duration::from_secs(duration_s.max(1)), items, dir).await,
        Command::Bench {
            command:
                BenchCommand::Sales {
                    duration_s,
                    concurrency,
                    common,
                },
        } => {
            let options = bench_sales::Options {
                duration: Duration::from_secs(duration_s.max(1)),
                common: common.checked(&concurrency)?,
                concurrency,
            };
            bench_sales::sales(options).await
        }
        Command::Bench {
            command:
                BenchCommand::Paths {
                    duration_s,
                    concurrency,
                    common,
                    paths,
                },
        } => {
            anyhow::ensure!(
                duration_s.is_finite() && duration_s > 0.0 && duration_s <= 3600.0,
                "--duration-s takes seconds above 0, at most 3600"
            );
            let options = bench_paths::Options {
                duration: Duration::from_secs_f64(duration_s),
                common: common.checked(&concurrency)?,
                concurrency,
                paths,
            };
            bench_paths::paths(options).await
        }
        Command::Bench {
            command:
                BenchCommand::Imports {
                    items,
                    postgres,
                    sqlite_only,
                    dir,
                },
        } => {
            let options = bench_imports::Options {
                items,
                postgres: postgres.trim_end_matches('/').to_owned(),
                dir,
                sqlite_only,
            };
            bench_imports::imports(options).await
        }
    }
}

fn load_config(cli: &Cli, flags: Flags) -> anyhow::Result<Config> {
    let file = config::read_file(cli.config.as_deref())?;
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| name.starts_with("STOCKD_"))
        .collect();
    let config = config::resolve(file.as_ref().map(|(_, text)| text.as_str()), &env, &flags)
        .with_context(|| match &file {
            Some((path, _)) => format!("configuration (file {})", path.display()),
            None => "configuration".to_owned(),
        })?;
    Ok(config)
}

fn init_logging(config: &Config, serving: bool) -> anyhow::Result<()> {
    // Commands other than serve log warnings only, so their output stays readable.
    let level = if serving {
        config.log.level.clone()
    } else {
        "warn".to_owned()
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .with_context(|| format!("log.level {level:?} is not a valid filter"))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if config.log.format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
    Ok(())
}

/// Opens a database that must exist already: a command that only reads or
/// revokes should not quietly create an empty file from a mistyped path.
async fn open_existing_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    if let DatabaseTarget::Sqlite(path) = config.database_target()? {
        anyhow::ensure!(
            path.exists(),
            "no database at {}; run `stockd migrate` or `stockd serve` first, or pass --database sqlite://PATH",
            path.display()
        );
    }
    open_store(config).await
}

/// Opens and migrates the configured database, creating it if missing.
async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_and_migrate(config).await?.0)
}

/// Opens the configured database and migrates it; also says how many
/// migrations ran.
async fn open_and_migrate(config: &Config) -> anyhow::Result<(Arc<dyn Store>, usize)> {
    let acquire_timeout = Duration::from_millis(config.database.acquire_timeout_ms);
    let store: Arc<dyn Store> = match config.database_target()? {
        DatabaseTarget::Sqlite(path) => {
            let sqlite = &config.database.sqlite;
            let mut options = SqliteOptions::new(path);
            options.synchronous = SqliteSynchronous::parse(&sqlite.synchronous)
                .expect("checked when the configuration was read");
            options.read_pool_size = config.database.read_pool_size;
            options.busy_timeout = Duration::from_millis(sqlite.busy_timeout_ms);
            options.writer_cache_mb = sqlite.cache_mb;
            options.acquire_timeout = acquire_timeout;
            options.low_stock_threshold = config.inventory.low_stock_threshold;
            Arc::new(SqliteStore::open(&options).await?)
        }
        DatabaseTarget::Postgres(url) => {
            let mut options = PostgresOptions::new(url);
            options.read_pool_size = config.database.read_pool_size;
            options.lock_timeout = Duration::from_millis(config.database.lock_timeout_ms);
            options.acquire_timeout = acquire_timeout;
            options.low_stock_threshold = config.inventory.low_stock_threshold;
            Arc::new(PostgresStore::open(&options).await?)
        }
    };
    let applied = store.migrate().await?;
    if applied > 0 {
        tracing::info!(applied, "database schema migrated");
    }
    Ok((store, applied))
}
