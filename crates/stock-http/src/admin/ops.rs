//! Console pages for daily work: health diffs, alerts, orders and holds, and
//! the page that simulates an order (seed 000's test page).

use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use stock_core::{ItemId, OrderStatus};
use stock_store::{
    AlertFilter, AlertStatus, Command, HoldLineRequest, ItemFilter, OrderFilter, Outcome, Page,
    Reply, WriteMeta,
};

use super::labels::{t, Label, Lang};
use super::layout::{esc, not_found, page, redirect, url_text};
use super::session::{same, stale, CsrfForm, Session};
use super::ROWS_PER_PAGE;
use crate::auth::{random_id, time_ordered_id};
use crate::error::ApiError;
use crate::wire::timestamp;
use crate::AppState;

/// Runs a command as the signed-in admin.
pub(super) async fn submit(
    state: &AppState,
    session: &Session,
    command: Command,
) -> Result<Outcome, ApiError> {
    let meta = WriteMeta {
        operator: session.key.id.clone(),
        trace_id: Some(time_ordered_id(10)),
        idempotency: None,
    };
    match state.engine.submit(command, meta).await {
        Reply::Fresh(Ok(outcome)) => Ok(outcome),
        Reply::Fresh(Err(error)) => Err(ApiError::from(error)),
        other => Err(ApiError::internal(&anyhow::anyhow!(
            "unexpected answer {other:?}"
        ))),
    }
}

