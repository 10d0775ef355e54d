//! Console sessions and CSRF tokens. The session is a cookie (HttpOnly,
//! SameSite=Strict, Path=/admin) holding who signed in (an admin key's id,
//! or `u-` and a console user's name), an expiry and a nonce, signed with
//! HMAC-SHA256 keyed by the stored hash of the key's secret or the user's
//! password: every replica can check it, nothing is stored, and revoking
//! the key ends its sessions. Every form carries a CSRF token derived the
//! same way from the session's nonce.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use stock_core::Role;
use stock_store::ApiKey;

use super::labels::{t, Label, Lang};
use super::layout::{page, redirect};
use super::live;
use crate::auth::random_id;
use crate::AppState;

const SESSION_COOKIE: &str = "stockd_admin";

pub(super) fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

fn mac(secret_hash: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_hash.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(message.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A signed-in admin.
pub struct Session {
    pub key: ApiKey,
    pub csrf: String,
    pub lang: Lang,
    /// The newest outbox id before the page was read: it shows at least that.
    pub seen: i64,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = Lang::from_parts(parts);
        let token = cookie(parts, SESSION_COOKIE).ok_or_else(|| redirect("/admin/login"))?;
        let fields: Vec<&str> = token.split('.').collect();
        let [key_id, expires, nonce, signature] = fields.as_slice() else {
            return Err(redirect("/admin/login"));
        };
        let expires: i64 = expires.parse().map_err(|_| redirect("/admin/login"))?;
        if expires * 1000 < stock_store::now_ms() {
            return Err(redirect("/admin/login"));
        }
        let Some((key, secret_hash)) = signer(state, key_id).await else {
            return Err(redirect("/admin/login"));
        };
        let expected = mac(&secret_hash, &format!("session:{key_id}.{expires}.{nonce}"));
        if key.role != Role::Admin || !same(&expected, signature) {
            return Err(redirect("/admin/login"));
        }
        let csrf = mac(&secret_hash, &format!("csrf:{nonce}"))[..32].to_owned();
        let seen = live::seen(state).await;
        Ok(Session {
            key,
            csrf,
            lang,
            seen,
        })
    }
}

/// The `Set-Cookie` value of a new session for `subject` (an admin key's
/// id, or `u-` and a user's name), signed with `secret_hash`.
pub(super) fn cookie_for(subject: &str, secret_hash: &str, ttl: Duration) -> String {
    let ttl_s = ttl.as_secs() as i64;
    let expires = stock_store::now_ms() / 1000 + ttl_s;
    let nonce = random_id(16);
    let signature = mac(secret_hash, &format!("session:{subject}.{expires}.{nonce}"));
    format!(
        "{SESSION_COOKIE}={subject}.{expires}.{nonce}.{signature}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={ttl_s}"
    )
}

/// Who a session token's first field names, and the secret that signs it.
pub(super) async fn signer(state: &AppState, id: &str) -> Option<(ApiKey, String)> {
    if let Some(name) = id.strip_prefix("u-") {
        let hash = state.store.user_password_hash(name).await.ok()??;
        let key = ApiKey {
            id: format!("user:{name}"),
            name: name.to_owned(),
            role: Role::Admin,
            created_at_ms: 0,
            revoked_at_ms: None,
        };
        return Some((key, hash));
    }
    state.store.live_key_with_hash(id).await.ok()?
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

pub(super) fn stale(session: &Session) -> Response {
    (
        StatusCode::FORBIDDEN,
        page(
            session.lang,
            t(session.lang, Label::Refused),
            Some(session),
            &format!(
                r#"<p class="bad" id="error">{}</p>"#,
                t(session.lang, Label::BadForm)
            ),
        ),
    )
        .into_response()
}

pub(super) async fn logout(session: Session, Form(form): Form<CsrfForm>) -> Response {
    if !same(&form.csrf, &session.csrf) {
        return stale(&session);
    }
    let cookie = format!("{SESSION_COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0");
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, "/admin/login".to_owned()), (SET_COOKIE, cookie)],
    )
        .into_response()
}
