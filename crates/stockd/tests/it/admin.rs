//! The admin console in a real browser: headless Chromium driven through
//! chromedriver (WebDriver, by the thirtyfour client), on a phone-sized
//! window. Screenshots of each page go to `target/tmp/admin-screenshots/`.

use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use thirtyfour::common::capabilities::chromium::ChromiumLikeCapabilities as _;
use thirtyfour::prelude::ElementQueryable as _;
use thirtyfour::stringmatch::StringMatch;
use thirtyfour::{By, DesiredCapabilities, WebDriver, WebElement};

use crate::cache::{cache_up, Keys, MACHINE_REDIS};
use crate::helpers::{spawn_app, spawn_with, Spawn, TestApp, ADMIN_KEY};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long finding an element waits for it (a submitted form's next page),
/// and how long a text is waited for.
const WAIT: Duration = Duration::from_secs(10);
/// How often a waited-for text is looked at again.
const WAIT_INTERVAL: Duration = Duration::from_millis(50);

struct Browser {
    driver: WebDriver,
    chromedriver: Child,
    shots: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        assert!(
            std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists(),
            "Chromium and chromedriver are needed (Debian: chromium, chromium-driver; scripts/test installs them)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // In a process group of its own, with the browsers it starts: a
        // test that fails leaves none behind (see Drop).
        let mut chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let stdout = chromedriver.stdout.take().expect("piped stdout");
        // chromedriver says when it listens; its output is drained after that.
        tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut said = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).expect("reading chromedriver") == 0 {
                    panic!("chromedriver exited before it was ready; it said:\n{said}");
                }
                said.push_str(&line);
                if line.contains("started successfully") {
                    break;
                }
            }
            std::thread::spawn(move || {
                let _ = reader.read_to_end(&mut Vec::new());
            });
        })
        .await
        .expect("chromedriver's banner");
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = DesiredCapabilities::chrome();
        capabilities.set_binary(CHROMIUM).unwrap();
        let user_data_dir = format!("--user-data-dir={}", profile.path().display());
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=390,844",
            &user_data_dir,
        ] {
            capabilities.add_arg(arg).unwrap();
        }
        let driver = WebDriver::new(format!("http://127.0.0.1:{port}"), capabilities)
            .await
            .expect("a WebDriver session");
        driver.set_implicit_wait_timeout(WAIT).await.unwrap();
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("admin-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            driver,
            chromedriver,
            shots,
            _profile: profile,
        }
    }

    async fn goto(&self, url: &str) {
        self.driver.goto(url).await.unwrap();
    }

    async fn find(&self, css: &str) -> WebElement {
        self.driver
            .find(By::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no element {css}: {error}"))
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.find(css).await.send_keys(text).await.unwrap();
    }

    /// Clears an input and types `text` into it.
    async fn replace_text(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Waits until the element's text contains `wanted` (the page after a
    /// form may still be loading), and returns the text.
    async fn wait_text(&self, css: &str, wanted: &str) -> String {
        let found = self
            .driver
            .query(By::Css(css))
            .ignore_errors(true)
            .with_text(StringMatch::new(wanted).partial())
            .wait(WAIT, WAIT_INTERVAL)
            .first()
            .await
            .unwrap_or_else(|error| panic!("{css} never said {wanted:?}: {error}"));
        found.text().await.unwrap()
    }

    /// Waits until an element matches `css`, beyond finding's own wait.
    async fn wait_for(&self, css: &str) {
        self.driver
            .query(By::Css(css))
            .wait(WAIT, WAIT_INTERVAL)
            .first()
            .await
            .unwrap_or_else(|error| panic!("nothing matched {css}: {error}"));
    }

    /// How often the open page has swapped in a fresh copy of itself.
    async fn refreshed(&self) -> u64 {
        let refreshed = self
            .script("return document.body.dataset.refreshed || '0'")
            .await;
        refreshed.as_str().unwrap().parse().unwrap()
    }

    async fn source(&self) -> String {
        self.driver.source().await.unwrap()
    }

    async fn url(&self) -> String {
        self.driver.current_url().await.unwrap().to_string()
    }

    /// What a script returns, run in the page.
    async fn script(&self, script: &str) -> Value {
        self.driver
            .execute(script, Vec::new())
            .await
            .unwrap()
            .json()
            .clone()
    }

    async fn screenshot(&self, name: &str) {
        let png = self.driver.screenshot_as_png().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    async fn quit(self) {
        self.driver.clone().quit().await.unwrap();
    }
}

impl Drop for Browser {
    /// Ends chromedriver and every browser it started, also after a failure.
    fn drop(&mut self) {
        let group = format!("-{}", self.chromedriver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.chromedriver.wait();
    }
}

async fn ledger_reasons(app: &TestApp, item: &str) -> Vec<(String, i64, String)> {
    let (status, body) = app
        .get(ADMIN_KEY, &format!("/api/v1/inventory/{item}/logs"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["logs"]
        .as_array()
        .or_else(|| body["entries"].as_array())
        .unwrap_or_else(|| panic!("ledger rows in {body}"))
        .iter()
        .map(|row| {
            (
                row["reason"].as_str().unwrap_or_default().to_owned(),
                row["delta"].as_i64().unwrap(),
                row["operator"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn sign_in_adjust_fix_simulate_and_revoke_in_a_real_browser() {
    let keys = Keys::new(MACHINE_REDIS);
    let app = spawn_with(Spawn {
        extra_env: keys.env(),
        ..Spawn::default()
    })
    .await;
    cache_up(&app).await;
    app.create_item("tea", 10).await;
    app.create_item("cup", 4).await;
    let browser = Browser::start().await;

    // Nothing is reachable without signing in.
    browser.goto(&app.url("/admin/items/tea")).await;
    assert!(browser.url().await.ends_with("/admin/login"));
    browser.screenshot("login").await;
    browser.type_into("#key", "sk_not_a_key_at_all_0000").await;
    browser.click("#sign-in").await;
    assert!(browser
        .text("#error")
        .await
        .contains("not a live admin key"));
    browser.type_into("#key", ADMIN_KEY).await;
    browser.click("#sign-in").await;
    browser.wait_text("#items-total b", "2").await;
    assert!(browser.url().await.ends_with("/admin"));
    browser.screenshot("dashboard").await;

    browser.goto(&app.url("/admin/items?q=te")).await;
    assert!(browser.text("#items").await.contains("tea"));
    browser.screenshot("items").await;

    // An adjustment shows the ledger row it wrote.
    browser.goto(&app.url("/admin/items/tea")).await;
    browser.type_into("#delta", "-3").await;
    browser
        .type_into("#reason", "broken in the stockroom")
        .await;
    browser.click("#apply").await;
    let done = browser.text("#done").await;
    let ledger_id: i64 = done.rsplit('#').next().unwrap().trim().parse().unwrap();
    let row = browser.text(&format!("#ledger-{ledger_id}")).await;
    assert!(
        row.contains("-3") && row.contains("broken in the stockroom"),
        "{row}"
    );
    assert_eq!(browser.text("#item-available").await, "7");
    browser.screenshot("item").await;
    let rows = ledger_reasons(&app, "tea").await;
    assert!(
        rows.iter()
            .any(|(reason, delta, _)| reason == "broken in the stockroom" && *delta == -3),
        "{rows:?}"
    );
    // A refusal is shown and changes nothing.
    browser.type_into("#delta", "-100").await;
    browser.type_into("#reason", "too many").await;
    browser.click("#apply").await;
    browser.wait_text("#error", "INSUFFICIENT_STOCK").await;
    assert_eq!(browser.text("#item-available").await, "7");

    // A diff found by a check is fixed from its page.
    keys.set("tea", 25).await;
    browser.goto(&app.url("/admin/health")).await;
    browser.click("#trigger").await;
    browser.wait_text("#done", "1 / 2").await; // one diff of two items
    let diffs = browser.text("#diffs").await;
    assert!(diffs.contains("tea") && diffs.contains("25"), "{diffs}");
    browser.screenshot("health").await;
    let source = browser.source().await;
    let diff_id = source
        .split("id=\"use-db-")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a use-db button")
        .to_owned();
    browser.click(&format!("#use-db-{diff_id}")).await;
    browser.wait_text("#done", "use_db").await;
    assert_eq!(
        keys.get("tea").await,
        Some(7),
        "Redis rewritten from the database"
    );
    assert!(!browser
        .source()
        .await
        .contains(&format!("id=\"diff-{diff_id}\"")));

    // Simulate an order: place it, watch the hold, pay it, watch the deduction.
    browser.goto(&app.url("/admin/simulate")).await;
    browser.screenshot("simulate").await;
    browser.click("#item0 option[value='cup']").await;
    browser.replace_text("#quantity0", "4").await;
    browser.click("#place").await;
    browser.wait_text("#order-status", "pending").await;
    let level = browser.text("#level-cup").await;
    assert!(
        level.ends_with("4 4 0"),
        "on hand 4, reserved 4, available 0: {level}"
    );
    browser.click("#pay").await;
    browser.wait_text("#order-status", "paid").await;
    let level = browser.text("#level-cup").await;
    assert!(
        level.ends_with("0 0 0"),
        "on hand 0, reserved 0, available 0: {level}"
    );
    browser.screenshot("simulate-paid").await;
    browser.goto(&app.url("/admin/orders")).await;
    assert!(browser.text("#orders").await.contains("paid"));
    browser.screenshot("orders").await;

    // The hold took cup out of stock: the alert is acknowledged here.
    browser.goto(&app.url("/admin/alerts")).await;
    let alerts = browser.text("#alerts").await;
    assert!(alerts.contains("out_of_stock"), "{alerts}");
    browser.screenshot("alerts").await;
    let source = browser.source().await;
    let alert_id = source
        .split("id=\"ack-")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an acknowledge button")
        .to_owned();
    browser.click(&format!("#ack-{alert_id}")).await;
    browser.wait_text("#done", "acknowledged").await;
    let (_, alert) = app
        .get(ADMIN_KEY, "/api/v1/alerts?status=acknowledged")
        .await;
    assert_eq!(alert["alerts"][0]["id"].to_string(), alert_id, "{alert}");

    // A key is shown once, works, and stops working once revoked.
    browser.goto(&app.url("/admin/keys")).await;
    browser.type_into("#key-name", "till 2").await;
    browser.click("#create-key").await;
    let secret = browser.text("#new-secret").await;
    let key_id = browser.text("#new-key-id").await;
    let (status, _) = app.get(&secret, "/api/v1/inventory/tea").await;
    assert_eq!(status, StatusCode::OK);
    browser.screenshot("keys").await;
    browser.click(&format!("#revoke-{key_id}")).await;
    browser
        .wait_text(&format!("#key-{key_id}"), "revoked")
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // The API trusts a found key for server.key_cache_ms (1 s).
        let (status, _) = app.get(&secret, "/api/v1/inventory/tea").await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(Instant::now() < deadline, "the revoked key still works");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Both languages.
    browser.click("#lang").await;
    browser.wait_text("nav", "概览").await;
    browser.screenshot("dashboard-zh").await;
    browser.click("#lang").await;
    browser.wait_text("nav", "Dashboard").await;

    browser.click("#sign-out").await;
    browser.wait_text("#sign-in", "Sign in").await;
    browser.goto(&app.url("/admin")).await;
    assert!(browser.url().await.ends_with("/admin/login"));
    browser.quit().await;
}

/// What stands in `text` between the first `before` and the next `after`.
fn between<'a>(text: &'a str, before: &str, after: char) -> &'a str {
    text.split_once(before)
        .and_then(|(_, rest)| rest.split(after).next())
        .unwrap_or_default()
}

/// A GET with these headers.
async fn get_with(
    client: &reqwest::Client,
    url: String,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The `name=value` of a response's first `Set-Cookie`.
fn set_cookie(response: &reqwest::Response) -> String {
    let header = response.headers()["set-cookie"].to_str().unwrap();
    header.split(';').next().unwrap().to_owned()
}

/// Signs in as a browser would: the login page's token cookie and field, then the form.
async fn console_sign_in(
    client: &reqwest::Client,
    app: &TestApp,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = client.get(app.url("/admin/login")).send().await.unwrap();
    let cookie = set_cookie(&page);
    let html = page.text().await.unwrap();
    let token = between(&html, "name=\"login_token\" value=\"", '"').to_owned();
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    form.push(("login_token", &token));
    client
        .post(app.url("/admin/login"))
        .header("cookie", cookie)
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// `stockd users create`, the password on standard input.
fn create_console_user(app: &TestApp, name: &str, password: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = crate::helpers::stockd_command(app.dir.path())
        .args(["users", "create", "--name", name])
        .args(["--database", &app.database_url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn the_session_cookie_is_strict_and_forms_need_their_token() {
    let app = spawn_app().await;
    app.create_item("tea", 10).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/admin/login");
    // Another site's sign-in form has no login token: refused.
    let forged = client
        .post(app.url("/admin/login"))
        .form(&[("key", ADMIN_KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(!forged
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("stockd_admin=")));
    let service = app.key("service");
    let refused = console_sign_in(&client, &app, &[("key", service.as_str())]).await;
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "only admin keys sign in"
    );
    let signed_in = console_sign_in(&client, &app, &[("key", ADMIN_KEY)]).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = get_with(
        &client,
        app.url("/admin/items/tea"),
        &[("cookie", &session)],
    )
    .await;
    assert_eq!(page.status(), StatusCode::OK);
    // A form without its token (another site's, say) changes nothing.
    let forged = client
        .post(app.url("/admin/items/tea/adjust"))
        .header("cookie", &session)
        .form(&[("delta", "-5"), ("reason", "forged"), ("csrf", "0123")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (_, item) = app.get(ADMIN_KEY, "/api/v1/inventory/tea").await;
    assert_eq!(item["available"], 10);
    // A console user with a password, made on the command line.
    assert!(
        !create_console_user(&app, "ana", "short").status.success(),
        "passwords of 12 characters or more"
    );
    let made = create_console_user(&app, "ana", "a long enough passphrase");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let stored = app
        .fetch_pairs("SELECT password_hash, created_at FROM admin_users WHERE name = 'ana'")
        .await;
    assert!(
        stored[0].0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored:?}"
    );
    let wrong = console_sign_in(
        &client,
        &app,
        &[("user", "ana"), ("password", "a long enough passphrasE")],
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let ana = console_sign_in(
        &client,
        &app,
        &[("user", "ana"), ("password", "a long enough passphrase")],
    )
    .await;
    assert_eq!(ana.status(), StatusCode::SEE_OTHER);
    let ana_session = set_cookie(&ana);
    let page = get_with(
        &client,
        app.url("/admin/items/tea"),
        &[("cookie", &ana_session)],
    )
    .await
    .text()
    .await
    .unwrap();
    let csrf = between(&page, "name=\"csrf\" value=\"", '"').to_owned();
    let adjusted = client
        .post(app.url("/admin/items/tea/adjust"))
        .header("cookie", &ana_session)
        .form(&[
            ("delta", "-1"),
            ("reason", "by ana"),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(adjusted.status(), StatusCode::SEE_OTHER);
    let (_, ledger) = app.get(ADMIN_KEY, "/api/v1/inventory/tea/logs").await;
    assert!(ledger.to_string().contains("user:ana"), "{ledger}");

    // A tampered session is no session.
    let tampered = session.replace(".", ".0");
    let response = get_with(&client, app.url("/admin"), &[("cookie", &tampered)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn stock_actions_each_show_the_ledger_rows_they_wrote() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/locations",
            json!({"id": "north", "name": "North warehouse"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let browser = Browser::start().await;
    browser.goto(&app.url("/admin/login")).await;
    browser.type_into("#key", ADMIN_KEY).await;
    browser.click("#sign-in").await;
    browser.wait_text("#items-total b", "0").await;

    // Create an item with opening stock.
    browser.goto(&app.url("/admin/items")).await;
    browser.type_into("#new-id", "mug").await;
    browser.type_into("#new-name", "Blue mug").await;
    browser.replace_text("#new-stock", "12").await;
    browser.click("#create-item").await;
    browser.wait_text("#done", "ledger #").await;
    assert_eq!(browser.text("#item-available").await, "12");

    // Filters: mug is active and in stock.
    browser
        .goto(&app.url("/admin/items?status=active&stock="))
        .await;
    browser.wait_text("#items", "mug").await;
    browser.goto(&app.url("/admin/items?stock=out")).await;
    assert!(!browser.text("#items").await.contains("mug"));
    browser.goto(&app.url("/admin/items/mug")).await;

    // Set after a count, against the version shown.
    browser.type_into("#count-on-hand", "10").await;
    browser.type_into("#count-reason", "yearly count").await;
    browser.click("#count").await;
    let done = browser.wait_text("#done", "ledger #").await;
    let id = done.rsplit('#').next().unwrap().trim().to_owned();
    let row = browser.text(&format!("#ledger-{id}")).await;
    assert!(
        row.contains("set") && row.contains("-2") && row.contains("yearly count"),
        "{row}"
    );
    // The same version again is stale: refused, nothing written.
    browser.type_into("#count-on-hand", "3").await;
    browser.replace_text("#count-version", "1").await;
    browser.click("#count").await;
    browser.wait_text("#error", "VERSION_CONFLICT").await;
    assert_eq!(browser.text("#item-available").await, "10");

    // Transfer to the second warehouse: two rows.
    browser
        .click("#transfer-target option[value='north']")
        .await;
    browser.type_into("#transfer-quantity", "4").await;
    browser.click("#transfer").await;
    let done = browser.wait_text("#done", "ledger #").await;
    assert_eq!(done.matches('#').count(), 2, "{done}");
    let levels = browser.text("#levels").await;
    assert!(levels.contains("north 4 0 4"), "{levels}");
    assert!(levels.contains("default 6 0 6"), "{levels}");

    // Edit details: no ledger row.
    browser.replace_text("#edit-name", "Navy mug").await;
    browser.click("#save").await;
    browser.wait_text("#done", "saved").await;
    assert!(browser.text("h1").await.contains("Navy mug"));
    browser.screenshot("item-actions").await;
    let (_, item) = app.get(ADMIN_KEY, "/api/v1/inventory/mug").await;
    assert_eq!(
        (item["name"].as_str(), item["on_hand"].as_i64()),
        (Some("Navy mug"), Some(10))
    );
    let verify = app.cli(&["verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    browser.quit().await;
}

#[tokio::test]
async fn open_pages_follow_changes_and_channels_sync_from_the_console() {
    let app = spawn_app().await;
    app.create_item("tea", 10).await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/admin/login")).await;
    browser.type_into("#key", ADMIN_KEY).await;
    browser.click("#sign-in").await;
    browser.wait_text("#items-total b", "1").await;
    browser.find("#activity-chart").await;

    // A sale through the API shows on the open page without a reload.
    browser.goto(&app.url("/admin/items/tea")).await;
    browser.find("#stock-chart").await;
    let (status, _) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": "tea", "delta": -1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    browser.wait_text("#item-available", "9").await;
    assert_eq!(
        browser.refreshed().await,
        1,
        "the page was refreshed in place, not reloaded"
    );
    // What is typed into a form and not sent yet is kept: the page holds the
    // change back, also once the field has lost the focus.
    browser.type_into("#delta", "-2").await;
    browser.type_into("#reason", "counted twice").await;
    browser.click("h1").await;
    let (status, _) = app
        .post(
            ADMIN_KEY,
            "/api/v1/sync-stock",
            json!({"product_id": "tea", "delta": -1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    browser.wait_for("body[data-held='1']").await;
    assert_eq!(browser.refreshed().await, 1);
    assert_eq!(
        browser
            .script("return document.getElementById('delta').value")
            .await,
        json!("-2")
    );
    assert_eq!(browser.text("#item-available").await, "9", "not swapped in");
    browser.click("#apply").await;
    browser.wait_text("#item-available", "6").await;

    // Channels: link, sync, and see published against sellable.
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/channels/mini/listings",
            json!({"listing_id": "t1", "product_id": "tea", "buffer": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    browser.goto(&app.url("/admin/channels")).await;
    browser.click("#channel-mini").await;
    browser.wait_text("#listings", "t1").await;
    browser.click("#sync").await;
    browser.wait_text("#done", "synced 1").await;
    let row = browser.text("#listing-t1").await;
    assert!(
        row.contains("tea 2 4 4"),
        "buffer 2, published 4, sellable 4: {row}"
    );
    browser.screenshot("channels").await;

    // An order's hold, released from its page.
    let (status, body) = app
        .post(
            ADMIN_KEY,
            "/api/v1/orders",
            json!({"order_id": "web-1", "items": [{"product_id": "tea", "quantity": 2}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    browser.goto(&app.url("/admin/holds?status=active")).await;
    browser.wait_text("#holds", "web-1").await;
    browser.screenshot("holds").await;
    browser.goto(&app.url("/admin/orders/web-1")).await;
    browser.screenshot("order").await;
    browser.click("#hold-link").await;
    browser.wait_text("#hold-status", "active").await;
    browser.click("#release").await;
    browser.wait_text("#hold-status", "released").await;
    let (_, item) = app.get(ADMIN_KEY, "/api/v1/inventory/tea").await;
    assert_eq!(item["reserved"], 0, "{item}");
    browser.quit().await;
}

#[tokio::test]
async fn suppliers_sync_and_link_from_the_console() {
    // --demo runs the mock supplier `mock` with three items linked to it.
    let app = spawn_with(Spawn {
        demo: true,
        ..Spawn::default()
    })
    .await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/admin/login")).await;
    browser.type_into("#key", ADMIN_KEY).await;
    browser.click("#sign-in").await;
    browser.find("#activity-chart").await;
    browser.goto(&app.url("/admin/suppliers")).await;
    let row = browser.wait_text("#suppliers", "supplier-mock").await;
    assert!(row.contains("closed"), "{row}");
    browser.click("#supplier-mock").await;
    browser.wait_text("#links", "GA0SZC00U").await;

    // A sync for another region, from the page: the ledger says who did it.
    browser.replace_text("#sync-county", "440305").await;
    browser.click("#sync").await;
    let said = browser.wait_text("#done", "updated").await;
    assert!(!said.contains("updated 0"), "{said}");
    browser.wait_text("#link-GA0SZC00U", "440305").await;
    let (_, logs) = app.get(ADMIN_KEY, "/api/v1/inventory/GA0SZC00U/logs").await;
    let last = &logs["entries"][0];
    assert_eq!(last["operation"], "sync", "{logs}");
    assert!(
        last["operator"].as_str().unwrap().starts_with("key_"),
        "the signed-in key: {logs}"
    );
    assert!(
        last["reason"].as_str().unwrap().contains("440305"),
        "{logs}"
    );

    // A bad region is refused and changes nothing.
    let ledger = app.ledger_total().await;
    browser.replace_text("#sync-county", "4403").await;
    browser.click("#sync").await;
    browser.wait_text("#error", "county_code").await;
    assert_eq!(app.ledger_total().await, ledger);

    // Link another item to a supplier product: not to one that is taken.
    // The new item is a change the open page follows: once it has, its
    // forms are the ones to fill.
    let refreshed = browser.refreshed().await;
    app.create_item("washer", 0).await;
    browser
        .wait_for(&format!("body[data-refreshed='{}']", refreshed + 1))
        .await;
    browser.type_into("#link-item", "washer").await;
    browser.type_into("#link-code", "GA0SZB00K").await;
    browser.click("#link").await;
    browser.wait_text("#error", "already linked").await;
    browser.replace_text("#link-item", "washer").await;
    browser.replace_text("#link-code", "CEAB7T00A").await;
    browser.click("#link").await;
    browser.wait_text("#links", "washer").await;
    let (status, link) = app
        .get(ADMIN_KEY, "/api/v1/inventory/washer/supplier")
        .await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert_eq!(link["product_code"], "CEAB7T00A");
    assert_eq!(link["check_before_order"], true);
    browser.screenshot("supplier").await;
    browser.quit().await;
    app.assert_verified();
}

/// The sign-in page's `<html lang>` and its heading, as a browser with these
/// headers gets them.
async fn sign_in_page_language(app: &TestApp, accept_language: &str, cookie: &str) -> String {
    let headers = [("accept-language", accept_language), ("cookie", cookie)];
    let html = get_with(&reqwest::Client::new(), app.url("/admin/login"), &headers)
        .await
        .text()
        .await
        .unwrap();
    let lang = between(&html, "<html lang=\"", '"');
    let heading = between(&html, "<h1>", '<');
    format!("{lang} {heading}")
}

#[tokio::test]
async fn the_console_speaks_the_browsers_language_unless_switched() {
    let app = spawn_app().await;
    let chinese_first = "zh-CN,zh;q=0.9,en;q=0.8";
    let check = |accept_language: &'static str, cookie: &'static str, expect: &'static str| {
        let app = &app;
        async move {
            assert_eq!(
                sign_in_page_language(app, accept_language, cookie).await,
                expect,
                "Accept-Language {accept_language:?}, cookie {cookie:?}"
            );
        }
    };
    check(chinese_first, "", "zh-CN 登录").await;
    check("en-US", "", "en Sign in").await;
    check("fr, zh-TW;q=0.5", "", "zh-CN 登录").await;
    check("de", "", "en Sign in").await;
    // The switch's cookie wins over the browser.
    check(chinese_first, "stockd_lang=en", "en Sign in").await;
    check("en-US", "stockd_lang=zh", "zh-CN 登录").await;

    // Signed-in pages follow the browser too.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = console_sign_in(&client, &app, &[("key", ADMIN_KEY)]).await;
    let session = set_cookie(&signed_in);
    let dashboard = get_with(
        &client,
        app.url("/admin"),
        &[("cookie", &session), ("accept-language", chinese_first)],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(dashboard.contains("<h1>概览</h1>"), "{dashboard}");
}

/// A password hash as versions before Argon2id stored it (PBKDF2-HMAC-SHA256,
/// 310,000 iterations), made by their code, of "correct horse battery staple".
const LEGACY_HASH: &str = "pbkdf2-sha256$310000$0722ba6b24381f51c4084dbd0b83c7d0$c6cbd466a311c8e6001fc33c4a28dd450f8fc028abada1464a35ddc7ed24ba16";

#[tokio::test]
async fn a_legacy_password_hash_signs_in_and_is_replaced_by_argon2id() {
    let app = spawn_app().await;
    app.execute_sql(&format!(
        "INSERT INTO admin_users (name, password_hash, created_at) VALUES ('old', '{LEGACY_HASH}', 0)"
    ))
    .await
    .unwrap();
    let stored =
        || app.fetch_pairs("SELECT password_hash, created_at FROM admin_users WHERE name = 'old'");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let password = [
        ("user", "old"),
        ("password", "correct horse battery staple"),
    ];
    let signed_in = console_sign_in(&client, &app, &password).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let rehashed = stored().await[0].0.clone();
    assert!(
        rehashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{rehashed}"
    );
    // The session of that sign-in is signed by the new hash, and works.
    let session = set_cookie(&signed_in);
    let page = get_with(&client, app.url("/admin"), &[("cookie", &session)]).await;
    assert_eq!(page.status(), StatusCode::OK);
    // The new hash takes the same password, and no other.
    let wrong = [("user", "old"), ("password", "correct horse battery stapl")];
    let refused = console_sign_in(&client, &app, &wrong).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let again = console_sign_in(&client, &app, &password).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored().await[0].0, rehashed, "rehashed once only");
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_user_name_and_per_address() {
    // A cell comes back every 30 s per name and every 20 s per address: far
    // more than the few sign-ins below take.
    let app = spawn_with(Spawn {
        extra_env: vec![
            (
                "STOCKD_ADMIN__SIGN_IN_FAILURES_PER_USER_PER_MIN",
                "2".into(),
            ),
            (
                "STOCKD_ADMIN__SIGN_IN_FAILURES_PER_ADDRESS_PER_MIN",
                "3".into(),
            ),
        ],
        ..Spawn::default()
    })
    .await;
    for name in ["ana", "bob"] {
        let made = create_console_user(&app, name, "a long enough passphrase");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sign_in = |user: &'static str, password: &'static str| {
        let (client, app) = (&client, &app);
        async move { console_sign_in(client, app, &[("user", user), ("password", password)]).await }
    };
    let right = "a long enough passphrase";
    let wrong = "a long enough passphrasE";

    // Successful sign-ins count for nothing: more of them than the limit.
    for _ in 0..3 {
        assert_eq!(sign_in("ana", right).await.status(), StatusCode::SEE_OTHER);
    }
    // Two failures for ana; then ana is refused even with the right
    // password, in the page's language, with when to try again.
    for _ in 0..2 {
        assert_eq!(
            sign_in("ana", wrong).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let refused = sign_in("ana", right).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "Retry-After {retry_after}");
    assert!(!refused.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("stockd_admin="));
    let page = refused.text().await.unwrap();
    assert!(
        page.contains(&format!(
            "Too many failed sign-ins: try again in {retry_after} s."
        )),
        "{page}"
    );
    let chinese = client
        .post(app.url("/admin/login"))
        .header("accept-language", "zh-CN,zh;q=0.9")
        .header("cookie", "stockd_login=t")
        .form(&[("user", "ana"), ("password", right), ("login_token", "t")])
        .send()
        .await
        .unwrap();
    assert_eq!(chinese.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(chinese.text().await.unwrap().contains("登录失败次数过多"));

    // Another name from the same address: two failures of three so far.
    assert_eq!(sign_in("bob", right).await.status(), StatusCode::SEE_OTHER);
    // An unknown name fails like a wrong password, and counts: the
    // address's third failure.
    assert_eq!(
        sign_in("nobody", wrong).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Now the address is refused, for every name and for admin keys.
    assert_eq!(
        sign_in("bob", right).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let key = console_sign_in(&client, &app, &[("key", ADMIN_KEY)]).await;
    assert_eq!(key.status(), StatusCode::TOO_MANY_REQUESTS);
}
