//! In-memory ports for unit tests of the handlers: an event log that records what is appended,
//! an idempotency store on the domain's decision, and read models set by the test's "given".

use crate::ports::*;
use crate::{App, AppSettings};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wes_domain::dispatch_transport::PollCursor;
use wes_domain::idempotency::{Claim, IdempotencyScope, KeyState, StoredKey, decide};
use wes_domain::masterdata::*;
use wes_domain::reconcile::{Totals, WindowKey};
use wes_domain::release::Envelope;
use wes_domain::release::{Dispatched, DocumentKey};
use wes_domain::*;
use wes_events::{ConfirmationRecorded, Event, WindowDecision};
use wes_store::ProjectionKind;
use wes_store::deliveries::{
    AttemptRecord, DEAD_LETTERED, DROPPED, DeliveryRow, NewDelivery, PENDING, RETRYING,
};
use wes_store::idempotency::KeyRequest;
use wes_store::queries::{QueueFilter, SupervisorEntryRow};
use wes_store::reactors::WatchedWindow;
use wes_store::windows::{LateMovementRow, WindowRow};

pub const WAREHOUSE: &str = "WH-1";
pub const EXECUTOR: &str = "WH-1/Acme";
pub const SUPERVISOR: &str = "WH-1/supervisors";
pub const SKU: &str = "SKU-1";

#[derive(Default)]
pub struct Memory {
    /// Everything appended, in order.
    pub appended: Mutex<Vec<Event>>,
    /// The movements log's end, as `log_end` reports it.
    pub movements_end: Mutex<Vec<(i32, i64)>>,
    /// Whether the ledger has caught up with the log (`wait_through`).
    pub ledger_behind: Mutex<bool>,
    pub keys: Mutex<HashMap<(IdempotencyScope, String, String), StoredKey>>,
    pub windows: Mutex<HashMap<String, WindowRow>>,
    pub realtime: Mutex<Totals>,
    pub stock: Mutex<Totals>,
    pub late: Mutex<Vec<LateMovementRow>>,
    pub entries: Mutex<HashMap<String, SupervisorEntryRow>>,
    pub watched: Mutex<Vec<WatchedWindow>>,
    pub masterdata: Mutex<Arc<MasterData>>,
    pub now: Mutex<UtcMillis>,
    pub deliveries: Mutex<Vec<DeliveryRow>>,
    pub dead_letters_pending: Mutex<Vec<String>>,
    /// What the webhook receiver answers, in turn (then 200s); the requests it got.
    pub answers: Mutex<std::collections::VecDeque<WebhookAnswer>>,
    pub posted: Mutex<Vec<Posted>>,
}

