//! The console's API keys page: every key with its role and state, a form
//! that creates one (its secret shown this once), and revoking a key.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use stock_core::Role;

use super::labels::{t, Label};
use super::layout::{esc, page, redirect, url_text};
use super::session::{same, stale, CsrfForm, Session};
use crate::auth::{generate_key, hash_secret};
use crate::error::ApiError;
use crate::wire::timestamp;
use crate::AppState;

fn role_name(role: Role) -> &'static str {
    role.as_str()
}

async fn keys_page(
    state: &AppState,
    session: &Session,
    created: Option<(String, String)>,
) -> Result<Html<String>, ApiError> {
    let lang = session.lang;
    let keys = state.store.keys().await?;
    let mut rows = String::new();
    for key in &keys {
        let action = if key.revoked_at_ms.is_some() {
            t(lang, Label::Revoked).to_owned()
        } else {
            format!(
                r#"<form method="post" action="/admin/keys/{}/revoke" class="inline"><input type="hidden" name="csrf" value="{}"><button id="revoke-{}">{}</button></form>"#,
                url_text(&key.id),
                session.csrf,
                esc(&key.id),
                t(lang, Label::Revoke)
            )
        };
        let _ = write!(
            rows,
            r#"<tr id="key-{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>"#,
            esc(&key.id),
            esc(&key.id),
            esc(&key.name),
            role_name(key.role),
            timestamp(key.created_at_ms),
            if key.revoked_at_ms.is_some() {
                t(lang, Label::Revoked)
            } else {
                t(lang, Label::Live)
            },
        );
    }
    let shown = match created {
        Some((id, secret)) => format!(
            r#"<p class="ok">{} <code id="new-secret">{}</code> (<span id="new-key-id">{}</span>)</p>"#,
            t(lang, Label::ShownOnce),
            esc(&secret),
            esc(&id)
        ),
        None => String::new(),
    };
    let body = format!(
        r#"<h1>{}</h1>{shown}<h2>{}</h2><form method="post" action="/admin/keys"><input type="hidden" name="csrf" value="{}">
<label>{} <input name="name" id="key-name" maxlength="200" required></label>
<label>{} <select name="role" id="key-role"><option>storefront</option><option>service</option><option>admin</option></select></label>
<button id="create-key">{}</button></form>
<table id="keys"><tr><th>id</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>{rows}</table>"#,
        t(lang, Label::Keys),
        t(lang, Label::CreateKey),
        session.csrf,
        t(lang, Label::Name),
        t(lang, Label::Role),
        t(lang, Label::Create),
        t(lang, Label::Name),
        t(lang, Label::Role),
        t(lang, Label::Created),
        t(lang, Label::Status),
    );
    Ok(page(lang, t(lang, Label::Keys), Some(session), &body))
}

pub(super) async fn keys(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, ApiError> {
    keys_page(&state, &session, None).await
}

#[derive(Debug, Deserialize)]
pub struct CreateKeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

pub(super) async fn create_key(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<CreateKeyForm>,
) -> Result<Response, ApiError> {
    if !same(&form.csrf, &session.csrf) {
        return Ok(stale(&session));
    }
    let name = form.name.trim();
    let Some(role) = Role::parse(form.role.trim()) else {
        return Err(ApiError::field(
            "role",
            "must be admin, service or storefront",
        ));
    };
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "must be 1 to 200 visible characters",
        ));
    }
    let key = generate_key();
    state
        .store
        .create_key(&key.id, name, role, &hash_secret(&key.secret))
        .await?;
    tracing::info!(key = %key.id, by = %session.key.id, "an API key was created in the admin console");
    Ok(keys_page(&state, &session, Some((key.id, key.secret)))
        .await?
        .into_response())
}

pub(super) async fn revoke_key(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    if !same(&form.csrf, &session.csrf) {
        return Ok(stale(&session));
    }
    if state.store.revoke_key(&id).await? {
        tracing::info!(key = %id, by = %session.key.id, "an API key was revoked in the admin console");
    }
    Ok(redirect("/admin/keys"))
}
