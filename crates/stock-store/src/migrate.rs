//! Schema migrations, embedded in the binary and applied in order.

use anyhow::Context;
use sqlx::SqliteConnection;

/// The SQLite migrations: (version, name, SQL). Append only; never edit one
/// that has shipped.
pub const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "core",
        include_str!("../migrations/sqlite/0001_core.sql"),
    ),
    (
        2,
        "holds",
        include_str!("../migrations/sqlite/0002_holds.sql"),
    ),
    (
        3,
        "alerts",
        include_str!("../migrations/sqlite/0003_alerts.sql"),
    ),
    (
        4,
        "events",
        include_str!("../migrations/sqlite/0004_events.sql"),
    ),
    (
        5,
        "webhooks",
        include_str!("../migrations/sqlite/0005_webhooks.sql"),
    ),
    (
        6,
        "health",
        include_str!("../migrations/sqlite/0006_health.sql"),
    ),
    (
        7,
        "channels",
        include_str!("../migrations/sqlite/0007_channels.sql"),
    ),
    (
        8,
        "sinks",
        include_str!("../migrations/sqlite/0008_sinks.sql"),
    ),
    (
        9,
        "users",
        include_str!("../migrations/sqlite/0009_users.sql"),
    ),
    (
        10,
        "suppliers",
        include_str!("../migrations/sqlite/0010_suppliers.sql"),
    ),
];

/// Applies every migration newer than the database; returns how many ran.
pub async fn run_sqlite(conn: &mut SqliteConnection) -> anyhow::Result<usize> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY NOT NULL,
            name TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )
    .execute(&mut *conn)
    .await
    .context("creating schema_migrations")?;
    let current = schema_version(conn).await?;
    let newest = SQLITE_MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    anyhow::ensure!(
        current <= newest,
        "the database is at schema version {current}, newer than this stockd knows ({newest}); \
         run a newer stockd"
    );
    let mut applied = 0;
    for (version, name, sql) in SQLITE_MIGRATIONS {
        if *version <= current {
            continue;
        }
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        // Another process may have applied it since we looked.
        if schema_version(conn).await? >= *version {
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            continue;
        }
        let result = apply_one(conn, *version, name, sql).await;
        match result {
            Ok(()) => {
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                applied += 1;
                tracing::info!(version, name, "applied migration");
            }
            Err(error) => {
                sqlx::query("ROLLBACK").execute(&mut *conn).await.ok();
                return Err(error).with_context(|| format!("migration {version} ({name}) failed"));
            }
        }
    }
    Ok(applied)
}

async fn schema_version(conn: &mut SqliteConnection) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await
        .context("reading the schema version")
}

async fn apply_one(
    conn: &mut SqliteConnection,
    version: i64,
    name: &str,
    sql: &'static str,
) -> Result<(), sqlx::Error> {
    sqlx::Executor::execute(&mut *conn, sql).await?;
    sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
        .bind(version)
        .bind(name)
        .bind(crate::now_ms())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The PostgreSQL migrations: the SQLite ones, then what only PostgreSQL needs.
pub const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "core",
        include_str!("../migrations/postgres/0001_core.sql"),
    ),
    (
        2,
        "holds",
        include_str!("../migrations/postgres/0002_holds.sql"),
    ),
    (
        3,
        "ledger_checks",
        include_str!("../migrations/postgres/0003_ledger_checks.sql"),
    ),
    (
        4,
        "alerts",
        include_str!("../migrations/postgres/0004_alerts.sql"),
    ),
    (
        5,
        "events",
        include_str!("../migrations/postgres/0005_events.sql"),
    ),
    (
        6,
        "webhooks",
        include_str!("../migrations/postgres/0006_webhooks.sql"),
    ),
    (
        7,
        "health",
        include_str!("../migrations/postgres/0007_health.sql"),
    ),
    (
        8,
        "channels",
        include_str!("../migrations/postgres/0008_channels.sql"),
    ),
    (
        9,
        "sinks",
        include_str!("../migrations/postgres/0009_sinks.sql"),
    ),
    (
        10,
        "users",
        include_str!("../migrations/postgres/0010_users.sql"),
    ),
    (
        11,
        "suppliers",
        include_str!("../migrations/postgres/0011_suppliers.sql"),
    ),
    (
        12,
        "side_by_side",
        include_str!("../migrations/postgres/0012_side_by_side.sql"),
    ),
];

/// Any constant will do, as long as it is stockd's alone: several replicas
/// starting at once take turns on it.
const MIGRATION_LOCK: i64 = 0x5374_6f63_6b64; // "Stockd"

/// Applies every migration newer than the database, all in one transaction
/// under an advisory lock; returns how many ran.
pub async fn run_postgres(conn: &mut sqlx::PgConnection) -> anyhow::Result<usize> {
    sqlx::query("BEGIN").execute(&mut *conn).await?;
    match migrate_postgres_locked(conn).await {
        Ok(applied) => {
            sqlx::query("COMMIT")
                .execute(&mut *conn)
                .await
                .context("committing migrations")?;
            Ok(applied)
        }
        Err(error) => {
            sqlx::query("ROLLBACK").execute(&mut *conn).await.ok();
            Err(error)
        }
    }
}

async fn migrate_postgres_locked(conn: &mut sqlx::PgConnection) -> anyhow::Result<usize> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
    .execute(&mut *conn)
    .await
    .context("creating schema_migrations")?;
    let current: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM schema_migrations",
    )
    .fetch_one(&mut *conn)
    .await
    .context("reading the schema version")?;
    let newest = POSTGRES_MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    anyhow::ensure!(
        current <= newest,
        "the database is at schema version {current}, newer than this stockd knows ({newest}); \
         run a newer stockd"
    );
    let mut applied = 0;
    for (version, name, sql) in POSTGRES_MIGRATIONS {
        if *version <= current {
            continue;
        }
        sqlx::Executor::execute(&mut *conn, *sql)
            .await
            .with_context(|| format!("migration {version} ({name}) failed"))?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(version)
        .bind(name)
        .bind(crate::now_ms())
        .execute(&mut *conn)
        .await?;
        applied += 1;
        tracing::info!(version, name, "applied migration");
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `run_*` relies on: versions count up from 1, one per migration,
    /// so a new one appended with a wrong number fails here, not on a
    /// database.
    #[test]
    fn versions_count_up_from_one() {
        for migrations in [SQLITE_MIGRATIONS, POSTGRES_MIGRATIONS] {
            let versions: Vec<i64> = migrations.iter().map(|m| m.0).collect();
            let expected: Vec<i64> = (1..=migrations.len() as i64).collect();
            assert_eq!(versions, expected);
        }
    }
}
