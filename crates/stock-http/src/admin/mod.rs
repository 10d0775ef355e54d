//! The admin console at `/admin`: server-rendered pages, no script needed.
//!
//! Sign-in takes an admin API key. The session is a cookie (HttpOnly,
//! SameSite=Strict, Path=/admin) holding the key's id, an expiry and a nonce,
//! signed with HMAC-SHA256 keyed by the stored hash of the key's secret: every
//! replica can check it, nothing is stored, and revoking the key ends its
//! sessions. Every form carries a CSRF token derived the same way from the
//! session's nonce. Labels come in English and Simplified Chinese.

mod channels;
mod live;
mod ops;
pub mod password;
mod stock;
mod suppliers;

use std::fmt::Write as _;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use stock_core::{ItemId, ItemStatus, LocationId, Role};
use stock_store::{ApiKey, Command, ItemFilter, LedgerFilter, Outcome, Page, Reply, WriteMeta};

use crate::auth::{generate_key, hash_secret, random_id};
use crate::error::ApiError;
use crate::wire::timestamp;
use crate::AppState;

const SESSION_COOKIE: &str = "stockd_admin";
const LANG_COOKIE: &str = "stockd_lang";
const LOGIN_COOKIE: &str = "stockd_login";
/// Rows on a page of items, and ledger rows on an item's page.
const ROWS_PER_PAGE: u32 = 20;
/// Ledger rows drawn in an item's chart.
const CHART_ROWS: u32 = 100;
/// The longest reason an adjustment may give.
const REASON_LENGTH_MAX: usize = 500;

/// The console's routes, under `/admin`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/lang/{lang}", get(set_lang))
        .route("/admin/items", get(items))
        .route("/admin/items/{id}", get(item))
        .route("/admin/items/{id}/adjust", post(adjust))
        .route("/admin/items/new", post(stock::create))
        .route("/admin/items/{id}/edit", post(stock::edit))
        .route("/admin/items/{id}/count", post(stock::count))
        .route("/admin/items/{id}/transfer", post(stock::transfer))
        .route("/admin/keys", get(keys).post(create_key))
        .route("/admin/keys/{id}/revoke", post(revoke_key))
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
        .route("/admin/channels", get(channels::list))
        .route("/admin/channels/{channel}", get(channels::show))
        .route("/admin/channels/{channel}/sync", post(channels::sync))
        .route("/admin/channels/{channel}/listings", post(channels::link))
        .route("/admin/suppliers", get(suppliers::list))
        .route("/admin/suppliers/{supplier}", get(suppliers::show))
        .route("/admin/suppliers/{supplier}/sync", post(suppliers::sync))
        .route("/admin/suppliers/{supplier}/links", post(suppliers::link))
}

