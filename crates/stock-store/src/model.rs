//! What the store takes and gives back.

use std::fmt;

use stock_core::{
    HoldStatus, Item, ItemId, ItemStatus, Level, LocationId, Operation, OrderStatus, Role,
    StockError, Totals, TransitionRefused,
};

/// Milliseconds since the Unix epoch, UTC.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit in i64 until the year 292278994")
}

/// One location's level of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationLevel {
    pub location: LocationId,
    pub level: Level,
    pub updated_at_ms: i64,
}

/// An item with its stock, per location and in total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemView {
    pub item: Item,
    pub levels: Vec<LocationLevel>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl ItemView {
    /// The item's stock over all its locations. A change that would take
    /// it past 64 bits is refused, so these fit; were one not to (a
    /// database edited by hand), it shows at the bound.
    pub fn totals(&self) -> Totals {
        Totals::of(self.levels.iter().map(|l| &l.level))
    }

    pub fn on_hand(&self) -> i64 {
        self.totals().on_hand()
    }

    pub fn reserved(&self) -> i64 {
        self.totals().reserved()
    }

    pub fn available(&self) -> i64 {
        self.totals().available()
    }

    /// The sum of the level versions: it moves whenever any level moves.
    pub fn version(&self) -> i64 {
        self.levels
            .iter()
            .fold(0i64, |sum, l| sum.saturating_add(l.level.version))
    }

    pub fn level_at(&self, location: &LocationId) -> Option<&LocationLevel> {
        self.levels.iter().find(|l| &l.location == location)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub id: LocationId,
    pub name: String,
    /// Lower fills first when a line names no location.
    pub priority: i64,
    pub created_at_ms: i64,
}

/// One row of the append-only ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: i64,
    pub item: ItemId,
    pub location: LocationId,
    pub operation: Operation,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    pub on_hand_before: i64,
    pub on_hand_after: i64,
    pub reserved_before: i64,
    pub reserved_after: i64,
    pub version_after: i64,
    pub order_id: Option<String>,
    pub reservation_id: Option<String>,
    pub reason: Option<String>,
    pub operator: String,
    pub trace_id: Option<String>,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// A page request: 1-based page number and a size already capped by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u32,
    pub size: u32,
}

impl Page {
    pub fn offset(&self) -> i64 {
        i64::from(self.number.saturating_sub(1)) * i64::from(self.size)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    pub rows: Vec<T>,
    pub total: u64,
    pub page: Page,
}

#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    pub status: Option<ItemStatus>,
    /// Items with 0 < available <= their threshold.
    pub low_stock: bool,
    /// Items with available <= 0.
    pub out_of_stock: bool,
    /// A substring of the id or the name.
    pub query: Option<String>,
    /// Only items with a level at this location (which must exist), their
    /// stock counted there alone.
    pub location: Option<LocationId>,
    /// The threshold for items without a `min_stock` of their own.
    pub low_stock_threshold: i64,
}

#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
}

/// What an alert says about an item's available stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// Available fell to the item's threshold or below, and is above zero.
    LowStock,
    /// Available fell to zero or below.
    OutOfStock,
    /// Available rose above zero from zero or below.
    BackInStock,
    /// The health checker found the cache and the database apart by more
    /// than the alert threshold.
    DiffAlert,
}

impl AlertKind {
    pub const ALL: [AlertKind; 4] = [
        AlertKind::LowStock,
        AlertKind::OutOfStock,
        AlertKind::BackInStock,
        AlertKind::DiffAlert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::LowStock => "low_stock",
            AlertKind::OutOfStock => "out_of_stock",
            AlertKind::BackInStock => "back_in_stock",
            AlertKind::DiffAlert => "diff_alert",
        }
    }

    pub fn parse(raw: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// How loud the alert is: an empty shelf is an error, a low one a warning.
    pub fn level(self) -> &'static str {
        match self {
            AlertKind::LowStock => "warning",
            AlertKind::OutOfStock => "error",
            AlertKind::BackInStock => "info",
            AlertKind::DiffAlert => "warning",
        }
    }

    /// The alert, if any, that a change of an item's available stock from
    /// `before` to `after` raises, given its low-stock `threshold`.
    pub fn crossed(before: i64, after: i64, threshold: i64) -> Option<AlertKind> {
        if before > 0 && after <= 0 {
            Some(AlertKind::OutOfStock)
        } else if before <= 0 && after > 0 {
            Some(AlertKind::BackInStock)
        } else if before > threshold && after <= threshold && after > 0 {
            Some(AlertKind::LowStock)
        } else {
            None
        }
    }
}

