//! The ports bound to the real adapters: the Kafka producer and the projector for the event log,
//! the SQL store for keys, read models and the watcher's work state.

use crate::AppError;
use crate::ports::{Appended, EventLog, KeyStore, ReadModels, WatchState};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use wes_domain::idempotency::{Claim, IdempotencyScope};
use wes_domain::masterdata::MasterData;
use wes_domain::reconcile::{Totals, WindowKey};
use wes_domain::{UtcMillis, WarehouseId};
use wes_events::{ConfirmationRecorded, Event, WindowDecision};
use wes_kafka::EventProducer;
use wes_projector::Projector;
use wes_store::idempotency::KeyRequest;
use wes_store::queries::{QueueFilter, SupervisorEntryRow, SupervisorStepRow};
use wes_store::reactors::WatchedWindow;
use wes_store::windows::{LateMovementRow, WindowRow};
use wes_store::{ProjectionKind, Store};

/// The event log: appends through the idempotent producer, positions through the projector.
pub struct KafkaLog {
    pub producer: EventProducer,
    pub projector: Arc<Projector>,
}

#[async_trait::async_trait]
impl EventLog for KafkaLog {
    async fn append(&self, events: &[Event]) -> Vec<Result<Appended, AppError>> {
        self.producer
            .append(events)
            .await
            .into_iter()
            .zip(events)
            .map(|(delivery, event)| {
                let d = delivery?;
                Ok(Appended {
                    topic: event.topic(),
                    partition: d.partition,
                    offset: d.offset,
                })
            })
            .collect()
    }

    async fn log_end(&self, topic: &str) -> Result<Vec<(i32, i64)>, AppError> {
        Ok(self.projector.log_end(topic).await?)
    }

    async fn wait_applied(
        &self,
        projection: ProjectionKind,
        at: Appended,
        timeout: Duration,
    ) -> bool {
        self.projector
            .wait_applied(projection, at.topic, at.partition, at.offset, timeout)
            .await
    }

    async fn wait_through(
        &self,
        projection: ProjectionKind,
        topic: &str,
        ends: &[(i32, i64)],
        timeout: Duration,
    ) -> bool {
        self.projector
            .wait_through(projection, topic, ends, timeout)
            .await
    }
}

/// The SQL store, the master-data snapshot the projector keeps fresh, and this hub instance
/// (the owner of the idempotency claims it takes).
pub struct SqlStore {
    pub store: Store,
    pub masterdata: watch::Receiver<Arc<MasterData>>,
    pub instance_id: String,
}

#[async_trait::async_trait]
impl KeyStore for SqlStore {
    async fn claim(
        &self,
        scope: IdempotencyScope,
        owner: &str,
        keys: &[KeyRequest<'_>],
        now: UtcMillis,
    ) -> Result<Vec<Claim>, AppError> {
        Ok(self
            .store
            .claim_keys(scope, owner, &self.instance_id, keys, now)
            .await?)
    }

    async fn settle(
        &self,
        scope: IdempotencyScope,
        owner: &str,
        done: &[&str],
        failed: &[&str],
    ) -> Result<(), AppError> {
        Ok(self.store.settle_keys(scope, owner, done, failed).await?)
    }

    async fn is_done(
        &self,
        scope: IdempotencyScope,
        owner: &str,
        correlation_id: &str,
    ) -> Result<bool, AppError> {
        Ok(self.store.key_done(scope, owner, correlation_id).await?)
    }
}

#[async_trait::async_trait]
impl ReadModels for SqlStore {
    fn master_data(&self) -> Arc<MasterData> {
        self.masterdata.borrow().clone()
    }

    async fn window(&self, window_id: &str) -> Result<Option<WindowRow>, AppError> {
        Ok(self.store.window(window_id).await?)
    }

    async fn realtime_totals(
        &self,
        window: &WindowKey,
        through: &[(i32, i64)],
    ) -> Result<Totals, AppError> {
        Ok(self.store.realtime_totals(window, through).await?)
    }

    async fn stock_as_of(
        &self,
        warehouse: &WarehouseId,
        as_of: UtcMillis,
        through: &[(i32, i64)],
    ) -> Result<Totals, AppError> {
        Ok(self.store.stock_as_of(warehouse, as_of, through).await?)
    }

    async fn late_movements(
        &self,
        window: &WindowKey,
        through: &[(i32, i64)],
    ) -> Result<Vec<LateMovementRow>, AppError> {
        Ok(self.store.late_movement_rows(window, through).await?)
    }

    async fn supervisor_entry(
        &self,
        entry_id: &str,
    ) -> Result<Option<(SupervisorEntryRow, Vec<SupervisorStepRow>)>, AppError> {
        Ok(self.store.supervisor_entry(entry_id).await?)
    }

    async fn supervisor_queue(
        &self,
        filter: &QueueFilter,
        limit: i64,
    ) -> Result<Vec<SupervisorEntryRow>, AppError> {
        Ok(self.store.supervisor_queue(filter, limit).await?)
    }

    async fn release_exists(&self, planner: &str, correlation_id: &str) -> Result<bool, AppError> {
        Ok(self.store.release_exists(planner, correlation_id).await?)
    }
}

#[async_trait::async_trait]
impl WatchState for SqlStore {
    async fn watch_confirmation(
        &self,
        confirmation: &ConfirmationRecorded,
    ) -> Result<(), AppError> {
        Ok(self.store.watch_confirmation(confirmation).await?)
    }

    async fn watch_decision(&self, decision: &WindowDecision) -> Result<(), AppError> {
        Ok(self.store.watch_decision(decision).await?)
    }

    async fn watched(&self, horizon: UtcMillis) -> Result<Vec<WatchedWindow>, AppError> {
        Ok(self.store.watched_windows(horizon).await?)
    }
}
