//! Webhooks: where events are pushed, and what became of each delivery.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use stock_store::EventKind;

use super::{page, total_pages, URL_LENGTH_MAX};
use crate::auth::{random_id, AdminRole, Authorized};
use crate::error::{quoted, ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::wire::{
    DeliveryOut, DeliveryPageOut, DeliveryQuery, Id, WebhookListOut, WebhookOut, WebhookRequest,
};
use crate::AppState;

/// A secret's length bounds, in characters.
pub(crate) const SECRET_LENGTH_MIN: usize = 16;
pub(crate) const SECRET_LENGTH_MAX: usize = 256;
/// The most webhooks a service keeps.
const WEBHOOKS_MAX: usize = 100;

pub(crate) fn checked_url(raw: &str) -> Result<String, ApiError> {
    let url = raw.trim();
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    let host = url.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    if !scheme_ok
        || host.is_empty()
        || raw.chars().count() > URL_LENGTH_MAX
        || url.contains(char::is_whitespace)
    {
        return Err(ApiError::field(
            "url",
            format!("must be an http:// or https:// URL of at most {URL_LENGTH_MAX} characters"),
        ));
    }
    Ok(url.to_owned())
}

/// Push events to a URL: each delivery is a POST of one event, signed with
/// the secret (`Stockd-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>">`; refuse a `t` more than 5 minutes off). Events are sent in
/// order, each until it is answered 2xx or its attempts run out, starting
/// with the events after the webhook was made.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "events", request_body = WebhookRequest,
    responses((status = 201, body = WebhookOut), (status = 400, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn create_webhook(
    State(state): State<AppState>,
    _: Authorized<AdminRole>,
    ApiJson(body): ApiJson<WebhookRequest>,
) -> Result<(StatusCode, Json<WebhookOut>), ApiError> {
    let url = checked_url(&body.url)?;
    let secret_length = body.secret.chars().count();
    if !(SECRET_LENGTH_MIN..=SECRET_LENGTH_MAX).contains(&secret_length) {
        return Err(ApiError::field(
            "secret",
            format!("must be {SECRET_LENGTH_MIN} to {SECRET_LENGTH_MAX} characters"),
        ));
    }
    let mut kinds = Vec::new();
    for raw in body.events.unwrap_or_default() {
        let kind = EventKind::parse(&raw).ok_or_else(|| {
            ApiError::field("events", "must list stock, reservation, order or alert")
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if state.store.webhooks().await?.len() >= WEBHOOKS_MAX {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "TOO_MANY_WEBHOOKS",
            format!("a service keeps at most {WEBHOOKS_MAX} webhooks; delete one first"),
        ));
    }
    let cursor = state.store.last_event_id().await?;
    let id = format!("wh_{}", random_id(8));
    let hook = state
        .store
        .create_webhook(&id, &url, &body.secret, &kinds, cursor)
        .await?;
    Ok((StatusCode::CREATED, Json(WebhookOut::from(&hook))))
}

/// Webhooks, oldest first (secrets are never shown).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "events",
    responses((status = 200, body = WebhookListOut)), security(("api_key" = ["admin"])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    _: Authorized<AdminRole>,
) -> Result<Json<WebhookListOut>, ApiError> {
    let hooks = state.store.webhooks().await?;
    Ok(Json(WebhookListOut {
        webhooks: hooks.iter().map(WebhookOut::from).collect(),
    }))
}

/// Stop pushing to a webhook. Its delivery log stays.
#[utoipa::path(delete, path = "/api/v1/webhooks/{webhook_id}", tag = "events",
    params(("webhook_id" = Id, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("api_key" = ["admin"])))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    _: Authorized<AdminRole>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_webhook(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "webhook {} not found",
            quoted(&id)
        )))
    }
}

/// Every attempt to deliver to a webhook, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{webhook_id}/deliveries", tag = "events",
    params(("webhook_id" = Id, Path), DeliveryQuery),
    responses((status = 200, body = DeliveryPageOut), (status = 404, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    _: Authorized<AdminRole>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> Result<Json<DeliveryPageOut>, ApiError> {
    let page = page(&state, query.page, query.page_size)?;
    if !state
        .store
        .webhooks()
        .await?
        .iter()
        .any(|hook| hook.id == id)
    {
        return Err(ApiError::not_found(format!(
            "webhook {} not found",
            quoted(&id)
        )));
    }
    let paged = state.store.deliveries(&id, page).await?;
    Ok(Json(DeliveryPageOut {
        deliveries: paged.rows.iter().map(DeliveryOut::from).collect(),
        page: page.number,
        page_size: page.size,
        total: paged.total,
        total_pages: total_pages(paged.total, page.size),
    }))
}
