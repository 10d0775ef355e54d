//! The admin console at `/admin`: server-rendered pages, no script needed.
//!
//! Sign-in takes an admin API key or a console user's name and password
//! (`sign_in.rs`, `password.rs`), with failures limited per user name and
//! per client address (`throttle.rs`). The session is a signed cookie, and every
//! form carries a CSRF token (`session.rs`). Pages share one layout
//! (`layout.rs`) and speak English or Simplified Chinese (`labels.rs`).
//! The pages themselves: the dashboard and items (`item_pages.rs`, with the
//! item forms in `stock.rs`), health, alerts, orders, holds and the order
//! simulator (`ops.rs`), channels (`channel_pages.rs`), suppliers
//! (`supplier_pages.rs`), API keys (`key_pages.rs`); `live.rs` keeps open
//! pages current and draws the charts.

mod channel_pages;
mod item_forms;
mod item_pages;
mod key_pages;
mod labels;
mod layout;
mod live;
mod ops;
pub mod password;
mod session;
mod sign_in;
mod supplier_pages;
mod throttle;

use axum::routing::{get, post};
use axum::Router;

pub use sign_in::valid_user_name;
pub use throttle::{SignInLimits, SignInThrottle};

use crate::AppState;

/// Rows on a page of items, orders or holds, and ledger rows on an item's page.
const ROWS_PER_PAGE: u32 = 20;

/// The console's routes, under `/admin`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(item_pages::dashboard))
        .route(
            "/admin/login",
            get(sign_in::login_page).post(sign_in::login),
        )
        .route("/admin/logout", post(session::logout))
        .route("/admin/lang/{lang}", get(labels::set_lang))
        .route("/admin/items", get(item_pages::items))
        .route("/admin/items/{id}", get(item_pages::item))
        .route("/admin/items/{id}/adjust", post(item_pages::adjust))
        .route("/admin/items/new", post(item_forms::create))
        .route("/admin/items/{id}/edit", post(item_forms::edit))
        .route("/admin/items/{id}/count", post(item_forms::count))
        .route("/admin/items/{id}/transfer", post(item_forms::transfer))
        .route(
            "/admin/keys",
            get(key_pages::keys).post(key_pages::create_key),
        )
        .route("/admin/keys/{id}/revoke", post(key_pages::revoke_key))
        .route("/admin/health", get(ops::health))
        .route("/admin/health/trigger", post(ops::trigger))
        .route("/admin/health/fix/{id}", post(ops::fix))
        .route("/admin/alerts", get(ops::alerts))
        .route("/admin/alerts/{id}/{action}", post(ops::close_alert))
        .route("/admin/orders", get(ops::orders))
        .route("/admin/orders/{id}", get(ops::order))
        .route("/admin/orders/{id}/{step}", post(ops::order_step))
        .route("/admin/simulate", get(ops::simulate).post(ops::place))
        .route("/admin/events", get(live::events))
        .route("/admin/holds", get(ops::holds))
        .route("/admin/holds/{id}", get(ops::hold))
        .route("/admin/holds/{id}/release", post(ops::release))
        .route("/admin/channels", get(channel_pages::list))
        .route("/admin/channels/{channel}", get(channel_pages::show))
        .route("/admin/channels/{channel}/sync", post(channel_pages::sync))
        .route(
            "/admin/channels/{channel}/listings",
            post(channel_pages::link),
        )
        .route("/admin/suppliers", get(supplier_pages::list))
        .route("/admin/suppliers/{supplier}", get(supplier_pages::show))
        .route(
            "/admin/suppliers/{supplier}/sync",
            post(supplier_pages::sync),
        )
        .route(
            "/admin/suppliers/{supplier}/links",
            post(supplier_pages::link),
        )
}