/// Where an alert is: pending and sent alerts are open; staff close them by
/// acknowledging or ignoring them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertStatus {
    Pending,
    Sent,
    Acknowledged,
    Ignored,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 4] = [
        AlertStatus::Pending,
        AlertStatus::Sent,
        AlertStatus::Acknowledged,
        AlertStatus::Ignored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Pending => "pending",
            AlertStatus::Sent => "sent",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Ignored => "ignored",
        }
    }

    pub fn parse(raw: &str) -> Option<AlertStatus> {
        AlertStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn is_open(self) -> bool {
        matches!(self, AlertStatus::Pending | AlertStatus::Sent)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertView {
    pub id: i64,
    pub item: ItemId,
    pub kind: AlertKind,
    pub status: AlertStatus,
    /// The item's available stock (all locations) right after the change.
    pub available: i64,
    pub threshold: i64,
    /// The ledger row of the change that raised it; none for a diff alert.
    pub ledger_id: Option<i64>,
    pub message: String,
    /// The operator who acknowledged or ignored it.
    pub handled_by: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub item: Option<ItemId>,
    pub kind: Option<AlertKind>,
    pub status: Option<AlertStatus>,
    /// Only pending and sent alerts.
    pub open: bool,
}

/// A level whose reserved quantity differs from its active holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldMismatch {
    pub item: ItemId,
    pub location: LocationId,
    pub reserved: i64,
    pub held: i64,
}

#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    pub item: Option<ItemId>,
    pub order_id: Option<String>,
    pub trace_id: Option<String>,
    pub operation: Option<Operation>,
}

/// An item's available stock, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLine {
    pub id: ItemId,
    pub name: String,
    pub available: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowStockReport {
    pub low_stock: Vec<StockLine>,
    pub low_stock_count: u64,
    pub out_of_stock: Vec<StockLine>,
    pub out_of_stock_count: u64,
}

/// Counts and totals over every item. The totals are summed wide (an
/// item's own totals always fit in 64 bits, the inventory's need not) and
/// a total beyond 64 bits is shown at the bound (`stock_core::saturate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryStats {
    pub items: u64,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub low_stock: u64,
    pub out_of_stock: u64,
    pub locations: u64,
    pub ledger_entries: u64,
}

/// A level that does not equal the sum of its ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelMismatch {
    pub item: ItemId,
    pub location: LocationId,
    pub on_hand: i64,
    pub on_hand_from_ledger: i64,
    pub reserved: i64,
    pub reserved_from_ledger: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub levels_checked: u64,
    pub ledger_entries: u64,
    pub active_holds: u64,
    pub mismatches: Vec<LevelMismatch>,
    pub hold_mismatches: Vec<HoldMismatch>,
    /// Ledger rows for an item and location that have no level: a change
    /// always writes both, so there should be none.
    pub orphan_entries: u64,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.mismatches.is_empty() && self.hold_mismatches.is_empty() && self.orphan_entries == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability {
    pub journal_mode: String,
    pub synchronous: String,
}

// ---------------------------------------------------------------------------
// Writes

/// Item fields a caller may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ItemPatch {
    pub name: Option<String>,
    pub status: Option<ItemStatus>,
    /// `Some(None)` clears the field.
    pub min_stock: Option<Option<i64>>,
    pub max_stock: Option<Option<i64>>,
    pub allow_backorder: Option<bool>,
}

impl ItemPatch {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.status.is_none()
            && self.min_stock.is_none()
            && self.max_stock.is_none()
            && self.allow_backorder.is_none()
    }
}

/// An absolute on-hand figure after a count, guarded by the level's version.
#[derive(Debug, Clone)]
pub struct StockSet {
    pub location: LocationId,
    pub on_hand: i64,
    pub expected_version: i64,
    pub reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LineDelta {
    pub item: ItemId,
    pub location: LocationId,
    pub delta: i64,
}

/// One line of a hold request: a location, or `None` to fill from locations
/// in priority order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldLineRequest {
    pub item: ItemId,
    pub location: Option<LocationId>,
    pub quantity: i64,
}

