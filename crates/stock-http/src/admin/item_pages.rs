//! Console pages for stock: the dashboard (totals, low and out of stock,
//! open alerts and diffs, a chart of the last 24 hours), the item list with
//! its search, filters and pages, and an item's page (levels, chart,
//! ledger, and the adjustment form; the other item forms are in `stock.rs`).

use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use stock_core::{ItemId, ItemStatus, LocationId};
use stock_store::{Command, ItemFilter, LedgerFilter, Outcome, Page, Reply, WriteMeta};

use super::labels::{t, Label};
use super::layout::{card, esc, page, redirect, url_text};
use super::live;
use super::session::{same, stale, Session};
use super::ROWS_PER_PAGE;
use crate::auth::time_ordered_id;
use crate::error::ApiError;
use crate::wire::timestamp;
use crate::AppState;

/// Ledger rows drawn in an item's chart.
const CHART_ROWS: u32 = 100;
/// The longest reason an adjustment may give.
const REASON_LENGTH_MAX: usize = 500;

pub(super) async fn dashboard(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, ApiError> {
    let lang = session.lang;
    let stats = state
        .store
        .inventory_stats(state.config.low_stock_threshold)
        .await?;
    let gauges = state.store.gauges().await?;
    let open_alerts: u64 = gauges.open_alerts.iter().map(|(_, n)| n).sum();
    const HOURS: i64 = 24;
    let now = stock_store::now_ms();
    let activity = state
        .store
        .ledger_activity(now - HOURS * 3_600_000, 3_600_000)
        .await?;
    let chart = live::activity_chart(lang, &activity, now, HOURS);
    let body = format!(
        r#"<h1>{}</h1><div class="cards">{}{}{}{}{}{}{}{}</div>{chart}"#,
        t(lang, Label::Dashboard),
        card(t(lang, Label::ItemsTotal), stats.items, "items-total"),
        card(t(lang, Label::OnHand), stats.on_hand, "on-hand"),
        card(t(lang, Label::Reserved), stats.reserved, "reserved"),
        card(t(lang, Label::Available), stats.available, "available"),
        card(t(lang, Label::LowStock), stats.low_stock, "low-stock"),
        card(
            t(lang, Label::OutOfStock),
            stats.out_of_stock,
            "out-of-stock"
        ),
        card(t(lang, Label::OpenAlerts), open_alerts, "open-alerts"),
        card(
            t(lang, Label::PendingDiffs),
            gauges.pending_diffs,
            "pending-diffs"
        ),
    );
    Ok(page(lang, t(lang, Label::Dashboard), Some(&session), &body))
}

#[derive(Debug, Deserialize)]
pub struct ItemsQuery {
    q: Option<String>,
    page: Option<u32>,
    error: Option<String>,
    status: Option<String>,
    stock: Option<String>,
}

pub(super) async fn items(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ItemsQuery>,
) -> Result<Html<String>, ApiError> {
    let lang = session.lang;
    let number = query.page.unwrap_or(1).max(1);
    let q = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| q.chars().take(100).collect::<String>());
    let status = query.status.as_deref().and_then(ItemStatus::parse);
    let stock = query.stock.as_deref().unwrap_or_default();
    let filter = ItemFilter {
        status,
        low_stock: stock == "low",
        out_of_stock: stock == "out",
        query: q.clone(),
        location: None,
        low_stock_threshold: state.config.low_stock_threshold,
    };
    let paged = state
        .store
        .list_items(
            &filter,
            Page {
                number,
                size: ROWS_PER_PAGE,
            },
        )
        .await?;
    let mut rows = String::new();
    for view in &paged.rows {
        let id = view.item.id.as_str();
        let _ = write!(
            rows,
            r#"<tr><td><a href="/admin/items/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            url_text(id),
            esc(id),
            esc(&view.item.name),
            view.item.status.as_str(),
            view.on_hand(),
            view.reserved(),
            view.available()
        );
    }
    let pages = paged.total.div_ceil(u64::from(ROWS_PER_PAGE)).max(1);
    let q_param = format!(
        "{}&status={}&stock={}",
        q.as_deref().map(url_text).unwrap_or_default(),
        status.map_or("", ItemStatus::as_str),
        url_text(stock)
    );
    let selected = |on: bool| if on { " selected" } else { "" };
    let status_options: String = ["active", "inactive", "locked"]
        .iter()
        .map(|s| {
            format!(
                "<option{}>{s}</option>",
                selected(status.map(ItemStatus::as_str) == Some(*s))
            )
        })
        .collect();
    let filters = format!(
        r#"<select name="status" id="filter-status"><option value="">{}</option>{status_options}</select>
<select name="stock" id="filter-stock"><option value="">—</option><option value="low"{}>{}</option><option value="out"{}>{}</option></select>"#,
        t(lang, Label::AllStatuses),
        selected(stock == "low"),
        t(lang, Label::OnlyLow),
        selected(stock == "out"),
        t(lang, Label::OnlyOut),
    );
    let mut paging = format!("{} {number} / {pages}", t(lang, Label::Page));
    if number > 1 {
        let _ = write!(
            paging,
            r#" <a href="/admin/items?q={q_param}&page={}">{}</a>"#,
            number - 1,
            t(lang, Label::Previous)
        );
    }
    if u64::from(number) < pages {
        let _ = write!(
            paging,
            r#" <a href="/admin/items?q={q_param}&page={}" id="next">{}</a>"#,
            number + 1,
            t(lang, Label::Next)
        );
    }
    let body = format!(
        r#"<h1>{}</h1>{}<form method="get" action="/admin/items"><input name="q" id="q" value="{}"> {filters} <button id="filter">{}</button></form>
<table id="items"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table><p>{paging}</p>
<h2>{}</h2><form method="post" action="/admin/items/new"><input type="hidden" name="csrf" value="{}">
<label>{} <input name="product_id" id="new-id" maxlength="64" required></label>
<label>{} <input name="name" id="new-name" maxlength="200" required></label>
<label>{} <input name="stock" id="new-stock" type="number" min="0" value="0"></label>
<label>{} <input name="min_stock" id="new-min" type="number" min="0"></label>
<button id="create-item">{}</button></form>"#,
        t(lang, Label::Items),
        query
            .error
            .as_deref()
            .map(|e| format!(
                r#"<p class="bad" id="error">{}: {}</p>"#,
                t(lang, Label::Refused),
                esc(e)
            ))
            .unwrap_or_default(),
        esc(q.as_deref().unwrap_or_default()),
        t(lang, Label::Search),
        t(lang, Label::ProductId),
        t(lang, Label::Name),
        t(lang, Label::Status),
        t(lang, Label::OnHand),
        t(lang, Label::Reserved),
        t(lang, Label::Available),
        t(lang, Label::NewItem),
        session.csrf,
        t(lang, Label::ProductId),
        t(lang, Label::Name),
        t(lang, Label::OpeningStock),
        t(lang, Label::MinStock),
        t(lang, Label::Create),
    );
    Ok(page(lang, t(lang, Label::Items), Some(&session), &body))
}

