//! The ports the application talks to the outside through. `live` binds them to the Kafka, SQL
//! and projector adapters; unit tests bind them to memory.

use crate::AppError;
use std::sync::Arc;
use std::time::Duration;
use wes_domain::dispatch_transport::PollCursor;
use wes_domain::idempotency::{Claim, IdempotencyScope};
use wes_domain::masterdata::MasterData;
use wes_domain::reconcile::{Totals, WindowKey};
use wes_domain::release::{Dispatched, DocumentKey, Envelope};
use wes_domain::{CorrelationId, PartnerId, PlannerId, UtcMillis, WarehouseId};
use wes_events::{ConfirmationRecorded, Event, WindowDecision};
use wes_store::ProjectionKind;
use wes_store::deliveries::{AttemptRecord, DeliveryRow, NewDelivery};
use wes_store::idempotency::KeyRequest;
use wes_store::queries::{QueueFilter, SupervisorEntryRow, SupervisorStepRow};
use wes_store::reactors::WatchedWindow;
use wes_store::windows::{LateMovementRow, WindowRow};

/// What a port answers.
pub type AppResult<T> = Result<T, AppError>;
/// A position in a topic: the next offset of each partition.
pub type Through = [(i32, i64)];
/// The decision on each claimed key, in order.
pub type Claims = AppResult<Vec<Claim>>;
/// A supervisor-queue entry and its audit trail.
pub type EntryWithSteps = (SupervisorEntryRow, Vec<SupervisorStepRow>);

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub topic: &'static str,
    pub partition: i32,
    pub offset: i64,
}

/// The end of a topic when it was read: the next offset of each partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEnd {
    pub topic: &'static str,
    pub ends: Vec<(i32, i64)>,
}

/// Whose idempotency keys: a scope and the partner (or planner) that owns them.
#[derive(Debug, Clone, Copy)]
pub struct KeyOwner<'a> {
    pub scope: IdempotencyScope,
    pub owner: &'a str,
}

