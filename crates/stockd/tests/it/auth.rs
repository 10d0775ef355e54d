//! API keys and roles.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{code, spawn_app, spawn_with, Spawn, ADMIN_KEY};

#[tokio::test]
async fn every_api_route_needs_a_valid_key() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/inventory",
        "/api/v1/logs",
        "/api/v1/stats/inventory",
        "/api/v1/openapi.json",
    ] {
        let (status, body) = app.request(Method::GET, None, path, None).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            "{path}"
        );
        let (status, _) = app
            .request(Method::GET, Some("sk_not_a_key"), path, None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let (status, _) = app
        .request(
            Method::POST,
            None,
            "/api/v1/sync-stock",
            Some(&json!({"product_id": 1, "delta": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app.request(Method::GET, None, "/health", None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
}

#[tokio::test]
async fn roles_allow_what_they_should_and_nothing_more() {
    let app = spawn_app().await;
    app.create_item("1", 100).await;
    let storefront = app.key("storefront");
    let service = app.key("service");
    let line = json!({"items": [{"product_id": "1", "quantity": 1}]});
    let sync = json!({"product_id": "1", "delta": -1});
    let create = json!({"product_id": "2", "name": "Two"});

    let expect = [
        (
            &storefront,
            Method::GET,
            "/api/v1/inventory/1",
            None,
            StatusCode::OK,
        ),
        (
            &storefront,
            Method::GET,
            "/api/v1/inventory",
            None,
            StatusCode::OK,
        ),
        (
            &storefront,
            Method::POST,
            "/api/v1/inventory/check",
            Some(&line),
            StatusCode::OK,
        ),
        (
            &storefront,
            Method::POST,
            "/api/v1/inventory/decrease",
            Some(&line),
            StatusCode::FORBIDDEN,
        ),
        (
            &storefront,
            Method::POST,
            "/api/v1/inventory/increase",
            Some(&line),
            StatusCode::FORBIDDEN,
        ),
        (
            &storefront,
            Method::POST,
            "/api/v1/sync-stock",
            Some(&sync),
            StatusCode::FORBIDDEN,
        ),
        (
            &storefront,
            Method::POST,
            "/api/v1/inventory",
            Some(&create),
            StatusCode::FORBIDDEN,
        ),
        (
            &storefront,
            Method::GET,
            "/api/v1/admin/inventory/low-stock",
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            &service,
            Method::POST,
            "/api/v1/inventory/decrease",
            Some(&line),
            StatusCode::OK,
        ),
        (
            &service,
            Method::POST,
            "/api/v1/sync-stock",
            Some(&sync),
            StatusCode::OK,
        ),
        (
            &service,
            Method::POST,
            "/api/v1/inventory",
            Some(&create),
            StatusCode::FORBIDDEN,
        ),
        (
            &service,
            Method::PUT,
            "/api/v1/inventory/1",
            Some(&json!({"name": "x"})),
            StatusCode::FORBIDDEN,
        ),
        (
            &service,
            Method::POST,
            "/api/v1/locations",
            Some(&json!({"id": "w2"})),
            StatusCode::FORBIDDEN,
        ),
        (
            &service,
            Method::GET,
            "/api/v1/admin/inventory/low-stock",
            None,
            StatusCode::FORBIDDEN,
        ),
    ];
    for (key, method, path, body, status) in expect {
        let (got, response) = app.request(method.clone(), Some(key), path, body).await;
        assert_eq!(got, status, "{method} {path}: {response}");
        if status == StatusCode::FORBIDDEN {
            assert_eq!(code(&response), "FORBIDDEN");
        }
    }
    assert_eq!(
        app.available("1").await,
        98,
        "only the two allowed decreases ran"
    );
    let admin = ADMIN_KEY.to_owned();
    let (status, _) = app.post(&admin, "/api/v1/inventory", create.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_revoked_key_is_refused_and_keys_are_stored_hashed() {
    // Without the key cache, so that the revocation by another process is
    // seen by the very next request.
    let app = spawn_with(Spawn::with_env("STOCKD_SERVER__KEY_CACHE_MS", "0")).await;
    let service = app.key("service");
    let (status, _) = app.get(&service, "/api/v1/inventory").await;
    assert_eq!(status, StatusCode::OK);
    let list = String::from_utf8(app.cli(&["keys", "list"]).stdout).unwrap();
    let id = list
        .lines()
        .find(|l| l.contains("service") && l.contains("live"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the service key is listed")
        .to_owned();
    assert!(!list.contains(&service), "keys list never shows secrets");
    let output = app.cli(&["keys", "revoke", &id]);
    assert!(output.status.success());
    let (status, _) = app.get(&service, "/api/v1/inventory").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let output = app.cli(&["keys", "revoke", &id]);
    assert_eq!(output.status.code(), Some(1), "revoking twice says so");

    let hashes = app
        .fetch_pairs("SELECT secret_hash, COUNT(*) FROM api_keys GROUP BY secret_hash")
        .await;
    assert_eq!(hashes.len(), 2);
    for (hash, _) in &hashes {
        assert_eq!(hash.len(), 64, "a SHA-256 in hex");
        assert!(hash != &service && hash != crate::helpers::ADMIN_KEY);
    }
    if crate::helpers::backend() == crate::helpers::Backend::Sqlite {
        let database = std::fs::read(app.dir.path().join("stockd.db")).unwrap();
        let wal = std::fs::read(app.dir.path().join("stockd.db-wal")).unwrap_or_default();
        for secret in [service.as_str(), crate::helpers::ADMIN_KEY] {
            let needle = secret.as_bytes();
            let found = [&database, &wal]
                .iter()
                .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle));
            assert!(!found, "a key secret is stored in the clear");
        }
    }
}

#[tokio::test]
async fn the_first_start_prints_an_admin_key_once() {
    let app = spawn_with(Spawn {
        admin_key: None,
        ..Spawn::default()
    })
    .await;
    let secret = app
        .banner
        .split_whitespace()
        .find(|word| word.starts_with("sk_"))
        .expect("the first admin key is printed")
        .to_owned();
    let (status, _) = app.get(&secret, "/api/v1/inventory").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get(ADMIN_KEY, "/api/v1/inventory").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let dir = app.stop();
    let again = spawn_with(Spawn {
        admin_key: None,
        dir: Some(dir),
        ..Spawn::default()
    })
    .await;
    assert!(
        !again.banner.contains("sk_"),
        "a second start prints no key:\n{}",
        again.banner
    );
    let (status, _) = again.get(&secret, "/api/v1/inventory").await;
    assert_eq!(status, StatusCode::OK, "the first key still works");
}
