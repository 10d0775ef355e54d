//! Alerts: listing them, and closing them by hand.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use stock_store::{AlertFilter, AlertKind, AlertStatus, Command, Outcome, Render};

use super::inventory::item_id;
use super::{page, render, to_json, total_pages};
use crate::auth::{AdminRole, Authorized, ServiceRole, Writer};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::wire::{AlertListQuery, AlertOut, AlertPageOut};
use crate::AppState;

/// Alerts, newest first, by item, type and status.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertListQuery),
    responses((status = 200, body = AlertPageOut), (status = 400, body = ErrorBody)),
    security(("api_key" = ["service"])))]
pub async fn list_alerts(
    State(state): State<AppState>,
    _: Authorized<ServiceRole>,
    ApiQuery(query): ApiQuery<AlertListQuery>,
) -> Result<Json<AlertPageOut>, ApiError> {
    let page = page(&state, query.page, query.page_size)?;
    let kind = query
        .kind
        .as_deref()
        .map(|raw| {
            AlertKind::parse(raw).ok_or_else(|| {
                ApiError::field(
                    "type",
                    "must be low_stock, out_of_stock, back_in_stock or diff_alert",
                )
            })
        })
        .transpose()?;
    let (status, open) = match query.status.as_deref() {
        None => (None, false),
        Some("open") => (None, true),
        Some(raw) => (
            Some(AlertStatus::parse(raw).ok_or_else(|| {
                ApiError::field(
                    "status",
                    "must be pending, sent, acknowledged, ignored or open",
                )
            })?),
            false,
        ),
    };
    let filter = AlertFilter {
        item: query.product_id.as_deref().map(item_id).transpose()?,
        kind,
        status,
        open,
    };
    let paged = state.store.alerts(&filter, page).await?;
    Ok(Json(AlertPageOut {
        alerts: paged.rows.iter().map(AlertOut::from).collect(),
        page: page.number,
        page_size: page.size,
        total: paged.total,
        total_pages: total_pages(paged.total, page.size),
    }))
}

fn alert_render() -> Render {
    render(StatusCode::OK, |outcome| match outcome {
        Outcome::Alert(alert) => to_json(&AlertOut::from(alert)),
        other => unreachable!("an alert command yields Outcome::Alert, not {other:?}"),
    })
}

fn alert_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::field("alert_id", "must be a positive whole number"))
}

/// Acknowledge an open alert: someone has seen it. A closed alert is a 409.
#[utoipa::path(post, path = "/api/v1/alerts/{alert_id}/ack", tag = "alerts",
    params(("alert_id" = i64, Path, minimum = 1, example = 1)),
    responses((status = 200, body = AlertOut), (status = 404, body = ErrorBody),
        (status = 409, description = "ALERT_CLOSED", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn ack_alert(
    State(state): State<AppState>,
    writer: Writer<AdminRole>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let command = Command::CloseAlert {
        id: alert_id(&id)?,
        status: AlertStatus::Acknowledged,
    };
    Ok(state.write(command, writer, alert_render()).await)
}

/// Ignore an open alert. A closed alert is a 409.
#[utoipa::path(post, path = "/api/v1/alerts/{alert_id}/ignore", tag = "alerts",
    params(("alert_id" = i64, Path, minimum = 1, example = 1)),
    responses((status = 200, body = AlertOut), (status = 404, body = ErrorBody),
        (status = 409, description = "ALERT_CLOSED", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn ignore_alert(
    State(state): State<AppState>,
    writer: Writer<AdminRole>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let command = Command::CloseAlert {
        id: alert_id(&id)?,
        status: AlertStatus::Ignored,
    };
    Ok(state.write(command, writer, alert_render()).await)
}
