//! `stockd serve`: start-up, the first admin key, and a bounded shutdown.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use stock_core::Role;
use stock_engine::Engine;
use stock_http::{generate_key, hash_secret, AppState, HttpConfig};
use stock_jobs::cache::{Cache, CacheSettings};
use stock_jobs::{JobSettings, Jobs, Schedules};
use stock_store::Store;
use tokio::sync::Notify;

use crate::config::{Config, RateLimitConfig};
use crate::{demo, listener, open_store};
use stock_http::rate_limit::{Rate, RateLimits};

/// The shortest admin key accepted from STOCKD_ADMIN_KEY.
const ADMIN_KEY_LENGTH_MIN: usize = 16;
const ADMIN_KEY_LENGTH_MAX: usize = 256;

pub fn http_config(config: &Config) -> HttpConfig {
    HttpConfig {
        request_timeout: Duration::from_secs(config.server.request_timeout_s),
        body_limit_bytes: config.server.body_limit_bytes,
        page_size_default: config.inventory.page_size_default,
        page_size_max: config.inventory.page_size_max,
        low_stock_threshold: config.inventory.low_stock_threshold,
        low_stock_report_items_max: config.inventory.low_stock_report_items_max,
        default_stock: config.inventory.default_stock,
        hold_ttl_default: Duration::from_secs(config.holds.default_ttl_s),
        hold_ttl_max: Duration::from_secs(config.holds.max_ttl_s),
        key_cache_ttl: Duration::from_millis(config.server.key_cache_ms),
        event_poll_interval: Duration::from_millis(config.events.poll_interval_ms),
        event_batch_max: config.events.batch_max,
        event_streams_max: config.events.streams_max,
        admin_session_ttl: Duration::from_secs(config.admin.session_ttl_s),
        admin_sign_in: stock_http::admin::SignInLimits {
            failures_per_user_per_min: config.admin.sign_in_failures_per_user_per_min,
            failures_per_address_per_min: config.admin.sign_in_failures_per_address_per_min,
        },
        rate_limits: rate_limits(&config.server.rate_limit),
    }
}

/// How the jobs that answer callers behave.
pub fn job_settings(config: &Config) -> JobSettings {
    JobSettings {
        health: stock_jobs::HealthSettings {
            enable: config.inventory.health_check.enable,
            interval: crate::config::parse_duration(&config.inventory.health_check.interval)
                .expect("checked when the configuration was read"),
            tolerance: config.inventory.health_check.tolerance,
            alert_threshold: config.inventory.health_check.alert_threshold,
            compensation: config.inventory.compensation.enable,
            auto_fix: config.inventory.compensation.auto_fix,
            max_fix_amount: config.inventory.compensation.max_fix_amount,
            ..stock_jobs::HealthSettings::default()
        },
        channels: stock_jobs::ChannelSettings {
            push_timeout: Duration::from_millis(config.channels.push_timeout_ms),
            push_concurrency: config.channels.push_concurrency,
            listings_max: config.channels.listings_max,
            sync_interval: (config.channels.sync_interval_s > 0)
                .then(|| Duration::from_secs(config.channels.sync_interval_s)),
        },
    }
}

fn rate_limits(config: &RateLimitConfig) -> RateLimits {
    RateLimits {
        per_key: Rate::new(config.per_key_per_s, config.per_key_burst),
        per_address: Rate::new(config.per_address_per_s, config.per_address_burst),
        tracked_max: config.tracked_max,
    }
}

/// The listener's limits.
pub fn listener_limits(config: &Config) -> listener::Limits {
    let server = &config.server;
    listener::Limits {
        header_read_timeout: Duration::from_millis(server.header_read_timeout_ms),
        idle_timeout: Duration::from_secs(server.idle_timeout_s),
        connections_max: server.connections_max,
        headers_max: server.headers_max,
        header_bytes_max: server.header_bytes_max,
    }
}

/// The read cache: Redis when it is configured, else the read model in
/// memory when `reads.memory` asks for it.
pub fn cache(config: &Config, store: &Arc<dyn Store>) -> anyhow::Result<Option<Arc<Cache>>> {
    let Some(address) = config.redis.address()? else {
        if !config.reads.memory {
            return Ok(None);
        }
        let reads = &config.reads;
        return Ok(Some(Cache::new(
            Arc::clone(store),
            Arc::new(stock_jobs::memory_cache::MemoryCache::new()),
            CacheSettings {
                follow_interval: Duration::from_millis(reads.follow_interval_ms),
                fill_batch: reads.fill_batch,
                ..CacheSettings::default()
            },
        )));
    };
    let redis = &config.redis;
    let backend = stock_redis::RedisCache::new(stock_redis::RedisCacheConfig {
        address,
        key_format: redis.key_format.clone(),
        view_key_format: redis.view_key_format.clone(),
        timeout: Duration::from_millis(redis.timeout_ms),
        pool_size: redis.pool_size,
    })?;
    Ok(Some(Cache::new(
        Arc::clone(store),
        Arc::new(backend),
        CacheSettings {
            timeout: Duration::from_millis(redis.timeout_ms),
            retry_interval: Duration::from_millis(redis.retry_interval_ms),
            fill_batch: redis.fill_batch,
            follow_interval: Duration::from_millis(redis.follow_interval_ms),
        },
    )))
}