/// A webhook request as the receiver got it: URL, headers, body.
pub type Posted = (String, Vec<(&'static str, String)>, String);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().expect("test lock")
}

impl Memory {
    /// One warehouse, one SKU, locations A.1 and A.2, an executor and a supervisor.
    pub fn new() -> Arc<Memory> {
        let warehouse = WarehouseId::parse(WAREHOUSE).unwrap();
        let partner = |id: &str, role| Partner {
            partner_id: PartnerId::parse(id).unwrap(),
            role,
            allowed_warehouses: BTreeSet::from([warehouse.clone()]),
            api_key_sha256: BTreeSet::new(),
            api_key_expires_at: Default::default(),
            cert_sha256: BTreeSet::new(),
            bearer_allowed: true,
        };
        let masterdata = MasterData::new(
            vec![Warehouse {
                warehouse_id: warehouse.clone(),
                name: "one".into(),
            }],
            vec![Sku {
                sku: SkuCode::parse(SKU).unwrap(),
                base_uom: "EA".into(),
                tracking: Tracking::None,
                description: String::new(),
            }],
            ["A.1", "A.2"]
                .iter()
                .map(|l| Location {
                    warehouse_id: warehouse.clone(),
                    location: LocationCode::parse(l).unwrap(),
                })
                .collect(),
            vec![
                partner(EXECUTOR, PartnerRole::Executor),
                partner(SUPERVISOR, PartnerRole::Supervisor),
            ],
        );
        Arc::new(Memory {
            masterdata: Mutex::new(Arc::new(masterdata)),
            movements_end: Mutex::new(vec![(0, 40), (1, 2)]),
            now: Mutex::new(UtcMillis(1_800_000_000_000)),
            ..Memory::default()
        })
    }

    pub fn app(self: &Arc<Self>) -> App {
        App {
            log: self.clone(),
            keys: self.clone(),
            reads: self.clone(),
            watch: self.clone(),
            clock: self.clone(),
            settings: AppSettings {
                planner_id: PlannerId::parse("planner").unwrap(),
                reconcile_tolerance: 0,
                webhook: crate::webhooks::WebhookSettings::default(),
            },
            dispatch_turn: Default::default(),
            poll_turn: Default::default(),
            secrets: crate::secrets::SecretBox::new(&[7; crate::secrets::KEY_LEN]),
            deliveries: self.clone(),
            poster: self.clone(),
        }
    }

    pub fn partner(&self, id: &str) -> Partner {
        lock(&self.masterdata).partners[&PartnerId::parse(id).unwrap()].clone()
    }

    pub fn appended(&self) -> Vec<Event> {
        lock(&self.appended).clone()
    }
}

#[async_trait::async_trait]
impl EventLog for Memory {
    async fn append(&self, events: &[Event]) -> Vec<AppResult<Appended>> {
        let mut log = lock(&self.appended);
        events
            .iter()
            .map(|e| {
                log.push(e.clone());
                Ok(Appended {
                    topic: e.topic(),
                    partition: 0,
                    offset: log.len() as i64 - 1,
                })
            })
            .collect()
    }

    async fn log_end(&self, topic: &'static str) -> AppResult<LogEnd> {
        Ok(LogEnd {
            topic,
            ends: lock(&self.movements_end).clone(),
        })
    }

    async fn wait_applied(&self, _: ProjectionKind, _: Appended, _: Duration) -> bool {
        true
    }

    async fn wait_through(&self, _: ProjectionKind, _: &LogEnd, _: Duration) -> bool {
        !*lock(&self.ledger_behind)
    }
}

#[async_trait::async_trait]
impl KeyStore for Memory {
    async fn claim(&self, of: KeyOwner<'_>, now: UtcMillis, keys: &[KeyRequest<'_>]) -> Claims {
        let mut stored = lock(&self.keys);
        Ok(keys
            .iter()
            .map(|k| {
                let id = (of.scope, of.owner.to_owned(), k.correlation_id.to_owned());
                let claim = decide(stored.get(&id), k.payload, now);
                if matches!(claim, Claim::Fresh | Claim::TakeOver) {
                    stored.insert(
                        id,
                        StoredKey {
                            payload_sha256: k.payload.sha256.clone(),
                            state: KeyState::InFlight {
                                lease_until: UtcMillis(now.0 + 30_000),
                            },
                        },
                    );
                }
                claim
            })
            .collect())
    }

    async fn settle(&self, of: KeyOwner<'_>, done: &[&str], failed: &[&str]) -> AppResult<()> {
        let mut stored = lock(&self.keys);
        for cid in done {
            if let Some(key) = stored.get_mut(&(of.scope, of.owner.to_owned(), cid.to_string())) {
                key.state = KeyState::Done;
            }
        }
        for cid in failed {
            stored.remove(&(of.scope, of.owner.to_owned(), cid.to_string()));
        }
        Ok(())
    }

    async fn is_done(&self, of: KeyOwner<'_>, correlation_id: &str) -> AppResult<bool> {
        Ok(lock(&self.keys)
            .get(&(of.scope, of.owner.to_owned(), correlation_id.to_owned()))
            .is_some_and(|k| k.state == KeyState::Done))
    }
}

#[async_trait::async_trait]
impl ReadModels for Memory {
    fn master_data(&self) -> Arc<MasterData> {
        lock(&self.masterdata).clone()
    }

    async fn window(&self, window_id: &str) -> AppResult<Option<WindowRow>> {
        Ok(lock(&self.windows).get(window_id).cloned())
    }

    async fn realtime_totals(&self, _: &WindowKey, _: &Through) -> AppResult<Totals> {
        Ok(lock(&self.realtime).clone())
    }

    async fn stock_at(&self, _: &WarehouseId, _: UtcMillis, _: &Through) -> AppResult<Totals> {
        Ok(lock(&self.stock).clone())
    }

    async fn late_movements(&self, _: &WindowKey, _: &Through) -> AppResult<Vec<LateMovementRow>> {
        Ok(lock(&self.late).clone())
    }

    async fn supervisor_entry(&self, entry_id: &str) -> AppResult<Option<EntryWithSteps>> {
        Ok(lock(&self.entries)
            .get(entry_id)
            .map(|e| (e.clone(), vec![])))
    }

    async fn supervisor_queue(
        &self,
        _: &QueueFilter,
        _: i64,
    ) -> AppResult<Vec<SupervisorEntryRow>> {
        Ok(vec![])
    }

    async fn dispatched(&self, _: &str, _: &str) -> AppResult<Option<Dispatched>> {
        Ok(None)
    }

    async fn live_release(&self, _: &DocumentKey) -> AppResult<Option<(PlannerId, CorrelationId)>> {
        Ok(None)
    }

    // Poll-mode dispatch is tested against the real store (tests/transports.rs).
    async fn poll_page(
        &self,
        _: &WarehouseId,
        _: Option<PollCursor>,
        _: &[(i32, i64)],
        _: i64,
    ) -> AppResult<Vec<(PollCursor, Envelope)>> {
        Ok(vec![])
    }

    async fn has_release_at(&self, _: &WarehouseId, _: PollCursor) -> AppResult<bool> {
        Ok(false)
    }

    async fn poll_acked(&self, _: &WarehouseId, _: &PartnerId) -> AppResult<Option<PollCursor>> {
        Ok(None)
    }
}

#[async_trait::async_trait]
impl WatchState for Memory {
    async fn watch_confirmation(&self, _: &ConfirmationRecorded) -> AppResult<()> {
        Ok(())
    }

    async fn watch_decision(&self, _: &WindowDecision) -> AppResult<()> {
        Ok(())
    }