#[derive(Debug, Deserialize)]
pub struct ItemQuery {
    done: Option<String>,
    error: Option<String>,
}

pub(super) async fn item(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<ItemQuery>,
) -> Result<Response, ApiError> {
    let lang = session.lang;
    let Some(view) = (match ItemId::parse(&id) {
        Ok(id) => state.store.item(&id).await?,
        Err(_) => None,
    }) else {
        let body = format!("<h1>{}</h1><p>{}</p>", t(lang, Label::NotFound), esc(&id));
        return Ok((
            StatusCode::NOT_FOUND,
            page(lang, t(lang, Label::NotFound), Some(&session), &body),
        )
            .into_response());
    };
    let item_id = view.item.id.as_str();
    let mut message = String::new();
    if let Some(done) = &query.done {
        let _ = write!(
            message,
            r#"<p class="ok" id="done">{} {}</p>"#,
            t(lang, Label::Written),
            esc(done)
        );
    }
    if let Some(error) = &query.error {
        let _ = write!(
            message,
            r#"<p class="bad" id="error">{}: {}</p>"#,
            t(lang, Label::Refused),
            esc(error)
        );
    }
    let mut levels = String::new();
    for level in &view.levels {
        let _ = write!(
            levels,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(level.location.as_str()),
            level.level.on_hand,
            level.level.reserved,
            level.level.available(),
            level.level.version
        );
    }
    let ledger = state
        .store
        .ledger(
            &LedgerFilter {
                item: Some(view.item.id.clone()),
                order_id: None,
                trace_id: None,
                operation: None,
            },
            Page {
                number: 1,
                size: CHART_ROWS,
            },
        )
        .await?;
    let chart = live::stock_chart(lang, &view, &ledger.rows);
    let mut rows = String::new();
    for entry in ledger.rows.iter().take(ROWS_PER_PAGE as usize) {
        let _ = write!(
            rows,
            r#"<tr id="ledger-{}"><td>{}</td><td>{}</td><td>{}</td><td>{:+}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            entry.id,
            entry.id,
            entry.operation.as_str(),
            esc(entry.location.as_str()),
            entry.on_hand_delta,
            entry.on_hand_after,
            esc(entry.reason.as_deref().unwrap_or_default()),
            esc(&entry.operator),
            timestamp(entry.created_at_ms)
        );
    }
    let forms = item_forms(&state, &session, &view).await?;
    let body = format!(
        r#"<h1>{} <small>{}</small></h1>{message}
<p>{}: <b id="item-available">{}</b> · {}: {} · {}: {}</p>{chart}
<h2>{}</h2><table id="levels"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{levels}</table>
<h2>{}</h2><form method="post" action="/admin/items/{}/adjust"><input type="hidden" name="csrf" value="{}">
<label>{} <input name="delta" id="delta" type="number" required></label>
<label>{} <input name="reason" id="reason" maxlength="{REASON_LENGTH_MAX}" required></label>
<button id="apply">{}</button></form>{forms}
<h2>{}</h2><table id="ledger"><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table>"#,
        esc(&view.item.name),
        esc(item_id),
        t(lang, Label::Available),
        view.available(),
        t(lang, Label::OnHand),
        view.on_hand(),
        t(lang, Label::Reserved),
        view.reserved(),
        t(lang, Label::Levels),
        t(lang, Label::Location),
        t(lang, Label::OnHand),
        t(lang, Label::Reserved),
        t(lang, Label::Available),
        t(lang, Label::Version),
        t(lang, Label::Adjust),
        url_text(item_id),
        session.csrf,
        t(lang, Label::Delta),
        t(lang, Label::Reason),
        t(lang, Label::Apply),
        t(lang, Label::Ledger),
        t(lang, Label::Operation),
        t(lang, Label::Location),
        t(lang, Label::Change),
        t(lang, Label::After),
        t(lang, Label::Reason),
        t(lang, Label::Operator),
        t(lang, Label::Time),
    );
    Ok(page(lang, &view.item.name, Some(&session), &body).into_response())
}