/// Where a hold took stock from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldLine {
    pub item: ItemId,
    pub location: LocationId,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldView {
    pub id: String,
    pub order_id: String,
    /// As stored; see [`HoldView::status_at`] for what it means now.
    pub status: HoldStatus,
    pub expires_at_ms: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub lines: Vec<HoldLine>,
}

impl HoldView {
    /// An active hold past its expiry is expired, even before the service
    /// has written it so.
    pub fn status_at(&self, now_ms: i64) -> HoldStatus {
        if self.status == HoldStatus::Active && self.expires_at_ms <= now_ms {
            HoldStatus::Expired
        } else {
            self.status
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderView {
    pub id: String,
    pub status: OrderStatus,
    pub hold: HoldView,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl OrderView {
    /// A pending order whose hold ran out is expired, even before the
    /// service has written it so.
    pub fn status_at(&self, now_ms: i64) -> OrderStatus {
        if self.status == OrderStatus::Pending && self.hold.status_at(now_ms) == HoldStatus::Expired
        {
            OrderStatus::Expired
        } else {
            self.status
        }
    }
}

/// Every kind of write. Each one either applies whole or not at all.
#[derive(Debug, Clone)]
pub enum Command {
    /// A new item with its opening stock at one location (an `init` row).
    CreateItem {
        item: Item,
        location: LocationId,
        opening_stock: i64,
    },
    UpdateItem {
        id: ItemId,
        patch: ItemPatch,
        set_stock: Option<StockSet>,
    },
    /// sync-stock: a signed delta, applied once per order or trace.
    SyncStock {
        item: ItemId,
        location: LocationId,
        delta: i64,
        order_id: Option<String>,
        reason: Option<String>,
        trace_id: Option<String>,
    },
    /// Decrease and increase of several items: every line or none.
    ApplyLines {
        operation: Operation,
        lines: Vec<LineDelta>,
        order_id: Option<String>,
        reason: Option<String>,
    },
    /// An import row: create the item, or update it and set its stock.
    ImportItem {
        item: Item,
        location: LocationId,
        on_hand: i64,
    },
    CreateLocation {
        id: LocationId,
        name: String,
        priority: i64,
    },
    /// Holds every line or none, for `ttl_ms`.
    CreateHold {
        id: String,
        order_id: String,
        lines: Vec<HoldLineRequest>,
        ttl_ms: i64,
    },
    /// Moves the expiry to `ttl_ms` from now.
    ExtendHold {
        id: String,
        ttl_ms: i64,
    },
    CommitHold {
        id: String,
    },
    ReleaseHold {
        id: String,
        reason: Option<String>,
    },
    /// Closes an open alert as acknowledged or ignored.
    CloseAlert {
        id: i64,
        status: AlertStatus,
    },
    /// Records what a health check found: its run, a pending diff per item
    /// apart by more than the tolerance, a diff alert per item apart by more
    /// than the alert threshold.
    RecordHealthRun(HealthRunRecord),
    /// Repairs a pending diff: `UseDb` says the cache was rewritten from the
    /// database; `UseRedis` makes the database's available stock equal the
    /// cache's value with a `sync` ledger row at the default location.
    FixDiff {
        id: i64,
        fix: DiffFix,
    },
    /// Expires these holds if they are still active and due at `now_ms`.
    ExpireHolds {
        ids: Vec<String>,
        now_ms: i64,
    },
    /// Checks and holds every line at once, as a pending order.
    CreateOrder {
        id: String,
        hold_id: String,
        lines: Vec<HoldLineRequest>,
        ttl_ms: i64,
    },
    PayOrder {
        id: String,
    },
    CancelOrder {
        id: String,
        reason: Option<String>,
    },
    /// Moves stock between two locations: rows on both sides, or none.
    Transfer {
        item: ItemId,
        source: LocationId,
        target: LocationId,
        quantity: i64,
        reason: Option<String>,
    },
    /// Writes a supplier's figure (`stock`, for region `county_code`) into
    /// the item's on-hand quantity at the supplier's location, creating the
    /// location if missing; a `sync` ledger row when the level moves. Held
    /// stock stays held: without backorder on hand goes no lower than
    /// reserved. The item's link to the supplier records the figure either way.
    SyncSupplierStock {
        item: ItemId,
        location: LocationId,
        location_name: String,
        location_priority: i64,
        stock: i64,
        supplier: String,
        county_code: String,
    },
}

/// What a command did.
// Outcomes are built once per command and moved, never stored in bulk.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Outcome {
    Item {
        view: ItemView,
        entries: Vec<LedgerEntry>,
    },
    /// `replayed` is true when a retry of an applied sync returned its first result.
    Synced {
        view: ItemView,
        entry: LedgerEntry,
        replayed: bool,
    },
    Lines {
        views: Vec<ItemView>,
        entries: Vec<LedgerEntry>,
    },
    Imported {
        kind: ImportKind,
        view: ItemView,
    },
    Location(Location),
    /// `replayed` is true when the hold existed and nothing changed now.
    Hold {
        hold: HoldView,
        replayed: bool,
    },
    Order {
        order: OrderView,
        replayed: bool,
    },
    Expired {
        holds: u64,
    },
    Transferred {
        view: ItemView,
        entries: Vec<LedgerEntry>,
    },
    Alert(AlertView),
    HealthRun {
        run: HealthRunView,
        /// The diffs this run left pending or fixed, one per item found apart.
        diffs: Vec<DiffView>,
    },
    DiffFixed {
        diff: DiffView,
        entries: Vec<LedgerEntry>,
    },
    /// `entry` is none when the level was at the figure already; `shortfall`
    /// is how far the figure was below what is held and could not be applied.
    SupplierSynced {
        view: ItemView,
        entry: Option<LedgerEntry>,
        shortfall: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Created,
    Updated,
    Unchanged,
}

/// Why a write was refused.
#[derive(Debug)]
pub enum WriteError {
    Stock(StockError),
    NotFound {
        entity: &'static str,
        id: String,
    },
    AlreadyExists {
        entity: &'static str,
        id: String,
    },
    /// A retry key (order id or trace id) was seen before with other values.
    RetryMismatch {
        message: String,
    },
    /// Another request with the same id was being applied at the same time.
    InProgress {
        message: String,
    },
    /// A hold cannot take this step from the state it is in.
    HoldState {
        id: String,
        refused: TransitionRefused<HoldStatus>,
    },
    OrderState {
        id: String,
        refused: TransitionRefused<OrderStatus>,
    },
    /// The alert was closed before.
    AlertClosed {
        id: i64,
        status: AlertStatus,
    },
    /// The diff was fixed or ignored before.
    DiffClosed {
        id: i64,
        status: DiffStatus,
    },
    /// Another database transaction holds a row this write needs, so the
    /// write did nothing rather than wait for it. The engine runs it again
    /// (see `stock_engine::EngineConfig::busy_wait_max`); a caller sees it
    /// only when the row stayed locked for longer than that.
    Busy,
    /// The store failed; nothing the caller did.
    Internal(anyhow::Error),
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Stock(error) => error.fmt(f),
            WriteError::NotFound { entity, id } => write!(f, "{entity} {id} not found"),
            WriteError::AlreadyExists { entity, id } => write!(f, "{entity} {id} already exists"),
            WriteError::RetryMismatch { message } | WriteError::InProgress { message } => {
                f.write_str(message)
            }
            WriteError::HoldState { id, refused } => write!(f, "hold {id}: {refused}"),
            WriteError::OrderState { id, refused } => write!(f, "order {id}: {refused}"),
            WriteError::AlertClosed { id, status } => {
                write!(f, "alert {id} is already {}", status.as_str())
            }
            WriteError::DiffClosed { id, status } => {
                write!(f, "diff {id} is already {}", status.as_str())
            }
            WriteError::Busy => f.write_str(
                "another database transaction holds a row this write needs; nothing was changed",
            ),
            WriteError::Internal(error) => write!(f, "internal error: {error:#}"),
        }
    }
}

impl From<StockError> for WriteError {
    fn from(error: StockError) -> Self {
        WriteError::Stock(error)
    }
}

impl From<sqlx::Error> for WriteError {
    fn from(error: sqlx::Error) -> Self {
        WriteError::Internal(error.into())
    }
}

/// A response kept for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub request_hash: String,
    pub status: u16,
    pub body: Vec<u8>,
}

/// Turns a command's result into the response kept for its idempotency key.
/// Called inside the write transaction, so the response is durable together
/// with the change it describes.
pub type Render =
    std::sync::Arc<dyn Fn(&Result<Outcome, WriteError>) -> (u16, Vec<u8>) + Send + Sync>;

/// A caller's claim on an idempotency key.
#[derive(Clone)]
pub struct IdempotencyClaim {
    /// The API key the idempotency key is scoped to.
    pub key_id: String,
    pub idempotency_key: String,
    pub request_hash: String,
    pub render: Render,
}

impl fmt::Debug for IdempotencyClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyClaim")
            .field("key_id", &self.key_id)
            .field("idempotency_key", &self.idempotency_key)
            .field("request_hash", &self.request_hash)
            .finish_non_exhaustive()
    }
}

