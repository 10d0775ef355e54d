//! Signing in to the console: the sign-in page, with its one-time login
//! token, and the form's check of an admin API key or of a console user's
//! name and password.

use axum::extract::State;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use stock_core::Role;

use super::labels::{t, Label, Lang};
use super::layout::page;
use super::password;
use super::session::{self, cookie, same};
use crate::auth::{hash_secret, random_id};
use crate::error::ApiError;
use crate::AppState;

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
    let token = random_id(16);
    let cookie =
        format!("{LOGIN_COOKIE}={token}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=3600");
    let error = match error {
        Some(key) => format!(r#"<p class="bad" id="error">{}</p>"#, t(lang, key)),
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

pub(super) async fn login(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<LoginForm>,
) -> Response {
    let token = cookie(&parts, LOGIN_COOKIE).unwrap_or_default();
    if token.is_empty() || !same(&token, &form.login_token) {
        return login_form(&parts, StatusCode::FORBIDDEN, Some(Label::BadForm));
    }
    let user = form.user.trim();
    let (subject, hash) = if user.is_empty() {
        let hash = hash_secret(form.key.trim());
        match state.store.key_by_hash(&hash).await {
            Ok(Some(key)) if key.role == Role::Admin => (key.id, hash),
            Ok(_) => return login_form(&parts, StatusCode::UNAUTHORIZED, Some(Label::BadKey)),
            Err(error) => return ApiError::internal(&error).into_response(),
        }
    } else {
        let stored = if valid_user_name(user) {
            match state.store.user_password_hash(user).await {
                Ok(stored) => stored,
                Err(error) => return ApiError::internal(&error).into_response(),
            }
        } else {
            None
        };
        // The slow hash runs off the async threads.
        let password = form.password.clone();
        let checked = match stored.clone() {
            Some(stored) => {
                tokio::task::spawn_blocking(move || password::verify(&password, &stored))
                    .await
                    .unwrap_or(false)
            }
            None => false,
        };
        match (checked, stored) {
            (true, Some(stored)) => (format!("u-{user}"), stored),
            _ => return login_form(&parts, StatusCode::UNAUTHORIZED, Some(Label::BadKey)),
        }
    };
    let cookie = session::cookie_for(&subject, &hash, state.config.admin_session_ttl);
    tracing::info!(who = %subject, "signed in to the admin console");
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, "/admin".to_owned()), (SET_COOKIE, cookie)],
    )
        .into_response()
}
