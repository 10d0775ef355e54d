//! The configuration as files and environments give it: defaults, the seed
//! 001 shape, precedence, and what is refused.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const SEED_001: &str = r#"
server:
  port: 8083
  grpc_port: 9083
database:
  driver: sqlite
  sqlite:
    path: /var/lib/stockd/inventory.db
redis:
  host: redis
  port: 6379
  db: 2
inventory:
  default_stock: 1000
  low_stock_threshold: 100
  health_check:
    enable: true
    interval: 300s
"#;

#[test]
fn redis_is_on_with_a_url_and_durations_read_as_people_write_them() {
    let config = resolve(
        None,
        &env(&[
            ("STOCKD_REDIS_URL", "redis://:pw@cache:6380/3"),
            ("STOCKD_INVENTORY__HEALTH_CHECK__INTERVAL", "2m"),
            ("STOCKD_INVENTORY__COMPENSATION__AUTO_FIX", "true"),
        ]),
        &Flags::default(),
    )
    .unwrap();
    let redis = config.redis.address().unwrap().unwrap();
    assert_eq!(
        redis,
        stock_redis::RedisAddress::from_parts("cache", 6380, 3, Some("pw")).unwrap()
    );
    assert!(config.inventory.compensation.auto_fix);
    assert_eq!(
        parse_duration(&config.inventory.health_check.interval).unwrap(),
        std::time::Duration::from_secs(120)
    );
    assert_eq!(parse_duration("750ms").unwrap().as_millis(), 750);
    assert_eq!(parse_duration("2").unwrap().as_secs(), 2);
    let file = "inventory:\n  health_check:\n    interval: 60\n";
    let config = resolve(Some(file), &[], &Flags::default()).unwrap();
    assert_eq!(config.inventory.health_check.interval, "60s");
    let config = resolve(None, &[], &Flags::default()).unwrap();
    assert!(
        config.redis.address().unwrap().is_none(),
        "no Redis unless asked"
    );
}

#[test]
fn defaults_need_no_file() {
    let config = resolve(None, &[], &Flags::default()).unwrap();
    assert_eq!(config.server.port, 8083);
    assert_eq!(
        config.database_target().unwrap(),
        DatabaseTarget::Sqlite("stockd.db".into())
    );
    assert_eq!(config.database.sqlite.synchronous, "full");
}

#[test]
fn the_seed_001_shape_is_read() {
    let config = resolve(Some(SEED_001), &[], &Flags::default()).unwrap();
    assert_eq!(config.inventory.low_stock_threshold, 100);
    assert_eq!(config.inventory.default_stock, 1000);
    assert_eq!(
        config.database_target().unwrap(),
        DatabaseTarget::Sqlite("/var/lib/stockd/inventory.db".into())
    );
    assert_eq!(config.unused_options(), ["server.grpc_port"]);
    let redis = config.redis.address().unwrap().unwrap();
    assert_eq!(redis.shown(), "redis://redis:6379/2");
    assert!(config.inventory.health_check.enable);
    assert_eq!(
        parse_duration(&config.inventory.health_check.interval).unwrap(),
        std::time::Duration::from_secs(300)
    );
    assert_eq!(config.redis.key_format, "seckill:stock:{product_id}");
}

#[test]
fn flag_beats_environment_beats_file_beats_default() {
    let file = "server:\n  port: 9000\ninventory:\n  low_stock_threshold: 7\n";
    let config = resolve(Some(file), &[], &Flags::default()).unwrap();
    assert_eq!(config.server.port, 9000);
    let vars = env(&[
        ("STOCKD_PORT", "9100"),
        ("STOCKD_INVENTORY__LOW_STOCK_THRESHOLD", "3"),
    ]);
    let config = resolve(Some(file), &vars, &Flags::default()).unwrap();
    assert_eq!(config.server.port, 9100);
    assert_eq!(config.inventory.low_stock_threshold, 3);
    let flags = Flags {
        port: Some(9200),
        database: Some("sqlite://flag.db".into()),
        redis: Some("redis://flag:6379".into()),
    };
    let vars = env(&[
        ("STOCKD_PORT", "9100"),
        ("STOCKD_DATABASE_URL", "sqlite://env.db"),
    ]);
    let config = resolve(Some(file), &vars, &flags).unwrap();
    assert_eq!(config.server.port, 9200);
    assert_eq!(
        config.redis.address().unwrap().unwrap().shown(),
        "redis://flag:6379/0"
    );
    assert_eq!(
        config.database_target().unwrap(),
        DatabaseTarget::Sqlite("flag.db".into())
    );
    let config = resolve(Some(file), &vars, &Flags::default()).unwrap();
    assert_eq!(
        config.database_target().unwrap(),
        DatabaseTarget::Sqlite("env.db".into())
    );
}

