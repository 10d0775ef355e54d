//! Where the database and Redis are: `database.url` or `database.driver`
//! with its section; `redis.url` or `redis.host` with its port, db and
//! password.

use std::path::PathBuf;

use anyhow::{bail, Context};

use super::schema::{Config, PostgresConfig, RedisConfig};

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Sqlite(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

impl RedisConfig {
    /// Where Redis is, if the cache is on.
    pub fn address(&self) -> anyhow::Result<Option<stock_redis::RedisAddress>> {
        if let Some(url) = &self.url {
            return stock_redis::RedisAddress::parse(url)
                .context("redis.url")
                .map(Some);
        }
        self.host
            .as_ref()
            .map(|host| {
                stock_redis::RedisAddress::from_parts(
                    host,
                    self.port,
                    i64::from(self.db),
                    self.password.as_deref(),
                )
                .context("redis")
            })
            .transpose()
    }
}

impl Config {
    /// The database to open, from `database.url` or `database.driver`.
    pub fn database_target(&self) -> anyhow::Result<DatabaseTarget> {
        match &self.database.url {
            Some(url) => parse_database_url(url),
            None => match self.database.driver.as_str() {
                "sqlite" => Ok(DatabaseTarget::Sqlite(self.database.sqlite.path.clone())),
                "postgres" | "postgresql" => match &self.database.postgres {
                    Some(postgres) => Ok(DatabaseTarget::Postgres(postgres.url())),
                    None => bail!("database.driver is postgres but there is no database.postgres section (or database.url)"),
                },
                other => bail!("database.driver must be sqlite or postgres, not {other:?}"),
            },
        }
    }
}

impl PostgresConfig {
    fn url(&self) -> String {
        let password = if self.password.is_empty() {
            String::new()
        } else {
            format!(":{}", escape(&self.password))
        };
        format!(
            "postgres://{}{password}@{}:{}/{}",
            escape(&self.user),
            self.host,
            self.port,
            escape(&self.dbname)
        )
    }
}

/// Percent-encodes what may not stand as it is in a URL's user, password or path.
fn escape(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub fn parse_database_url(url: &str) -> anyhow::Result<DatabaseTarget> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            bail!("the database URL {url:?} names no file; use sqlite://PATH");
        }
        return Ok(DatabaseTarget::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(DatabaseTarget::Postgres(url.to_owned()));
    }
    bail!(
        "unsupported database URL {url:?}; use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE"
    )
}
