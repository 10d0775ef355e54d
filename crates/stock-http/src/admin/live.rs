//! What keeps console pages current and drawn: the change stream open pages
//! listen to, the small script that refreshes them, and the SVG charts.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use stock_store::{Activity, ItemView, LedgerEntry};

use super::labels::{t, Label, Lang};
use super::session::Session;
use crate::AppState;

/// Listens to `/admin/events` and, on a change, fetches the page again and
/// swaps its `<main>` in place, unless a form on the page holds something
/// typed or chosen and not sent yet: looked at before the fetch and again
/// before the swap, so that what is typed meanwhile is not lost either.
/// `data-refreshed` counts the swaps, `data-held` the changes not swapped in.
pub(super) const SCRIPT: &str = r#"<script>
(function () {
  if (!window.EventSource) return;
  // From what the page shows on: a change made while the stream connects
  // still reaches it.
  var timer = null,
      source = new EventSource('/admin/events?after=' + Number(document.body.dataset.seen || 0));
  function held() {
    document.body.dataset.held = String(Number(document.body.dataset.held || 0) + 1);
  }
  function edited() {
    var fields = document.querySelectorAll('main input, main select, main textarea');
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.type === 'hidden') continue;
      if (field.tagName === 'SELECT') {
        // Without a `selected` option a list starts at its first.
        var initial = field.options.length ? 0 : -1;
        for (var j = 0; j < field.options.length; j++) {
          if (field.options[j].defaultSelected) initial = j;
        }
        if (field.selectedIndex !== initial) return true;
      } else if (field.type === 'checkbox' || field.type === 'radio') {
        if (field.checked !== field.defaultChecked) return true;
      } else if (field.value !== field.defaultValue) {
        return true;
      }
    }
    return false;
  }
  // Give the connection back when the page goes: a browser keeps only a
  // few open per server.
  window.addEventListener('pagehide', function () { source.close(); });
  source.addEventListener('change', function (event) {
    // A change this page already shows (its own form's, say) is no news.
    if (event.data === String(document.body.dataset.seen || 0)) return;
    document.body.dataset.seen = event.data;
    clearTimeout(timer);
    timer = setTimeout(function () {
      if (edited()) return held();
      fetch(location.href, {credentials: 'same-origin'})
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          if (edited()) return held();
          var main = new DOMParser().parseFromString(html, 'text/html').querySelector('main');
          if (main) {
            document.querySelector('main').innerHTML = main.innerHTML;
            document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
          }
        });
    }, 250);
  });
})();
</script>"#;

/// How often a change stream looks for other replicas' commits.
const POLL: Duration = Duration::from_secs(1);

#[derive(serde::Deserialize)]
pub struct After {
    /// The newest outbox id the page shows; without it, the newest now.
    after: Option<i64>,
}