/// The page for something that is not there.
fn not_found(session: &Session, what: &str) -> Response {
    let lang = session.lang;
    let body = format!("<h1>{}</h1><p>{}</p>", t(lang, "not_found"), esc(what));
    (
        StatusCode::NOT_FOUND,
        page(lang, t(lang, "not_found"), Some(session), &body),
    )
        .into_response()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    fn from_parts(parts: &Parts) -> Lang {
        match cookie(parts, LANG_COOKIE).as_deref() {
            Some("zh") => Lang::Zh,
            _ => Lang::En,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }
}

/// Every label of the console, in both languages.
fn t(lang: Lang, key: &str) -> &'static str {
    let (en, zh) = match key {
        "title" => ("stockd admin", "stockd 管理后台"),
        "sign_in" => ("Sign in", "登录"),
        "sign_out" => ("Sign out", "退出"),
        "admin_key" => ("Admin API key", "管理员 API Key"),
        "bad_key" => (
            "That is not a live admin key, nor a user with that password.",
            "该 Key 不是有效的管理员 Key，或用户名与密码不对。",
        ),
        "or_user" => ("or", "或"),
        "user" => ("User", "用户名"),
        "password" => ("Password", "密码"),
        "all_statuses" => ("all statuses", "全部状态"),
        "only_low" => ("low stock only", "仅低库存"),
        "only_out" => ("out of stock only", "仅缺货"),
        "filter" => ("Filter", "筛选"),
        "holds" => ("Holds", "预占"),
        "check_done" => ("Check", "检查"),
        "fixed" => ("Fixed diff", "已修复差异"),
        "closed" => ("Closed alert", "已处理预警"),
        "paid_done" => ("paid", "已支付"),
        "cancelled_done" => ("cancelled", "已取消"),
        "released_done" => ("released", "已释放"),
        "synced" => ("synced", "已同步"),
        "skipped" => ("skipped", "跳过"),
        "failed" => ("failed", "失败"),
        "push" => ("push", "推送"),
        "pull" => ("read through the API", "通过 API 读取"),
        "saved" => ("saved", "已保存"),
        "ledger_rows" => ("ledger", "流水"),
        "now" => ("now", "现在"),
        "dashboard" => ("Dashboard", "概览"),
        "items" => ("Items", "商品"),
        "keys" => ("API keys", "API Key"),
        "items_total" => ("Items", "商品数"),
        "on_hand" => ("On hand", "账面库存"),
        "reserved" => ("Reserved", "预占"),
        "available" => ("Available", "可用"),
        "low_stock" => ("Low stock", "低库存"),
        "out_of_stock" => ("Out of stock", "缺货"),
        "open_alerts" => ("Open alerts", "未处理预警"),
        "pending_diffs" => ("Pending diffs", "待修复差异"),
        "search" => ("Search", "搜索"),
        "product_id" => ("Product", "商品编号"),
        "name" => ("Name", "名称"),
        "status" => ("Status", "状态"),
        "location" => ("Location", "仓库"),
        "version" => ("Version", "版本"),
        "previous" => ("Previous", "上一页"),
        "next" => ("Next", "下一页"),
        "page" => ("Page", "页"),
        "levels" => ("Stock by location", "各仓库库存"),
        "adjust" => ("Adjust stock", "调整库存"),
        "delta" => ("Change (+ adds, − deducts)", "变化量（正数增加，负数扣减）"),
        "reason" => ("Reason", "原因"),
        "apply" => ("Apply", "提交"),
        "ledger" => ("Ledger", "库存流水"),
        "operation" => ("Operation", "操作"),
        "change" => ("Change", "变化"),
        "after" => ("After", "变更后"),
        "operator" => ("Operator", "操作人"),
        "time" => ("Time", "时间"),
        "written" => ("Written:", "已写入："),
        "new_item" => ("Create an item", "新建商品"),
        "opening_stock" => ("Opening stock", "期初库存"),
        "min_stock" => ("Low-stock line (min_stock)", "预警线（min_stock）"),
        "max_stock" => ("max_stock", "库存上限（max_stock）"),
        "edit" => ("Edit details", "修改信息"),
        "save" => ("Save", "保存"),
        "count" => ("Set after a count", "盘点后设置库存"),
        "counted" => ("Counted on hand", "盘点数量"),
        "counted_version" => ("Version counted against", "盘点时的版本"),
        "transfer" => ("Transfer between locations", "仓库间调拨"),
        "from" => ("From", "调出"),
        "to" => ("To", "调入"),
        "refused" => ("Refused", "被拒绝"),
        "not_found" => ("Not found", "未找到"),
        "create_key" => ("Create a key", "创建 Key"),
        "role" => ("Role", "角色"),
        "create" => ("Create", "创建"),
        "shown_once" => (
            "The new key, shown this once. Keep it now:",
            "新 Key 只显示这一次，请立即保存：",
        ),
        "revoke" => ("Revoke", "吊销"),
        "revoked" => ("revoked", "已吊销"),
        "live" => ("live", "有效"),
        "created" => ("Created", "创建时间"),
        "language" => ("中文", "English"),
        "health" => ("Cache health", "缓存健康"),
        "activity" => (
            "Sold and held per hour, last 24 hours",
            "近 24 小时每小时售出与预占",
        ),
        "sold" => ("sold", "售出"),
        "held" => ("held", "预占"),
        "peak" => ("peak", "峰值"),
        "stock_over_time" => ("On hand over its recent changes", "近期变动中的账面库存"),
        "channels" => ("Channels", "渠道"),
        "channel" => ("Channel", "渠道"),
        "mode" => ("Mode", "方式"),
        "listing" => ("Listing", "渠道商品"),
        "buffer" => ("Buffer", "安全库存"),
        "published" => ("Published", "已发布"),
        "sellable" => ("Sellable now", "当前可售"),
        "differs" => ("Differs", "不一致"),
        "sync_now" => ("Sync now", "立即同步"),
        "suppliers" => ("Suppliers", "供应商"),
        "supplier" => ("Supplier", "供应商"),
        "circuit" => ("Circuit", "熔断状态"),
        "linked_items" => ("Linked items", "关联商品数"),
        "last_sync" => ("Last sync", "最近同步"),
        "updated" => ("updated", "已更新"),
        "unchanged" => ("unchanged", "未变化"),
        "county_code" => ("Region code", "区域编码"),
        "product_code" => ("Supplier's product code", "供应商商品编码"),
        "check_before_order" => ("Ask before an order", "下单前向供应商查询"),
        "supplier_stock" => ("Supplier's figure", "供应商库存"),
        "last_synced" => ("Synced at", "同步时间"),
        "link_item" => ("Link an item", "关联商品"),
        "link" => ("Link a listing", "关联渠道商品"),
        "yes" => ("yes", "是"),
        "no" => ("no", "否"),
        "cache" => ("Redis cache", "Redis 缓存"),
        "not_configured" => ("not configured", "未配置"),
        "last_run" => ("Last check", "最近检查"),
        "checked" => ("checked", "已检查"),
        "diffs_found" => ("diffs", "差异"),
        "auto_fixed" => ("auto-fixed", "自动修复"),
        "run_check" => ("Run a check now", "立即检查"),
        "use_db" => ("Use the database", "以数据库为准"),
        "use_redis" => ("Use Redis", "以 Redis 为准"),
        "db_stock" => ("Database", "数据库"),
        "redis_stock" => ("Redis", "Redis 中的值"),
        "alerts" => ("Alerts", "预警"),
        "ack" => ("Acknowledge", "确认"),
        "ignore" => ("Ignore", "忽略"),
        "type" => ("Type", "类型"),
        "message" => ("Message", "内容"),
        "orders" => ("Orders", "订单"),
        "order" => ("Order", "订单"),
        "all" => ("All", "全部"),
        "lines" => ("Lines", "明细"),
        "hold" => ("Hold", "预占"),
        "expires" => ("expires", "到期"),
        "quantity" => ("Quantity", "数量"),
        "pay" => ("Pay", "支付"),
        "release" => ("Release", "释放"),
        "cancel" => ("Cancel", "取消"),
        "cancel_paid" => ("Cancel and return the stock", "取消并退回库存"),
        "simulate" => ("Simulate an order", "模拟下单"),
        "place_order" => ("Place the order", "下单"),
        "bad_form" => (
            "The form was stale or not from this console; nothing changed.",
            "表单已过期或来源不对，未做任何修改。",
        ),
        _ => ("?", "?"),
    };
    match lang {
        Lang::En => en,
        Lang::Zh => zh,
    }
}

