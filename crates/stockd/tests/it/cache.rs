//! The Redis read cache and its health checker, against real Redis servers:
//! the machine's (each test with keys of its own) and servers a test starts
//! and stops itself.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{code, spawn_app, spawn_with, Spawn, TestApp, ADMIN_KEY};

pub(crate) const MACHINE_REDIS: &str = "127.0.0.1:6379";

/// Keys of one test on a Redis server, deleted when dropped.
pub(crate) struct Keys {
    address: String,
    prefix: String,
}

impl Keys {
    pub(crate) fn new(address: &str) -> Keys {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Keys {
            address: address.to_owned(),
            prefix: format!("stockd-test-{}-{n}", std::process::id()),
        }
    }

    fn number(&self, id: &str) -> String {
        format!("{}:seckill:stock:{id}", self.prefix)
    }

    fn view(&self, id: &str) -> String {
        format!("{}:item:{id}", self.prefix)
    }

    /// What `stockd serve` needs to use this Redis with these keys.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("STOCKD_REDIS_URL", format!("redis://{}", self.address)),
            (
                "STOCKD_REDIS__KEY_FORMAT",
                format!("{}:seckill:stock:{{product_id}}", self.prefix),
            ),
            (
                "STOCKD_REDIS__VIEW_KEY_FORMAT",
                format!("{}:item:{{product_id}}", self.prefix),
            ),
            ("STOCKD_REDIS__RETRY_INTERVAL_MS", "100".to_owned()),
        ]
    }

    async fn command<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut connection = redis_connection(&self.address)
            .await
            .unwrap_or_else(|e| panic!("Redis at {} is needed: {e:#}", self.address));
        redis::cmd(args[0])
            .arg(&args[1..])
            .query_async(&mut connection)
            .await
            .expect("a Redis command")
    }

    pub(crate) async fn get(&self, id: &str) -> Option<i64> {
        self.command(&["GET", &self.number(id)]).await
    }

    pub(crate) async fn set(&self, id: &str, value: i64) {
        self.command::<()>(&["SET", &self.number(id), &value.to_string()])
            .await;
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let address = self.address.clone();
        let pattern = format!("{}:*", self.prefix);
        // Cleanup runs on a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let Ok(mut connection) = redis_connection(&address).await else {
                    return;
                };
                let keys: redis::RedisResult<Vec<String>> = redis::cmd("KEYS")
                    .arg(&pattern)
                    .query_async(&mut connection)
                    .await;
                for key in keys.unwrap_or_default() {
                    let _: redis::RedisResult<i64> = redis::cmd("DEL")
                        .arg(&key)
                        .query_async(&mut connection)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A connection to the Redis at `host:port`, for a test to look and poke.
pub(crate) async fn redis_connection(
    address: &str,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    redis::Client::open(format!("redis://{address}"))?
        .get_multiplexed_async_connection()
        .await
}

/// A Redis server of a test's own, which it may stop and start again.
struct OwnRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    async fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = OwnRedis {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        redis.restart().await;
        redis
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut connection) = redis_connection(&self.address()).await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut connection).await;
                if pong.is_ok() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn health(app: &TestApp) -> Value {
    let (status, body) = app.get(ADMIN_KEY, "/api/v1/health/check").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Waits (polling, with a deadline) until the cache serves reads.
pub(crate) async fn cache_up(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = health(app).await;
        if body["cache"]["state"] == "up" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the cache did not come up: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn sync(app: &TestApp, id: &str, delta: i64) -> StatusCode {
    app.post(
        ADMIN_KEY,
        "/api/v1/sync-stock",
        json!({"product_id": id, "delta": delta}),
    )
    .await
    .0
}

async fn with_cache(keys: &Keys, extra: &[(&'static str, &str)]) -> TestApp {
    let mut env = keys.env();
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let app = spawn_with(Spawn {
        extra_env: env,
        ..Spawn::default()
    })
    .await;
    cache_up(&app).await;
    app
}

#[tokio::test]
async fn every_answered_write_is_already_in_redis_and_reads_come_from_it() {
    let keys = Keys::new(MACHINE_REDIS);
    let app = with_cache(&keys, &[]).await;
    app.create_item("tea", 10).await;
    assert_eq!(keys.get("tea").await, Some(10), "written before the answer");

    assert_eq!(sync(&app, "tea", -3).await, StatusCode::OK);
    assert_eq!(keys.get("tea").await, Some(7));

    // A hold and its commit name no item in their path: the outbox does.
    let (status, hold) = app
        .post(
            ADMIN_KEY,
            "/api/v1/reservations",
            json!({"order_id": "o-1", "items": [{"product_id": "tea", "quantity": 2}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    assert_eq!(keys.get("tea").await, Some(5));
    let id = hold["reservation_id"].as_str().unwrap();
    let (status, body) = app
        .post(
            ADMIN_KEY,
            &format!("/api/v1/reservations/{id}/release"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys.get("tea").await, Some(7));

    // A change of details writes no ledger row; the view follows it too.
    let (status, body) = app
        .put(
            ADMIN_KEY,
            "/api/v1/inventory/tea",
            json!({"name": "Green tea"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view: Option<String> = keys.command(&["HGET", &keys.view("tea"), "view"]).await;
    assert!(
        matches!(&view, Some(json) if json.contains("Green tea")),
        "{view:?}"
    );

    // Reads are served from the view key: a view planted there (same stamp)
    // is what a storefront sees, in single reads, batches and checks.
    let Some(json) = view else { unreachable!() };
    let planted = json.replace("\"on_hand\":7", "\"on_hand\":999");
    assert_ne!(planted, json);
    keys.command::<i64>(&["HSET", &keys.view("tea"), "view", &planted])
        .await;
    assert_eq!(app.available("tea").await, 999);
    let (_, batch) = app
        .post(
            ADMIN_KEY,
            "/api/v1/inventory/batch",
            json!({"product_ids": ["tea"]}),
        )
        .await;
    assert_eq!(batch["items"][0]["available"], 999, "{batch}");
    let (_, check) = app
        .post(
            ADMIN_KEY,
            "/api/v1/inventory/check",
            json!({"items": [{"product_id": "tea", "quantity": 500}]}),
        )
        .await;
    assert_eq!(check["available"], true, "{check}");
    // Writes are decided by the database, never by the cache.
    assert_eq!(sync(&app, "tea", -8).await, StatusCode::CONFLICT);
    assert_eq!(sync(&app, "tea", -7).await, StatusCode::OK);
    assert_eq!(app.available("tea").await, 0, "the next commit rewrote it");
    assert_eq!(keys.get("tea").await, Some(0));

    // A key nobody wrote is a miss, read from the database and filled.
    keys.command::<i64>(&["DEL", &keys.view("tea"), &keys.number("tea")])
        .await;
    assert_eq!(app.available("tea").await, 0);
    assert_eq!(keys.get("tea").await, Some(0));
    let cache = &health(&app).await["cache"];
    assert!(cache["hits"].as_u64().unwrap() >= 3, "{cache}");
    assert!(cache["misses"].as_u64().unwrap() >= 1, "{cache}");
}

#[tokio::test]
async fn the_health_check_records_diffs_raises_alerts_and_repairs_them() {
    let keys = Keys::new(MACHINE_REDIS);
    let app = with_cache(
        &keys,
        &[
            ("STOCKD_INVENTORY__HEALTH_CHECK__TOLERANCE", "2"),
            ("STOCKD_INVENTORY__HEALTH_CHECK__ALERT_THRESHOLD", "5"),
        ],
    )
    .await;
    for (id, stock) in [("a", 10), ("b", 20), ("c", 30), ("d", 40)] {
        app.create_item(id, stock).await;
    }
    keys.set("a", 11).await; // within the tolerance
    keys.set("b", 27).await; // beyond the alert threshold
    keys.set("c", 33).await; // beyond the tolerance only
    keys.command::<i64>(&["DEL", &keys.number("d")]).await; // missing: filled

    let (status, result) = app
        .post(ADMIN_KEY, "/api/v1/health/trigger", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    let run = &result["run"];
    assert_eq!(run["checked"], 4, "{run}");
    assert_eq!(run["missing"], 1, "{run}");
    assert_eq!(run["diffs_found"], 2, "{run}");
    assert_eq!(run["alerts_raised"], 1, "{run}");
    assert_eq!(run["trigger"], "manual");
    assert_eq!(keys.get("d").await, Some(40));

    let report = health(&app).await;
    assert_eq!(report["last_run"]["id"], run["id"]);
    assert_eq!(report["pending_total"], 2, "{report}");
    let diff_of = |id: &str| {
        report["pending_diffs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["product_id"] == id)
            .unwrap_or_else(|| panic!("a diff for {id}: {report}"))
            .clone()
    };
    let (b, c) = (diff_of("b"), diff_of("c"));
    assert_eq!(
        (
            b["db_stock"].as_i64(),
            b["redis_stock"].as_i64(),
            b["diff"].as_i64()
        ),
        (Some(20), Some(27), Some(7))
    );
    assert_eq!(c["diff"], 3);

    let (_, alerts) = app.get(ADMIN_KEY, "/api/v1/alerts?type=diff_alert").await;
    let alerts = alerts["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["product_id"], "b");
    assert_eq!(alerts[0]["log_id"], Value::Null);

    // A second run finds the same two still pending: no new rows, no new alert.
    let (_, again) = app
        .post(ADMIN_KEY, "/api/v1/health/trigger", json!({}))
        .await;
    assert_eq!(again["run"]["diffs_found"], 2);
    assert_eq!(again["run"]["alerts_raised"], 0);
    assert_eq!(health(&app).await["pending_total"], 2);

    // use_db: the cache is rewritten from the database.
    let b_id = b["id"].as_i64().unwrap();
    let (status, fixed) = app
        .post(
            ADMIN_KEY,
            &format!("/api/v1/health/fix/{b_id}"),
            json!({"fix_type": "use_db"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{fixed}");
    assert_eq!(fixed["diff"]["status"], "fixed");
    assert_eq!(fixed["diff"]["fix_type"], "use_db");
    assert_eq!(fixed["entries"].as_array().unwrap().len(), 0);
    assert_eq!(keys.get("b").await, Some(20));

    // use_redis: the database takes the cache's value, with a sync row.
    let c_id = c["id"].as_i64().unwrap();
    let (status, fixed) = app
        .post(
            ADMIN_KEY,
            &format!("/api/v1/health/fix/{c_id}"),
            json!({"fix_type": "use_redis"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{fixed}");
    let entry = &fixed["entries"][0];
    assert_eq!(entry["operation"], "sync", "{fixed}");
    assert_eq!(entry["delta"], 3, "{fixed}");
    assert_eq!(app.available("c").await, 33);
    assert_eq!(keys.get("c").await, Some(33));
    let verify = app.cli(&["verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // A fixed diff stays fixed; bad requests change nothing.
    let (status, body) = app
        .post(
            ADMIN_KEY,
            &format!("/api/v1/health/fix/{c_id}"),
            json!({"fix_type": "use_db"}),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "DIFF_CLOSED"));
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/health/fix/999999",
            json!({"fix_type": "use_db"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app
        .post(
            ADMIN_KEY,
            &format!("/api/v1/health/fix/{b_id}"),
            json!({"fix_type": "use_both"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "VALIDATION_FAILED")
    );
    let storefront = app.key("storefront");
    let (status, _) = app
        .post(&storefront, "/api/v1/health/trigger", json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, last) = app
        .post(ADMIN_KEY, "/api/v1/health/trigger", json!({}))
        .await;
    assert_eq!(
        last["run"]["diffs_found"], 0,
        "only a, within the tolerance, differs: {last}"
    );
    let (_, stats) = app.get(ADMIN_KEY, "/api/v1/stats/service").await;
    assert_eq!(stats["health"]["runs"], 3, "{stats}");
    assert_eq!(stats["health"]["diffs_found"], 4, "{stats}");
    assert_eq!(stats["health"]["diffs_pending"], 0, "{stats}");
    let metrics = app.metrics().await;
    assert!(metrics.contains("stockd_diffs_pending 0"), "{metrics}");
    assert!(metrics.contains("stockd_cache_up 1"), "{metrics}");
}

#[tokio::test]
async fn auto_fix_repairs_the_cache_only_within_the_maximum() {
    let keys = Keys::new(MACHINE_REDIS);
    let app = with_cache(
        &keys,
        &[
            ("STOCKD_INVENTORY__HEALTH_CHECK__TOLERANCE", "0"),
            ("STOCKD_INVENTORY__COMPENSATION__AUTO_FIX", "true"),
            ("STOCKD_INVENTORY__COMPENSATION__MAX_FIX_AMOUNT", "5"),
        ],
    )
    .await;
    app.create_item("x", 10).await;
    app.create_item("y", 10).await;
    keys.set("x", 13).await;
    keys.set("y", 60).await;
    let (status, result) = app
        .post(ADMIN_KEY, "/api/v1/health/trigger", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["run"]["diffs_found"], 2, "{result}");
    assert_eq!(result["run"]["auto_fixed"], 1, "{result}");
    assert_eq!(keys.get("x").await, Some(10), "repaired from the database");
    assert_eq!(
        keys.get("y").await,
        Some(60),
        "beyond the maximum: left for staff"
    );
    let report = health(&app).await;
    assert_eq!(report["pending_total"], 1, "{report}");
    assert_eq!(report["pending_diffs"][0]["product_id"], "y");
    let (_, stats) = app.get(ADMIN_KEY, "/api/v1/stats/service").await;
    assert_eq!(stats["health"]["auto_fix_success_rate"], 1.0, "{stats}");
    assert_eq!(app.available("y").await, 10, "the database was not touched");
}

#[tokio::test]
async fn without_redis_reads_use_the_database_and_the_checker_says_so() {
    let app = spawn_app().await;
    let report = health(&app).await;
    assert_eq!(report["cache"]["configured"], false, "{report}");
    let (status, body) = app
        .post(ADMIN_KEY, "/api/v1/health/trigger", json!({}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "CACHE_NOT_CONFIGURED")
    );
}

#[tokio::test]
async fn losing_redis_mid_load_loses_nothing_and_the_cache_heals() {
    let mut redis = OwnRedis::start().await;
    let keys = Keys::new(&redis.address());
    let app = with_cache(&keys, &[]).await;
    app.create_item("hot", 10_000).await;

    let mut sold = 0i64;
    let load = |app: &TestApp| {
        let app_client = app.client.clone();
        let url = app.url("/api/v1/sync-stock");
        async move {
            let mut writes = tokio::task::JoinSet::new();
            for _ in 0..40 {
                let client = app_client.clone();
                let url = url.clone();
                writes.spawn(async move {
                    client
                        .post(url)
                        .bearer_auth(ADMIN_KEY)
                        .json(&json!({"product_id": "hot", "delta": -1}))
                        .send()
                        .await
                        .unwrap()
                        .status()
                });
            }
            let mut ok = 0;
            while let Some(status) = writes.join_next().await {
                assert_eq!(status.unwrap(), StatusCode::OK);
                ok += 1;
            }
            ok
        }
    };
    sold += load(&app).await;
    assert_eq!(keys.get("hot").await, Some(10_000 - sold));

    redis.kill();
    sold += load(&app).await;
    assert_eq!(health(&app).await["cache"]["state"], "down");
    assert_eq!(
        app.available("hot").await,
        10_000 - sold,
        "reads go to the database"
    );
    sold += load(&app).await;

    redis.restart().await; // empty: it keeps nothing on disk
    cache_up(&app).await;
    sold += load(&app).await;
    assert_eq!(
        keys.get("hot").await,
        Some(10_000 - sold),
        "healed and followed"
    );
    assert_eq!(app.available("hot").await, 10_000 - sold);
    let cache = &health(&app).await["cache"];
    assert!(cache["errors"].as_u64().unwrap() >= 1, "{cache}");
    assert!(cache["fills"].as_u64().unwrap() >= 2, "{cache}");
    let verify = app.cli(&["verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let (_, stats) = app.get(ADMIN_KEY, "/api/v1/stats/service").await;
    assert_eq!(stats["sync_stock"]["requests"], 160, "{stats}");
    assert_eq!(stats["sync_stock"]["success_rate"], 1.0, "{stats}");
}

#[tokio::test]
async fn the_health_check_runs_on_its_schedule() {
    let keys = Keys::new(MACHINE_REDIS);
    let app = with_cache(
        &keys,
        &[
            ("STOCKD_INVENTORY__HEALTH_CHECK__INTERVAL", "1s"),
            ("STOCKD_INVENTORY__HEALTH_CHECK__TOLERANCE", "0"),
        ],
    )
    .await;
    app.create_item("s", 5).await;
    keys.set("s", 4).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let report = health(&app).await;
        if report["pending_total"] == 1 {
            assert_eq!(report["last_run"]["trigger"], "schedule", "{report}");
            assert_eq!(report["last_run"]["operator"], "health-check", "{report}");
            assert_eq!(report["pending_diffs"][0]["product_id"], "s");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled run found the diff: {report}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_replica_that_cannot_reach_redis_is_followed_by_one_that_can() {
    let keys = Keys::new(MACHINE_REDIS);
    let up = with_cache(&keys, &[]).await;
    up.create_item("shared", 100).await;
    // The second replica's Redis is a closed port: it stays down and writes
    // nothing through; the first one follows its commits from the outbox.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = keys.env();
    env[0].1 = format!("redis://127.0.0.1:{closed}");
    let down = spawn_with(Spawn {
        extra_env: env,
        shared_database: Some(up.database_url.clone()),
        ..Spawn::default()
    })
    .await;
    assert_eq!(sync(&down, "shared", -30).await, StatusCode::OK);
    assert_eq!(health(&down).await["cache"]["state"], "down");
    let deadline = Instant::now() + Duration::from_secs(30);
    while keys.get("shared").await != Some(70) {
        assert!(Instant::now() < deadline, "the up replica never followed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(up.available("shared").await, 70);
}

/// The cache's hits as `/metrics` counts them.
async fn cache_hits(app: &TestApp) -> u64 {
    app.metrics()
        .await
        .lines()
        .find_map(|line| line.strip_prefix("stockd_cache_hits_total "))
        .expect("the cache's hits are counted")
        .parse()
        .unwrap()
}

/// With `reads.memory`, reads are served from a read model in the process:
/// every answered write is in it before its answer goes out, and another
/// replica's writes reach it through the outbox.
#[tokio::test]
async fn the_read_model_in_memory_is_never_behind_an_answered_write() {
    const MEMORY: [(&str, &str); 2] = [
        ("STOCKD_READS__MEMORY", "true"),
        ("STOCKD_READS__FOLLOW_INTERVAL_MS", "50"),
    ];
    let first = spawn_with(Spawn::with_vars(&MEMORY)).await;
    first.create_item("tea", 10).await;
    cache_up(&first).await;
    assert_eq!(health(&first).await["cache"]["redis"], "memory");
    let second = spawn_with(Spawn {
        shared_database: Some(first.database_url.clone()),
        ..Spawn::with_vars(&MEMORY)
    })
    .await;
    cache_up(&second).await;

    let hits = cache_hits(&first).await;
    for (round, delta) in [-1, -2, 4, -3].into_iter().enumerate() {
        assert_eq!(sync(&first, "tea", delta).await, StatusCode::OK);
        let (_, held) = first
            .post(
                ADMIN_KEY,
                "/api/v1/reservations",
                json!({"order_id": format!("o-{round}"), "items": [{"product_id": "tea", "quantity": 1}]}),
            )
            .await;
        let expected = first
            .fetch_pairs("SELECT item_id, CAST(SUM(on_hand - reserved) AS BIGINT) FROM levels GROUP BY item_id")
            .await;
        assert_eq!(
            first.available("tea").await,
            expected[0].1,
            "round {round}: read right after the answers ({held})"
        );
    }
    assert!(cache_hits(&first).await >= hits + 4, "served from memory");

    // Another replica's sale, followed through the outbox.
    assert_eq!(sync(&second, "tea", -1).await, StatusCode::OK);
    let expected = second.available("tea").await;
    crate::holds::eventually(
        Duration::from_secs(30),
        "the other replica's sale",
        || async { first.available("tea").await == expected },
    )
    .await;
    first.assert_verified();
}
