//! How an event leaves stockd: the body pushed to webhooks and published to
//! a sink is the wire's (`stock-http` writes it); the jobs only carry it.

use stock_store::EventView;

/// An event as it goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEvent {
    /// `stock`, `reservation`, `order`, `alert`.
    pub kind: &'static str,
    /// JSON: `{id, type, created_at, data}`.
    pub body: Vec<u8>,
}

/// Writes events as they go out.
pub trait EventEncoder: Send + Sync + 'static {
    fn encode(&self, event: &EventView) -> EncodedEvent;
}
