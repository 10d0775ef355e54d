//! Signing in to the console: the sign-in page, with its one-time login
//! token, and the form's check of an admin API key or of a console user's
//! name and password.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::header::{LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use stock_core::Role;
use tokio::sync::Semaphore;

use super::labels::{t, Label, Lang};
use super::layout::{esc, page};
use super::password::{self, Checked};
use super::session::{self, cookie, same};
use crate::auth::{hash_secret, random_id};
use crate::error::ApiError;
use crate::AppState;

/// Password checks at once: each takes Argon2id's memory
/// (`password::ARGON2_MEMORY_KIB`) and a core for its time; more wait.
const PASSWORD_CHECKS_AT_ONCE: usize = 2;
static PASSWORD_CHECKS: Semaphore = Semaphore::const_new(PASSWORD_CHECKS_AT_ONCE);

const LOGIN_COOKIE: &str = "stockd_login";

#[derive(Debug, Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    login_token: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
}

/// A console user's name: letters, digits, `-` and `_`, at most 64.
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(super) async fn login_page(parts: Parts) -> Response {
    login_form(&parts, StatusCode::OK, None)
}

/// The sign-in page, with a fresh login token: a random value both in a
/// SameSite=Strict cookie and in the form, so that another site cannot sign
/// a browser in (its form could not carry the cookie's value).
fn login_form(parts: &Parts, status: StatusCode, error: Option<Label>) -> Response {
    let lang = Lang::from_parts(parts);
    sign_in_page(lang, status, error.map(|label| t(lang, label).to_owned()))
}

/// The sign-in page of one refused for too many failures: 429, with when to
/// try again, and the password not checked.
fn too_many_failures(parts: &Parts, wait: Duration) -> Response {
    let lang = Lang::from_parts(parts);
    let seconds = wait.as_secs().to_string();
    let said = t(lang, Label::TooManyFailures).replace("{s}", &seconds);
    let mut response = sign_in_page(lang, StatusCode::TOO_MANY_REQUESTS, Some(said));
    response.headers_mut().insert(
        RETRY_AFTER,
        HeaderValue::from_str(&seconds).expect("digits make a header value"),
    );
    response
}

fn sign_in_page(lang: Lang, status: StatusCode, error: Option<String>) -> Response {
    let token = random_id(16);
    let cookie =
        format!("{LOGIN_COOKIE}={token}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=3600");
    let error = match error {
        Some(said) => format!(r#"<p class="bad" id="error">{}</p>"#, esc(&said)),
        None => String::new(),
    };
    let html = page(
        lang,
        t(lang, Label::SignIn),
        None,
        &format!(
            r#"<h1>{}</h1>{error}<form method="post" action="/admin/login"><input type="hidden" name="login_token" value="{token}">
<label>{} <input type="password" name="key" id="key" autocomplete="off"></label>
<p>{}</p>
<label>{} <input name="user" id="user" autocomplete="username"></label>
<label>{} <input type="password" name="password" id="password" autocomplete="current-password"></label>
<button id="sign-in">{}</button></form>"#,
            t(lang, Label::SignIn),
            t(lang, Label::AdminKey),
            t(lang, Label::OrUser),
            t(lang, Label::User),
            t(lang, Label::Password),
            t(lang, Label::SignIn)
        ),
    );
    (status, [(SET_COOKIE, cookie)], html).into_response()
}

/// Signs in with the form's admin key, or its user name and password. While
/// the name or the client's address has had too many failures, the form is
/// refused before anything is checked.
pub(super) async fn login(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<LoginForm>,
) -> Response {
    let token = cookie(&parts, LOGIN_COOKIE).unwrap_or_default();
    if token.is_empty() || !same(&token, &form.login_token) {
        return login_form(&parts, StatusCode::FORBIDDEN, Some(Label::BadForm));
    }
    let user = Some(form.user.trim()).filter(|user| !user.is_empty());
    let address = client_address(&parts);
    if let Some(wait) = state.sign_in.refused(user, address) {
        tracing::warn!(user, %address, "a console sign-in refused: too many failures");
        return too_many_failures(&parts, wait);
    }
    let signed = match user {
        None => by_key(&state, form.key.trim()).await,
        Some(user) => by_password(&state, user, &form.password).await,
    };
    let (subject, hash) = match signed {
        Ok(Some(signed)) => signed,
        Ok(None) => {
            state.sign_in.failed(user, address);
            return login_form(&parts, StatusCode::UNAUTHORIZED, Some(Label::BadKey));
        }
        Err(error) => return error.into_response(),
    };
    let cookie = session::cookie_for(&subject, &hash, state.config.admin_session_ttl);
    tracing::info!(who = %subject, "signed in to the admin console");
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, "/admin".to_owned()), (SET_COOKIE, cookie)],
    )
        .into_response()
}

/// The address the request came from (the server is served with it); all
/// requests without one share one.
fn client_address(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip())
}

/// The session subject and signing hash of a live admin key.
async fn by_key(state: &AppState, secret: &str) -> Result<Option<(String, String)>, ApiError> {
    let hash = hash_secret(secret);
    Ok(match state.store.key_by_hash(&hash).await? {
        Some(key) if key.role == Role::Admin => Some((key.id, hash)),
        _ => None,
    })
}

/// The session subject and signing hash of a console user whose password
/// is right. An unknown name costs the same hash as a wrong password. A
/// stored hash of an older kind is replaced by a new one, which signs the
/// session (sessions signed by the old one end).
async fn by_password(
    state: &AppState,
    user: &str,
    password: &str,
) -> Result<Option<(String, String)>, ApiError> {
    let stored = match valid_user_name(user) {
        true => state.store.user_password_hash(user).await?,
        false => None,
    };
    let checked = {
        let _turn = PASSWORD_CHECKS
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let (password, stored) = (password.to_owned(), stored.clone());
        // The slow hash runs off the async threads.
        tokio::task::spawn_blocking(move || password::check(&password, stored.as_deref()))
            .await
            .map_err(|error| ApiError::internal(&error.into()))?
    };
    let (Checked::Accepted { rehashed }, Some(stored)) = (checked, stored) else {
        return Ok(None);
    };
    let subject = format!("u-{user}");
    let Some(rehashed) = rehashed else {
        return Ok(Some((subject, stored)));
    };
    if state
        .store
        .replace_user_password_hash(user, &stored, &rehashed)
        .await?
    {
        tracing::info!(
            user,
            "a console user's password hash was replaced by Argon2id"
        );
        return Ok(Some((subject, rehashed)));
    }
    // Replaced meanwhile by another sign-in: this session is signed as before.
    Ok(Some((subject, stored)))
}