/// Who asked for a write, and how to record it.
#[derive(Debug, Clone)]
pub struct WriteMeta {
    /// The API key id (or `cli`, `import`, `demo`) written into the ledger.
    pub operator: String,
    /// The request's trace id, written into the ledger.
    pub trace_id: Option<String>,
    pub idempotency: Option<IdempotencyClaim>,
}

#[derive(Debug)]
pub struct WriteJob {
    pub command: Command,
    pub meta: WriteMeta,
}

/// The answer to one command.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Reply {
    /// The command ran now.
    Fresh(Result<Outcome, WriteError>),
    /// The idempotency key was used before: here is the first response, and
    /// whether the request body matched the first one.
    Replayed {
        stored: StoredResponse,
        same_request: bool,
    },
}

/// One event of the outbox, with what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventView {
    pub id: i64,
    pub created_at_ms: i64,
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventBody {
    /// A change to a level: its ledger row.
    Stock(LedgerEntry),
    /// A hold took this status.
    Reservation {
        id: String,
        order_id: String,
        status: HoldStatus,
    },
    /// An order took this status.
    Order { id: String, status: OrderStatus },
    /// An alert was raised or took this status.
    Alert {
        alert: AlertView,
        status: AlertStatus,
    },
}

/// The kinds of events, as filters name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Stock,
    Reservation,
    Order,
    Alert,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [
        EventKind::Stock,
        EventKind::Reservation,
        EventKind::Order,
        EventKind::Alert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Stock => "stock",
            EventKind::Reservation => "reservation",
            EventKind::Order => "order",
            EventKind::Alert => "alert",
        }
    }

    pub fn parse(raw: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Where events are pushed, and how far delivery has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub secret: String,
    /// Kinds of events sent; all when empty.
    pub kinds: Vec<EventKind>,
    /// The last event delivered or given up on.
    pub cursor: i64,
    /// Failed attempts at the event after the cursor.
    pub attempts: u32,
    /// When the event after the cursor may be tried again.
    pub next_try_at_ms: i64,
    pub created_at_ms: i64,
}