    async fn watched(&self, _: UtcMillis) -> AppResult<Vec<WatchedWindow>> {
        Ok(lock(&self.watched).clone())
    }
}

#[async_trait::async_trait]
impl DeliveryState for Memory {
    async fn enqueue(&self, d: &NewDelivery) -> AppResult<()> {
        let mut rows = lock(&self.deliveries);
        if !rows.iter().any(|r| r.delivery_id == d.delivery_id) {
            rows.push(DeliveryRow {
                delivery_id: d.delivery_id.clone(),
                planner_id: d.planner_id.clone(),
                warehouse_id: d.warehouse_id.clone(),
                correlation_id: d.correlation_id.clone(),
                kafka_partition: d.kafka_partition.into(),
                kafka_offset: d.kafka_offset,
                body: d.body.clone(),
                status: PENDING.into(),
                attempts: 0,
                first_attempt_at: None,
                next_attempt_at: d.due_at.0,
                last_status_code: None,
                last_error: None,
                updated_at: d.due_at.0,
                redrives: 0,
            });
        }
        Ok(())
    }

    async fn lane_heads(&self) -> AppResult<Vec<DeliveryRow>> {
        let mut active: Vec<DeliveryRow> = lock(&self.deliveries)
            .iter()
            .filter(|r| r.status == PENDING || r.status == RETRYING)
            .cloned()
            .collect();
        active.sort_by_key(|r| {
            (
                r.planner_id.clone(),
                r.warehouse_id.clone(),
                r.kafka_partition,
                r.kafka_offset,
            )
        });
        active
            .dedup_by(|b, a| (&a.planner_id, &a.warehouse_id) == (&b.planner_id, &b.warehouse_id));
        Ok(active)
    }

    async fn record_attempt(&self, a: &AttemptRecord<'_>) -> AppResult<bool> {
        let mut rows = lock(&self.deliveries);
        let Some(r) = rows.iter_mut().find(|r| {
            r.delivery_id == a.delivery_id
                && (r.status == PENDING || r.status == RETRYING)
                && r.attempts == a.attempts - 1
        }) else {
            return Ok(false);
        };
        r.status = a.status.into();
        r.attempts = a.attempts;
        r.first_attempt_at = Some(a.first_attempt_at.0);
        r.next_attempt_at = a.next_attempt_at.0;
        r.last_status_code = a.last_status_code;
        r.last_error = a.last_error.map(str::to_owned);
        r.updated_at = a.now.0;
        if a.status == DEAD_LETTERED {
            lock(&self.dead_letters_pending).push(a.delivery_id.to_owned());
        }
        Ok(true)
    }

    async fn dead_letters_pending(&self) -> AppResult<Vec<DeliveryRow>> {
        let pending = lock(&self.dead_letters_pending).clone();
        Ok(lock(&self.deliveries)
            .iter()
            .filter(|r| pending.contains(&r.delivery_id))
            .cloned()
            .collect())
    }

    async fn dead_letter_written(&self, delivery_id: &str) -> AppResult<()> {
        lock(&self.dead_letters_pending).retain(|d| d != delivery_id);
        Ok(())
    }

    async fn drop_delivery(&self, delivery_id: &str, _: UtcMillis) -> AppResult<()> {
        for r in lock(&self.deliveries)
            .iter_mut()
            .filter(|r| r.delivery_id == delivery_id)
        {
            r.status = DROPPED.into();
        }
        Ok(())
    }

    async fn delivery(&self, delivery_id: &str) -> AppResult<Option<DeliveryRow>> {
        Ok(lock(&self.deliveries)
            .iter()
            .find(|r| r.delivery_id == delivery_id)
            .cloned())
    }

    async fn deliveries(
        &self,
        _: Option<&str>,
        _: Option<&str>,
        _: i64,
    ) -> AppResult<Vec<DeliveryRow>> {
        Ok(lock(&self.deliveries).clone())
    }

    async fn redrive(&self, delivery_id: &str, now: UtcMillis) -> AppResult<bool> {
        let mut rows = lock(&self.deliveries);
        let Some(r) = rows
            .iter_mut()
            .find(|r| r.delivery_id == delivery_id && r.status == DEAD_LETTERED)
        else {
            return Ok(false);
        };
        r.status = PENDING.into();
        r.attempts = 0;
        r.first_attempt_at = None;
        r.next_attempt_at = now.0;
        r.redrives += 1;
        Ok(true)
    }

    async fn hold_lease(&self, _: &str, _: &str, _: UtcMillis, _: UtcMillis) -> AppResult<bool> {
        Ok(true)
    }
}

#[async_trait::async_trait]
impl WebhookPoster for Memory {
    async fn post(&self, request: WebhookRequest<'_>) -> WebhookAnswer {
        lock(&self.posted).push((
            request.url.to_owned(),
            request.headers,
            request.body.to_owned(),
        ));
        lock(&self.answers)
            .pop_front()
            .unwrap_or(WebhookAnswer::Status(200))
    }
}

impl Clock for Memory {
    fn now(&self) -> UtcMillis {
        *lock(&self.now)
    }
}