/// Where to go after a form: `to`, with what happened.
pub(super) fn after(to: &str, result: Result<String, ApiError>) -> Response {
    let separator = if to.contains('?') { '&' } else { '?' };
    match result {
        Ok(done) => redirect(&format!("{to}{separator}done={}", url_text(&done))),
        Err(error) => redirect(&format!(
            "{to}{separator}error={}",
            url_text(&format!("{}: {}", error.code, error.message))
        )),
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct Flash {
    done: Option<String>,
    error: Option<String>,
    status: Option<String>,
    order: Option<String>,
}

/// "tea × 2, cup × 1" for a hold's lines.
fn line_summary(lines: &[stock_store::HoldLine]) -> String {
    lines
        .iter()
        .map(|l| format!("{} × {}", esc(l.item.as_str()), l.quantity))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Links that list a page's rows of one status each.
fn status_links(base: &str, statuses: &[&str]) -> String {
    statuses
        .iter()
        .map(|status| format!(r#" <a href="{base}?status={status}">{status}</a>"#))
        .collect()
}

pub(super) fn flash(lang: Lang, flash: &Flash) -> String {
    let mut out = String::new();
    if let Some(done) = &flash.done {
        let _ = write!(out, r#"<p class="ok" id="done">{}</p>"#, esc(done));
    }
    if let Some(error) = &flash.error {
        let _ = write!(
            out,
            r#"<p class="bad" id="error">{}: {}</p>"#,
            t(lang, Label::Refused),
            esc(error)
        );
    }
    out
}

fn button(action: &str, csrf: &str, id: &str, label: &str, fields: &[(&str, &str)]) -> String {
    let mut hidden = String::new();
    for (name, value) in fields {
        let _ = write!(
            hidden,
            r#"<input type="hidden" name="{name}" value="{}">"#,
            esc(value)
        );
    }
    format!(
        r#"<form method="post" action="{action}" class="inline"><input type="hidden" name="csrf" value="{csrf}">{hidden}<button id="{}">{}</button></form>"#,
        esc(id),
        esc(label)
    )
}

// ---------------------------------------------------------------------------
// Health diffs

pub async fn health(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<Flash>,
) -> Result<Html<String>, ApiError> {
    let lang = session.lang;
    let report = state
        .store
        .health_report(state.jobs.settings.health.pending_listed_max)
        .await?;
    let cache = match &state.jobs.cache {
        Some(cache) => format!(
            r#"{}: <b id="cache-state">{}</b> ({})"#,
            t(lang, Label::Cache),
            cache.state().as_str(),
            esc(&cache.address())
        ),
        None => format!(
            r#"{}: <b id="cache-state">{}</b>"#,
            t(lang, Label::Cache),
            t(lang, Label::NotConfigured)
        ),
    };
    let last = match &report.last_run {
        Some(run) => format!(
            r#"<p id="last-run">{} #{} ({}) {} · {}: {} · {}: {} · {}: {}{}</p>"#,
            t(lang, Label::LastRun),
            run.id,
            esc(&run.trigger),
            timestamp(run.finished_at_ms),
            t(lang, Label::Checked),
            run.checked,
            t(lang, Label::DiffsFound),
            run.diffs_found,
            t(lang, Label::AutoFixed),
            run.auto_fixed,
            run.error
                .as_deref()
                .map(|e| format!(" · {}", esc(e)))
                .unwrap_or_default(),
        ),
        None => String::new(),
    };
    let mut rows = String::new();
    for diff in &report.pending {
        let action = format!("/admin/health/fix/{}", diff.id);
        let _ = write!(
            rows,
            r#"<tr id="diff-{}"><td>{}</td><td><a href="/admin/items/{}">{}</a></td><td>{}</td><td>{}</td><td>{:+}</td><td>{} {}</td></tr>"#,
            diff.id,
            diff.id,
            url_text(diff.item.as_str()),
            esc(diff.item.as_str()),
            diff.db_value,
            diff.cache_value,
            diff.diff,
            button(
                &action,
                &session.csrf,
                &format!("use-db-{}", diff.id),
                t(lang, Label::UseDb),
                &[("fix_type", "use_db")]
            ),
            button(
                &action,
                &session.csrf,
                &format!("use-redis-{}", diff.id),
                t(lang, Label::UseRedis),
                &[("fix_type", "use_redis")]
            ),
        );
    }
    let body = format!(
        r#"<h1>{}</h1>{}<p>{cache}</p>{last}{}
<h2>{} ({})</h2><table id="diffs"><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>{rows}</table>"#,
        t(lang, Label::Health),
        flash(lang, &query),
        button(
            "/admin/health/trigger",
            &session.csrf,
            "trigger",
            t(lang, Label::RunCheck),
            &[]
        ),
        t(lang, Label::PendingDiffs),
        report.pending_total,
        t(lang, Label::ProductId),
        t(lang, Label::DbStock),
        t(lang, Label::RedisStock),
        t(lang, Label::Change),
    );
    Ok(page(lang, t(lang, Label::Health), Some(&session), &body))
}

pub async fn trigger(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !same(&form.csrf, &session.csrf) {
        return stale(&session);
    }
    let result = state
        .jobs
        .run_health_check(stock_jobs::health_check::Trigger::Manual, &session.key.id)
        .await
        .map_err(ApiError::from)
        .map(|(run, _)| {
            format!(
                "{} #{}: {} / {}",
                t(session.lang, Label::CheckDone),
                run.id,
                run.diffs_found,
                run.checked
            )
        });
    after("/admin/health", result)
}

#[derive(Debug, Deserialize)]
pub struct FixForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    fix_type: String,
}

pub async fn fix(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<FixForm>,
) -> Response {
    if !same(&form.csrf, &session.csrf) {
        return stale(&session);
    }
    let result = async {
        let use_redis = match form.fix_type.as_str() {
            "use_db" => false,
            "use_redis" => true,
            _ => return Err(ApiError::field("fix_type", "must be use_db or use_redis")),
        };
        let fix = state.jobs.prepare_fix(id, use_redis).await?;
        match submit(&state, &session, Command::FixDiff { id, fix }).await? {
            Outcome::DiffFixed { diff, .. } => Ok(format!(
                "{} #{} ({})",
                t(session.lang, Label::Fixed),
                diff.id,
                form.fix_type
            )),
            other => Err(ApiError::internal(&anyhow::anyhow!("unexpected {other:?}"))),
        }
    }
    .await;
    after("/admin/health", result)
}

// ---------------------------------------------------------------------------
// Alerts

pub async fn alerts(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<Flash>,
) -> Result<Html<String>, ApiError> {
    let lang = session.lang;
    let filter = AlertFilter {
        item: None,
        kind: None,
        status: None,
        open: true,
    };
    let paged = state
        .store
        .alerts(
            &filter,
            Page {
                number: 1,
                size: 100,
            },
        )
        .await?;
    let mut rows = String::new();
    for alert in &paged.rows {
        let base = format!("/admin/alerts/{}", alert.id);
        let _ = write!(
            rows,
            r#"<tr id="alert-{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>"#,
            alert.id,
            alert.kind.as_str(),
            alert.status.as_str(),
            esc(&alert.message),
            timestamp(alert.created_at_ms),
            button(
                &format!("{base}/ack"),
                &session.csrf,
                &format!("ack-{}", alert.id),
                t(lang, Label::Ack),
                &[]
            ),
            button(
                &format!("{base}/ignore"),
                &session.csrf,
                &format!("ignore-{}", alert.id),
                t(lang, Label::Ignore),
                &[]
            ),
        );
    }
    let body = format!(
        r#"<h1>{} ({})</h1>{}<table id="alerts"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>{rows}</table>"#,
        t(lang, Label::OpenAlerts),
        paged.total,
        flash(lang, &query),
        t(lang, Label::Type),
        t(lang, Label::Status),
        t(lang, Label::Message),
        t(lang, Label::Time),
    );
    Ok(page(lang, t(lang, Label::Alerts), Some(&session), &body))
}

pub async fn close_alert(
    State(state): State<AppState>,
    session: Session,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !same(&form.csrf, &session.csrf) {
        return stale(&session);
    }
    let status = if action == "ack" {
        AlertStatus::Acknowledged
    } else {
        AlertStatus::Ignored
    };
    let result = submit(&state, &session, Command::CloseAlert { id, status })
        .await
        .map(|_| {
            format!(
                "{} #{id} ({})",
                t(session.lang, Label::Closed),
                status.as_str()
            )
        });
    after("/admin/alerts", result)
}

// ---------------------------------------------------------------------------
// Orders and holds

pub async fn orders(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<Flash>,
) -> Result<Html<String>, ApiError> {
    let lang = session.lang;
    let status = query.status.as_deref().and_then(OrderStatus::parse);
    let paged = state
        .store
        .orders(
            &OrderFilter { status },
            Page {
                number: 1,
                size: ROWS_PER_PAGE * 5,
            },
        )
        .await?;
    let now = stock_store::now_ms();
    let mut rows = String::new();
    for order in &paged.rows {
        let _ = write!(
            rows,
            r#"<tr id="order-{}"><td><a href="/admin/orders/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&order.id),
            url_text(&order.id),
            esc(&order.id),
            order.status_at(now).as_str(),
            line_summary(&order.hold.lines),
            timestamp(order.created_at_ms),
        );
    }
    let filters = status_links(
        "/admin/orders",
        &["pending", "paid", "cancelled", "expired"],
    );
    let body = format!(
        r#"<h1>{} ({})</h1>{}<p><a href="/admin/orders">{}</a>{filters}</p>
<table id="orders"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table>"#,
        t(lang, Label::Orders),
        paged.total,
        flash(lang, &query),
        t(lang, Label::All),
        t(lang, Label::Order),
        t(lang, Label::Status),
        t(lang, Label::Lines),
        t(lang, Label::Time),
    );
    Ok(page(lang, t(lang, Label::Orders), Some(&session), &body))
}

pub async fn order(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<Flash>,
) -> Result<Response, ApiError> {
    let lang = session.lang;
    let Some(order) = state.store.order(&id).await? else {
        return Ok(not_found(&session, &id));
    };
    let now = stock_store::now_ms();
    let base = format!("/admin/orders/{}", url_text(&order.id));
    let mut lines = String::new();
    for line in &order.hold.lines {
        let _ = write!(
            lines,
            r#"<tr><td><a href="/admin/items/{}">{}</a></td><td>{}</td><td>{}</td></tr>"#,
            url_text(line.item.as_str()),
            esc(line.item.as_str()),
            esc(line.location.as_str()),
            line.quantity
        );
    }
    let status = order.status_at(now);
    let actions = if status == OrderStatus::Pending {
        format!(
            "{} {}",
            button(
                &format!("{base}/pay"),
                &session.csrf,
                "pay",
                t(lang, Label::Pay),
                &[]
            ),
            button(
                &format!("{base}/cancel"),
                &session.csrf,
                "cancel",
                t(lang, Label::Cancel),
                &[]
            )
        )
    } else if status == OrderStatus::Paid {
        button(
            &format!("{base}/cancel"),
            &session.csrf,
            "cancel",
            t(lang, Label::CancelPaid),
            &[],
        )
    } else {
        String::new()
    };
    let hold_link = format!(
        r#"<a href="/admin/holds/{}" id="hold-link">{}</a>"#,
        url_text(&order.hold.id),
        esc(&order.hold.id)
    );
    let body = format!(
        r#"<h1>{} {}</h1>{}<p>{}: <b id="order-status">{}</b> · {}: {} ({}, {} {})</p><p>{actions}</p>
<table id="lines"><tr><th>{}</th><th>{}</th><th>{}</th></tr>{lines}</table>"#,
        t(lang, Label::Order),
        esc(&order.id),
        flash(lang, &query),
        t(lang, Label::Status),
        status.as_str(),
        t(lang, Label::Hold),
        hold_link,
        order.hold.status_at(now).as_str(),
        t(lang, Label::Expires),
        timestamp(order.hold.expires_at_ms),
        t(lang, Label::ProductId),
        t(lang, Label::Location),
        t(lang, Label::Quantity),
    );
    Ok(page(lang, t(lang, Label::Order), Some(&session), &body).into_response())
}

pub async fn order_step(
    State(state): State<AppState>,
    session: Session,
    Path((id, step)): Path<(String, String)>,
    Form(form): Form<ReturnForm>,
) -> Response {
    if !same(&form.csrf, &session.csrf) {
        return stale(&session);
    }
    let command = if step == "pay" {
        Command::PayOrder { id: id.clone() }
    } else {
        Command::CancelOrder {
            id: id.clone(),
            reason: Some("cancelled in the admin console".to_owned()),
        }
    };
    let result = submit(&state, &session, command).await.map(|_| {
        let done = if step == "pay" {
            Label::PaidDone
        } else {
            Label::CancelledDone
        };
        format!("{id}: {}", t(session.lang, done))
    });
    let back = match form.back.as_deref() {
        Some("simulate") => format!("/admin/simulate?order={}", url_text(&id)),
        _ => format!("/admin/orders/{}", url_text(&id)),
    };
    after(&back, result)
}

#[derive(Debug, Deserialize)]
pub struct ReturnForm {
    #[serde(default)]
    csrf: String,
    back: Option<String>,
}

// ---------------------------------------------------------------------------
// Simulate an order

/// Lines the simulation form offers.
const SIMULATED_LINES: usize = 3;
/// Items the simulation form lists to pick from.
const SIMULATED_ITEMS_MAX: u32 = 100;

pub async fn simulate(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<Flash>,
) -> Result<Html<String>, ApiError> {
    let lang = session.lang;
    let filter = ItemFilter {
        status: None,
        low_stock: false,
        out_of_stock: false,
        query: None,
        location: None,
        low_stock_threshold: state.config.low_stock_threshold,
    };
    let items = state
        .store
        .list_items(
            &filter,
            Page {
                number: 1,
                size: SIMULATED_ITEMS_MAX,
            },
        )
        .await?;
    let mut options = String::from(r#"<option value="">—</option>"#);
    for view in &items.rows {
        let _ = write!(
            options,
            r#"<option value="{}">{} ({}: {})</option>"#,
            esc(view.item.id.as_str()),
            esc(&view.item.name),
            t(lang, Label::Available),
            view.available()
        );
    }
    let mut lines = String::new();
    for n in 0..SIMULATED_LINES {
        let _ = write!(
            lines,
            r#"<p><select name="item{n}" id="item{n}">{options}</select> × <input name="quantity{n}" id="quantity{n}" type="number" min="1" value="1"></p>"#
        );
    }
    let mut current = String::new();
    if let Some(order_id) = &query.order {
        if let Some(order) = state.store.order(order_id).await? {
            let ids: Vec<ItemId> = order.hold.lines.iter().map(|l| l.item.clone()).collect();
            let views = state.store.items(&ids).await?;
            let mut rows = String::new();
            for view in &views {
                let _ = write!(
                    rows,
                    r#"<tr id="level-{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                    esc(view.item.id.as_str()),
                    esc(&view.item.name),
                    view.on_hand(),
                    view.reserved(),
                    view.available()
                );
            }
            let status = order.status_at(stock_store::now_ms());
            let base = format!("/admin/orders/{}", url_text(&order.id));
            let actions = if status == OrderStatus::Pending {
                format!(
                    "{} {}",
                    button(
                        &format!("{base}/pay"),
                        &session.csrf,
                        "pay",
                        t(lang, Label::Pay),
                        &[("back", "simulate")]
                    ),
                    button(
                        &format!("{base}/cancel"),
                        &session.csrf,
                        "cancel",
                        t(lang, Label::Cancel),
                        &[("back", "simulate")]
                    )
                )
            } else {
                String::new()
            };
            let _ = write!(
                current,
                r#"<h2>{} <a href="/admin/orders/{}">{}</a>: <span id="order-status">{}</span></h2><p>{actions}</p>
<table id="levels"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table>"#,
                t(lang, Label::Order),
                url_text(&order.id),
                esc(&order.id),
                status.as_str(),
                t(lang, Label::ProductId),
                t(lang, Label::Name),
                t(lang, Label::OnHand),
                t(lang, Label::Reserved),
                t(lang, Label::Available),
            );
        }
    }
    let body = format!(
        r#"<h1>{}</h1>{}{current}<h2>{}</h2><form method="post" action="/admin/simulate"><input type="hidden" name="csrf" value="{}">{lines}<button id="place">{}</button></form>"#,
        t(lang, Label::Simulate),
        flash(lang, &query),
        t(lang, Label::PlaceOrder),
        session.csrf,
        t(lang, Label::PlaceOrder),
    );
    Ok(page(lang, t(lang, Label::Simulate), Some(&session), &body))
}

pub async fn place(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Response {
    if !form
        .get("csrf")
        .is_some_and(|csrf| same(csrf, &session.csrf))
    {
        return stale(&session);
    }
    let mut lines = Vec::new();
    for n in 0..SIMULATED_LINES {
        let item = form
            .get(&format!("item{n}"))
            .map(|s| s.trim())
            .unwrap_or_default();
        if item.is_empty() {
            continue;
        }
        let Ok(item) = ItemId::parse(item) else {
            return after(
                "/admin/simulate",
                Err(ApiError::field("item", "unknown item")),
            );
        };
        let quantity = form
            .get(&format!("quantity{n}"))
            .and_then(|q| q.trim().parse::<i64>().ok())
            .filter(|q| *q >= 1);
        let Some(quantity) = quantity else {
            return after(
                "/admin/simulate",
                Err(ApiError::field("quantity", "must be at least 1")),
            );
        };
        if lines.iter().any(|l: &HoldLineRequest| l.item == item) {
            return after(
                "/admin/simulate",
                Err(ApiError::field("item", "pick an item once")),
            );
        }
        lines.push(HoldLineRequest {
            item,
            location: None,
            quantity,
        });
    }
    if lines.is_empty() {
        return after(
            "/admin/simulate",
            Err(ApiError::field("item", "pick at least one item")),
        );
    }
    let id = format!("sim-{}", random_id(6));
    let command = Command::CreateOrder {
        id: id.clone(),
        hold_id: format!("rsv_{}", time_ordered_id(8)),
        lines,
        ttl_ms: i64::try_from(state.config.hold_ttl_default.as_millis()).unwrap_or(i64::MAX),
    };
    match submit(&state, &session, command).await {
        Ok(_) => redirect(&format!("/admin/simulate?order={}", url_text(&id))),
        Err(error) => after("/admin/simulate", Err(error)),
    }
}

pub async fn hold(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<Flash>,
) -> Result<Response, ApiError> {
    let lang = session.lang;
    let Some(hold) = state.store.hold(&id).await? else {
        return Ok(not_found(&session, &id));
    };
    let status = hold.status_at(stock_store::now_ms());
    let mut lines = String::new();
    for line in &hold.lines {
        let _ = write!(
            lines,
            r#"<tr><td><a href="/admin/items/{}">{}</a></td><td>{}</td><td>{}</td></tr>"#,
            url_text(line.item.as_str()),
            esc(line.item.as_str()),
            esc(line.location.as_str()),
            line.quantity
        );
    }
    let release = if status == stock_core::HoldStatus::Active {
        button(
            &format!("/admin/holds/{}/release", url_text(&hold.id)),
            &session.csrf,
            "release",
            t(lang, Label::Release),
            &[],
        )
    } else {
        String::new()
    };
    let body = format!(
        r#"<h1>{} {}</h1>{}<p>{}: <b id="hold-status">{}</b> · {}: <a href="/admin/orders/{}">{}</a> · {} {}</p><p>{release}</p>
<table id="lines"><tr><th>{}</th><th>{}</th><th>{}</th></tr>{lines}</table>"#,
        t(lang, Label::Hold),
        esc(&hold.id),
        flash(lang, &query),
        t(lang, Label::Status),
        status.as_str(),
        t(lang, Label::Order),
        url_text(&hold.order_id),
        esc(&hold.order_id),
        t(lang, Label::Expires),
        timestamp(hold.expires_at_ms),
        t(lang, Label::ProductId),
        t(lang, Label::Location),
        t(lang, Label::Quantity),
    );
    Ok(page(lang, t(lang, Label::Hold), Some(&session), &body).into_response())
}

pub async fn release(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !same(&form.csrf, &session.csrf) {
        return stale(&session);
    }
    let command = Command::ReleaseHold {
        id: id.clone(),
        reason: Some("released in the admin console".to_owned()),
    };
    let result = submit(&state, &session, command)
        .await
        .map(|_| format!("{id}: {}", t(session.lang, Label::ReleasedDone)));
    after(&format!("/admin/holds/{}", url_text(&id)), result)
}

pub async fn holds(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<Flash>,
) -> Result<Html<String>, ApiError> {
    let lang = session.lang;
    let status = query
        .status
        .as_deref()
        .and_then(stock_core::HoldStatus::parse);
    let paged = state
        .store
        .holds(
            status,
            Page {
                number: 1,
                size: ROWS_PER_PAGE * 5,
            },
        )
        .await?;
    let now = stock_store::now_ms();
    let mut rows = String::new();
    for hold in &paged.rows {
        let _ = write!(
            rows,
            r#"<tr id="hold-{}"><td><a href="/admin/holds/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&hold.id),
            url_text(&hold.id),
            esc(&hold.id),
            esc(&hold.order_id),
            hold.status_at(now).as_str(),
            line_summary(&hold.lines),
            timestamp(hold.expires_at_ms),
        );
    }
    let filters = status_links(
        "/admin/holds",
        &["active", "committed", "released", "expired"],
    );
    let body = format!(
        r#"<h1>{} ({})</h1><p><a href="/admin/holds">{}</a>{filters}</p>
<table id="holds"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table>"#,
        t(lang, Label::Holds),
        paged.total,
        t(lang, Label::All),
        t(lang, Label::Hold),
        t(lang, Label::Order),
        t(lang, Label::Status),
        t(lang, Label::Lines),
        t(lang, Label::Expires),
    );
    Ok(page(lang, t(lang, Label::Holds), Some(&session), &body))
}