#[test]
fn the_admin_key_comes_from_the_environment() {
    let config = resolve(
        None,
        &env(&[("STOCKD_ADMIN_KEY", "12345678901234567890")]),
        &Flags::default(),
    )
    .unwrap();
    assert_eq!(
        config.auth.admin_key.as_deref(),
        Some("12345678901234567890")
    );
}

#[test]
fn postgres_is_named_by_url_or_by_section() {
    let url = "postgres://postgres@127.0.0.1/stockd";
    let flags = Flags {
        database: Some(url.into()),
        ..Flags::default()
    };
    let config = resolve(None, &[], &flags).unwrap();
    assert_eq!(
        config.database_target().unwrap(),
        DatabaseTarget::Postgres(url.into())
    );
    let file = "database:\n  driver: postgres\n  postgres:\n    host: db\n    user: shop\n    password: p@ss/word\n    dbname: inventory_db\n";
    let config = resolve(Some(file), &[], &Flags::default()).unwrap();
    assert_eq!(
        config.database_target().unwrap(),
        DatabaseTarget::Postgres("postgres://shop:p%40ss%2Fword@db:5432/inventory_db".into())
    );
    let file = "database:\n  driver: postgres\n";
    assert!(
        resolve(Some(file), &[], &Flags::default()).is_err(),
        "a driver without a section"
    );
}

#[test]
fn mistakes_are_refused() {
    let check = |file: &str, vars: &[(&str, &str)]| {
        assert!(
            resolve(Some(file), &env(vars), &Flags::default()).is_err(),
            "{file} {vars:?}"
        );
    };
    check("server:\n  prot: 1\n", &[]);
    check("server:\n  port: not-a-port\n", &[]);
    check("", &[("STOCKD_PORT", "70000")]);
    check("", &[("STOCKD_SERVER__REQUEST_TIMEOUT_S", "0")]);
    check("", &[("STOCKD_IDEMPOTENCY__RETENTION_H", "1")]);
    check("", &[("STOCKD_DATABASE_URL", "mysql://x")]);
    check("", &[("STOCKD_LOG_FORMAT", "xml")]);
    check("", &[("STOCKD_REDIS_URL", "http://cache")]);
    check("", &[("STOCKD_NATS_URL", "nats://u:p@bus")]);
    check("", &[("STOCKD_NATS__SUBJECT_PREFIX", "stock.>")]);
    check("", &[("STOCKD_REDIS__KEY_FORMAT", "stock")]);
    check(
        "",
        &[("STOCKD_INVENTORY__HEALTH_CHECK__INTERVAL", "5 parsecs")],
    );
    check("", &[("STOCKD_INVENTORY__HEALTH_CHECK__INTERVAL", "0s")]);
    check(
        "",
        &[("STOCKD_INVENTORY__COMPENSATION__MAX_FIX_AMOUNT", "-1")],
    );
    check("", &[("STOCKD_DATABASE__SQLITE__CACHE_MB", "0")]);
    check("", &[("STOCKD_DATABASE__SQLITE__CACHE_MB", "4097")]);
    check("- a list", &[]);
}

