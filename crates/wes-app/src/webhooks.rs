//! Webhook dispatch (contract §2), in two parts:
//! - `WebhookDispatch`, a reactor on the dispatch topic: each release of a warehouse configured
//!   for WEBHOOK (from the transport's start) becomes a durable delivery row before the reactor's
//!   position moves, so a crash never skips one;
//! - `run_deliveries`, the delivery loop of the one hub instance holding the delivery lease: per
//!   lane (planner, warehouse) it attempts the oldest delivery left when it is due — the next one
//!   waits until it is delivered or dead-lettered, and a failing lane never delays another —
//!   signs the body, records the answer, schedules the retry or dead-letters it (DLQ topic, URGENT
//!   notification, supervisor-queue entry). A crash between an answer and its record repeats the
//!   attempt: at least once, receivers dedup on `(planner_id, correlation_id)`.

use crate::ports::{WebhookAnswer, WebhookRequest};
use crate::{App, AppError};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use wes_domain::dispatch_transport::{DispatchTransport, TransportKind};
use wes_domain::webhook::{RetrySchedule, signature};
use wes_domain::{UtcMillis, WarehouseFrn, WarehouseId};
use wes_events::catalog::topics;
use wes_events::{DispatchDeadLettered, Event};
use wes_projector::reactor::Reactor;
use wes_store::deliveries::{
    AttemptRecord, DEAD_LETTERED, DELIVERED, DeliveryRow, NewDelivery, RETRYING, STATUSES,
};
use wes_store::projection::Record;

/// The lease that makes one hub instance the deliverer.
const LEASE: &str = "webhook-delivery";
const LEASE_TTL: Duration = Duration::from_secs(10);
/// Longest sleep of the loop between looks at the lanes.
const IDLE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    pub schedule: RetrySchedule,
    /// Per attempt.
    pub timeout: Duration,
    /// How long after a rotation deliveries are also signed with the previous secret.
    pub rotation_overlap_ms: i64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            schedule: RetrySchedule::contract(),
            timeout: Duration::from_secs(10),
            rotation_overlap_ms: 24 * 3_600_000,
        }
    }
}

/// The reactor: queues the deliveries of WEBHOOK warehouses, then wakes the delivery loop.
pub struct WebhookDispatch {
    pub app: Arc<App>,
    pub wake: Arc<Notify>,
}

#[async_trait::async_trait]
impl Reactor for WebhookDispatch {
    fn name(&self) -> &'static str {
        "webhook-dispatch"
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::DISPATCH]
    }

    async fn react(&self, records: &[Record<'_>]) -> Result<(), String> {
        self.app
            .queue_webhooks(records)
            .await
            .map_err(|e| e.to_string())?;
        self.wake.notify_one();
        Ok(())
    }
}

/// The transport that delivers the event at `(partition, offset)` of `warehouse`, if a webhook.
fn webhook_of<'t>(
    transports: &'t std::collections::HashMap<WarehouseId, DispatchTransport>,
    warehouse: &str,
    partition: i32,
    offset: i64,
) -> Option<&'t DispatchTransport> {
    transports
        .get(&WarehouseId::from_trusted(warehouse))
        .filter(|t| t.transport == TransportKind::Webhook && t.covers(partition, offset))
}