/// What runs on its own, and when.
fn schedules(config: &Config) -> anyhow::Result<Schedules> {
    let sink = match &config.nats.url {
        Some(url) => {
            let address = stock_nats::address(url)?;
            tracing::info!(nats = %address, stream = %config.nats.stream, "events also go to NATS JetStream");
            let sink = stock_nats::JetStreamSink::new(stock_nats::JetStreamConfig {
                address,
                stream: config.nats.stream.clone(),
                subject_prefix: config.nats.subject_prefix.clone(),
                timeout: Duration::from_millis(config.nats.timeout_ms),
            });
            let settings = stock_jobs::event_sink::SinkSettings {
                timeout: Duration::from_millis(config.nats.timeout_ms),
                poll_interval: Duration::from_millis(config.events.poll_interval_ms),
                retry_interval: Duration::from_millis(config.nats.retry_interval_ms),
                batch_max: config.events.batch_max,
            };
            Some((
                Arc::new(sink) as Arc<dyn stock_jobs::event_sink::EventSink>,
                settings,
            ))
        }
        None => None,
    };
    Ok(Schedules {
        hold_expiry: stock_jobs::upkeep::HoldExpiry {
            interval: Duration::from_millis(config.holds.expiry_interval_ms),
            batch_max: config.holds.expiry_batch_max,
        },
        purge: stock_jobs::upkeep::Purge {
            retention: Duration::from_secs(config.idempotency.retention_h * 3600),
            interval: Duration::from_secs(config.idempotency.purge_interval_s),
            event_retention: Duration::from_secs(config.events.retention_h * 3600),
        },
        webhooks: stock_jobs::webhook_delivery::Delivering {
            poll_interval: Duration::from_millis(config.webhooks.poll_interval_ms),
            lease: Duration::from_millis(config.webhooks.lease_ms),
            attempt_timeout: Duration::from_millis(config.webhooks.timeout_ms),
            attempts_max: config.webhooks.attempts_max,
            retry_base: Duration::from_millis(config.webhooks.retry_base_ms),
            retry_max: Duration::from_millis(config.webhooks.retry_max_ms),
            batch_max: config.events.batch_max,
        },
        sink,
    })
}

pub fn engine_config(config: &Config) -> stock_engine::EngineConfig {
    stock_engine::EngineConfig {
        queue_depth_max: config.engine.queue_depth_max,
        batch_ops_max: config.engine.batch_ops_max,
        batch_wait: Duration::from_micros(config.engine.batch_wait_us),
        busy_wait_max: Duration::from_millis(config.engine.busy_wait_ms),
    }
}

/// The supplier `--demo` configures: the mock, served in this process.
pub const DEMO_SUPPLIER: &str = "mock";

