//! Rate limits: per API key, and per client address for requests without a
//! valid key; 429 `RATE_LIMITED` with `Retry-After` over them.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{code, spawn_with, Spawn, TestApp, ADMIN_KEY};

/// Requests sent before a test gives up on seeing a 429: with a rate of one
/// a second, this many only all pass if each takes most of a second.
const ATTEMPTS_MAX: usize = 30;

/// A 429's status, `Retry-After` and body.
struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
}

async fn send(app: &TestApp, key: Option<&str>, path: &str) -> Answer {
    let mut request = app.client.request(Method::GET, app.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("answered");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    Answer {
        status,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// Sends until one is refused 429; asserts the first `burst` pass with `passing`.
async fn until_limited(
    app: &TestApp,
    key: Option<&str>,
    path: &str,
    burst: usize,
    passing: StatusCode,
) -> Answer {
    for attempt in 0..ATTEMPTS_MAX {
        let answer = send(app, key, path).await;
        if attempt < burst {
            assert_eq!(answer.status, passing, "within the burst: {}", answer.body);
        }
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(attempt >= burst, "refused within the burst");
            return answer;
        }
        assert_eq!(answer.status, passing, "{}", answer.body);
    }
    panic!("{ATTEMPTS_MAX} requests at a limit of 1 a second were never refused");
}

fn assert_limited(answer: &Answer, scope: &str) {
    assert_eq!(code(&answer.body), "RATE_LIMITED", "{}", answer.body);
    assert_eq!(answer.body["error"]["details"]["scope"], scope);
    let retry_after: u64 = answer
        .retry_after
        .as_deref()
        .expect("a Retry-After header")
        .parse()
        .expect("whole seconds");
    assert!(retry_after >= 1, "{retry_after}");
    assert_eq!(
        answer.body["error"]["details"]["retry_after_s"],
        retry_after
    );
}

#[tokio::test]
async fn a_key_over_its_limit_is_refused_and_other_keys_are_not() {
    let app = spawn_with(Spawn::with_vars(&[
        ("STOCKD_SERVER__RATE_LIMIT__PER_KEY_PER_S", "1"),
        ("STOCKD_SERVER__RATE_LIMIT__PER_KEY_BURST", "3"),
    ]))
    .await;
    let other = app.key("storefront");
    let limited = until_limited(
        &app,
        Some(ADMIN_KEY),
        "/api/v1/inventory",
        3,
        StatusCode::OK,
    )
    .await;
    assert_limited(&limited, "key");
    assert_eq!(limited.body["error"]["details"]["burst"], 3);
    // Another key has a budget of its own, and requests without a key are
    // counted per address, not against the key.
    assert_eq!(
        send(&app, Some(&other), "/api/v1/inventory").await.status,
        StatusCode::OK
    );
    assert_eq!(send(&app, None, "/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_address_without_a_valid_key_is_limited_and_keys_are_not() {
    let app = spawn_with(Spawn::with_vars(&[
        ("STOCKD_SERVER__RATE_LIMIT__PER_ADDRESS_PER_S", "1"),
        ("STOCKD_SERVER__RATE_LIMIT__PER_ADDRESS_BURST", "3"),
    ]))
    .await;
    let limited = until_limited(&app, None, "/health", 3, StatusCode::OK).await;
    assert_limited(&limited, "address");
    // Requests with a key that is not valid, or none, are counted the same
    // way (answered 401 while the address has budget left)…
    for key in [Some("sk_not_a_key"), None] {
        let limited =
            until_limited(&app, key, "/api/v1/inventory", 0, StatusCode::UNAUTHORIZED).await;
        assert_limited(&limited, "address");
    }
    // …and a valid key from the same address is not.
    for _ in 0..10 {
        let answer = send(&app, Some(ADMIN_KEY), "/api/v1/inventory").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
}

#[tokio::test]
async fn a_rate_of_zero_turns_a_limit_off() {
    let app = spawn_with(Spawn::with_vars(&[
        ("STOCKD_SERVER__RATE_LIMIT__PER_KEY_PER_S", "0"),
        ("STOCKD_SERVER__RATE_LIMIT__PER_KEY_BURST", "1"),
        ("STOCKD_SERVER__RATE_LIMIT__PER_ADDRESS_PER_S", "0"),
        ("STOCKD_SERVER__RATE_LIMIT__PER_ADDRESS_BURST", "1"),
    ]))
    .await;
    for _ in 0..ATTEMPTS_MAX {
        assert_eq!(
            send(&app, Some(ADMIN_KEY), "/api/v1/inventory")
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(send(&app, None, "/health").await.status, StatusCode::OK);
        assert_eq!(
            send(&app, Some("sk_not_a_key"), "/api/v1/inventory")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
}
