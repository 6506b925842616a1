//! The ports bound to the real adapters: the Kafka producer and the projector for the event log,
//! the SQL store for keys, read models and the watcher's work state.

use crate::ports::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use wes_domain::dispatch_transport::PollCursor;
use wes_domain::masterdata::MasterData;
use wes_domain::reconcile::{Totals, WindowKey};
use wes_domain::release::Envelope;
use wes_domain::release::{Dispatched, DocumentKey};
use wes_domain::{CorrelationId, PartnerId, PlannerId, UtcMillis, WarehouseId};
use wes_events::{ConfirmationRecorded, Event, WindowDecision};
use wes_kafka::EventProducer;
use wes_projector::Projector;
use wes_store::deliveries::{AttemptRecord, DeliveryRow, NewDelivery};
use wes_store::idempotency::KeyRequest;
use wes_store::queries::{QueueFilter, SupervisorEntryRow};
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
    async fn append(&self, events: &[Event]) -> Vec<AppResult<Appended>> {
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

    async fn log_end(&self, topic: &'static str) -> AppResult<LogEnd> {
        let ends = self.projector.log_end(topic).await?;
        Ok(LogEnd { topic, ends })
    }

    async fn wait_applied(&self, kind: ProjectionKind, at: Appended, within: Duration) -> bool {
        self.projector
            .wait_applied(kind, at.topic, at.partition, at.offset, within)
            .await
    }

    async fn wait_through(&self, kind: ProjectionKind, end: &LogEnd, within: Duration) -> bool {
        self.projector
            .wait_through(kind, end.topic, &end.ends, within)
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
    async fn claim(&self, of: KeyOwner<'_>, now: UtcMillis, keys: &[KeyRequest<'_>]) -> Claims {
        Ok(self
            .store
            .claim_keys(of.scope, of.owner, &self.instance_id, keys, now)
            .await?)
    }

    async fn settle(&self, of: KeyOwner<'_>, done: &[&str], failed: &[&str]) -> AppResult<()> {
        Ok(self
            .store
            .settle_keys(of.scope, of.owner, done, failed)
            .await?)
    }

    async fn is_done(&self, of: KeyOwner<'_>, correlation_id: &str) -> AppResult<bool> {
        Ok(self
            .store
            .key_done(of.scope, of.owner, correlation_id)
            .await?)
    }
}

#[async_trait::async_trait]
impl ReadModels for SqlStore {
    fn master_data(&self) -> Arc<MasterData> {
        self.masterdata.borrow().clone()
    }

    async fn window(&self, window_id: &str) -> AppResult<Option<WindowRow>> {
        Ok(self.store.window(window_id).await?)
    }

    async fn realtime_totals(&self, window: &WindowKey, through: &Through) -> AppResult<Totals> {
        Ok(self.store.realtime_totals(window, through).await?)
    }

    async fn stock_at(
        &self,
        wh: &WarehouseId,
        at: UtcMillis,
        below: &Through,
    ) -> AppResult<Totals> {
        Ok(self.store.stock_as_of(wh, at, below).await?)
    }

    async fn late_movements(
        &self,
        window: &WindowKey,
        through: &Through,
    ) -> AppResult<Vec<LateMovementRow>> {
        Ok(self.store.late_movement_rows(window, through).await?)
    }

    async fn supervisor_entry(&self, entry_id: &str) -> AppResult<Option<EntryWithSteps>> {
        Ok(self.store.supervisor_entry(entry_id).await?)
    }

    async fn supervisor_queue(
        &self,
        filter: &QueueFilter,
        limit: i64,
    ) -> AppResult<Vec<SupervisorEntryRow>> {
        Ok(self.store.supervisor_queue(filter, limit).await?)
    }

    async fn dispatched(
        &self,
        planner: &str,
        correlation_id: &str,
    ) -> AppResult<Option<Dispatched>> {
        Ok(self.store.dispatched(planner, correlation_id).await?)
    }

    async fn live_release(
        &self,
        document: &DocumentKey,
    ) -> AppResult<Option<(PlannerId, CorrelationId)>> {
        Ok(self.store.live_release(document).await?)
    }