/// With `--demo`, starts the mock supplier on loopback and configures it as
/// the supplier `mock` (unless a supplier of that name is configured).
async fn demo_supplier(
    config: &mut Config,
) -> anyhow::Result<Option<stock_supplier_mock::MockSupplier>> {
    if config.suppliers.contains_key(DEMO_SUPPLIER) {
        return Ok(None);
    }
    let mock = stock_supplier_mock::MockSupplier::new(Default::default());
    let address = mock
        .clone()
        .spawn(([127, 0, 0, 1], 0).into())
        .await
        .context("starting the mock supplier")?;
    let base = format!("http://{address}");
    config.suppliers.insert(
        DEMO_SUPPLIER.to_owned(),
        crate::config::SupplierConfig {
            base_url: base.clone(),
            token_url: format!("{base}{}", stock_supplier_mock::MOCK_TOKEN_PATH),
            client_id: stock_supplier_mock::MOCK_CLIENT_ID.to_owned(),
            client_secret: crate::config::SecretText(
                stock_supplier_mock::MOCK_CLIENT_SECRET.to_owned(),
            ),
            customer_code: stock_supplier_mock::MOCK_CUSTOMER_CODE.to_owned(),
            location_name: Some("Mock supplier".to_owned()),
            sync: crate::config::SupplierSyncConfig {
                enable: true,
                interval: "5m".to_owned(),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    println!("Mock supplier (--demo) at {base}, configured as supplier {DEMO_SUPPLIER:?}.");
    Ok(Some(mock))
}

pub async fn serve(mut config: Config, demo: bool) -> anyhow::Result<ExitCode> {
    let mock = if demo {
        demo_supplier(&mut config).await?
    } else {
        None
    };
    let suppliers = config.build_suppliers()?;
    for option in config.unused_options() {
        tracing::warn!(
            option,
            "this option is read but not used by this version of stockd"
        );
    }
    let store = open_store(&config).await?;
    let durability = store.durability().await?;
    tracing::info!(journal_mode = %durability.journal_mode, synchronous = %durability.synchronous, "database open");
    bootstrap_admin_key(store.as_ref(), config.auth.admin_key.as_deref()).await?;
    let cache = cache(&config, &store)?;
    let engine = Engine::start_with(
        Arc::clone(&store),
        engine_config(&config),
        cache
            .clone()
            .map(|cache| cache as Arc<dyn stock_engine::AfterCommit>),
    );
    if let Some(cache) = &cache {
        tracing::info!(cache = %cache.address(), key_format = %cache.key_format(),
            "storefront reads are served from the cache once it is filled");
    }
    if demo && demo::fill(store.as_ref(), &engine).await? {
        if let (Some(mock), Some(entry)) = (&mock, suppliers.get(DEMO_SUPPLIER)) {
            demo::fill_supplier(store.as_ref(), &engine, entry, &mock.products()).await?;
        }
    }
    for entry in suppliers.entries() {
        tracing::info!(supplier = %entry.api.name(), location = %entry.location,
            sync_interval_s = entry.sync.interval.map(|i| i.as_secs()), "supplier configured");
    }
    let mut jobs = Jobs::new(Arc::clone(&store), engine.clone(), job_settings(&config))
        .with_suppliers(suppliers);
    if let Some(cache) = cache {
        jobs = jobs.with_cache(cache);
    }
    jobs.spawn(schedules(&config)?, Arc::new(stock_http::WireEvents));
    let state = AppState::new(jobs, http_config(&config));
    let app = stock_http::router(state);
    let address = (config.server.host.as_str(), config.server.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("listening on {}:{}", config.server.host, config.server.port))?;
    let local = listener.local_addr()?;
    println!("stockd listening on http://{local} (API documentation at /docs)");
    std::io::stdout().flush().ok();

    let stopping = Arc::new(Notify::new());
    let signalled = Arc::clone(&stopping);
    let server = listener::serve(listener, app, listener_limits(&config), async move {
        shutdown_signal().await;
        tracing::info!("stopping: finishing requests in flight");
        signalled.notify_one();
    });
    let shutdown_timeout = Duration::from_secs(config.server.shutdown_timeout_s);
    tokio::select! {
        () = server => {}
        () = async { stopping.notified().await; tokio::time::sleep(shutdown_timeout).await } => {
            tracing::warn!(timeout_s = shutdown_timeout.as_secs(), "requests still in flight at the shutdown timeout; stopping anyway");
        }
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let interrupt = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// On first start (no key at all), makes the first admin key: the one in
/// STOCKD_ADMIN_KEY, or a new one printed once.
async fn bootstrap_admin_key(store: &dyn Store, configured: Option<&str>) -> anyhow::Result<()> {
    if store.key_count().await? > 0 {
        return Ok(());
    }
    let key = generate_key();
    match configured {
        Some(secret) => {
            anyhow::ensure!(
                (ADMIN_KEY_LENGTH_MIN..=ADMIN_KEY_LENGTH_MAX).contains(&secret.len())
                    && secret.bytes().all(|b| b.is_ascii_graphic()),
                "STOCKD_ADMIN_KEY must be {ADMIN_KEY_LENGTH_MIN} to {ADMIN_KEY_LENGTH_MAX} visible ASCII characters"
            );
            store
                .create_key(&key.id, "admin", Role::Admin, &hash_secret(secret))
                .await?;
            println!(
                "Created the first admin key ({}) from STOCKD_ADMIN_KEY.",
                key.id
            );
        }
        None => {
            store
                .create_key(&key.id, "admin", Role::Admin, &hash_secret(&key.secret))
                .await?;
            println!(
                "Created the first admin key ({}). Its secret is shown this once; keep it now:",
                key.id
            );
            println!();
            println!("    {}", key.secret);
            println!();
            println!("Use it as: Authorization: Bearer {}", key.secret);
        }
    }
    Ok(())
}