/// `change` events (data: the newest outbox id) whenever something changed
/// after `after`: at once if something did before the stream opened.
pub async fn events(
    State(state): State<AppState>,
    _session: Session,
    Query(After { after }): Query<After>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let last = match after {
        Some(after) => after,
        None => state.store.last_event_id().await.unwrap_or(0),
    };
    let commits = state.engine.commits();
    let poll = state.config.event_poll_interval.min(POLL);
    let stream = stream::unfold(
        (state, commits, last),
        move |(state, mut commits, last)| async move {
            loop {
                if let Ok(newest) = state.store.last_event_id().await {
                    // Not `>`: where replicas commit side by side, the last
                    // event in the outbox's order need not have the highest id.
                    if newest != last {
                        let event = Event::default().event("change").data(newest.to_string());
                        return Some((Ok(event), (state, commits, newest)));
                    }
                }
                tokio::select! {
                    changed = commits.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                    () = tokio::time::sleep(poll) => {}
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

const WIDTH: i64 = 600;
const HEIGHT: i64 = 160;

/// Bars of units sold and held per hour over the last `hours`.
pub(super) fn activity_chart(lang: Lang, activity: &[Activity], now_ms: i64, hours: i64) -> String {
    const HOUR_MS: i64 = 3_600_000;
    let first = (now_ms / HOUR_MS - hours + 1) * HOUR_MS;
    let peak = activity
        .iter()
        .map(|a| a.sold.max(a.held))
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = WIDTH / hours;
    let mut bars = String::new();
    for a in activity.iter().filter(|a| a.from_ms >= first) {
        let x = (a.from_ms - first) / HOUR_MS * slot;
        for (offset, value, color) in [(0, a.sold, "#2680c2"), (slot / 2, a.held, "#f0b429")] {
            let h = value.max(0) * (HEIGHT - 20) / peak;
            let _ = write!(
                bars,
                r#"<rect x="{}" y="{}" width="{}" height="{h}" fill="{color}"><title>{value}</title></rect>"#,
                x + offset,
                HEIGHT - 20 - h,
                (slot / 2 - 1).max(1)
            );
        }
    }
    format!(
        r##"<figure><svg id="activity-chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="{}">
<line x1="0" y1="{}" x2="{WIDTH}" y2="{}" stroke="#999"/>{bars}
<text x="0" y="{HEIGHT}" font-size="11">-{hours}h</text><text x="{}" y="{HEIGHT}" font-size="11">{}</text></svg>
<figcaption><span style="color:#2680c2">■</span> {} <span style="color:#f0b429">■</span> {} ({} {peak})</figcaption></figure>"##,
        t(lang, Label::Activity),
        HEIGHT - 20,
        HEIGHT - 20,
        WIDTH - 24,
        t(lang, Label::Now),
        t(lang, Label::Sold),
        t(lang, Label::Held),
        t(lang, Label::Peak),
    )
}

/// The item's on-hand stock (all locations) after each of its recent ledger
/// rows, oldest first, as a line.
pub(super) fn stock_chart(lang: Lang, view: &ItemView, newest_first: &[LedgerEntry]) -> String {
    let mut total = view.on_hand();
    let mut points = vec![(
        view.updated_at_ms
            .max(newest_first.first().map_or(0, |e| e.created_at_ms)),
        total,
    )];
    for entry in newest_first {
        points.push((entry.created_at_ms, total));
        total -= entry.on_hand_delta;
    }
    points.reverse();
    let (t0, t1) = (
        points.first().map_or(0, |p| p.0),
        points.last().map_or(1, |p| p.0),
    );
    let span = (t1 - t0).max(1);
    let peak = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let low = points.iter().map(|p| p.1).min().unwrap_or(0).min(0);
    let range = (peak - low).max(1);
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(n, (at, value))| {
            // Rows of the same moment are spread out rather than stacked.
            let x = if span <= 1 {
                n as i64 * WIDTH / (points.len() as i64).max(2)
            } else {
                (at - t0) * WIDTH / span
            };
            let y = (HEIGHT - 10) - (value - low) * (HEIGHT - 20) / range;
            format!("{x},{y}")
        })
        .collect();
    format!(
        r##"<figure><svg id="stock-chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="{}">
<polyline fill="none" stroke="#2680c2" stroke-width="2" points="{}"/></svg>
<figcaption>{} ({} {peak})</figcaption></figure>"##,
        t(lang, Label::StockOverTime),
        line.join(" "),
        t(lang, Label::StockOverTime),
        t(lang, Label::Peak),
    )
}

/// Whether pages should listen for changes (every signed-in page does).
pub(super) fn script_for(session: Option<&Session>) -> &'static str {
    if session.is_some() {
        SCRIPT
    } else {
        ""
    }
}

/// The newest outbox id when a page is drawn: the page shows everything up to it.
pub(super) async fn seen(state: &AppState) -> i64 {
    state.store.last_event_id().await.unwrap_or(0)
}
