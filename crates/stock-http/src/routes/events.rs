//! Live events as Server-Sent Events, from the outbox.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use stock_core::{ItemId, Role};
use stock_store::{EventBody, EventKind, EventView};

use super::inventory::item_id;
use crate::auth::{Authorized, StorefrontRole};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::wire::EventsQuery;
use crate::AppState;

/// How often an idle stream sends a comment, so that proxies keep it open.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// Counts a stream as open until it is dropped.
struct StreamSlot(Arc<AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Follow {
    state: AppState,
    cursor: i64,
    kinds: Vec<EventKind>,
    item: Option<ItemId>,
    commits: tokio::sync::watch::Receiver<u64>,
    pending: VecDeque<EventView>,
    _slot: StreamSlot,
}

fn kinds(raw: Option<&str>) -> Result<Vec<EventKind>, ApiError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(|kind| {
            EventKind::parse(kind.trim()).ok_or_else(|| {
                ApiError::field(
                    "types",
                    "must list stock, reservation, order or alert, comma-separated",
                )
            })
        })
        .collect()
}

fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    headers
        .get("last-event-id")
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|raw| raw.trim().parse::<i64>().ok())
                .filter(|id| *id >= 0)
                .ok_or_else(|| {
                    ApiError::field("Last-Event-ID", "must be an event id (a whole number)")
                })
        })
        .transpose()
}

fn about(event: &EventView, item: &ItemId) -> bool {
    match &event.body {
        EventBody::Stock(entry) => entry.item == *item,
        EventBody::Alert { alert, .. } => alert.item == *item,
        EventBody::Reservation { .. } | EventBody::Order { .. } => false,
    }
}

fn sse_event(event: &EventView) -> Event {
    let (kind, data) = crate::event_payload(event);
    Event::default()
        .id(event.id.to_string())
        .event(kind)
        .data(data.to_string())
}

/// Live events: every change to stock, every status a reservation, an order
/// or an alert takes, in the order they were committed. Storefront keys get
/// stock events only; asking them for other types is a 403. Each event's `id` is
/// its place in the outbox: reconnect with `Last-Event-ID` (or `?after=`) to
/// resume without a gap, for as long as `events.retention_h` keeps them.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery),
    responses((status = 200, description = "text/event-stream; events `stock`, `reservation`, `order`, `alert`"),
        (status = 400, body = ErrorBody),
        (status = 403, description = "FORBIDDEN: a storefront key asked for other types than stock", body = ErrorBody),
        (status = 503, description = "TOO_MANY_STREAMS", body = ErrorBody)),
    security(("api_key" = ["storefront"])))]
pub async fn events(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<StorefrontRole>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let mut kinds = kinds(query.types.as_deref())?;
    // Storefront keys read stock, not holds, orders or alerts.
    if !caller.role.allows(Role::Service) {
        if kinds.iter().any(|kind| *kind != EventKind::Stock) {
            caller.require(Role::Service)?;
        }
        kinds = vec![EventKind::Stock];
    }
    let item = query.product_id.as_deref().map(item_id).transpose()?;
    if query.after.is_some_and(|after| after < 0) {
        return Err(ApiError::field(
            "after",
            "must be an event id (a whole number)",
        ));
    }
    let resume = last_event_id(&headers)?.or(query.after);
    let open = state.streams.fetch_add(1, Ordering::Relaxed) + 1;
    let slot = StreamSlot(Arc::clone(&state.streams));
    if open > state.config.event_streams_max {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TOO_MANY_STREAMS",
            format!(
                "{} event streams are open, the most this service keeps (events.streams_max)",
                state.config.event_streams_max
            ),
        ));
    }
    let cursor = match resume {
        Some(after) => after,
        None => state.store.last_event_id().await?,
    };
    let follow = Follow {
        commits: state.engine.commits(),
        state,
        cursor,
        kinds,
        item,
        pending: VecDeque::new(),
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(follow, next_event);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

async fn next_event(mut follow: Follow) -> Option<(Result<Event, Infallible>, Follow)> {
    loop {
        if let Some(event) = follow.pending.pop_front() {
            return Some((Ok(sse_event(&event)), follow));
        }
        let config = &follow.state.config;
        let read = follow
            .state
            .store
            .events(follow.cursor, &follow.kinds, config.event_batch_max)
            .await;
        match read {
            Ok(events) if !events.is_empty() => {
                follow.cursor = events.last().map_or(follow.cursor, |e| e.id);
                let item = follow.item.clone();
                follow.pending.extend(
                    events
                        .into_iter()
                        .filter(|event| item.as_ref().is_none_or(|item| about(event, item))),
                );
            }
            Ok(_) => {
                // Our own writes wake us at once; other replicas' on the next poll.
                let poll = config.event_poll_interval;
                tokio::select! {
                    _ = follow.commits.changed() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
            }
            Err(error) => {
                // The client reconnects with Last-Event-ID and misses nothing.
                tracing::warn!(
                    error = format!("{error:#}"),
                    "an event stream ended on a read error"
                );
                return None;
            }
        }
    }
}
