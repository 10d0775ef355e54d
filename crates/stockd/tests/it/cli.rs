//! The command line: verify, import, migrate, keys, demo, configuration.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_with, stockd_command, Spawn, Workspace, ADMIN_KEY};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn verify_names_an_item_whose_level_differs_from_its_ledger() {
    let app = spawn_app().await;
    app.create_item("t1", 5).await;
    app.create_item("t2", 7).await;
    app.post(
        ADMIN_KEY,
        "/api/v1/sync-stock",
        json!({"product_id": "t2", "delta": -2}),
    )
    .await;
    let output = app.cli(&["verify"]);
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("OK: all 2 levels"),
        "{}",
        stdout(&output)
    );

    app.execute_sql("UPDATE levels SET on_hand = on_hand + 1 WHERE item_id = 't2'")
        .await
        .unwrap();
    let output = app.cli(&["verify"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("MISMATCH item t2 at default: on_hand 6 but the ledger sums to 5"),
        "{text}"
    );
    assert!(!text.contains("item t1"), "{text}");

    // The ledger cannot be edited to cover it up.
    let tamper = app
        .execute_sql("UPDATE ledger SET on_hand_delta = on_hand_delta + 1 WHERE item_id = 't2'")
        .await;
    assert!(tamper.is_err(), "the ledger is append-only");
    let tamper = app.execute_sql("DELETE FROM ledger").await;
    assert!(tamper.is_err(), "the ledger is append-only");

    // Nor can a row be slipped in for a level that does not exist.
    app.execute_sql("UPDATE levels SET on_hand = on_hand - 1 WHERE item_id = 't2'")
        .await
        .unwrap();
    let output = app.cli(&["verify"]);
    assert!(output.status.success(), "{}", stdout(&output));
    app.execute_sql(
        "INSERT INTO locations (id, name, priority, created_at) VALUES ('north', 'North', 1, 0)",
    )
    .await
    .unwrap();
    app.execute_sql(
        "INSERT INTO ledger (item_id, location_id, operation, on_hand_delta, reserved_delta,
            on_hand_before, on_hand_after, reserved_before, reserved_after, version_after,
            operator, created_at)
         VALUES ('t1', 'north', 'add', 3, 0, 0, 3, 0, 0, 1, 'intruder', 0)",
    )
    .await
    .unwrap();
    let output = app.cli(&["verify"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output)
            .contains("MISMATCH 1 ledger rows name an item and location that have no level"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test]
async fn import_creates_updates_and_rejects_rows_with_reasons() {
    let app = spawn_app().await;
    let csv = app.dir.path().join("items.csv");
    std::fs::write(
        &csv,
        "product_id,name,stock,min_stock,status\n\
         1001,Green tea,50,5,active\n\
         1002,Black tea,0,,\n\
         bad id,Broken,3,,\n\
         1003,Oolong,many,,\n\
         1001,Green tea again,9,,\n\
         1004,Puer,-2,,\n\
         1005,Jasmine,12,3,sold\n\
         1006,White tea,20,,inactive\n",
    )
    .unwrap();
    let output = app.cli(&["import", csv.to_str().unwrap()]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "rows were rejected: {text}");
    assert!(
        text.contains("3 created, 0 updated, 0 unchanged, 5 rejected"),
        "{text}"
    );
    assert!(text.contains("line 4 (bad id): product_id"), "{text}");
    assert!(
        text.contains("line 5 (1003): stock \"many\" is not a whole number"),
        "{text}"
    );
    assert!(
        text.contains("line 6 (1001): the same product_id is on line 2 already"),
        "{text}"
    );
    assert!(
        text.contains("line 7 (1004): stock -2 is negative"),
        "{text}"
    );
    assert!(text.contains("line 8 (1005): status \"sold\""), "{text}");
    assert_eq!(app.available("1001").await, 50);
    let (_, item) = app.get(ADMIN_KEY, "/api/v1/inventory/1006").await;
    assert_eq!(item["status"], "inactive");

    // Sales happen; a second import with a new count sets stock and says so.
    app.post(
        ADMIN_KEY,
        "/api/v1/sync-stock",
        json!({"product_id": "1001", "delta": -10}),
    )
    .await;
    std::fs::write(
        &csv,
        "product_id,name,stock,min_stock,status\n1001,Green tea,45,5,active\n1002,Black tea,0,,\n",
    )
    .unwrap();
    let dry = app.cli(&["import", "--dry-run", csv.to_str().unwrap()]);
    assert!(dry.status.success(), "{}", stdout(&dry));
    assert!(stdout(&dry).contains("Would import"), "{}", stdout(&dry));
    assert!(
        stdout(&dry).contains("0 created, 1 updated, 1 unchanged, 0 rejected"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(app.available("1001").await, 40, "a dry run changes nothing");
    let output = app.cli(&["import", csv.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("0 created, 1 updated, 1 unchanged, 0 rejected"),
        "{}",
        stdout(&output)
    );
    assert_eq!(app.available("1001").await, 45);
    let (_, logs) = app.get(ADMIN_KEY, "/api/v1/inventory/1001/logs").await;
    assert_eq!(logs["entries"][0]["operation"], "set");
    assert_eq!(logs["entries"][0]["reason"], "import");
    assert_eq!(logs["entries"][0]["operator"], "import");
    app.assert_verified();

    std::fs::write(&csv, "product_id,title,stock\n1,x,1\n").unwrap();
    let output = app.cli(&["import", csv.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown column \"title\""));
}

#[tokio::test]
async fn import_handles_a_large_file() {
    let app = spawn_app().await;
    let csv = app.dir.path().join("many.csv");
    let mut text = String::from("product_id,name,stock\n");
    for n in 0..3000 {
        text.push_str(&format!("sku-{n},Item {n},{}\n", n % 50));
    }
    std::fs::write(&csv, text).unwrap();
    let output = app.cli(&["import", csv.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("3000 created"),
        "{}",
        stdout(&output)
    );
    let (_, stats) = app.get(ADMIN_KEY, "/api/v1/stats/inventory").await;
    assert_eq!(stats["total_items"], 3000);
    assert_eq!(
        stats["total_on_hand"],
        (0..3000).map(|n| n % 50).sum::<i64>()
    );
    app.assert_verified();
}

#[tokio::test]
async fn migrate_runs_once() {
    let workspace = Workspace::new();
    let url = workspace.database_url.clone();
    let first = stockd_command(workspace.dir.path())
        .args(["migrate", "--database", &url])
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let migrations = match crate::helpers::backend() {
        crate::helpers::Backend::Sqlite => stock_store::SQLITE_MIGRATIONS.len(),
        crate::helpers::Backend::Postgres => stock_store::POSTGRES_MIGRATIONS.len(),
    };
    assert!(
        stdout(&first).contains(&format!("Applied {migrations} migration")),
        "{}",
        stdout(&first)
    );
    let second = stockd_command(workspace.dir.path())
        .args(["migrate", "--database", &url])
        .output()
        .unwrap();
    assert!(
        stdout(&second).contains("up to date"),
        "{}",
        stdout(&second)
    );
    assert!(!stdout(&second).contains("Applied"));
}

#[tokio::test]
async fn reading_commands_refuse_a_missing_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("typo.db").display());
    for args in [
        &["verify"][..],
        &["keys", "list"][..],
        &["keys", "revoke", "key_x"][..],
    ] {
        let output = stockd_command(dir.path())
            .args(args)
            .args(["--database", &url])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("no database at"),
            "{args:?}"
        );
    }
    assert!(!dir.path().join("typo.db").exists(), "nothing was created");
}

#[tokio::test]
async fn an_unreachable_database_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = stockd_command(dir.path())
        .args([
            "serve",
            "--database",
            "postgres://postgres@127.0.0.1:1/stockd",
        ])
        .env("STOCKD_DATABASE__ACQUIRE_TIMEOUT_MS", "2000")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("connecting to PostgreSQL"), "{stderr}");
    let output = stockd_command(dir.path())
        .args(["serve", "--database", "mysql://root@127.0.0.1/shop"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unsupported database URL"));
}

#[tokio::test]
async fn a_config_file_is_read_and_flags_beat_it() {
    let dir = Workspace::new();
    std::fs::write(
        dir.dir.path().join("config.yaml"),
        "server:\n  port: 1\n  host: 127.0.0.1\ninventory:\n  low_stock_threshold: 42\n",
    )
    .unwrap();
    // --port 0 beats the file's port 1; the threshold comes from the file.
    let app = spawn_with(Spawn {
        dir: Some(dir),
        ..Spawn::default()
    })
    .await;
    let (_, stats) = app.get(ADMIN_KEY, "/api/v1/stats/inventory").await;
    assert_eq!(stats["low_stock_threshold"], 42);
    // The environment beats the file.
    let dir = app.stop();
    let app = spawn_with(Spawn {
        dir: Some(dir),
        extra_env: vec![("STOCKD_INVENTORY__LOW_STOCK_THRESHOLD", "7".into())],
        ..Spawn::default()
    })
    .await;
    let (_, stats) = app.get(ADMIN_KEY, "/api/v1/stats/inventory").await;
    assert_eq!(stats["low_stock_threshold"], 7);
}

#[tokio::test]
async fn demo_fills_an_empty_database_once() {
    let app = spawn_with(Spawn {
        demo: true,
        ..Spawn::default()
    })
    .await;
    let (status, page) = app.get(ADMIN_KEY, "/api/v1/inventory?page_size=1").await;
    assert_eq!(status, StatusCode::OK);
    let total = page["total"].as_u64().unwrap();
    assert!(
        (24..=60).contains(&total),
        "a few dozen sample items, not {total}"
    );
    let (_, report) = app
        .get(ADMIN_KEY, "/api/v1/admin/inventory/low-stock")
        .await;
    assert!(
        report["summary"]["needsAttention"].as_u64().unwrap() > 0,
        "the demo shows low stock too"
    );
    let dir = app.stop();
    let app = spawn_with(Spawn {
        demo: true,
        dir: Some(dir),
        ..Spawn::default()
    })
    .await;
    let (_, page) = app.get(ADMIN_KEY, "/api/v1/inventory?page_size=1").await;
    assert_eq!(page["total"].as_u64().unwrap(), total);
    app.assert_verified();
}

/// The cells of a Markdown table's rows that begin with `first`.
fn table_rows<'a>(report: &'a str, first: &str) -> Vec<Vec<&'a str>> {
    report
        .lines()
        .filter(|line| line.starts_with(first))
        .map(|line| line.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect()
}

/// `stockd bench paths`, cut down to SQLite, the hot item, 2 connections
/// and a fifth of a second a row: every path has its row, no request
/// failed, and every row that writes left the stock accounted for and the
/// store clean. Speed is not looked at.
#[test]
fn bench_paths_has_a_checked_row_for_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = stockd_command(dir.path())
        .args(["bench", "paths", "--variants", "no-op,SQLite"])
        .args(["--scenarios", "hot", "--concurrency", "2"])
        .args(["--duration-s", "0.2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = std::fs::read_to_string(out.join("paths.md")).unwrap();
    let rows = table_rows(&report, "| hot item |");
    let names: Vec<&str> = rows.iter().map(|row| row[1]).collect();
    assert_eq!(
        names,
        [
            "no-op ceiling",
            "stockd on SQLite: read one item",
            "stockd on SQLite: read one item (in memory)",
            "stockd on SQLite: sync-stock",
            "stockd on SQLite: decrease",
            "stockd on SQLite: order + pay",
            "stockd on SQLite: commit",
            "stockd on SQLite: hold",
        ],
        "{report}"
    );
    for row in &rows {
        // conns, errors, and the two checks.
        assert_eq!(row[3], "2", "{report}");
        assert_eq!(row[6], "0", "no request failed: {report}");
        let writes = !matches!(
            row[1],
            "no-op ceiling"
                | "stockd on SQLite: read one item"
                | "stockd on SQLite: read one item (in memory)"
        );
        let checks = if writes { ["yes", "clean"] } else { ["-", "-"] };
        assert_eq!(row[11..], checks, "{report}");
    }
    assert!(report.contains("Where the targets stand"), "{report}");
    assert!(
        report.contains("where sold + left ≠ initial: 0; where verify found a mismatch: 0"),
        "{report}"
    );
}

/// `stockd bench imports`, cut down to SQLite and 300 items: a row for
/// every step, each with a rate both ways and their ratio. The command
/// itself checks every answer, every item's stock after the steps and the
/// store's verify, and fails when one is off. Speed is not looked at.
#[test]
fn bench_imports_has_a_row_for_every_step_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let output = stockd_command(dir.path())
        .args([
            "bench",
            "imports",
            "--sqlite-only",
            "--items",
            "300",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let report = stdout(&output);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = table_rows(&report, "| SQLite |");
    let steps: Vec<&str> = rows.iter().map(|row| row[1]).collect();
    assert_eq!(
        steps,
        [
            "import row, new item",
            "import row, stock changed",
            "supplier's figure",
            "count at a version",
            "change of details",
        ],
        "{report}"
    );
    for row in &rows {
        for rate in &row[2..4] {
            assert!(rate.parse::<f64>().unwrap() > 0.0, "{report}");
        }
        assert!(row[4].ends_with('×'), "{report}");
    }
}
