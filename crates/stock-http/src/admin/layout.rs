//! What every console page shares: the frame (header, navigation, the
//! language switch, the style sheet, the live-refresh script), and the
//! small helpers that make text safe for HTML and URLs.

use std::fmt::Write as _;

use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::labels::{t, Label, Lang};
use super::live;
use super::session::Session;

/// The page for something that is not there.
pub(super) fn not_found(session: &Session, what: &str) -> Response {
    let lang = session.lang;
    let body = format!("<h1>{}</h1><p>{}</p>", t(lang, Label::NotFound), esc(what));
    (
        StatusCode::NOT_FOUND,
        page(lang, t(lang, Label::NotFound), Some(session), &body),
    )
        .into_response()
}

/// Text made safe for HTML.
pub(super) fn esc(text: &str) -> String {
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
pub(super) fn url_text(text: &str) -> String {
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

pub(super) fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

pub(super) fn page(lang: Lang, title: &str, session: Option<&Session>, body: &str) -> Html<String> {
    let nav = match session {
        Some(session) => format!(
            r#"<nav><a href="/admin">{}</a><a href="/admin/items">{}</a><a href="/admin/orders">{}</a><a href="/admin/holds">{}</a><a href="/admin/simulate">{}</a><a href="/admin/alerts">{}</a><a href="/admin/health">{}</a><a href="/admin/channels">{}</a><a href="/admin/suppliers">{}</a><a href="/admin/keys">{}</a>
<form method="post" action="/admin/logout" class="inline"><input type="hidden" name="csrf" value="{}"><button id="sign-out">{}</button></form>
<a href="/admin/lang/{}" id="lang">{}</a></nav>"#,
            t(lang, Label::Dashboard),
            t(lang, Label::Items),
            t(lang, Label::Orders),
            t(lang, Label::Holds),
            t(lang, Label::Simulate),
            t(lang, Label::Alerts),
            t(lang, Label::Health),
            t(lang, Label::Channels),
            t(lang, Label::Suppliers),
            t(lang, Label::Keys),
            session.csrf,
            t(lang, Label::SignOut),
            if lang == Lang::En { "zh" } else { "en" },
            t(lang, Label::Language),
        ),
        None => format!(
            r#"<nav><a href="/admin/lang/{}" id="lang">{}</a></nav>"#,
            if lang == Lang::En { "zh" } else { "en" },
            t(lang, Label::Language)
        ),
    };
    Html(format!(
        r#"<!doctype html><html lang="{}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · {}</title><style>{STYLE}</style></head>
<body data-seen="{}"><header><strong>{}</strong>{nav}</header><main>{body}</main>{}</body></html>"#,
        lang.code(),
        esc(title),
        t(lang, Label::Title),
        session.map_or(0, |s| s.seen),
        t(lang, Label::Title),
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

pub(super) fn card(label: &str, value: impl std::fmt::Display, id: &str) -> String {
    format!(
        r#"<div class="card" id="{id}">{}<b>{value}</b></div>"#,
        esc(label)
    )
}
