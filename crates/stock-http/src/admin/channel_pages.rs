//! Console pages for channels: their listings, published against sellable,
//! a sync on demand, and linking a listing.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use stock_core::ItemId;
use stock_store::Channel;

use super::labels::{t, Label, Lang};
use super::layout::{esc, not_found, page, url_text};
use super::ops::{after, Flash};
use super::session::{same, stale, CsrfForm, Session};
use crate::error::ApiError;
use crate::AppState;
use stock_jobs::channel_sync::sellable;

/// How a channel hears of its stock: pushed to its endpoint, or read by it.
fn mode(lang: Lang, channel: &Channel) -> &'static str {
    if channel.endpoint.is_some() {
        t(lang, Label::Push)
    } else {
        t(lang, Label::Pull)
    }
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, ApiError> {
    let lang = session.lang;
    let mut rows = String::new();
    for id in state.store.channels().await? {
        let Some(channel) = state.store.channel(&id).await? else {
            continue;
        };
        let listings = state.store.listings(&id, None).await?;
        let _ = write!(
            rows,
            r#"<tr><td><a href="/admin/channels/{}" id="channel-{}">{}</a></td><td>{}</td><td>{}</td></tr>"#,
            url_text(&id),
            esc(&id),
            esc(&id),
            mode(lang, &channel),
            listings.len()
        );
    }
    let body = format!(
        r#"<h1>{}</h1><table id="channels"><tr><th>{}</th><th>{}</th><th>{}</th></tr>{rows}</table>"#,
        t(lang, Label::Channels),
        t(lang, Label::Channel),
        t(lang, Label::Mode),
        t(lang, Label::Listing),
    );
    Ok(page(lang, t(lang, Label::Channels), Some(&session), &body))
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<Flash>,
) -> Result<Response, ApiError> {
    let lang = session.lang;
    let Some(channel) = state.store.channel(&id).await? else {
        return Ok(not_found(&session, &id));
    };
    let listings = state.store.listings(&channel.id, None).await?;
    let mut ids: Vec<ItemId> = listings.iter().map(|l| l.item.clone()).collect();
    ids.sort();
    ids.dedup();
    let views = state.store.items(&ids).await?;
    let mut rows = String::new();
    for listing in &listings {
        let now = views
            .iter()
            .find(|v| v.item.id == listing.item)
            .map_or(0, |view| sellable(listing, view));
        let differs = listing.published_quantity != Some(now);
        let _ = write!(
            rows,
            r#"<tr id="listing-{}"><td>{}</td><td><a href="/admin/items/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&listing.listing_id),
            esc(&listing.listing_id),
            url_text(listing.item.as_str()),
            esc(listing.item.as_str()),
            listing.buffer,
            listing
                .published_quantity
                .map(|q| q.to_string())
                .unwrap_or_else(|| "—".to_owned()),
            now,
            if differs {
                t(lang, Label::Yes)
            } else {
                t(lang, Label::No)
            },
            esc(listing.last_error.as_deref().unwrap_or_default()),
        );
    }
    let base = format!("/admin/channels/{}", url_text(&channel.id));
    let flash = super::ops::flash(lang, &query);
    let body = format!(
        r#"<h1>{} {}</h1>{flash}<p>{}: {} {}</p>
<form method="post" action="{base}/sync" class="inline"><input type="hidden" name="csrf" value="{}"><button id="sync">{}</button></form>
<table id="listings"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>{rows}</table>
<h2>{}</h2><form method="post" action="{base}/listings"><input type="hidden" name="csrf" value="{}">
<label>{} <input name="listing_id" id="listing-id" maxlength="64" required></label>
<label>{} <input name="product_id" id="listing-item" maxlength="64" required></label>
<label>{} <input name="buffer" id="listing-buffer" type="number" min="0" value="0"></label>
<button id="link">{}</button></form>"#,
        t(lang, Label::Channel),
        esc(&channel.id),
        t(lang, Label::Mode),
        mode(lang, &channel),
        esc(channel.endpoint.as_deref().unwrap_or_default()),
        session.csrf,
        t(lang, Label::SyncNow),
        t(lang, Label::Listing),
        t(lang, Label::ProductId),
        t(lang, Label::Buffer),
        t(lang, Label::Published),
        t(lang, Label::Sellable),
        t(lang, Label::Differs),
        t(lang, Label::Link),
        session.csrf,
        t(lang, Label::Listing),
        t(lang, Label::ProductId),
        t(lang, Label::Buffer),
        t(lang, Label::Create),
    );
    Ok(page(lang, t(lang, Label::Channel), Some(&session), &body).into_response())
}

pub async fn sync(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !same(&form.csrf, &session.csrf) {
        return stale(&session);
    }
    let back = format!("/admin/channels/{}", url_text(&id));
    let result = async {
        let channel = state
            .store
            .channel(&id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("channel {id} not found")))?;
        let report = state.jobs.sync_channel(&channel, None).await?;
        let lang = session.lang;
        Ok(format!(
            "{} {}, {} {}, {} {}",
            t(lang, Label::Synced),
            report.synced,
            t(lang, Label::Skipped),
            report.skipped,
            t(lang, Label::Failed),
            report.failures.len()
        ))
    }
    .await;
    after(&back, result)
}

pub async fn link(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !form
        .get("csrf")
        .is_some_and(|csrf| same(csrf, &session.csrf))
    {
        return stale(&session);
    }
    let back = format!("/admin/channels/{}", url_text(&id));
    let result = async {
        let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
        let listing =
            ItemId::parse(field("listing_id")).map_err(|e| ApiError::field("listing_id", e))?;
        let item =
            ItemId::parse(field("product_id")).map_err(|e| ApiError::field("product_id", e))?;
        let buffer =
            match field("buffer") {
                "" => 0,
                raw => raw.parse::<i64>().ok().filter(|b| *b >= 0).ok_or_else(|| {
                    ApiError::field("buffer", "must be a whole number, not negative")
                })?,
            };
        if state.store.item(&item).await?.is_none() {
            return Err(ApiError::not_found(format!("item {item} not found")));
        }
        state
            .store
            .put_listing(&id, listing.as_str(), &item, None, buffer)
            .await?;
        Ok(format!("{listing} → {item}"))
    }
    .await;
    after(&back, result)
}