/// Text made safe for HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text made safe for a URL's query.
fn url_text(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

fn mac(secret_hash: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_hash.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(message.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A signed-in admin.
pub struct Session {
    pub key: ApiKey,
    pub csrf: String,
    pub lang: Lang,
    /// The newest outbox id before the page was read: it shows at least that.
    pub seen: i64,
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = Lang::from_parts(parts);
        let token = cookie(parts, SESSION_COOKIE).ok_or_else(|| redirect("/admin/login"))?;
        let fields: Vec<&str> = token.split('.').collect();
        let [key_id, expires, nonce, signature] = fields.as_slice() else {
            return Err(redirect("/admin/login"));
        };
        let expires: i64 = expires.parse().map_err(|_| redirect("/admin/login"))?;
        if expires * 1000 < stock_store::now_ms() {
            return Err(redirect("/admin/login"));
        }
        let Some((key, secret_hash)) = signer(state, key_id).await else {
            return Err(redirect("/admin/login"));
        };
        let expected = mac(&secret_hash, &format!("session:{key_id}.{expires}.{nonce}"));
        if key.role != Role::Admin || !same(&expected, signature) {
            return Err(redirect("/admin/login"));
        }
        let csrf = mac(&secret_hash, &format!("csrf:{nonce}"))[..32].to_owned();
        let seen = live::seen(state).await;
        Ok(Session {
            key,
            csrf,
            lang,
            seen,
        })
    }
}

fn page(lang: Lang, title: &str, session: Option<&Session>, body: &str) -> Html<String> {
    let nav = match session {
        Some(session) => format!(
            r#"<nav><a href="/admin">{}</a><a href="/admin/items">{}</a><a href="/admin/orders">{}</a><a href="/admin/holds">{}</a><a href="/admin/simulate">{}</a><a href="/admin/alerts">{}</a><a href="/admin/health">{}</a><a href="/admin/channels">{}</a><a href="/admin/suppliers">{}</a><a href="/admin/keys">{}</a>
<form method="post" action="/admin/logout" class="inline"><input type="hidden" name="csrf" value="{}"><button id="sign-out">{}</button></form>
<a href="/admin/lang/{}" id="lang">{}</a></nav>"#,
            t(lang, "dashboard"),
            t(lang, "items"),
            t(lang, "orders"),
            t(lang, "holds"),
            t(lang, "simulate"),
            t(lang, "alerts"),
            t(lang, "health"),
            t(lang, "channels"),
            t(lang, "suppliers"),
            t(lang, "keys"),
            session.csrf,
            t(lang, "sign_out"),
            if lang == Lang::En { "zh" } else { "en" },
            t(lang, "language"),
        ),
        None => format!(
            r#"<nav><a href="/admin/lang/{}" id="lang">{}</a></nav>"#,
            if lang == Lang::En { "zh" } else { "en" },
            t(lang, "language")
        ),
    };
    Html(format!(
        r#"<!doctype html><html lang="{}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · {}</title><style>{STYLE}</style></head>
<body data-seen="{}"><header><strong>{}</strong>{nav}</header><main>{body}</main>{}</body></html>"#,
        lang.code(),
        esc(title),
        t(lang, "title"),
        session.map_or(0, |s| s.seen),
        t(lang, "title"),
        live::script_for(session),
    ))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222}\
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.6rem 1rem;background:#243b53;color:#fff}\
header a,header button{color:#fff;background:none;border:0;font:inherit;cursor:pointer;text-decoration:underline}\
nav{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}\
main{padding:1rem;max-width:60rem}.inline{display:inline}\
table{border-collapse:collapse;width:100%;display:block;overflow-x:auto}\
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;white-space:nowrap}\
.cards{display:flex;flex-wrap:wrap;gap:.75rem}.card{border:1px solid #ccc;border-radius:.4rem;padding:.6rem .9rem;min-width:8rem}\
.card b{display:block;font-size:1.4rem}.ok{background:#e3f9e5;padding:.5rem}.bad{background:#ffe3e3;padding:.5rem}\
input,select,button{font:inherit;padding:.3rem}label{display:block;margin:.4rem 0}\
code{background:#f0f4f8;padding:.2rem .4rem;word-break:break-all}";

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

/// Who a session token's first field names, and the secret that signs it.
async fn signer(state: &AppState, id: &str) -> Option<(ApiKey, String)> {
    if let Some(name) = id.strip_prefix("u-") {
        let hash = state.store.user_password_hash(name).await.ok()??;
        let key = ApiKey {
            id: format!("user:{name}"),
            name: name.to_owned(),
            role: Role::Admin,
            created_at_ms: 0,
            revoked_at_ms: None,
        };
        return Some((key, hash));
    }
    state.store.live_key_with_hash(id).await.ok()?
}

async fn login_page(parts: Parts) -> Response {
    login_form(&parts, StatusCode::OK, None)
}

/// The sign-in page, with a fresh login token: a random value both in a
/// SameSite=Strict cookie and in the form, so that another site cannot sign
/// a browser in (its form could not carry the cookie's value).
fn login_form(parts: &Parts, status: StatusCode, error: Option<&str>) -> Response {
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
        t(lang, "sign_in"),
        None,
        &format!(
            r#"<h1>{}</h1>{error}<form method="post" action="/admin/login"><input type="hidden" name="login_token" value="{token}">
<label>{} <input type="password" name="key" id="key" autocomplete="off"></label>
<p>{}</p>
<label>{} <input name="user" id="user" autocomplete="username"></label>
<label>{} <input type="password" name="password" id="password" autocomplete="current-password"></label>
<button id="sign-in">{}</button></form>"#,
            t(lang, "sign_in"),
            t(lang, "admin_key"),
            t(lang, "or_user"),
            t(lang, "user"),
            t(lang, "password"),
            t(lang, "sign_in")
        ),
    );
    (status, [(SET_COOKIE, cookie)], html).into_response()
}

async fn login(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<LoginForm>,
) -> Response {
    let token = cookie(&parts, LOGIN_COOKIE).unwrap_or_default();
    if token.is_empty() || !same(&token, &form.login_token) {
        return login_form(&parts, StatusCode::FORBIDDEN, Some("bad_form"));
    }
    let user = form.user.trim();
    let (subject, hash) = if user.is_empty() {
        let hash = hash_secret(form.key.trim());
        match state.store.key_by_hash(&hash).await {
            Ok(Some(key)) if key.role == Role::Admin => (key.id, hash),
            Ok(_) => return login_form(&parts, StatusCode::UNAUTHORIZED, Some("bad_key")),
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
            _ => return login_form(&parts, StatusCode::UNAUTHORIZED, Some("bad_key")),
        }
    };
    let ttl_s = state.config.admin_session_ttl.as_secs() as i64;
    let expires = stock_store::now_ms() / 1000 + ttl_s;
    let nonce = random_id(16);
    let signature = mac(&hash, &format!("session:{subject}.{expires}.{nonce}"));
    let cookie = format!(
        "{SESSION_COOKIE}={subject}.{expires}.{nonce}.{signature}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={ttl_s}"
    );
    tracing::info!(who = %subject, "signed in to the admin console");
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, "/admin".to_owned()), (SET_COOKIE, cookie)],
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

fn stale(session: &Session) -> Response {
    (
        StatusCode::FORBIDDEN,
        page(
            session.lang,
            t(session.lang, "refused"),
            Some(session),
            &format!(
                r#"<p class="bad" id="error">{}</p>"#,
                t(session.lang, "bad_form")
            ),
        ),
    )
        .into_response()
}

async fn logout(session: Session, Form(form): Form<CsrfForm>) -> Response {
    if !same(&form.csrf, &session.csrf) {
        return stale(&session);
    }
    let cookie = format!("{SESSION_COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0");
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, "/admin/login".to_owned()), (SET_COOKIE, cookie)],
    )
        .into_response()
}