const SUPPLIER: &str = "suppliers:
  haier:
    base_url: https://openplat.example/
    token_url: https://openplat.example/oauth2/auth
    client_id: shop-1
    client_secret: s3cret-value
    customer_code: C100
    sync: {enable: true, interval: 30m, county_code: \"440305\"}
";

#[test]
fn a_supplier_is_read_from_the_file_and_the_environment() {
    let config = resolve(
        Some(SUPPLIER),
        &env(&[
            // All digits, as secrets and codes often are: still text.
            ("STOCKD_SUPPLIERS__HAIER__CLIENT_SECRET", "12345678"),
            ("STOCKD_SUPPLIERS__HAIER__TIMEOUT_MS", "1500"),
            ("STOCKD_SUPPLIERS__HAIER__RETRY__ATTEMPTS_MAX", "5"),
            (
                "STOCKD_SUPPLIERS__HAIER__PATHS__STOCK",
                "/openapi/v2/stock/query",
            ),
            ("STOCKD_REGIONS__DEFAULT_COUNTY_CODE", "310101"),
        ]),
        &Flags::default(),
    )
    .unwrap();
    let haier = &config.suppliers["haier"];
    assert_eq!(haier.client_secret.0, "12345678");
    assert_eq!((haier.timeout_ms, haier.retry.attempts_max), (1500, 5));
    assert_eq!(haier.source, "JSH-B", "a default");
    assert_eq!(haier.paths.stock, "/openapi/v2/stock/query");
    assert_eq!(haier.paths.products, "/api/products/list", "a default");
    assert_eq!(config.regions.default_county_code, "310101");
    assert!(
        !format!("{config:?}").contains("12345678"),
        "secrets are not printed"
    );
    let suppliers = config.build_suppliers().unwrap();
    let entry = suppliers.get("haier").unwrap();
    assert_eq!(entry.location.as_str(), "supplier-haier");
    assert_eq!(
        entry.sync.interval,
        Some(std::time::Duration::from_secs(1800))
    );
    assert_eq!(entry.sync.county_code, "440305");
    assert!(!format!("{entry:?}").contains("12345678"));
    // Without a file, no supplier at all.
    let bare = resolve(None, &[], &Flags::default()).unwrap();
    assert!(bare.build_suppliers().unwrap().is_empty());
}

#[test]
fn supplier_mistakes_are_refused() {
    let check = |vars: &[(&str, &str)]| {
        let result = resolve(Some(SUPPLIER), &env(vars), &Flags::default());
        assert!(result.is_err(), "{vars:?}");
    };
    check(&[("STOCKD_SUPPLIERS__HAIER__KIND", "acme")]);
    check(&[("STOCKD_SUPPLIERS__HAIER__BASE_URL", "ftp://x")]);
    check(&[("STOCKD_SUPPLIERS__HAIER__CLIENT_SECRET", "")]);
    check(&[("STOCKD_SUPPLIERS__HAIER__TIMEOUT_MS", "0")]);
    check(&[("STOCKD_SUPPLIERS__HAIER__RETRY__ATTEMPTS_MAX", "0")]);
    check(&[("STOCKD_SUPPLIERS__HAIER__RETRY__ATTEMPTS_MAX", "11")]);
    check(&[("STOCKD_SUPPLIERS__HAIER__BREAKER__FAILURES_MAX", "0")]);
    check(&[("STOCKD_SUPPLIERS__HAIER__SYNC__INTERVAL", "0s")]);
    check(&[("STOCKD_SUPPLIERS__HAIER__SYNC__COUNTY_CODE", "4403")]);
    check(&[("STOCKD_SUPPLIERS__HAIER__SYNC__CONCURRENCY", "0")]);
    check(&[("STOCKD_SUPPLIERS__HAIER__LOCATION", "no spaces please")]);
    check(&[("STOCKD_SUPPLIERS__HAIER__CLIENT", "typo")]);
    check(&[("STOCKD_REGIONS__DEFAULT_COUNTY_CODE", "beijing")]);
    check(&[("STOCKD_SUPPLIERS__HAIER__PRODUCTS_PAGE_SIZE", "1000")]);
    check(&[("STOCKD_SUPPLIERS__HAIER__PATHS__STOCK", "api/stock")]);
    check(&[("STOCKD_SUPPLIERS__HAIER__PATHS__STOCK", "/api/stock?x=1")]);
    let bad_name = resolve(
        Some(&SUPPLIER.replace("haier:", "Haier Co:")),
        &[],
        &Flags::default(),
    );
    assert!(bad_name.is_err());
}

#[test]
fn a_key_whose_default_is_null_takes_a_number_from_the_environment() {
    let file = "database:\n  driver: postgres\n  postgres:\n    host: db\n    user: shop\n    dbname: stock\n";
    let vars = env(&[
        ("STOCKD_DATABASE__POSTGRES__PORT", "6543"),
        ("STOCKD_SERVER__GRPC_PORT", "9083"),
    ]);
    let config = resolve(Some(file), &vars, &Flags::default()).unwrap();
    assert_eq!(config.server.grpc_port, Some(9083));
    assert_eq!(
        config.database_target().unwrap(),
        DatabaseTarget::Postgres("postgres://shop@db:6543/stock".into())
    );
    let vars = env(&[("STOCKD_SERVER__GRPC_PORT", "ninety")]);
    let error = resolve(None, &vars, &Flags::default()).unwrap_err();
    assert!(
        format!("{error:#}").contains("STOCKD_SERVER__GRPC_PORT"),
        "{error:#}"
    );
}

#[test]
fn unknown_environment_names_are_refused_by_name() {
    let refused = |file: Option<&str>, name: &str| {
        let error = resolve(file, &env(&[(name, "1")]), &Flags::default()).unwrap_err();
        assert!(format!("{error:#}").contains(name), "{name}: {error:#}");
    };
    for name in [
        "STOCKD_PROT",
        "STOCKD_DATABASE",
        "STOCKD_",
        "STOCKD_SERVER__PROT",
        "STOCKD_SERVR__PORT",
        "STOCKD_SERVER____PORT",
        "STOCKD_SERVER__PORT-X",
    ] {
        refused(None, name);
    }
    // Named even when the file has the section the key would be in.
    refused(Some("server:\n  port: 9000\n"), "STOCKD_SERVER__PROT");
    // Names that are not configuration are left alone, and so is the
    // environment of everything else.
    let vars = env(&[
        ("STOCKD_CONFIG", "elsewhere.yaml"),
        ("STOCKD_TEST_DATABASE", "postgres"),
        ("STOCKD_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432"),
        ("STOCKD_CRASH_CYCLES", "3"),
        ("PORT", "1"),
        ("HOME", "/root"),
    ]);
    assert_eq!(
        resolve(None, &vars, &Flags::default()).unwrap(),
        resolve(None, &[], &Flags::default()).unwrap()
    );
}
