//! Console forms that change items and their stock: create, edit details,
//! set after a count (with the version counted against), transfer. Each
//! goes through the engine like the API and names the ledger rows it wrote.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;
use stock_core::{Item, ItemId, ItemStatus, LocationId};
use stock_store::{Command, ItemPatch, Outcome, StockSet};

use super::labels::{t, Label, Lang};
use super::layout::url_text;
use super::ops::{after, submit};
use super::session::{same, stale, Session};
use crate::error::ApiError;
use crate::AppState;

pub(super) type Fields = HashMap<String, String>;

pub(super) fn field<'a>(form: &'a Fields, name: &str) -> &'a str {
    form.get(name).map(|v| v.trim()).unwrap_or_default()
}

fn number(form: &Fields, name: &str) -> Result<Option<i64>, ApiError> {
    match field(form, name) {
        "" => Ok(None),
        raw => raw
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::field(name, "must be a whole number")),
    }
}

fn text(form: &Fields, name: &str, length_max: usize) -> Result<Option<String>, ApiError> {
    match field(form, name) {
        "" => Ok(None),
        raw if raw.chars().count() > length_max || raw.chars().any(char::is_control) => {
            Err(ApiError::field(
                name,
                format!("must be at most {length_max} visible characters"),
            ))
        }
        raw => Ok(Some(raw.to_owned())),
    }
}

fn location(form: &Fields, name: &str) -> Result<LocationId, ApiError> {
    LocationId::parse(field(form, name)).map_err(|error| ApiError::field(name, error))
}

/// "ledger #3, #4" for what a command wrote.
fn written(lang: Lang, outcome: &Outcome) -> String {
    let ids: Vec<String> = match outcome {
        Outcome::Item { entries, .. } | Outcome::Transferred { entries, .. } => {
            entries.iter().map(|e| format!("#{}", e.id)).collect()
        }
        _ => Vec::new(),
    };
    if ids.is_empty() {
        t(lang, Label::Saved).to_owned()
    } else {
        format!("{} {}", t(lang, Label::LedgerRows), ids.join(", "))
    }
}

/// `None` when a form carries the session's CSRF token; else the answer that refuses it.
pub(super) fn checked(session: &Session, form: &Fields) -> Option<Response> {
    (!form
        .get("csrf")
        .is_some_and(|csrf| same(csrf, &session.csrf)))
    .then(|| stale(session))
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<Fields>,
) -> Response {
    if let Some(refused) = checked(&session, &form) {
        return refused;
    }
    let result = async {
        let id = ItemId::parse(field(&form, "product_id"))
            .map_err(|error| ApiError::field("product_id", error))?;
        let name = text(&form, "name", 200)?
            .ok_or_else(|| ApiError::field("name", "must not be blank"))?;
        let stock = number(&form, "stock")?.unwrap_or(0);
        if stock < 0 {
            return Err(ApiError::field("stock", "must not be negative"));
        }
        let min_stock = number(&form, "min_stock")?;
        if min_stock.is_some_and(|m| m < 0) {
            return Err(ApiError::field("min_stock", "must not be negative"));
        }
        let item = Item {
            id: id.clone(),
            name,
            status: ItemStatus::Active,
            min_stock,
            max_stock: None,
            allow_backorder: false,
        };
        let command = Command::CreateItem {
            item,
            location: LocationId::default_location(),
            opening_stock: stock,
        };
        let outcome = submit(&state, &session, command).await?;
        Ok((id, written(session.lang, &outcome)))
    }
    .await;
    match result {
        Ok((id, done)) => after(&format!("/admin/items/{}", url_text(id.as_str())), Ok(done)),
        Err(error) => after("/admin/items", Err(error)),
    }
}

/// Runs a form on one item's page: check its token, build the command from
/// the fields, submit it, and go back to the item saying what it wrote.
async fn on_item(
    state: &AppState,
    session: &Session,
    id: &str,
    form: &Fields,
    build: impl FnOnce(ItemId, &Fields) -> Result<Command, ApiError>,
) -> Response {
    if let Some(refused) = checked(session, form) {
        return refused;
    }
    let result = async {
        let item = ItemId::parse(id).map_err(|error| ApiError::field("product_id", error))?;
        let command = build(item, form)?;
        Ok(written(
            session.lang,
            &submit(state, session, command).await?,
        ))
    }
    .await;
    after(&format!("/admin/items/{}", url_text(id)), result)
}

pub async fn edit(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    on_item(&state, &session, &id, &form, |id, form| {
        let status =
            match field(form, "status") {
                "" => None,
                raw => Some(ItemStatus::parse(raw).ok_or_else(|| {
                    ApiError::field("status", "must be active, inactive or locked")
                })?),
            };
        let bound = |name: &str| -> Result<Option<Option<i64>>, ApiError> {
            let value = number(form, name)?;
            if value.is_some_and(|v| v < 0) {
                return Err(ApiError::field(name, "must not be negative"));
            }
            Ok(Some(value))
        };
        let patch = ItemPatch {
            name: text(form, "name", 200)?,
            status,
            min_stock: bound("min_stock")?,
            max_stock: bound("max_stock")?,
            allow_backorder: None,
        };
        if let (Some(Some(min)), Some(Some(max))) = (patch.min_stock, patch.max_stock) {
            if min > max {
                return Err(ApiError::field("min_stock", "must not be above max_stock"));
            }
        }
        Ok(Command::UpdateItem {
            id,
            patch,
            set_stock: None,
        })
    })
    .await
}

pub async fn count(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    on_item(&state, &session, &id, &form, |id, form| {
        let on_hand =
            number(form, "on_hand")?.ok_or_else(|| ApiError::field("on_hand", "is needed"))?;
        let expected_version =
            number(form, "version")?.ok_or_else(|| ApiError::field("version", "is needed"))?;
        Ok(Command::UpdateItem {
            id,
            patch: ItemPatch::default(),
            set_stock: Some(StockSet {
                location: location(form, "location")?,
                on_hand,
                expected_version,
                reason: text(form, "reason", 500)?,
            }),
        })
    })
    .await
}

pub async fn transfer(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    on_item(&state, &session, &id, &form, |item, form| {
        let quantity = number(form, "quantity")?
            .filter(|q| *q >= 1)
            .ok_or_else(|| ApiError::field("quantity", "must be at least 1"))?;
        Ok(Command::Transfer {
            item,
            source: location(form, "source")?,
            target: location(form, "target")?,
            quantity,
            reason: text(form, "reason", 500)?,
        })
    })
    .await
}