async fn set_lang(Path(lang): Path<String>) -> Response {
    let value = if lang == "zh" { "zh" } else { "en" };
    let cookie = format!("{LANG_COOKIE}={value}; Path=/admin; SameSite=Strict; Max-Age=31536000");
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, "/admin".to_owned()), (SET_COOKIE, cookie)],
    )
        .into_response()
}

fn card(label: &str, value: impl std::fmt::Display, id: &str) -> String {
    format!(
        r#"<div class="card" id="{id}">{}<b>{value}</b></div>"#,
        esc(label)
    )
}

async fn dashboard(
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
        t(lang, "dashboard"),
        card(t(lang, "items_total"), stats.items, "items-total"),
        card(t(lang, "on_hand"), stats.on_hand, "on-hand"),
        card(t(lang, "reserved"), stats.reserved, "reserved"),
        card(t(lang, "available"), stats.available, "available"),
        card(t(lang, "low_stock"), stats.low_stock, "low-stock"),
        card(t(lang, "out_of_stock"), stats.out_of_stock, "out-of-stock"),
        card(t(lang, "open_alerts"), open_alerts, "open-alerts"),
        card(
            t(lang, "pending_diffs"),
            gauges.pending_diffs,
            "pending-diffs"
        ),
    );
    Ok(page(lang, t(lang, "dashboard"), Some(&session), &body))
}