/// The event log: append, and see how far the log and each projection have come.
#[async_trait::async_trait]
pub trait EventLog: Send + Sync {
    /// Appends in the given order (records with one key keep their order); one result per event,
    /// `Ok` once the log acknowledged it.
    async fn append(&self, events: &[Event]) -> Vec<AppResult<Appended>>;
    /// The next offset of every partition of `topic`.
    async fn log_end(&self, topic: &'static str) -> AppResult<LogEnd>;
    /// Waits (at most `within`) until the projection has applied the record at `at`.
    async fn wait_applied(&self, kind: ProjectionKind, at: Appended, within: Duration) -> bool;
    /// Waits (at most `within`) until the projection holds every record below `end`.
    async fn wait_through(&self, kind: ProjectionKind, end: &LogEnd, within: Duration) -> bool;
}

/// Idempotency keys: claimed before appending, settled after.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    async fn claim(&self, of: KeyOwner<'_>, now: UtcMillis, keys: &[KeyRequest<'_>]) -> Claims;
    /// Marks `done` keys DONE and releases `failed` ones.
    async fn settle(&self, of: KeyOwner<'_>, done: &[&str], failed: &[&str]) -> AppResult<()>;
    async fn is_done(&self, of: KeyOwner<'_>, correlation_id: &str) -> AppResult<bool>;
}

/// The read models handlers decide on.
#[async_trait::async_trait]
pub trait ReadModels: Send + Sync {
    /// The master-data snapshot validation reads.
    fn master_data(&self) -> Arc<MasterData>;
    async fn window(&self, window_id: &str) -> AppResult<Option<WindowRow>>;
    /// The partner's movements of the window below `through`, summed per line.
    async fn realtime_totals(&self, window: &WindowKey, through: &Through) -> AppResult<Totals>;
    /// The warehouse's stock as of `at` from the movements below `below`.
    async fn stock_at(&self, wh: &WarehouseId, at: UtcMillis, below: &Through)
    -> AppResult<Totals>;
    /// The partner's movements of the window at or beyond `through`: arrived late.
    async fn late_movements(
        &self,
        window: &WindowKey,
        through: &Through,
    ) -> AppResult<Vec<LateMovementRow>>;
    async fn supervisor_entry(&self, entry_id: &str) -> AppResult<Option<EntryWithSteps>>;
    async fn supervisor_queue(
        &self,
        filter: &QueueFilter,
        limit: i64,
    ) -> AppResult<Vec<SupervisorEntryRow>>;
    /// The release or cancellation `correlation_id` of `planner` in the dispatch projection.
    async fn dispatched(
        &self,
        planner: &str,
        correlation_id: &str,
    ) -> AppResult<Option<Dispatched>>;
    /// The live release of `document` in the dispatch projection.
    async fn live_release(
        &self,
        document: &DocumentKey,
    ) -> AppResult<Option<(PlannerId, CorrelationId)>>;
    /// Up to `limit` releases of `warehouse` in log order: after `after`, or from `start`.
    async fn poll_page(
        &self,
        warehouse: &WarehouseId,
        after: Option<PollCursor>,
        start: &[(i32, i64)],
        limit: i64,
    ) -> AppResult<Vec<(PollCursor, Envelope)>>;
    /// Whether a release of `warehouse` is at `cursor` in the dispatch projection.
    async fn has_release_at(&self, warehouse: &WarehouseId, cursor: PollCursor) -> AppResult<bool>;
    /// `executor`'s acknowledged position in `warehouse`'s dispatch log.
    async fn poll_acked(
        &self,
        warehouse: &WarehouseId,
        executor: &PartnerId,
    ) -> AppResult<Option<PollCursor>>;
}

/// The window watcher's durable work state.
#[async_trait::async_trait]
pub trait WatchState: Send + Sync {
    async fn watch_confirmation(&self, confirmation: &ConfirmationRecorded) -> AppResult<()>;
    async fn watch_decision(&self, decision: &WindowDecision) -> AppResult<()>;
    /// The windows still watched, after dropping decided ones that ended before `horizon`.
    async fn watched(&self, horizon: UtcMillis) -> AppResult<Vec<WatchedWindow>>;
}

/// The webhook reactor's durable work state: deliveries and the delivery lease.
#[async_trait::async_trait]
pub trait DeliveryState: Send + Sync {
    async fn enqueue(&self, delivery: &NewDelivery) -> AppResult<()>;
    /// The oldest delivery left of each lane (planner, warehouse), due or not.
    async fn lane_heads(&self) -> AppResult<Vec<DeliveryRow>>;
    /// False when the row had moved on (a stale or repeated attempt): nothing recorded.
    async fn record_attempt(&self, attempt: &AttemptRecord<'_>) -> AppResult<bool>;
    /// Dead-lettered deliveries whose dead letter is not on the log yet, and marking one written.
    async fn dead_letters_pending(&self) -> AppResult<Vec<DeliveryRow>>;
    async fn dead_letter_written(&self, delivery_id: &str) -> AppResult<()>;
    async fn drop_delivery(&self, delivery_id: &str, now: UtcMillis) -> AppResult<()>;
    async fn delivery(&self, delivery_id: &str) -> AppResult<Option<DeliveryRow>>;
    async fn deliveries(
        &self,
        warehouse: Option<&str>,
        status: Option<&str>,
        limit: i64,
    ) -> AppResult<Vec<DeliveryRow>>;
    /// A dead-lettered delivery back to PENDING; false when it is not dead-lettered.
    async fn redrive(&self, delivery_id: &str, now: UtcMillis) -> AppResult<bool>;
    /// Takes or keeps a lease for `holder` until `until`; false while another holds it.
    async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        now: UtcMillis,
        until: UtcMillis,
    ) -> AppResult<bool>;
}

/// One webhook `POST`.
#[derive(Debug, Clone)]
pub struct WebhookRequest<'a> {
    pub url: &'a str,
    pub headers: Vec<(&'static str, String)>,
    pub body: &'a str,
    pub timeout: Duration,
}

/// What a receiver answered: its status, or why there was none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAnswer {
    Status(u16),
    Failed(String),
}

/// Outbound HTTP for webhooks.
#[async_trait::async_trait]
pub trait WebhookPoster: Send + Sync {
    async fn post(&self, request: WebhookRequest<'_>) -> WebhookAnswer;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> UtcMillis;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UtcMillis {
        UtcMillis(chrono::Utc::now().timestamp_millis())
    }
}