impl App {
    /// Queues a delivery for every release of a WEBHOOK warehouse among `records`.
    pub async fn queue_webhooks(&self, records: &[Record<'_>]) -> Result<(), AppError> {
        let md = self.reads.master_data();
        for r in records {
            let Event::Dispatch(e) = r.event else {
                continue;
            };
            if webhook_of(&md.transports, &e.warehouse_id, r.partition, r.offset).is_none() {
                continue;
            }
            let delivery = NewDelivery {
                delivery_id: e.event_id.clone(),
                planner_id: e.planner_id.clone(),
                warehouse_id: e.warehouse_id.clone(),
                correlation_id: e.correlation_id.clone(),
                kafka_partition: r.partition,
                kafka_offset: r.offset,
                body: e.envelope_text(),
                due_at: self
                    .settings
                    .webhook
                    .schedule
                    .first_attempt(self.clock.now()),
            };
            self.deliveries.enqueue(&delivery).await?;
        }
        Ok(())
    }

    /// One attempt of `delivery` (its lane's head, due), and what follows from the answer.
    pub async fn attempt_delivery(&self, delivery: &DeliveryRow) -> Result<(), AppError> {
        let md = self.reads.master_data();
        let partition = i32::try_from(delivery.kafka_partition).unwrap_or(i32::MAX);
        let Some(transport) = webhook_of(
            &md.transports,
            &delivery.warehouse_id,
            partition,
            delivery.kafka_offset,
        ) else {
            tracing::warn!(
                delivery_id = %delivery.delivery_id,
                warehouse_id = %delivery.warehouse_id,
                "the warehouse no longer dispatches this release by webhook: delivery dropped"
            );
            return self.deliveries.drop_delivery(&delivery.delivery_id).await;
        };
        let warehouse = transport.warehouse_id.as_str();
        let open = |sealed: &Option<String>| -> Result<Option<String>, AppError> {
            sealed
                .as_deref()
                .map(|s| self.secrets.open(warehouse, s))
                .transpose()
        };
        let secret = open(&transport.sealed_secret)?.unwrap_or_default();
        let now = self.clock.now();
        let attempt = delivery.attempts + 1;
        let body = delivery.body.as_bytes();
        let mut headers = vec![
            ("content-type", "application/json".to_owned()),
            ("x-fgai-signature", signature(&secret, body)),
            ("x-fgai-delivery-id", delivery.delivery_id.clone()),
            ("x-fgai-attempt", attempt.to_string()),
        ];
        let in_overlap = transport
            .rotated_at
            .is_some_and(|at| now.0 - at.0 < self.settings.webhook.rotation_overlap_ms);
        if in_overlap && let Some(previous) = open(&transport.previous_sealed_secret)? {
            headers.push(("x-fgai-signature-previous", signature(&previous, body)));
        }
        let url = transport.url.clone().unwrap_or_default();
        let answer = self
            .poster
            .post(WebhookRequest {
                url: &url,
                headers,
                body: &delivery.body,
                timeout: self.settings.webhook.timeout,
            })
            .await;
        let now = self.clock.now();
        let first_attempt_at = delivery.first_attempt_at.map_or(now, UtcMillis);
        let (code, error) = match &answer {
            WebhookAnswer::Status(code) => (Some(i64::from(*code)), None),
            WebhookAnswer::Failed(error) => (None, Some(error.as_str())),
        };
        let mut record = AttemptRecord {
            delivery_id: &delivery.delivery_id,
            status: DELIVERED,
            attempts: attempt,
            first_attempt_at,
            next_attempt_at: now,
            last_status_code: code,
            last_error: error,
            now,
        };
        if matches!(answer, WebhookAnswer::Status(200..=299)) {
            return self.deliveries.record_attempt(&record).await;
        }
        let attempts = u32::try_from(attempt).unwrap_or(u32::MAX);
        match self
            .settings
            .webhook
            .schedule
            .after_failure(attempts, first_attempt_at, now)
        {
            Some(next) => {
                record.status = RETRYING;
                record.next_attempt_at = next;
            }
            None => {
                self.dead_letter(delivery, transport, &record).await?;
                record.status = DEAD_LETTERED;
            }
        }
        self.deliveries.record_attempt(&record).await
    }

    /// Writes the given-up delivery to the dead-letter topic (with its URGENT notification; the
    /// supervisor projection opens the queue entry). Its id is the same for a round of attempts,
    /// so a repeat after a crash is one dead letter.
    async fn dead_letter(
        &self,
        delivery: &DeliveryRow,
        transport: &DispatchTransport,
        last: &AttemptRecord<'_>,
    ) -> Result<(), AppError> {
        let dead = DispatchDeadLettered {
            event_id: DispatchDeadLettered::id_for(&delivery.delivery_id, last.first_attempt_at),
            recorded_at: last.now.0,
            delivery_id: delivery.delivery_id.clone(),
            warehouse_id: delivery.warehouse_id.clone(),
            warehouse_frn: WarehouseFrn::for_warehouse(&transport.warehouse_id).to_string(),
            planner_id: delivery.planner_id.clone(),
            correlation_id: delivery.correlation_id.clone(),
            partner_id: transport.partner_id.to_string(),
            url: transport.url.clone().unwrap_or_default(),
            dispatch_partition: i32::try_from(delivery.kafka_partition).unwrap_or(i32::MAX),
            dispatch_offset: delivery.kafka_offset,
            original_event: delivery.body.clone(),
            attempts: i32::try_from(last.attempts).unwrap_or(i32::MAX),
            first_attempt_at: last.first_attempt_at.0,
            last_status_code: last.last_status_code.and_then(|c| i32::try_from(c).ok()),
            last_error: last.last_error.map(str::to_owned),
        };
        tracing::warn!(
            delivery_id = %delivery.delivery_id,
            warehouse_id = %delivery.warehouse_id,
            attempts = last.attempts,
            "webhook delivery given up: dead-lettered"
        );
        self.append_with_notifications(&[Event::DispatchDeadLettered(dead)])
            .await
            .remove(0)
            .map(|_| ())
    }

    /// Deliveries, newest first (`status` one of PENDING, RETRYING, DELIVERED, DEAD_LETTERED).
    pub async fn webhook_deliveries(
        &self,
        warehouse: Option<&str>,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, AppError> {
        if let Some(status) = status.filter(|s| !STATUSES.contains(s)) {
            return Err(wes_domain::Rejection::malformed(
                "/status",
                format!("status {status:?} is not one of {}", STATUSES.join(", ")),
            )
            .into());
        }
        self.deliveries.deliveries(warehouse, status, limit).await
    }

    /// Sends a dead-lettered delivery again, at its lane's head.
    pub async fn redrive(&self, delivery_id: &str) -> Result<DeliveryRow, AppError> {
        let Some(found) = self.deliveries.delivery(delivery_id).await? else {
            return Err(AppError::NotFound(format!(
                "no webhook delivery {delivery_id}"
            )));
        };
        if !self
            .deliveries
            .redrive(delivery_id, self.clock.now())
            .await?
        {
            return Err(AppError::Conflict(format!(
                "delivery {delivery_id} is {}, not DEAD_LETTERED",
                found.status
            )));
        }
        tracing::info!(delivery_id, warehouse_id = %found.warehouse_id, "dead-lettered webhook delivery redriven");
        self.deliveries
            .delivery(delivery_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no webhook delivery {delivery_id}")))
    }
}

/// The delivery loop: while this instance holds the lease, attempts every due lane head whose
/// lane has no attempt in flight; sleeps until the next is due, a wake-up or a second.
pub async fn run_deliveries(app: Arc<App>, instance: String, wake: Arc<Notify>) {
    let in_flight: Arc<Mutex<HashSet<(String, String)>>> = Arc::default();
    loop {
        let now = app.clock.now();
        let until = UtcMillis(now.0 + LEASE_TTL.as_millis() as i64);
        let mut wait = IDLE;
        match app
            .deliveries
            .hold_lease(LEASE, &instance, now, until)
            .await
        {
            Ok(true) => match app.deliveries.lane_heads().await {
                Ok(heads) => {
                    for head in heads {
                        if head.next_attempt_at > now.0 {
                            let due_in =
                                Duration::from_millis((head.next_attempt_at - now.0) as u64);
                            wait = wait.min(due_in);
                            continue;
                        }
                        let lane = (head.planner_id.clone(), head.warehouse_id.clone());
                        if !in_flight.lock().expect("lock").insert(lane.clone()) {
                            continue;
                        }
                        let (app, in_flight, wake) = (app.clone(), in_flight.clone(), wake.clone());
                        tokio::spawn(async move {
                            if let Err(e) = app.attempt_delivery(&head).await {
                                tracing::warn!(delivery_id = %head.delivery_id, error = %e, "webhook attempt not recorded; it will be made again");
                            }
                            in_flight.lock().expect("lock").remove(&lane);
                            wake.notify_one();
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading webhook deliveries"),
            },
            Ok(false) => wait = LEASE_TTL / 3,
            Err(e) => tracing::warn!(error = %e, "taking the webhook delivery lease"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{EXECUTOR, Memory, WAREHOUSE};
    use wes_domain::PartnerId;

    const SECRET: &str = "0123456789abcdef-secret";
    const OLD_SECRET: &str = "0123456789abcdef-before";

    /// A hub whose warehouse dispatches by webhook, retrying after 1 s then 2 s, for 5 s.
    fn hub(rotated_ago_ms: Option<i64>) -> (Arc<Memory>, App) {
        let mut memory = Memory::new();
        // The key `Memory::app` seals with.
        let sealer = crate::secrets::SecretBox::new(&[7; crate::secrets::KEY_LEN]);
        let m = Arc::get_mut(&mut memory).expect("not shared yet");
        let now = *m.now.lock().unwrap();
        let transport = DispatchTransport {
            warehouse_id: WarehouseId::parse(WAREHOUSE).unwrap(),
            transport: TransportKind::Webhook,
            partner_id: PartnerId::parse(EXECUTOR).unwrap(),
            url: Some("http://receiver.test/hook".into()),
            sealed_secret: Some(sealer.seal(WAREHOUSE, SECRET).unwrap()),
            previous_sealed_secret: rotated_ago_ms
                .map(|_| sealer.seal(WAREHOUSE, OLD_SECRET).unwrap()),
            rotated_at: rotated_ago_ms.map(|ago| UtcMillis(now.0 - ago)),
            configured_at: now,
            start: vec![(0, 0)],
        };
        let mut md = (*m.masterdata).clone();
        md.transports
            .insert(transport.warehouse_id.clone(), transport);
        m.masterdata = Arc::new(md);
        let mut app = memory.app();
        app.settings.webhook.schedule = RetrySchedule::parse("0s,1s,2s", "5s").unwrap();
        (memory, app)
    }

    async fn enqueue(app: &App, id: &str, offset: i64) {
        let delivery = NewDelivery {
            delivery_id: id.into(),
            planner_id: "P".into(),
            warehouse_id: WAREHOUSE.into(),
            correlation_id: format!("c-{id}"),
            kafka_partition: 0,
            kafka_offset: offset,
            body: format!(r#"{{"kind":"SHIPPER_RELEASED","correlation_id":"c-{id}"}}"#),
            due_at: app.clock.now(),
        };
        app.deliveries.enqueue(&delivery).await.unwrap();
    }

    /// Moves the clock to the lane's head's next attempt and makes it; the head attempted.
    async fn attempt_head(memory: &Memory, app: &App) -> DeliveryRow {
        let heads = app.deliveries.lane_heads().await.unwrap();
        assert_eq!(heads.len(), 1, "one lane");
        let head = heads[0].clone();
        *memory.now.lock().unwrap() = UtcMillis(head.next_attempt_at);
        app.attempt_delivery(&head).await.unwrap();
        head
    }

    fn header<'a>(headers: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[tokio::test]
    async fn a_failing_delivery_holds_its_lane_on_schedule_then_is_dead_lettered_and_redriven() {
        let (memory, app) = hub(None);
        let start = app.clock.now();
        enqueue(&app, "d1", 1).await;
        enqueue(&app, "d2", 2).await;
        memory.answers.lock().unwrap().extend([
            WebhookAnswer::Status(500),
            WebhookAnswer::Failed("connection refused".into()),
            WebhookAnswer::Status(503),
            WebhookAnswer::Status(404),
        ]);
        let mut times = vec![];
        for _ in 0..4 {
            let head = attempt_head(&memory, &app).await;
            assert_eq!(head.delivery_id, "d1", "d2 waits behind d1");
            times.push(app.clock.now().0 - start.0);
        }
        assert_eq!(
            times,
            [0, 1_000, 3_000, 5_000],
            "0 s, then +1 s, +2 s, +2 s"
        );
        let d1 = app.deliveries.delivery("d1").await.unwrap().unwrap();
        assert_eq!(
            (d1.status.as_str(), d1.attempts, d1.last_status_code),
            (DEAD_LETTERED, 4, Some(404))
        );
        let appended = memory.appended();
        let Some(Event::DispatchDeadLettered(dead)) = appended.first() else {
            panic!("a dead letter: {appended:?}");
        };
        assert_eq!((dead.attempts, dead.delivery_id.as_str()), (4, "d1"));
        assert!(
            matches!(appended.get(1), Some(Event::Notification(n)) if n.severity == "URGENT"),
            "{appended:?}"
        );
        // Every attempt was signed over the raw body; the delivery id stays, the attempt counts.
        let posted = memory.posted.lock().unwrap().clone();
        for (n, (url, headers, body)) in posted.iter().enumerate() {
            assert_eq!(url, "http://receiver.test/hook");
            assert_eq!(
                header(headers, "x-fgai-signature"),
                Some(signature(SECRET, body.as_bytes()).as_str())
            );
            assert_eq!(header(headers, "x-fgai-delivery-id"), Some("d1"));
            assert_eq!(
                header(headers, "x-fgai-attempt"),
                Some((n + 1).to_string().as_str())
            );
            assert_eq!(header(headers, "x-fgai-signature-previous"), None);
        }
        // The lane moves on; the redriven one is its head again.
        assert_eq!(attempt_head(&memory, &app).await.delivery_id, "d2");
        assert_eq!(
            app.deliveries.delivery("d2").await.unwrap().unwrap().status,
            DELIVERED
        );
        assert!(matches!(
            app.redrive("d2").await,
            Err(AppError::Conflict(_))
        ));
        assert!(matches!(
            app.redrive("nope").await,
            Err(AppError::NotFound(_))
        ));
        assert_eq!(app.redrive("d1").await.unwrap().status, "PENDING");
        assert_eq!(attempt_head(&memory, &app).await.delivery_id, "d1");
        let d1 = app.deliveries.delivery("d1").await.unwrap().unwrap();
        assert_eq!(
            (d1.status.as_str(), d1.attempts, d1.redrives),
            (DELIVERED, 1, 1)
        );
    }

    #[tokio::test]
    async fn during_the_overlap_after_a_rotation_the_previous_secret_signs_too() {
        for (ago, previous) in [(3_600_000, true), (25 * 3_600_000, false)] {
            let (memory, app) = hub(Some(ago));
            enqueue(&app, "d1", 1).await;
            attempt_head(&memory, &app).await;
            let (_, headers, body) = memory.posted.lock().unwrap()[0].clone();
            assert_eq!(
                header(&headers, "x-fgai-signature"),
                Some(signature(SECRET, body.as_bytes()).as_str())
            );
            let expected = previous.then(|| signature(OLD_SECRET, body.as_bytes()));
            assert_eq!(
                header(&headers, "x-fgai-signature-previous"),
                expected.as_deref(),
                "rotated {ago} ms ago"
            );
        }
    }
}