#[derive(Debug, Deserialize)]
pub struct ItemsQuery {
    q: Option<String>,
    page: Option<u32>,
    error: Option<String>,
    status: Option<String>,
    stock: Option<String>,
}

async fn items(
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
        t(lang, "all_statuses"),
        selected(stock == "low"),
        t(lang, "only_low"),
        selected(stock == "out"),
        t(lang, "only_out"),
    );
    let mut paging = format!("{} {number} / {pages}", t(lang, "page"));
    if number > 1 {
        let _ = write!(
            paging,
            r#" <a href="/admin/items?q={q_param}&page={}">{}</a>"#,
            number - 1,
            t(lang, "previous")
        );
    }
    if u64::from(number) < pages {
        let _ = write!(
            paging,
            r#" <a href="/admin/items?q={q_param}&page={}" id="next">{}</a>"#,
            number + 1,
            t(lang, "next")
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
        t(lang, "items"),
        query
            .error
            .as_deref()
            .map(|e| format!(
                r#"<p class="bad" id="error">{}: {}</p>"#,
                t(lang, "refused"),
                esc(e)
            ))
            .unwrap_or_default(),
        esc(q.as_deref().unwrap_or_default()),
        t(lang, "search"),
        t(lang, "product_id"),
        t(lang, "name"),
        t(lang, "status"),
        t(lang, "on_hand"),
        t(lang, "reserved"),
        t(lang, "available"),
        t(lang, "new_item"),
        session.csrf,
        t(lang, "product_id"),
        t(lang, "name"),
        t(lang, "opening_stock"),
        t(lang, "min_stock"),
        t(lang, "create"),
    );
    Ok(page(lang, t(lang, "items"), Some(&session), &body))
}