/// How an attempt to deliver an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Failed; it will be tried again.
    Retrying,
    /// Failed for the last time; delivery moved on.
    Failed,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retrying => "retrying",
            DeliveryOutcome::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<DeliveryOutcome> {
        [
            DeliveryOutcome::Delivered,
            DeliveryOutcome::Retrying,
            DeliveryOutcome::Failed,
        ]
        .into_iter()
        .find(|o| o.as_str() == raw)
    }
}

/// One attempt to deliver one event to one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: String,
    pub event_id: i64,
    pub attempt: u32,
    pub outcome: DeliveryOutcome,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub created_at_ms: i64,
}

/// What the store holds now, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    pub active_holds: u64,
    /// Diffs the health checker found that nobody has fixed yet.
    pub pending_diffs: u64,
    /// Open (pending or sent) alerts by kind.
    pub open_alerts: Vec<(AlertKind, u64)>,
    pub webhooks: u64,
    pub last_event_id: i64,
}

/// Where a cache-vs-database difference is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiffStatus {
    Pending,
    Fixed,
    Ignored,
}

impl DiffStatus {
    pub const ALL: [DiffStatus; 3] = [DiffStatus::Pending, DiffStatus::Fixed, DiffStatus::Ignored];

    pub fn as_str(self) -> &'static str {
        match self {
            DiffStatus::Pending => "pending",
            DiffStatus::Fixed => "fixed",
            DiffStatus::Ignored => "ignored",
        }
    }

    pub fn parse(raw: &str) -> Option<DiffStatus> {
        DiffStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// How a diff is repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffFix {
    /// The database is right; the cache was rewritten from it.
    UseDb,
    /// The cache is right: the database's available stock becomes this.
    UseRedis { cache_value: i64 },
}