/// The item page's forms beyond the adjustment: count, transfer, edit.
async fn item_forms(
    state: &AppState,
    session: &Session,
    view: &stock_store::ItemView,
) -> Result<String, ApiError> {
    let lang = session.lang;
    let id = url_text(view.item.id.as_str());
    let csrf = &session.csrf;
    let locations = state.store.locations().await?;
    let options: String = locations
        .iter()
        .map(|l| format!(r#"<option value="{0}">{0}</option>"#, esc(l.id.as_str())))
        .collect();
    let default_version = view
        .levels
        .iter()
        .find(|l| l.location == LocationId::default_location())
        .map_or(0, |l| l.level.version);
    let statuses: String = ["active", "inactive", "locked"]
        .iter()
        .map(|s| {
            let selected = if view.item.status.as_str() == *s {
                " selected"
            } else {
                ""
            };
            format!("<option{selected}>{s}</option>")
        })
        .collect();
    Ok(format!(
        r#"<h2>{}</h2><form method="post" action="/admin/items/{id}/count"><input type="hidden" name="csrf" value="{csrf}">
<label>{} <select name="location" id="count-location">{options}</select></label>
<label>{} <input name="on_hand" id="count-on-hand" type="number" min="0" required></label>
<label>{} <input name="version" id="count-version" type="number" value="{default_version}" required></label>
<label>{} <input name="reason" id="count-reason" maxlength="{REASON_LENGTH_MAX}"></label>
<button id="count">{}</button></form>
<h2>{}</h2><form method="post" action="/admin/items/{id}/transfer"><input type="hidden" name="csrf" value="{csrf}">
<label>{} <select name="source" id="transfer-source">{options}</select></label>
<label>{} <select name="target" id="transfer-target">{options}</select></label>
<label>{} <input name="quantity" id="transfer-quantity" type="number" min="1" required></label>
<label>{} <input name="reason" id="transfer-reason" maxlength="{REASON_LENGTH_MAX}"></label>
<button id="transfer">{}</button></form>
<h2>{}</h2><form method="post" action="/admin/items/{id}/edit"><input type="hidden" name="csrf" value="{csrf}">
<label>{} <input name="name" id="edit-name" value="{}" maxlength="200"></label>
<label>{} <select name="status" id="edit-status">{statuses}</select></label>
<label>{} <input name="min_stock" id="edit-min" type="number" min="0" value="{}"></label>
<label>{} <input name="max_stock" id="edit-max" type="number" min="0" value="{}"></label>
<button id="save">{}</button></form>"#,
        t(lang, Label::Count),
        t(lang, Label::Location),
        t(lang, Label::Counted),
        t(lang, Label::CountedVersion),
        t(lang, Label::Reason),
        t(lang, Label::Apply),
        t(lang, Label::Transfer),
        t(lang, Label::From),
        t(lang, Label::To),
        t(lang, Label::Quantity),
        t(lang, Label::Reason),
        t(lang, Label::Apply),
        t(lang, Label::Edit),
        t(lang, Label::Name),
        esc(&view.item.name),
        t(lang, Label::Status),
        t(lang, Label::MinStock),
        view.item
            .min_stock
            .map(|v| v.to_string())
            .unwrap_or_default(),
        t(lang, Label::MaxStock),
        view.item
            .max_stock
            .map(|v| v.to_string())
            .unwrap_or_default(),
        t(lang, Label::Save),
    ))
}

#[derive(Debug, Deserialize)]
pub struct AdjustForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    delta: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn adjust(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<AdjustForm>,
) -> Response {
    if !same(&form.csrf, &session.csrf) {
        return stale(&session);
    }
    let back = |query: String| redirect(&format!("/admin/items/{}?{query}", url_text(&id)));
    let Ok(item) = ItemId::parse(&id) else {
        return back(format!("error={}", url_text("unknown item")));
    };
    let delta = match form.delta.trim().parse::<i64>() {
        Ok(delta) if delta != 0 => delta,
        _ => {
            return back(format!(
                "error={}",
                url_text("VALIDATION_FAILED: the change must be a whole number other than 0")
            ))
        }
    };
    let reason = form.reason.trim();
    if reason.is_empty()
        || reason.chars().count() > REASON_LENGTH_MAX
        || reason.chars().any(char::is_control)
    {
        return back(format!(
            "error={}",
            url_text("VALIDATION_FAILED: give a reason of at most 500 characters")
        ));
    }
    let command = Command::SyncStock {
        item,
        location: LocationId::default_location(),
        delta,
        order_id: None,
        reason: Some(reason.to_owned()),
        trace_id: None,
    };
    let meta = WriteMeta {
        operator: session.key.id.clone(),
        trace_id: Some(time_ordered_id(10)),
        idempotency: None,
    };
    match state.engine.submit(command, meta).await {
        Reply::Fresh(Ok(Outcome::Synced { entry, .. })) => back(format!(
            "done={}",
            url_text(&format!("ledger #{}", entry.id))
        )),
        Reply::Fresh(Err(error)) => {
            let error = ApiError::from(error);
            back(format!(
                "error={}",
                url_text(&format!("{}: {}", error.code, error.message))
            ))
        }
        other => back(format!(
            "error={}",
            url_text(&format!("unexpected answer {other:?}"))
        )),
    }
}
