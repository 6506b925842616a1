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
    AttemptRecord, DEAD_LETTERED, DELIVERED, DeliveryRow, NewDelivery, PENDING, RETRYING, STATUSES,
};
use wes_store::projection::Record;

/// The lease that makes one hub instance the deliverer.
const LEASE: &str = "webhook-delivery";
const LEASE_TTL: Duration = Duration::from_secs(10);
/// Longest sleep of the loop between looks at the lanes.
const IDLE: Duration = Duration::from_secs(1);
/// How long a lane rests after an attempt failed inside the hub.
const ERROR_COOLDOWN: Duration = Duration::from_secs(5);

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

    /// One attempt of `head` (its lane's head, due), and what follows from the answer. A head
    /// read before another attempt of it was recorded is stale: nothing is sent.
    pub async fn attempt_delivery(&self, head: &DeliveryRow) -> Result<(), AppError> {
        let Some(delivery) = self
            .deliveries
            .delivery(&head.delivery_id)
            .await?
            .filter(|d| {
                [PENDING, RETRYING].contains(&d.status.as_str()) && d.attempts == head.attempts
            })
        else {
            return Ok(());
        };
        let md = self.reads.master_data();
        let partition = i32::try_from(delivery.kafka_partition).unwrap_or(i32::MAX);
        let started = self.clock.now();
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
            return self
                .deliveries
                .drop_delivery(&delivery.delivery_id, started)
                .await;
        };
        let warehouse = transport.warehouse_id.as_str();
        let open = |sealed: &Option<String>| -> Result<Option<String>, AppError> {
            sealed
                .as_deref()
                .map(|s| self.secrets.open(warehouse, s))
                .transpose()
        };
        let secret = open(&transport.sealed_secret)?.unwrap_or_default();
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
            .is_some_and(|at| started.0 - at.0 < self.settings.webhook.rotation_overlap_ms);
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
        let first_attempt_at = delivery.first_attempt_at.map_or(started, UtcMillis);
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
        if !matches!(answer, WebhookAnswer::Status(200..=299)) {
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
                None => record.status = DEAD_LETTERED,
            }
        }
        // A dead letter is only marked here: the delivery loop, alone, writes it to the topic
        // (`write_pending_dead_letters`), so it is written once, and again after a crash.
        self.deliveries.record_attempt(&record).await?;
        Ok(())
    }

    /// Writes a dead-lettered delivery to the dead-letter topic (with its URGENT notification;
    /// the supervisor projection opens the queue entry), then marks it written. Its id is the same
    /// for a round of attempts, so writing it again after a crash is one dead letter.
    async fn dead_letter(&self, delivery: &DeliveryRow, now: UtcMillis) -> Result<(), AppError> {
        let warehouse = WarehouseId::from_trusted(&delivery.warehouse_id);
        let md = self.reads.master_data();
        let transport = md.transports.get(&warehouse);
        let first_attempt_at = UtcMillis(delivery.first_attempt_at.unwrap_or(now.0));
        let dead = DispatchDeadLettered {
            event_id: DispatchDeadLettered::id_for(&delivery.delivery_id, first_attempt_at),
            recorded_at: now.0,
            delivery_id: delivery.delivery_id.clone(),
            warehouse_id: delivery.warehouse_id.clone(),
            warehouse_frn: WarehouseFrn::for_warehouse(&warehouse).to_string(),
            planner_id: delivery.planner_id.clone(),
            correlation_id: delivery.correlation_id.clone(),
            partner_id: transport
                .map(|t| t.partner_id.to_string())
                .unwrap_or_default(),
            url: transport.and_then(|t| t.url.clone()).unwrap_or_default(),
            dispatch_partition: i32::try_from(delivery.kafka_partition).unwrap_or(i32::MAX),
            dispatch_offset: delivery.kafka_offset,
            original_event: delivery.body.clone(),
            attempts: i32::try_from(delivery.attempts).unwrap_or(i32::MAX),
            first_attempt_at: first_attempt_at.0,
            last_status_code: delivery
                .last_status_code
                .and_then(|c| i32::try_from(c).ok()),
            last_error: delivery.last_error.clone(),
        };
        tracing::warn!(
            delivery_id = %delivery.delivery_id,
            warehouse_id = %delivery.warehouse_id,
            attempts = delivery.attempts,
            "webhook delivery given up: dead-lettered"
        );
        self.append_one(Event::DispatchDeadLettered(dead)).await?;
        self.deliveries
            .dead_letter_written(&delivery.delivery_id)
            .await
    }

    /// Writes the dead letters marked by attempts (and any a crash or an outage left unwritten).
    pub async fn write_pending_dead_letters(&self) -> Result<(), AppError> {
        for delivery in self.deliveries.dead_letters_pending().await? {
            self.dead_letter(&delivery, self.clock.now()).await?;
        }
        Ok(())
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

/// The delivery loop: while this instance holds the lease, writes the dead letters attempts
/// marked and attempts every due lane head whose lane has no attempt in flight; sleeps until the next is
/// due, a wake-up or a second. A lane whose attempt failed inside the hub (the database, the log,
/// a secret that does not open) rests `ERROR_COOLDOWN` before its next attempt.
pub async fn run_deliveries(app: Arc<App>, holder: String, wake: Arc<Notify>) {
    let in_flight: Arc<Mutex<HashSet<(String, String)>>> = Arc::default();
    loop {
        let now = app.clock.now();
        let until = UtcMillis(now.0 + LEASE_TTL.as_millis() as i64);
        let mut wait = IDLE;
        match app.deliveries.hold_lease(LEASE, &holder, now, until).await {
            Ok(true) => {
                if let Err(e) = app.write_pending_dead_letters().await {
                    tracing::warn!(error = %e, "writing dead letters; retrying");
                }
                match app.deliveries.lane_heads().await {
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
                            let (app, in_flight, wake) =
                                (app.clone(), in_flight.clone(), wake.clone());
                            tokio::spawn(async move {
                                let outcome = app.attempt_delivery(&head).await;
                                if let Err(e) = outcome {
                                    tracing::warn!(delivery_id = %head.delivery_id, error = %e, "webhook attempt failed inside the hub; the lane rests, then tries again");
                                    tokio::time::sleep(ERROR_COOLDOWN).await;
                                }
                                in_flight.lock().expect("lock").remove(&lane);
                                wake.notify_one();
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "reading webhook deliveries"),
                }
            }
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
        let mut md = (**m.masterdata.lock().unwrap()).clone();
        md.transports
            .insert(transport.warehouse_id.clone(), transport);
        *m.masterdata.lock().unwrap() = Arc::new(md);
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
        assert!(memory.appended().is_empty(), "marked, not yet written");
        app.write_pending_dead_letters().await.unwrap();
        app.write_pending_dead_letters().await.unwrap();
        let appended = memory.appended();
        let Some(Event::DispatchDeadLettered(dead)) = appended.first() else {
            panic!("a dead letter: {appended:?}");
        };
        assert_eq!(
            appended.len(),
            2,
            "one dead letter and its page: {appended:?}"
        );
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
    async fn a_stale_head_sends_nothing_and_a_removed_transport_drops_its_deliveries() {
        let (memory, app) = hub(None);
        enqueue(&app, "d1", 1).await;
        memory
            .answers
            .lock()
            .unwrap()
            .push_back(WebhookAnswer::Status(500));
        let stale = attempt_head(&memory, &app).await;
        app.attempt_delivery(&stale).await.unwrap();
        assert_eq!(
            memory.posted.lock().unwrap().len(),
            1,
            "read before the first was recorded"
        );
        let d1 = app.deliveries.delivery("d1").await.unwrap().unwrap();
        assert_eq!((d1.status.as_str(), d1.attempts), (RETRYING, 1));
        // The warehouse stops dispatching by webhook: what waits is dropped, and listed so.
        let mut md = (*app.reads.master_data()).clone();
        md.transports.clear();
        *memory.masterdata.lock().unwrap() = Arc::new(md);
        let head = app.deliveries.lane_heads().await.unwrap().remove(0);
        app.attempt_delivery(&head).await.unwrap();
        assert_eq!(memory.posted.lock().unwrap().len(), 1);
        let d1 = app.deliveries.delivery("d1").await.unwrap().unwrap();
        assert_eq!(d1.status, wes_store::deliveries::DROPPED);
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
