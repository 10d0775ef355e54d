//! Console pages for suppliers: each supplier's circuit and last sync, the
//! items linked to its products, a sync on demand, and linking an item.

use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use stock_core::ItemId;
use stock_store::PutSupplierLink;
use stock_supplier::regions::is_county_code;

use super::item_forms::{checked, field, Fields};
use super::labels::{t, Label, Lang};
use super::layout::{esc, not_found, page, url_text};
use super::ops::{after, Flash};
use super::session::Session;
use crate::error::ApiError;
use crate::wire::timestamp;
use crate::AppState;
use stock_jobs::supplier_sync::{sync_supplier, Quiet, SyncRequest};
use stock_jobs::SupplierEntry;

/// `updated 2, unchanged 1, failed 0`, or "—" before any sync.
fn last_sync(lang: Lang, entry: &SupplierEntry) -> String {
    match entry.last_sync.lock().expect("last sync lock").as_ref() {
        None => "—".to_owned(),
        Some(last) => format!(
            "{} {}, {} {}, {} {} ({})",
            t(lang, Label::Updated),
            last.summary.updated,
            t(lang, Label::Unchanged),
            last.summary.unchanged,
            t(lang, Label::Failed),
            last.summary.failed(),
            timestamp(last.finished_at_ms),
        ),
    }
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, ApiError> {
    let lang = session.lang;
    let mut rows = String::new();
    for (entry, linked) in state
        .jobs
        .suppliers
        .with_link_counts(state.store.as_ref())
        .await?
    {
        let name = entry.api.name();
        let _ = write!(
            rows,
            r#"<tr><td><a href="/admin/suppliers/{}" id="supplier-{}">{}</a></td><td>{}</td><td>{}</td><td>{linked}</td><td>{}</td></tr>"#,
            url_text(name),
            esc(name),
            esc(name),
            esc(entry.location.as_str()),
            entry.api.circuit().as_str(),
            esc(&last_sync(lang, entry)),
        );
    }
    let body = format!(
        r#"<h1>{}</h1><table id="suppliers"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table>"#,
        t(lang, Label::Suppliers),
        t(lang, Label::Supplier),
        t(lang, Label::Location),
        t(lang, Label::Circuit),
        t(lang, Label::LinkedItems),
        t(lang, Label::LastSync),
    );
    Ok(page(lang, t(lang, Label::Suppliers), Some(&session), &body))
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    Query(query): Query<Flash>,
) -> Result<Response, ApiError> {
    let lang = session.lang;
    let Some(entry) = state.jobs.suppliers.get(&name) else {
        return Ok(not_found(&session, &name));
    };
    let mut rows = String::new();
    for link in state.store.supplier_links(&name).await? {
        let _ = write!(
            rows,
            r#"<tr id="link-{}"><td><a href="/admin/items/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(link.item.as_str()),
            url_text(link.item.as_str()),
            esc(link.item.as_str()),
            esc(&link.product_code),
            if link.check_before_order {
                t(lang, Label::Yes)
            } else {
                t(lang, Label::No)
            },
            link.last_stock
                .map_or_else(|| "—".to_owned(), |s| s.to_string()),
            esc(link.last_county_code.as_deref().unwrap_or("—")),
            link.last_synced_at_ms.map(timestamp).unwrap_or_default(),
        );
    }
    let base = format!("/admin/suppliers/{}", url_text(&name));
    let flash = super::ops::flash(lang, &query);
    let body = format!(
        r#"<h1>{} {}</h1>{flash}<p>{}: {} · {}: {} · {}: {}</p>
<form method="post" action="{base}/sync"><input type="hidden" name="csrf" value="{}">
<label>{} <input name="county_code" id="sync-county" maxlength="6" value="{}" required></label>
<button id="sync">{}</button></form>
<table id="links"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table>
<h2>{}</h2><form method="post" action="{base}/links"><input type="hidden" name="csrf" value="{}">
<label>{} <input name="product_id" id="link-item" maxlength="64" required></label>
<label>{} <input name="product_code" id="link-code" maxlength="64" required></label>
<label><input type="checkbox" name="check_before_order" id="link-check" value="on" checked> {}</label>
<button id="link">{}</button></form>"#,
        t(lang, Label::Supplier),
        esc(&name),
        t(lang, Label::Location),
        esc(entry.location.as_str()),
        t(lang, Label::Circuit),
        entry.api.circuit().as_str(),
        t(lang, Label::LastSync),
        esc(&last_sync(lang, entry)),
        session.csrf,
        t(lang, Label::CountyCode),
        esc(&entry.sync.county_code),
        t(lang, Label::SyncNow),
        t(lang, Label::ProductId),
        t(lang, Label::ProductCode),
        t(lang, Label::CheckBeforeOrder),
        t(lang, Label::SupplierStock),
        t(lang, Label::CountyCode),
        t(lang, Label::LastSynced),
        t(lang, Label::LinkItem),
        session.csrf,
        t(lang, Label::ProductId),
        t(lang, Label::ProductCode),
        t(lang, Label::CheckBeforeOrder),
        t(lang, Label::Create),
    );
    Ok(page(lang, t(lang, Label::Supplier), Some(&session), &body).into_response())
}

pub async fn sync(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    if let Some(refused) = checked(&session, &form) {
        return refused;
    }
    let back = format!("/admin/suppliers/{}", url_text(&name));
    let result = async {
        let entry = state.named_supplier(&name)?;
        let county_code = form
            .get("county_code")
            .map(|c| c.trim())
            .unwrap_or_default();
        if !is_county_code(county_code) {
            return Err(ApiError::field("county_code", "must be 6 digits"));
        }
        let request = SyncRequest {
            county_code: county_code.to_owned(),
            concurrency: entry.sync.concurrency,
            ..SyncRequest::default()
        };
        let summary = sync_supplier(
            &state.engine,
            state.store.as_ref(),
            entry,
            &request,
            &session.key.id,
            &Quiet,
        )
        .await?;
        let lang = session.lang;
        let said = format!(
            "{} {}, {} {}, {} {}",
            t(lang, Label::Updated),
            summary.updated,
            t(lang, Label::Unchanged),
            summary.unchanged,
            t(lang, Label::Failed),
            summary.failed(),
        );
        entry.record_sync(summary);
        Ok(said)
    }
    .await;
    after(&back, result)
}

pub async fn link(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    if let Some(refused) = checked(&session, &form) {
        return refused;
    }
    let back = format!("/admin/suppliers/{}", url_text(&name));
    let result = async {
        state.named_supplier(&name)?;
        let item = ItemId::parse(field(&form, "product_id"))
            .map_err(|e| ApiError::field("product_id", e))?;
        let code = field(&form, "product_code");
        if code.is_empty() || code.chars().count() > 64 {
            return Err(ApiError::field(
                "product_code",
                "must be 1 to 64 characters",
            ));
        }
        if state.store.item(&item).await?.is_none() {
            return Err(ApiError::not_found(format!("item {item} not found")));
        }
        let check = form.contains_key("check_before_order");
        match state
            .store
            .put_supplier_link(&item, &name, code, check)
            .await?
        {
            PutSupplierLink::Linked(_) => Ok(format!("{item} → {code}")),
            PutSupplierLink::CodeTaken { item: other } => Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "ALREADY_EXISTS",
                format!("{code} is already linked to item {other}"),
            )),
        }
    }
    .await;
    after(&back, result)
}
