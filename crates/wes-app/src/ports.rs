//! The ports the application talks to the outside through. `live` binds them to the Kafka, SQL
//! and projector adapters; unit tests bind them to memory.

use crate::AppError;
use std::sync::Arc;
use std::time::Duration;
use wes_domain::idempotency::{Claim, IdempotencyScope};
use wes_domain::masterdata::MasterData;
use wes_domain::reconcile::{Totals, WindowKey};
use wes_domain::{UtcMillis, WarehouseId};
use wes_events::{ConfirmationRecorded, Event, WindowDecision};
use wes_store::ProjectionKind;
use wes_store::idempotency::KeyRequest;
use wes_store::queries::{QueueFilter, SupervisorEntryRow, SupervisorStepRow};
use wes_store::reactors::WatchedWindow;
use wes_store::windows::{LateMovementRow, WindowRow};

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub topic: &'static str,
    pub partition: i32,
    pub offset: i64,
}

/// The event log: append, and see how far the log and each projection have come.
#[async_trait::async_trait]
pub trait EventLog: Send + Sync {
    /// Appends in the given order (records with one key keep their order); one result per event,
    /// `Ok` once the log acknowledged it.
    async fn append(&self, events: &[Event]) -> Vec<Result<Appended, AppError>>;
    /// The next offset of every partition of `topic`.
    async fn log_end(&self, topic: &str) -> Result<Vec<(i32, i64)>, AppError>;
    /// Waits (at most `timeout`) until `projection` has applied the record at `at`.
    async fn wait_applied(
        &self,
        projection: ProjectionKind,
        at: Appended,
        timeout: Duration,
    ) -> bool;
    /// Waits (at most `timeout`) until `projection` holds every record of `topic` below `ends`.
    async fn wait_through(
        &self,
        projection: ProjectionKind,
        topic: &str,
        ends: &[(i32, i64)],
        timeout: Duration,
    ) -> bool;
}

/// Idempotency keys: claimed before appending, settled after.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    async fn claim(
        &self,
        scope: IdempotencyScope,
        owner: &str,
        keys: &[KeyRequest<'_>],
        now: UtcMillis,
    ) -> Result<Vec<Claim>, AppError>;
    async fn settle(
        &self,
        scope: IdempotencyScope,
        owner: &str,
        done: &[&str],
        failed: &[&str],
    ) -> Result<(), AppError>;
    async fn is_done(
        &self,
        scope: IdempotencyScope,
        owner: &str,
        correlation_id: &str,
    ) -> Result<bool, AppError>;
}

/// The read models handlers decide on.
#[async_trait::async_trait]
pub trait ReadModels: Send + Sync {
    /// The master-data snapshot validation reads.
    fn master_data(&self) -> Arc<MasterData>;
    async fn window(&self, window_id: &str) -> Result<Option<WindowRow>, AppError>;
    /// The partner's movements of the window below `through`, summed per line.
    async fn realtime_totals(
        &self,
        window: &WindowKey,
        through: &[(i32, i64)],
    ) -> Result<Totals, AppError>;
    /// The warehouse's stock as of `as_of` from the movements below `through`.
    async fn stock_as_of(
        &self,
        warehouse: &WarehouseId,
        as_of: UtcMillis,
        through: &[(i32, i64)],
    ) -> Result<Totals, AppError>;
    /// The partner's movements of the window at or beyond `through`: arrived late.
    async fn late_movements(
        &self,
        window: &WindowKey,
        through: &[(i32, i64)],
    ) -> Result<Vec<LateMovementRow>, AppError>;
    async fn supervisor_entry(
        &self,
        entry_id: &str,
    ) -> Result<Option<(SupervisorEntryRow, Vec<SupervisorStepRow>)>, AppError>;
    async fn supervisor_queue(
        &self,
        filter: &QueueFilter,
        limit: i64,
    ) -> Result<Vec<SupervisorEntryRow>, AppError>;
    async fn release_exists(&self, planner: &str, correlation_id: &str) -> Result<bool, AppError>;
}

/// The window watcher's durable work state.
#[async_trait::async_trait]
pub trait WatchState: Send + Sync {
    async fn watch_confirmation(&self, confirmation: &ConfirmationRecorded)
    -> Result<(), AppError>;
    async fn watch_decision(&self, decision: &WindowDecision) -> Result<(), AppError>;
    /// The windows still watched, after dropping decided ones that ended before `horizon`.
    async fn watched(&self, horizon: UtcMillis) -> Result<Vec<WatchedWindow>, AppError>;
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
