//! `spawn_app()`: the real `stockd serve` on port 0 against a fresh database.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

pub const ADMIN_KEY: &str = "sk_test_admin_0123456789abcdef";

/// Which database the suite runs against: `STOCKD_TEST_DATABASE=postgres`
/// for PostgreSQL (at `STOCKD_TEST_POSTGRES`, by default the machine's
/// server), SQLite otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("STOCKD_TEST_DATABASE").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

fn postgres_base() -> String {
    std::env::var("STOCKD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

fn psql(sql: &str) {
    let output = Command::new("psql")
        .arg(format!("{}/postgres", postgres_base()))
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A PostgreSQL database of a test's own, dropped when this is.
#[derive(Debug)]
pub struct PgDatabase {
    name: String,
}

impl PgDatabase {
    pub fn create() -> PgDatabase {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("stockd_test_{}_{n}_{nanos}", std::process::id());
        psql(&format!("CREATE DATABASE {name}"));
        PgDatabase { name }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", postgres_base(), self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// A test's directory and database, kept across a restart of the server.
pub struct Workspace {
    pub dir: TempDir,
    pub database_url: String,
    pg: Option<PgDatabase>,
}

impl Workspace {
    /// A fresh directory and a fresh database of the backend under test.
    pub fn new() -> Workspace {
        let dir = tempfile::tempdir().expect("a temp dir");
        match backend() {
            Backend::Sqlite => {
                let database_url = format!("sqlite://{}", dir.path().join("stockd.db").display());
                Workspace {
                    dir,
                    database_url,
                    pg: None,
                }
            }
            Backend::Postgres => {
                let pg = PgDatabase::create();
                Workspace {
                    dir,
                    database_url: pg.url(),
                    pg: Some(pg),
                }
            }
        }
    }
}

pub fn stockd_binary() -> &'static str {
    env!("CARGO_BIN_EXE_stockd")
}

/// A `stockd` command with a clean environment, run in `dir`.
pub fn stockd_command(dir: &Path) -> Command {
    let mut command = Command::new(stockd_binary());
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("STOCKD_") {
            command.env_remove(name);
        }
    }
    command.env("STOCKD_LOG_FORMAT", "json");
    command
}

pub struct TestApp {
    pub base: String,
    pub dir: TempDir,
    pub database_url: String,
    pg: Option<PgDatabase>,
    pub client: reqwest::Client,
    /// Everything the server printed to stdout before it was listening.
    pub banner: String,
    child: Child,
}

pub struct Spawn {
    pub admin_key: Option<&'static str>,
    pub demo: bool,
    pub extra_env: Vec<(&'static str, String)>,
    /// Reuse this workspace's database instead of a fresh one.
    pub dir: Option<Workspace>,
    /// Share this database with another server (a second replica), in a
    /// directory of its own.
    pub shared_database: Option<String>,
}

impl Default for Spawn {
    fn default() -> Self {
        Spawn {
            admin_key: Some(ADMIN_KEY),
            demo: false,
            extra_env: Vec::new(),
            dir: None,
            shared_database: None,
        }
    }
}

impl Spawn {
    /// A fresh app with one configuration key set from the environment.
    pub fn with_env(name: &'static str, value: &str) -> Spawn {
        Spawn::with_vars(&[(name, value)])
    }

    /// A fresh app with these configuration keys set from the environment.
    pub fn with_vars(vars: &[(&'static str, &str)]) -> Spawn {
        Spawn {
            extra_env: vars
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned()))
                .collect(),
            ..Spawn::default()
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Spawn::default()).await
}

pub async fn spawn_with(options: Spawn) -> TestApp {
    let workspace = match (options.dir, options.shared_database) {
        (Some(workspace), _) => workspace,
        (None, Some(database_url)) => Workspace {
            dir: tempfile::tempdir().expect("a temp dir"),
            database_url,
            pg: None,
        },
        (None, None) => Workspace::new(),
    };
    let Workspace {
        dir,
        database_url,
        pg,
    } = workspace;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("stockd.log"))
        .expect("a log file");
    let mut command = stockd_command(dir.path());
    command
        .args(["serve", "--port", "0", "--database", &database_url])
        .env("STOCKD_HOST", "127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .stdin(Stdio::null());
    if options.demo {
        command.arg("--demo");
    }
    if let Some(key) = options.admin_key {
        command.env("STOCKD_ADMIN_KEY", key);
    }
    for (name, value) in &options.extra_env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("stockd starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (base, banner, rest) = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut banner = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("reading stdout") == 0 {
                panic!("stockd exited before listening; it printed:\n{banner}");
            }
            banner.push_str(&line);
            if let Some(rest) = line.strip_prefix("stockd listening on ") {
                let base = rest
                    .split_whitespace()
                    .next()
                    .expect("an address")
                    .to_owned();
                return (base, banner, reader);
            }
        }
    })
    .await
    .expect("reading the banner");
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = rest.into_inner().read_to_end(&mut sink);
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("a client");
    TestApp {
        base,
        dir,
        database_url,
        pg,
        client,
        banner,
        child,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("stockd.log")
    }

    /// Asks the server to stop, as a service manager does (SIGTERM).
    pub fn signal_stop(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM: {status:?}");
    }

    /// Waits for the server to exit by itself, at most `bound`.
    pub async fn wait_for_exit(&mut self, bound: std::time::Duration) -> std::process::ExitStatus {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("the server's status") {
                return status;
            }
            assert!(
                started.elapsed() < bound,
                "the server did not exit within {bound:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Stops the server (SIGKILL) and hands back its directory and database.
    pub fn stop(mut self) -> Workspace {
        let _ = self.child.kill();
        let _ = self.child.wait();
        Workspace {
            dir: std::mem::replace(&mut self.dir, tempfile::tempdir().expect("a temp dir")),
            database_url: self.database_url.clone(),
            pg: self.pg.take(),
        }
    }

    /// Runs a statement on the database directly, as someone with a shell would.
    pub async fn execute_sql(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match backend() {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.database_url).await?;
                Ok(sqlx::query(sql).execute(&pool).await?.rows_affected())
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.database_url).await?;
                Ok(sqlx::query(sql).execute(&pool).await?.rows_affected())
            }
        }
    }

    /// Runs a query against this app's database and decodes its rows.
    pub async fn fetch_rows<T>(&self, sql: &str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        match backend() {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.database_url).await.unwrap();
                sqlx::query_as(sql).fetch_all(&pool).await.unwrap()
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.database_url).await.unwrap();
                sqlx::query_as(sql).fetch_all(&pool).await.unwrap()
            }
        }
    }

    /// Runs a query whose rows are (text, integer) pairs.
    pub async fn fetch_pairs(&self, sql: &str) -> Vec<(String, i64)> {
        self.fetch_rows(sql).await
    }

    /// Runs a stockd command against this app's database.
    pub fn cli(&self, args: &[&str]) -> Output {
        stockd_command(self.dir.path())
            .args(args)
            .args(["--database", &self.database_url])
            .output()
            .expect("stockd runs")
    }

    /// Creates a key with `role` and returns its secret.
    pub fn key(&self, role: &str) -> String {
        let output = self.cli(&[
            "keys",
            "create",
            "--role",
            role,
            "--name",
            &format!("{role} key"),
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).expect("utf-8");
        stdout
            .lines()
            .find(|l| l.starts_with("sk_"))
            .expect("a secret")
            .trim()
            .to_owned()
    }

    /// Asserts `stockd verify` passes.
    pub fn assert_verified(&self) {
        let output = self.cli(&["verify"]);
        assert!(
            output.status.success(),
            "stockd verify failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub async fn request(
        &self,
        method: Method,
        key: Option<&str>,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the request is answered");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        self.request(Method::GET, Some(key), path, None).await
    }

    pub async fn post(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, Some(key), path, Some(&body))
            .await
    }

    pub async fn put(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::PUT, Some(key), path, Some(&body))
            .await
    }

    /// Creates an item with opening stock, as the admin.
    pub async fn create_item(&self, id: &str, stock: i64) -> Value {
        let (status, body) = self
            .post(
                ADMIN_KEY,
                "/api/v1/inventory",
                json!({"product_id": id, "name": format!("Item {id}"), "stock": stock}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn available(&self, id: &str) -> i64 {
        let (status, body) = self
            .get(ADMIN_KEY, &format!("/api/v1/inventory/{id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["available"].as_i64().expect("available is a number")
    }

    /// What `/metrics` shows now (it needs no key).
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn ledger_total(&self) -> u64 {
        let (status, body) = self.get(ADMIN_KEY, "/api/v1/logs?page_size=1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["total"].as_u64().expect("a total")
    }
}

/// The error code of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}