#[derive(Debug, Deserialize)]
pub struct ItemQuery {
    done: Option<String>,
    error: Option<String>,
}

async fn item(
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
        let body = format!("<h1>{}</h1><p>{}</p>", t(lang, "not_found"), esc(&id));
        return Ok((
            StatusCode::NOT_FOUND,
            page(lang, t(lang, "not_found"), Some(&session), &body),
        )
            .into_response());
    };
    let item_id = view.item.id.as_str();
    let mut message = String::new();
    if let Some(done) = &query.done {
        let _ = write!(
            message,
            r#"<p class="ok" id="done">{} {}</p>"#,
            t(lang, "written"),
            esc(done)
        );
    }
    if let Some(error) = &query.error {
        let _ = write!(
            message,
            r#"<p class="bad" id="error">{}: {}</p>"#,
            t(lang, "refused"),
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
        t(lang, "available"),
        view.available(),
        t(lang, "on_hand"),
        view.on_hand(),
        t(lang, "reserved"),
        view.reserved(),
        t(lang, "levels"),
        t(lang, "location"),
        t(lang, "on_hand"),
        t(lang, "reserved"),
        t(lang, "available"),
        t(lang, "version"),
        t(lang, "adjust"),
        url_text(item_id),
        session.csrf,
        t(lang, "delta"),
        t(lang, "reason"),
        t(lang, "apply"),
        t(lang, "ledger"),
        t(lang, "operation"),
        t(lang, "location"),
        t(lang, "change"),
        t(lang, "after"),
        t(lang, "reason"),
        t(lang, "operator"),
        t(lang, "time"),
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
        t(lang, "count"),
        t(lang, "location"),
        t(lang, "counted"),
        t(lang, "counted_version"),
        t(lang, "reason"),
        t(lang, "apply"),
        t(lang, "transfer"),
        t(lang, "from"),
        t(lang, "to"),
        t(lang, "quantity"),
        t(lang, "reason"),
        t(lang, "apply"),
        t(lang, "edit"),
        t(lang, "name"),
        esc(&view.item.name),
        t(lang, "status"),
        t(lang, "min_stock"),
        view.item
            .min_stock
            .map(|v| v.to_string())
            .unwrap_or_default(),
        t(lang, "max_stock"),
        view.item
            .max_stock
            .map(|v| v.to_string())
            .unwrap_or_default(),
        t(lang, "save"),
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

async fn adjust(
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
        trace_id: Some(random_id(16)),
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
            t(lang, "revoked").to_owned()
        } else {
            format!(
                r#"<form method="post" action="/admin/keys/{}/revoke" class="inline"><input type="hidden" name="csrf" value="{}"><button id="revoke-{}">{}</button></form>"#,
                url_text(&key.id),
                session.csrf,
                esc(&key.id),
                t(lang, "revoke")
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
                t(lang, "revoked")
            } else {
                t(lang, "live")
            },
        );
    }
    let shown = match created {
        Some((id, secret)) => format!(
            r#"<p class="ok">{} <code id="new-secret">{}</code> (<span id="new-key-id">{}</span>)</p>"#,
            t(lang, "shown_once"),
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
        t(lang, "keys"),
        t(lang, "create_key"),
        session.csrf,
        t(lang, "name"),
        t(lang, "role"),
        t(lang, "create"),
        t(lang, "name"),
        t(lang, "role"),
        t(lang, "created"),
        t(lang, "status"),
    );
    Ok(page(lang, t(lang, "keys"), Some(session), &body))
}

async fn keys(State(state): State<AppState>, session: Session) -> Result<Html<String>, ApiError> {
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

async fn create_key(
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

async fn revoke_key(
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every label a page asks for exists in both languages.
    #[test]
    fn every_label_is_translated() {
        let sources = [
            include_str!("mod.rs"),
            include_str!("ops.rs"),
            include_str!("stock.rs"),
            include_str!("channels.rs"),
            include_str!("suppliers.rs"),
            include_str!("live.rs"),
        ];
        let mut keys = Vec::new();
        for source in sources {
            for marker in ["t(lang, \"", "t(session.lang, \""] {
                for rest in source.split(marker).skip(1) {
                    if let Some(key) = rest.split('"').next() {
                        keys.push(key.to_owned());
                    }
                }
            }
        }
        assert!(keys.len() > 50, "found {} labels", keys.len());
        for key in &keys {
            for lang in [Lang::En, Lang::Zh] {
                assert_ne!(t(lang, key), "?", "{key:?} has no {lang:?} text");
            }
            assert_ne!(
                t(Lang::En, key),
                t(Lang::Zh, key),
                "{key:?} is the same in both"
            );
        }
    }
}