    async fn poll_page(
        &self,
        warehouse: &WarehouseId,
        after: Option<PollCursor>,
        start: &[(i32, i64)],
        limit: i64,
    ) -> AppResult<Vec<(PollCursor, Envelope)>> {
        Ok(self.store.poll_page(warehouse, after, start, limit).await?)
    }

    async fn has_release_at(&self, warehouse: &WarehouseId, cursor: PollCursor) -> AppResult<bool> {
        Ok(self.store.has_release_at(warehouse, cursor).await?)
    }

    async fn poll_acked(
        &self,
        warehouse: &WarehouseId,
        executor: &PartnerId,
    ) -> AppResult<Option<PollCursor>> {
        Ok(self.store.poll_acked(warehouse, executor).await?)
    }
}

#[async_trait::async_trait]
impl DeliveryState for SqlStore {
    async fn enqueue(&self, delivery: &NewDelivery) -> AppResult<()> {
        Ok(self.store.enqueue_delivery(delivery).await?)
    }

    async fn lane_heads(&self) -> AppResult<Vec<DeliveryRow>> {
        Ok(self.store.lane_heads().await?)
    }

    async fn record_attempt(&self, attempt: &AttemptRecord<'_>) -> AppResult<bool> {
        Ok(self.store.record_attempt(attempt).await?)
    }

    async fn dead_letters_pending(&self) -> AppResult<Vec<DeliveryRow>> {
        Ok(self.store.dead_letters_pending().await?)
    }

    async fn dead_letter_written(&self, delivery_id: &str) -> AppResult<()> {
        Ok(self.store.dead_letter_written(delivery_id).await?)
    }

    async fn drop_delivery(&self, delivery_id: &str, now: UtcMillis) -> AppResult<()> {
        Ok(self.store.drop_delivery(delivery_id, now).await?)
    }

    async fn delivery(&self, delivery_id: &str) -> AppResult<Option<DeliveryRow>> {
        Ok(self.store.delivery(delivery_id).await?)
    }

    async fn deliveries(
        &self,
        warehouse: Option<&str>,
        status: Option<&str>,
        limit: i64,
    ) -> AppResult<Vec<DeliveryRow>> {
        Ok(self.store.deliveries(warehouse, status, limit).await?)
    }

    async fn redrive(&self, delivery_id: &str, now: UtcMillis) -> AppResult<bool> {
        Ok(self.store.redrive(delivery_id, now).await?)
    }

    async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        now: UtcMillis,
        until: UtcMillis,
    ) -> AppResult<bool> {
        Ok(self.store.hold_lease(name, holder, now, until).await?)
    }
}

/// Webhooks over reqwest (rustls).
pub struct HttpPoster(pub reqwest::Client);

#[async_trait::async_trait]
impl WebhookPoster for HttpPoster {
    async fn post(&self, request: WebhookRequest<'_>) -> WebhookAnswer {
        let mut builder = self
            .0
            .post(request.url)
            .timeout(request.timeout)
            .body(request.body.to_owned());
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        match builder.send().await {
            Ok(response) => WebhookAnswer::Status(response.status().as_u16()),
            Err(e) if e.is_timeout() => {
                WebhookAnswer::Failed(format!("no answer within {:?}", request.timeout))
            }
            Err(e) => WebhookAnswer::Failed(format!(
                "{e}: {}",
                std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or_default()
            )),
        }
    }
}

#[async_trait::async_trait]
impl WatchState for SqlStore {
    async fn watch_confirmation(&self, confirmation: &ConfirmationRecorded) -> AppResult<()> {
        Ok(self.store.watch_confirmation(confirmation).await?)
    }

    async fn watch_decision(&self, decision: &WindowDecision) -> AppResult<()> {
        Ok(self.store.watch_decision(decision).await?)
    }

    async fn watched(&self, horizon: UtcMillis) -> AppResult<Vec<WatchedWindow>> {
        Ok(self.store.watched_windows(horizon).await?)
    }
}