impl DiffFix {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffFix::UseDb => "use_db",
            DiffFix::UseRedis { .. } => "use_redis",
        }
    }
}

/// An item whose cached available stock is not the database's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthFinding {
    pub item: ItemId,
    pub db_value: i64,
    pub cache_value: i64,
    /// The cache was rewritten from the database during the run (auto-fix).
    pub fixed_in_cache: bool,
    /// An auto-fix was tried and failed.
    pub fix_failed: bool,
}

/// One health check, as the checker reports it to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRunRecord {
    /// `schedule` or `manual`.
    pub trigger: &'static str,
    pub checked: u64,
    /// Items with no cached value (filled, not counted as diffs).
    pub missing: u64,
    /// Items apart by more than the tolerance.
    pub findings: Vec<HealthFinding>,
    /// A finding apart by more than this raises a diff alert.
    pub alert_threshold: i64,
    /// Why the run stopped early, if it did.
    pub error: Option<String>,
    pub started_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRunView {
    pub id: i64,
    pub trigger: String,
    pub checked: u64,
    pub missing: u64,
    pub diffs_found: u64,
    pub alerts_raised: u64,
    pub auto_fixed: u64,
    pub auto_fix_failed: u64,
    pub error: Option<String>,
    pub operator: String,
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffView {
    pub id: i64,
    pub item: ItemId,
    pub run_id: i64,
    pub db_value: i64,
    pub cache_value: i64,
    /// `cache_value - db_value`.
    pub diff: i64,
    pub status: DiffStatus,
    pub fix_type: Option<String>,
    pub fixed_by: Option<String>,
    pub fixed_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// What the health checker has done so far, over every run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthReport {
    pub last_run: Option<HealthRunView>,
    pub runs: u64,
    pub diffs_found: u64,
    pub auto_fixed: u64,
    pub auto_fix_failed: u64,
    /// Pending diffs, newest first, at most the page asked for.
    pub pending: Vec<DiffView>,
    pub pending_total: u64,
}

/// Items whose stock changed, read from the outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangedItems {
    /// Each once, in the order of their first change.
    pub items: Vec<ItemId>,
    /// Read on from here next time.
    pub newest_event_id: i64,
    /// False when the limit stopped the read: there are more.
    pub complete: bool,
}

/// A shop's storefront on another platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    /// Where a sync pushes quantities; `None`: the channel reads them.
    pub endpoint: Option<String>,
    pub secret: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A channel's listing, linked to a warehouse item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub channel: String,
    pub listing_id: String,
    pub item: ItemId,
    /// Sellable stock is counted here only; `None`: every location.
    pub location: Option<LocationId>,
    /// Held back from the channel: it is offered available minus this.
    pub buffer: i64,
    pub published_quantity: Option<i64>,
    pub published_at_ms: Option<i64>,
    pub last_attempt_at_ms: Option<i64>,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// What one publication of a listing came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    Published(i64),
    Failed(String),
}

/// An item whose stock lives at a supplier, under the supplier's product code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplierLink {
    pub item: ItemId,
    pub supplier: String,
    pub product_code: String,
    /// Ask the supplier for its stock before an order is taken.
    pub check_before_order: bool,
    /// The supplier's last figure, and the region (county code) it was for.
    pub last_stock: Option<i64>,
    pub last_county_code: Option<String>,
    pub last_synced_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// What linking an item to a supplier's product code came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutSupplierLink {
    Linked(SupplierLink),
    /// The supplier's product code is already linked to this other item.
    CodeTaken {
        item: ItemId,
    },
}

/// What the ledger shows for one span of time; sums over many items, at
/// the bound of 64 bits when beyond it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    pub from_ms: i64,
    /// Units deducted or committed (sold).
    pub sold: i64,
    /// Units newly held.
    pub held: i64,
}
