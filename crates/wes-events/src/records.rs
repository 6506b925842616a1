//! Wire records, one per schema file, and their explicit conversions to domain types.

use crate::EventsError;
use crate::catalog::topics;
use apache_avro::types::Value as AvroValue;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wes_domain::amount::Amount;
use wes_domain::capacity::CapacitySnapshot;
use wes_domain::dispatch_transport::{DispatchTransport, PollCursor, TransportKind};
use wes_domain::exception::ExceptionReport;
use wes_domain::masterdata::{Location, Partner, PartnerRole, Sku, Tracking, Warehouse};
use wes_domain::movement::{Actor, ActorKind, DocumentRef, DocumentType, Movement, MovementKind};
use wes_domain::reconcile::{
    Comparison, ConfirmationKind, CountScope, LineComparison, LineKey, ShiftSummary, StockCount,
    Totals, WindowKey,
};
use wes_domain::release::{
    BomDelta, Envelope, ExpectedLine, Operation, Priority, Release, ReleaseKind, Routing,
};
use wes_domain::supervisor::SupervisorAction;
use wes_domain::work_status::{TaskStatus, WorkStatus};
use wes_domain::*;

fn invalid(field: &'static str, value: &str) -> EventsError {
    EventsError::InvalidField {
        field,
        value: value.to_owned(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRefRecord {
    #[serde(rename = "type")]
    pub doc_type: String,
    pub id: String,
    pub line_no: Option<i64>,
}

impl DocumentRefRecord {
    fn from_domain(d: &DocumentRef) -> Self {
        Self {
            doc_type: d.doc_type.as_str().into(),
            id: d.id.clone(),
            line_no: d.line_no,
        }
    }
    pub fn to_domain(&self) -> Result<DocumentRef, EventsError> {
        Ok(DocumentRef {
            doc_type: DocumentType::parse(&self.doc_type)
                .ok_or_else(|| invalid("document_ref.type", &self.doc_type))?,
            id: self.id.clone(),
            line_no: self.line_no,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorRecord {
    pub kind: String,
    pub id: String,
}

/// The window a confirmation or a decision names, from its recorded fields.
fn window_key(partner_id: &str, warehouse_id: &str, start: i64, end: i64) -> WindowKey {
    WindowKey {
        partner_id: PartnerId::from_trusted(partner_id),
        warehouse_id: WarehouseId::from_trusted(warehouse_id),
        start: UtcMillis(start),
        end: UtcMillis(end),
    }
}

/// `io.wes.v1.MovementRecorded` on `wes.realtime.movements.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovementRecorded {
    pub event_id: String,
    pub recorded_at: i64,
    pub partner_id: String,
    pub correlation_id: String,
    pub payload_sha256: String,
    pub warehouse_id: String,
    pub warehouse_frn: String,
    pub kind: String,
    pub sku: String,
    pub qty: i64,
    pub uom: String,
    pub from_location: Option<String>,
    pub to_location: Option<String>,
    pub lot: Option<String>,
    pub serial: Option<String>,
    pub document_ref: Option<DocumentRefRecord>,
    pub occurred_at: i64,
    pub actor: Option<ActorRecord>,
}

impl MovementRecorded {
    pub fn from_domain(
        m: &Movement,
        partner: &PartnerId,
        payload_sha256: String,
        recorded_at: UtcMillis,
    ) -> Self {
        let event_id = wes_domain::idempotency::event_id(
            "movement",
            partner.as_str(),
            m.correlation_id.as_str(),
        );
        Self {
            event_id: event_id.to_string(),
            recorded_at: recorded_at.0,
            partner_id: partner.to_string(),
            correlation_id: m.correlation_id.to_string(),
            payload_sha256,
            warehouse_id: m.warehouse_id.to_string(),
            warehouse_frn: WarehouseFrn::for_warehouse(&m.warehouse_id).to_string(),
            kind: m.kind.as_str().into(),
            sku: m.sku.to_string(),
            qty: m.qty,
            uom: m.uom.clone(),
            from_location: m.from_location.as_ref().map(ToString::to_string),
            to_location: m.to_location.as_ref().map(ToString::to_string),
            lot: m.lot.clone(),
            serial: m.serial.clone(),
            document_ref: m.document_ref.as_ref().map(DocumentRefRecord::from_domain),
            occurred_at: m.occurred_at.0,
            actor: m.actor.as_ref().map(|a| ActorRecord {
                kind: a.kind.as_str().into(),
                id: a.id.clone(),
            }),
        }
    }

    pub fn movement_kind(&self) -> Result<MovementKind, EventsError> {
        MovementKind::parse(&self.kind).ok_or_else(|| invalid("kind", &self.kind))
    }

    pub fn to_domain(&self) -> Result<Movement, EventsError> {
        Ok(Movement {
            correlation_id: CorrelationId::from_trusted(&self.correlation_id),
            kind: self.movement_kind()?,
            warehouse_id: WarehouseId::from_trusted(&self.warehouse_id),
            sku: SkuCode::from_trusted(&self.sku),
            qty: self.qty,
            uom: self.uom.clone(),
            from_location: self
                .from_location
                .as_deref()
                .map(LocationCode::from_trusted),
            to_location: self.to_location.as_deref().map(LocationCode::from_trusted),
            lot: self.lot.clone(),
            serial: self.serial.clone(),
            document_ref: self
                .document_ref
                .as_ref()
                .map(DocumentRefRecord::to_domain)
                .transpose()?,
            occurred_at: UtcMillis(self.occurred_at),
            actor: self
                .actor
                .as_ref()
                .map(|a| {
                    Ok::<_, EventsError>(Actor {
                        kind: ActorKind::parse(&a.kind)
                            .ok_or_else(|| invalid("actor.kind", &a.kind))?,
                        id: a.id.clone(),
                    })
                })
                .transpose()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BomDeltaRecord {
    pub sku: String,
    pub qty: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRecord {
    pub op_id: String,
    pub kind: String,
    pub sku: Option<String>,
    pub qty: Option<i64>,
    pub uom: Option<String>,
    pub from_location: Option<String>,
    pub to_location: Option<String>,
    pub carton: Option<String>,
    pub dock: Option<String>,
    pub expected_duration_seconds: Option<i64>,
    /// The cost as a double, still written for readers of the schema before the decimal.
    pub expected_cost: Option<f64>,
    #[serde(default, with = "crate::decimal")]
    pub expected_cost_decimal: Option<Amount>,
    pub bom_deltas: Vec<BomDeltaRecord>,
    pub skills: Vec<String>,
    pub resources: Vec<String>,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingRecord {
    pub operations: Vec<OperationRecord>,
    pub expected_duration_seconds: Option<i64>,
    pub requirements: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedLineRecord {
    pub line_no: i64,
    pub sku: String,
    pub qty: i64,
    pub lot: Option<String>,
}

/// `io.wes.v1.DispatchEvent` on `wms-wes.dispatch.events.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchEvent {
    pub event_id: String,
    pub kind: String,
    pub correlation_id: String,
    pub planner_id: String,
    pub warehouse_id: String,
    pub warehouse_frn: String,
    pub document_ref: DocumentRefRecord,
    pub routing: RoutingRecord,
    pub lines: Vec<ExpectedLineRecord>,
    pub released_at: i64,
    pub priority: i32,
    pub cancelled_correlation_id: Option<String>,
    /// Empty in records written before it (decoded with the writer's schema).
    #[serde(default)]
    pub priority_level: String,
    pub envelope: Option<String>,
}

impl DispatchEvent {
    pub fn from_domain(r: &Release) -> Self {
        let event_id = wes_domain::idempotency::event_id(
            "dispatch",
            r.planner_id.as_str(),
            r.correlation_id.as_str(),
        );
        let op = |o: &Operation| OperationRecord {
            op_id: o.op_id.clone(),
            kind: o.kind.clone(),
            sku: o.sku.as_ref().map(ToString::to_string),
            qty: o.qty,
            uom: o.uom.clone(),
            from_location: o.from_location.as_ref().map(ToString::to_string),
            to_location: o.to_location.as_ref().map(ToString::to_string),
            carton: o.carton.clone(),
            dock: o.dock.clone(),
            expected_duration_seconds: o.expected_duration_seconds,
            expected_cost: o.expected_cost.map(Amount::to_f64),
            expected_cost_decimal: o.expected_cost,
            bom_deltas: o
                .bom_deltas
                .iter()
                .map(|d| BomDeltaRecord {
                    sku: d.sku.to_string(),
                    qty: d.qty,
                })
                .collect(),
            skills: o.skills.clone(),
            resources: o.resources.clone(),
            attributes: o.attributes.clone(),
        };
        Self {
            event_id: event_id.to_string(),
            kind: r.kind.as_str().into(),
            correlation_id: r.correlation_id.to_string(),
            planner_id: r.planner_id.to_string(),
            warehouse_id: r.warehouse_id.to_string(),
            warehouse_frn: WarehouseFrn::for_warehouse(&r.warehouse_id).to_string(),
            document_ref: DocumentRefRecord::from_domain(&r.document_ref),
            routing: RoutingRecord {
                operations: r.routing.operations.iter().map(op).collect(),
                expected_duration_seconds: r.routing.expected_duration_seconds,
                requirements: r.routing.requirements.clone(),
            },
            lines: r
                .lines
                .iter()
                .map(|l| ExpectedLineRecord {
                    line_no: l.line_no,
                    sku: l.sku.to_string(),
                    qty: l.qty,
                    lot: l.lot.clone(),
                })
                .collect(),
            released_at: r.released_at.0,
            priority: r.priority.rank(),
            cancelled_correlation_id: r.cancelled_correlation_id.as_ref().map(ToString::to_string),
            priority_level: r.priority.as_str().into(),
            envelope: Some(
                serde_json::Value::Object(if r.envelope.is_empty() {
                    r.derived_envelope()
                } else {
                    r.envelope.clone()
                })
                .to_string(),
            ),
        }
    }

    /// The priority word; records written before it carry only the number.
    pub fn priority_word(&self) -> Priority {
        Priority::parse(&self.priority_level)
            .unwrap_or_else(|| Priority::from_rank(self.priority.into()))
    }

    /// The envelope executors receive, as JSON text: the one recorded; for records written
    /// before it, rebuilt from the typed fields; for a kind this hub does not know, its identity.
    pub fn envelope_text(&self) -> String {
        if let Some(text) = &self.envelope {
            return text.clone();
        }
        match self.to_domain() {
            Ok(release) => serde_json::Value::Object(release.envelope).to_string(),
            Err(_) => serde_json::json!({"kind": self.kind, "correlation_id": self.correlation_id,
                "planner_id": self.planner_id, "warehouse_id": self.warehouse_id})
            .to_string(),
        }
    }

    pub fn to_domain(&self) -> Result<Release, EventsError> {
        let op = |o: &OperationRecord| Operation {
            op_id: o.op_id.clone(),
            kind: o.kind.clone(),
            sku: o.sku.as_deref().map(SkuCode::from_trusted),
            qty: o.qty,
            uom: o.uom.clone(),
            from_location: o.from_location.as_deref().map(LocationCode::from_trusted),
            to_location: o.to_location.as_deref().map(LocationCode::from_trusted),
            carton: o.carton.clone(),
            dock: o.dock.clone(),
            expected_duration_seconds: o.expected_duration_seconds,
            // Records written before the decimal carry only the double.
            expected_cost: o
                .expected_cost_decimal
                .or_else(|| o.expected_cost.and_then(Amount::from_f64_rounded)),
            bom_deltas: o
                .bom_deltas
                .iter()
                .map(|d| BomDelta {
                    sku: SkuCode::from_trusted(&d.sku),
                    qty: d.qty,
                })
                .collect(),
            skills: o.skills.clone(),
            resources: o.resources.clone(),
            attributes: o.attributes.clone(),
        };
        let mut release = Release {
            kind: ReleaseKind::parse(&self.kind).ok_or_else(|| invalid("kind", &self.kind))?,
            correlation_id: CorrelationId::from_trusted(&self.correlation_id),
            planner_id: PlannerId::from_trusted(&self.planner_id),
            warehouse_id: WarehouseId::from_trusted(&self.warehouse_id),
            document_ref: self.document_ref.to_domain()?,
            routing: Routing {
                operations: self.routing.operations.iter().map(op).collect(),
                expected_duration_seconds: self.routing.expected_duration_seconds,
                requirements: self.routing.requirements.clone(),
            },
            lines: self
                .lines
                .iter()
                .map(|l| ExpectedLine {
                    line_no: l.line_no,
                    sku: SkuCode::from_trusted(&l.sku),
                    qty: l.qty,
                    lot: l.lot.clone(),
                })
                .collect(),
            released_at: UtcMillis(self.released_at),
            priority: self.priority_word(),
            cancelled_correlation_id: self
                .cancelled_correlation_id
                .as_deref()
                .map(CorrelationId::from_trusted),
            envelope: Envelope::new(),
        };
        release.envelope = match &self.envelope {
            Some(text) => serde_json::from_str(text).map_err(|_| invalid("envelope", text))?,
            None => release.derived_envelope(),
        };
        Ok(release)
    }
}

/// `io.wes.v1.DispatchTransportSet` on `wes.masterdata.dispatch-transports.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchTransportSet {
    pub event_id: String,
    pub recorded_at: i64,
    pub warehouse_id: String,
    /// KAFKA, WEBHOOK, POLLING, or NONE when removed.
    pub transport: String,
    pub partner_id: Option<String>,
    pub url: Option<String>,
    pub sealed_secret: Option<String>,
    pub previous_sealed_secret: Option<String>,
    pub rotated_at: Option<i64>,
    pub configured_at: i64,
    pub start: Vec<DispatchStart>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchStart {
    pub partition: i32,
    pub offset: i64,
}

/// The `transport` of a removal.
pub const TRANSPORT_REMOVED: &str = "NONE";

impl DispatchTransportSet {
    pub fn from_domain(t: &DispatchTransport, recorded_at: UtcMillis) -> Self {
        Self {
            event_id: new_event_id(),
            recorded_at: recorded_at.0,
            warehouse_id: t.warehouse_id.to_string(),
            transport: t.transport.as_str().into(),
            partner_id: Some(t.partner_id.to_string()),
            url: t.url.clone(),
            sealed_secret: t.sealed_secret.clone(),
            previous_sealed_secret: t.previous_sealed_secret.clone(),
            rotated_at: t.rotated_at.map(|at| at.0),
            configured_at: t.configured_at.0,
            start: t
                .start
                .iter()
                .map(|&(partition, offset)| DispatchStart { partition, offset })
                .collect(),
        }
    }

    /// The removal of `warehouse`'s transport.
    pub fn removed(warehouse: &WarehouseId, recorded_at: UtcMillis) -> Self {
        Self {
            event_id: new_event_id(),
            recorded_at: recorded_at.0,
            warehouse_id: warehouse.to_string(),
            transport: TRANSPORT_REMOVED.into(),
            partner_id: None,
            url: None,
            sealed_secret: None,
            previous_sealed_secret: None,
            rotated_at: None,
            configured_at: recorded_at.0,
            start: vec![],
        }
    }

    /// The transport, or `None` for a removal (or a transport this hub does not know).
    pub fn to_domain(&self) -> Option<DispatchTransport> {
        Some(DispatchTransport {
            warehouse_id: WarehouseId::from_trusted(&self.warehouse_id),
            transport: TransportKind::parse(&self.transport)?,
            partner_id: PartnerId::from_trusted(self.partner_id.as_deref()?),
            url: self.url.clone(),
            sealed_secret: self.sealed_secret.clone(),
            previous_sealed_secret: self.previous_sealed_secret.clone(),
            rotated_at: self.rotated_at.map(UtcMillis),
            configured_at: UtcMillis(self.configured_at),
            start: self.start.iter().map(|s| (s.partition, s.offset)).collect(),
        })
    }
}

/// `io.wes.v1.DispatchDeadLettered` on `wms-wes.dispatch.dlq.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchDeadLettered {
    pub event_id: String,
    pub recorded_at: i64,
    pub delivery_id: String,
    pub warehouse_id: String,
    pub warehouse_frn: String,
    pub planner_id: String,
    pub correlation_id: String,
    pub partner_id: String,
    pub url: String,
    pub dispatch_partition: i32,
    pub dispatch_offset: i64,
    pub original_event: String,
    pub attempts: i32,
    pub first_attempt_at: i64,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
}

impl DispatchDeadLettered {
    /// The id of a delivery's dead letter for the round of attempts that began at `first_attempt_at`.
    pub fn id_for(delivery_id: &str, first_attempt_at: UtcMillis) -> String {
        wes_domain::idempotency::event_id(
            "dispatch-dead-letter",
            delivery_id,
            &first_attempt_at.0.to_string(),
        )
        .to_string()
    }

    /// The URGENT page a dead letter raises.
    pub fn notification(&self) -> NotificationRaised {
        let answer = match (&self.last_status_code, &self.last_error) {
            (Some(code), _) => format!("last answer HTTP {code}"),
            (None, Some(error)) => format!("last error: {error}"),
            (None, None) => "no answer".into(),
        };
        NotificationRaised {
            notification_id: wes_domain::idempotency::event_id(
                "notification",
                "DISPATCH_DEAD_LETTER",
                &self.event_id,
            )
            .to_string(),
            raised_at: self.recorded_at,
            warehouse_id: self.warehouse_id.clone(),
            warehouse_frn: self.warehouse_frn.clone(),
            severity: "URGENT".into(),
            source: "DISPATCH_DEAD_LETTER".into(),
            source_id: self.event_id.clone(),
            code: "DISPATCH_DEAD_LETTER".into(),
            summary: format!(
                "URGENT dispatch to {} for {} undeliverable: release {} given up after {} attempts ({answer}); redrive it with POST /planner/v1/dispatch/dead-letters/{}/redrive",
                self.partner_id,
                self.warehouse_id,
                self.correlation_id,
                self.attempts,
                self.delivery_id
            ),
            occurred_at: self.recorded_at,
        }
    }
}

/// `io.wes.v1.DispatchPollAcked` on `wes.dispatch.poll-acks.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchPollAcked {
    pub event_id: String,
    pub acked_at: i64,
    pub warehouse_id: String,
    pub partner_id: String,
    pub partition: i32,
    pub offset: i64,
}

impl DispatchPollAcked {
    pub fn new(
        warehouse: &WarehouseId,
        partner: &PartnerId,
        cursor: PollCursor,
        acked_at: UtcMillis,
    ) -> Self {
        Self {
            event_id: new_event_id(),
            acked_at: acked_at.0,
            warehouse_id: warehouse.to_string(),
            partner_id: partner.to_string(),
            partition: cursor.partition,
            offset: cursor.offset,
        }
    }

    pub fn cursor(&self) -> PollCursor {
        PollCursor {
            partition: self.partition,
            offset: self.offset,
        }
    }
}

/// `io.wes.v1.WarehouseUpserted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarehouseUpserted {
    pub event_id: String,
    pub recorded_at: i64,
    pub warehouse_id: String,
    pub warehouse_frn: String,
    pub name: String,
}

/// `io.wes.v1.SkuUpserted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkuUpserted {
    pub event_id: String,
    pub recorded_at: i64,
    pub sku: String,
    pub base_uom: String,
    pub tracking: String,
    pub description: String,
}

/// `io.wes.v1.LocationUpserted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationUpserted {
    pub event_id: String,
    pub recorded_at: i64,
    pub warehouse_id: String,
    pub location: String,
}

/// `io.wes.v1.PartnerUpserted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerUpserted {
    pub event_id: String,
    pub recorded_at: i64,
    pub partner_id: String,
    pub role: String,
    pub allowed_warehouses: Vec<String>,
    pub api_key_sha256: Vec<String>,
    #[serde(default)]
    pub api_key_expires_at: BTreeMap<String, i64>,
    #[serde(default)]
    pub cert_sha256: Vec<String>,
    #[serde(default = "accepted")]
    pub bearer_allowed: bool,
}

/// Partners written before `bearer_allowed` existed accepted bearer keys.
fn accepted() -> bool {
    true
}

fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl WarehouseUpserted {
    pub fn from_domain(w: &Warehouse, recorded_at: UtcMillis) -> Self {
        Self {
            event_id: new_event_id(),
            recorded_at: recorded_at.0,
            warehouse_id: w.warehouse_id.to_string(),
            warehouse_frn: WarehouseFrn::for_warehouse(&w.warehouse_id).to_string(),
            name: w.name.clone(),
        }
    }
    pub fn to_domain(&self) -> Warehouse {
        Warehouse {
            warehouse_id: WarehouseId::from_trusted(&self.warehouse_id),
            name: self.name.clone(),
        }
    }
}

impl SkuUpserted {
    pub fn from_domain(s: &Sku, recorded_at: UtcMillis) -> Self {
        Self {
            event_id: new_event_id(),
            recorded_at: recorded_at.0,
            sku: s.sku.to_string(),
            base_uom: s.base_uom.clone(),
            tracking: s.tracking.as_str().into(),
            description: s.description.clone(),
        }
    }
    pub fn to_domain(&self) -> Result<Sku, EventsError> {
        Ok(Sku {
            sku: SkuCode::from_trusted(&self.sku),
            base_uom: self.base_uom.clone(),
            tracking: Tracking::parse(&self.tracking)
                .ok_or_else(|| invalid("tracking", &self.tracking))?,
            description: self.description.clone(),
        })
    }
}

impl LocationUpserted {
    pub fn from_domain(l: &Location, recorded_at: UtcMillis) -> Self {
        Self {
            event_id: new_event_id(),
            recorded_at: recorded_at.0,
            warehouse_id: l.warehouse_id.to_string(),
            location: l.location.to_string(),
        }
    }
    pub fn to_domain(&self) -> Location {
        Location {
            warehouse_id: WarehouseId::from_trusted(&self.warehouse_id),
            location: LocationCode::from_trusted(&self.location),
        }
    }
}

impl PartnerUpserted {
    pub fn from_domain(p: &Partner, recorded_at: UtcMillis) -> Self {
        Self {
            event_id: new_event_id(),
            recorded_at: recorded_at.0,
            partner_id: p.partner_id.to_string(),
            role: p.role.as_str().into(),
            allowed_warehouses: p
                .allowed_warehouses
                .iter()
                .map(ToString::to_string)
                .collect(),
            api_key_sha256: p.api_key_sha256.iter().cloned().collect(),
            api_key_expires_at: p
                .api_key_expires_at
                .iter()
                .map(|(k, v)| (k.clone(), v.0))
                .collect(),
            cert_sha256: p.cert_sha256.iter().cloned().collect(),
            bearer_allowed: p.bearer_allowed,
        }
    }
    pub fn to_domain(&self) -> Result<Partner, EventsError> {
        Ok(Partner {
            partner_id: PartnerId::from_trusted(&self.partner_id),
            role: PartnerRole::parse(&self.role).ok_or_else(|| invalid("role", &self.role))?,
            allowed_warehouses: self
                .allowed_warehouses
                .iter()
                .map(WarehouseId::from_trusted)
                .collect(),
            api_key_sha256: self.api_key_sha256.iter().cloned().collect(),
            api_key_expires_at: self
                .api_key_expires_at
                .iter()
                .map(|(k, v)| (k.clone(), UtcMillis(*v)))
                .collect(),
            cert_sha256: self.cert_sha256.iter().cloned().collect(),
            bearer_allowed: self.bearer_allowed,
        })
    }
}

/// `io.wes.v1.WorkStatusRecorded` on `wes.realtime.work-status.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkStatusRecorded {
    pub event_id: String,
    pub recorded_at: i64,
    pub partner_id: String,
    pub correlation_id: String,
    pub payload_sha256: String,
    pub warehouse_id: String,
    pub warehouse_frn: String,
    pub task_id: String,
    pub document_ref: DocumentRefRecord,
    pub status: String,
    pub worker_id: Option<String>,
    pub robot_id: Option<String>,
    pub occurred_at: i64,
    pub reason: Option<String>,
}

impl WorkStatusRecorded {
    pub fn from_domain(
        w: &WorkStatus,
        partner: &PartnerId,
        payload_sha256: String,
        recorded_at: UtcMillis,
    ) -> Self {
        let event_id = wes_domain::idempotency::event_id(
            "work-status",
            partner.as_str(),
            w.correlation_id.as_str(),
        );
        Self {
            event_id: event_id.to_string(),
            recorded_at: recorded_at.0,
            partner_id: partner.to_string(),
            correlation_id: w.correlation_id.to_string(),
            payload_sha256,
            warehouse_id: w.warehouse_id.to_string(),
            warehouse_frn: WarehouseFrn::for_warehouse(&w.warehouse_id).to_string(),
            task_id: w.task_id.clone(),
            document_ref: DocumentRefRecord::from_domain(&w.document_ref),
            status: w.status.as_str().into(),
            worker_id: w.worker_id.clone(),
            robot_id: w.robot_id.clone(),
            occurred_at: w.occurred_at.0,
            reason: w.reason.clone(),
        }
    }

    pub fn task_status(&self) -> Result<TaskStatus, EventsError> {
        TaskStatus::parse(&self.status).ok_or_else(|| invalid("status", &self.status))
    }
}

/// `io.wes.v1.CapacityReported` on `wes.realtime.capacity.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityReported {
    pub event_id: String,
    pub recorded_at: i64,
    pub partner_id: String,
    pub correlation_id: String,
    pub payload_sha256: String,
    pub warehouse_id: String,
    pub warehouse_frn: String,
    pub occurred_at: i64,
    pub active_workers: i64,
    pub idle_robots: i64,
    pub conveyor_utilization: f64,
    pub wip_per_zone: BTreeMap<String, i64>,
}

impl CapacityReported {
    pub fn from_domain(
        c: &CapacitySnapshot,
        partner: &PartnerId,
        payload_sha256: String,
        recorded_at: UtcMillis,
    ) -> Self {
        let event_id = wes_domain::idempotency::event_id(
            "capacity",
            partner.as_str(),
            c.correlation_id.as_str(),
        );
        Self {
            event_id: event_id.to_string(),
            recorded_at: recorded_at.0,
            partner_id: partner.to_string(),
            correlation_id: c.correlation_id.to_string(),
            payload_sha256,
            warehouse_id: c.warehouse_id.to_string(),
            warehouse_frn: WarehouseFrn::for_warehouse(&c.warehouse_id).to_string(),
            occurred_at: c.occurred_at.0,
            active_workers: c.active_workers,
            idle_robots: c.idle_robots,
            conveyor_utilization: c.conveyor_utilization,
            wip_per_zone: c.wip_per_zone.clone(),
        }
    }

    pub fn to_domain(&self) -> CapacitySnapshot {
        CapacitySnapshot {
            correlation_id: CorrelationId::from_trusted(&self.correlation_id),
            warehouse_id: WarehouseId::from_trusted(&self.warehouse_id),
            occurred_at: UtcMillis(self.occurred_at),
            active_workers: self.active_workers,
            idle_robots: self.idle_robots,
            conveyor_utilization: self.conveyor_utilization,
            wip_per_zone: self.wip_per_zone.clone(),
        }
    }
}

/// `io.wes.v1.ExceptionRecorded` on `wes.realtime.exceptions.v1`. Its `event_id` is also the id of
/// the supervisor-queue entry it opens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExceptionRecorded {
    pub event_id: String,
    pub recorded_at: i64,
    pub partner_id: String,
    pub correlation_id: String,
    pub payload_sha256: String,
    pub warehouse_id: String,
    pub warehouse_frn: String,
    pub code: String,
    pub severity: String,
    pub occurred_at: i64,
    pub document_ref: Option<DocumentRefRecord>,
    pub sku: Option<String>,
    pub location: Option<String>,
    pub qty: Option<i64>,
    pub device_id: Option<String>,
    pub message: Option<String>,
}

impl ExceptionRecorded {
    pub fn from_domain(
        e: &ExceptionReport,
        partner: &PartnerId,
        payload_sha256: String,
        recorded_at: UtcMillis,
    ) -> Self {
        let event_id = wes_domain::idempotency::event_id(
            "exception",
            partner.as_str(),
            e.correlation_id.as_str(),
        );
        Self {
            event_id: event_id.to_string(),
            recorded_at: recorded_at.0,
            partner_id: partner.to_string(),
            correlation_id: e.correlation_id.to_string(),
            payload_sha256,
            warehouse_id: e.warehouse_id.to_string(),
            warehouse_frn: WarehouseFrn::for_warehouse(&e.warehouse_id).to_string(),
            code: e.code.as_str().into(),
            severity: e.severity.as_str().into(),
            occurred_at: e.occurred_at.0,
            document_ref: e.document_ref.as_ref().map(DocumentRefRecord::from_domain),
            sku: e.sku.as_ref().map(ToString::to_string),
            location: e.location.as_ref().map(ToString::to_string),
            qty: e.qty,
            device_id: e.device_id.clone(),
            message: e.message.clone(),
        }
    }

    /// The page a paging system gets for this exception; its id is derived from the event id, so
    /// a producer retry carries the same notification id.
    pub fn notification(&self) -> NotificationRaised {
        let mut summary = format!("{} {} in {}", self.severity, self.code, self.warehouse_id);
        for (label, value) in [
            ("sku", self.sku.as_deref()),
            ("location", self.location.as_deref()),
            ("device", self.device_id.as_deref()),
        ] {
            if let Some(value) = value {
                summary.push_str(&format!(", {label} {value}"));
            }
        }
        if let Some(message) = &self.message {
            summary.push_str(&format!(": {message}"));
        }
        NotificationRaised {
            notification_id: wes_domain::idempotency::event_id(
                "notification",
                "EXCEPTION",
                &self.event_id,
            )
            .to_string(),
            raised_at: self.recorded_at,
            warehouse_id: self.warehouse_id.clone(),
            warehouse_frn: self.warehouse_frn.clone(),
            severity: self.severity.clone(),
            source: "EXCEPTION".into(),
            source_id: self.event_id.clone(),
            code: self.code.clone(),
            summary,
            occurred_at: self.occurred_at,
        }
    }
}

/// `io.wes.v1.NotificationRaised` on `wes.notifications.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationRaised {
    pub notification_id: String,
    pub raised_at: i64,
    pub warehouse_id: String,
    pub warehouse_frn: String,
    pub severity: String,
    pub source: String,
    pub source_id: String,
    pub code: String,
    pub summary: String,
    pub occurred_at: i64,
}

/// `io.wes.v1.SupervisorActionRecorded` on `wes.supervisor.actions.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisorActionRecorded {
    pub event_id: String,
    pub recorded_at: i64,
    pub entry_id: String,
    pub warehouse_id: String,
    pub warehouse_frn: String,
    pub action: String,
    pub supervisor_id: String,
    pub partner_id: String,
    pub reason: Option<String>,
}

impl SupervisorActionRecorded {
    pub fn new(
        entry_id: &str,
        warehouse: &WarehouseId,
        action: SupervisorAction,
        supervisor_id: &str,
        partner: &PartnerId,
        reason: Option<String>,
        recorded_at: UtcMillis,
    ) -> Self {
        Self {
            event_id: uuid::Uuid::new_v4().to_string(),
            recorded_at: recorded_at.0,
            entry_id: entry_id.to_owned(),
            warehouse_id: warehouse.to_string(),
            warehouse_frn: WarehouseFrn::for_warehouse(warehouse).to_string(),
            action: action.as_str().into(),
            supervisor_id: supervisor_id.to_owned(),
            partner_id: partner.to_string(),
            reason,
        }
    }

    pub fn supervisor_action(&self) -> Result<SupervisorAction, EventsError> {
        SupervisorAction::parse(&self.action).ok_or_else(|| invalid("action", &self.action))
    }
}

/// `io.wes.v1.ConfirmationRecorded` on `wes.confirmations.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmationRecorded {
    pub event_id: String,
    pub recorded_at: i64,
    pub partner_id: String,
    pub correlation_id: String,
    pub payload_sha256: String,
    pub warehouse_id: String,
    pub warehouse_frn: String,
    pub kind: String,
    pub window_start: i64,
    pub window_end: i64,
    pub lines: Vec<ConfirmationLine>,
    #[serde(default)]
    pub as_of: Option<i64>,
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmationLine {
    pub sku: String,
    pub kind: Option<String>,
    pub from_location: Option<String>,
    pub to_location: Option<String>,
    pub lot: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    pub qty: i64,
}

impl ConfirmationLine {
    fn of(key: &LineKey, qty: i64) -> Self {
        ConfirmationLine {
            sku: key.sku.to_string(),
            kind: key.kind.map(|k| k.as_str().into()),
            from_location: key.from_location.as_ref().map(ToString::to_string),
            to_location: key.to_location.as_ref().map(ToString::to_string),
            lot: key.lot.clone(),
            serial: key.serial.clone(),
            qty,
        }
    }
}

/// Confirmation lines as recorded, back in domain terms.
pub fn totals_of(lines: &[ConfirmationLine]) -> Result<Totals, EventsError> {
    lines
        .iter()
        .map(|l| {
            let key = line_key(
                &l.sku,
                l.kind.as_deref(),
                &l.from_location,
                &l.to_location,
                &l.lot,
                &l.serial,
            )?;
            Ok((key, l.qty))
        })
        .collect()
}

/// A line key as recorded (shared by confirmation and compared lines).
fn line_key(
    sku: &str,
    kind: Option<&str>,
    from: &Option<String>,
    to: &Option<String>,
    lot: &Option<String>,
    serial: &Option<String>,
) -> Result<LineKey, EventsError> {
    Ok(LineKey {
        sku: SkuCode::from_trusted(sku),
        kind: kind
            .map(|k| MovementKind::parse(k).ok_or_else(|| invalid("lines.kind", k)))
            .transpose()?,
        from_location: from.as_ref().map(LocationCode::from_trusted),
        to_location: to.as_ref().map(LocationCode::from_trusted),
        lot: lot.clone(),
        serial: serial.clone(),
    })
}

impl ConfirmationRecorded {
    pub fn from_shift_summary(
        summary: &ShiftSummary,
        payload_sha256: String,
        recorded_at: UtcMillis,
    ) -> Self {
        let w = &summary.window;
        Self {
            event_id: wes_domain::idempotency::event_id(
                "confirmation",
                w.partner_id.as_str(),
                summary.correlation_id.as_str(),
            )
            .to_string(),
            recorded_at: recorded_at.0,
            partner_id: w.partner_id.to_string(),
            correlation_id: summary.correlation_id.to_string(),
            payload_sha256,
            warehouse_id: w.warehouse_id.to_string(),
            warehouse_frn: WarehouseFrn::for_warehouse(&w.warehouse_id).to_string(),
            kind: ConfirmationKind::ShiftSummary.as_str().into(),
            window_start: w.start.0,
            window_end: w.end.0,
            lines: summary
                .totals
                .iter()
                .map(|(key, qty)| ConfirmationLine::of(key, *qty))
                .collect(),
            as_of: None,
            scope: None,
        }
    }

    /// A cycle count (`kind` CYCLE_COUNT) or an inventory snapshot (INVENTORY_SNAPSHOT).
    pub fn from_count(
        count: &StockCount,
        kind: ConfirmationKind,
        payload_sha256: String,
        recorded_at: UtcMillis,
    ) -> Self {
        let w = &count.window;
        Self {
            event_id: wes_domain::idempotency::event_id(
                "confirmation",
                w.partner_id.as_str(),
                count.correlation_id.as_str(),
            )
            .to_string(),
            recorded_at: recorded_at.0,
            partner_id: w.partner_id.to_string(),
            correlation_id: count.correlation_id.to_string(),
            payload_sha256,
            warehouse_id: w.warehouse_id.to_string(),
            warehouse_frn: WarehouseFrn::for_warehouse(&w.warehouse_id).to_string(),
            kind: kind.as_str().into(),
            window_start: w.start.0,
            window_end: w.end.0,
            lines: count
                .counts
                .iter()
                .map(|(key, qty)| ConfirmationLine::of(key, *qty))
                .collect(),
            as_of: Some(count.as_of.0),
            scope: Some(count.scope.as_str().into()),
        }
    }

    pub fn window(&self) -> WindowKey {
        window_key(
            &self.partner_id,
            &self.warehouse_id,
            self.window_start,
            self.window_end,
        )
    }

    /// The confirmed quantity per line.
    pub fn totals(&self) -> Result<Totals, EventsError> {
        totals_of(&self.lines)
    }

    pub fn confirmation_kind(&self) -> Result<ConfirmationKind, EventsError> {
        ConfirmationKind::parse(&self.kind).ok_or_else(|| invalid("kind", &self.kind))
    }

    /// Counts and snapshots: which stock the count covers (PARTIAL when unrecorded).
    pub fn count_scope(&self) -> Result<CountScope, EventsError> {
        match &self.scope {
            None => Ok(CountScope::Partial),
            Some(s) => CountScope::parse(s).ok_or_else(|| invalid("scope", s)),
        }
    }
}

/// The reconciler's decision on a window: the body of `WindowReconciled` and `WindowDiscrepancy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowDecision {
    pub event_id: String,
    pub recorded_at: i64,
    pub window_id: String,
    pub partner_id: String,
    pub warehouse_id: String,
    pub warehouse_frn: String,
    pub window_start: i64,
    pub window_end: i64,
    pub confirmation_event_id: String,
    pub confirmation_correlation_id: String,
    pub tolerance: i64,
    pub lines: Vec<ComparedLine>,
    pub realtime_through: Vec<LogPosition>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
    pub resolution_reason: Option<String>,
    #[serde(default)]
    pub compensating_movements: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparedLine {
    pub sku: String,
    pub kind: Option<String>,
    pub from_location: Option<String>,
    pub to_location: Option<String>,
    pub lot: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    pub confirmed: i64,
    pub realtime: i64,
    pub delta: i64,
    pub matched: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPosition {
    pub partition: i32,
    pub next_offset: i64,
}

impl WindowDecision {
    pub fn window(&self) -> WindowKey {
        window_key(
            &self.partner_id,
            &self.warehouse_id,
            self.window_start,
            self.window_end,
        )
    }

    /// The reconciler's first decision on a confirmation; its id is derived from the window, so
    /// deciding again after a crash appends the same event.
    pub fn of(
        confirmation: &ConfirmationRecorded,
        comparison: &Comparison,
        tolerance: i64,
        realtime_through: Vec<LogPosition>,
        recorded_at: UtcMillis,
    ) -> Self {
        let window = confirmation.window();
        Self {
            event_id: wes_domain::idempotency::event_id(
                "window-decision",
                &confirmation.partner_id,
                &window.key_text(),
            )
            .to_string(),
            recorded_at: recorded_at.0,
            window_id: window.id(),
            partner_id: confirmation.partner_id.clone(),
            warehouse_id: confirmation.warehouse_id.clone(),
            warehouse_frn: confirmation.warehouse_frn.clone(),
            window_start: confirmation.window_start,
            window_end: confirmation.window_end,
            confirmation_event_id: confirmation.event_id.clone(),
            confirmation_correlation_id: confirmation.correlation_id.clone(),
            tolerance,
            lines: Self::lines_of(comparison),
            realtime_through,
            resolved_by: None,
            resolution: None,
            resolution_reason: None,
            compensating_movements: 0,
        }
    }

    /// The compared lines as recorded.
    pub fn lines_of(comparison: &Comparison) -> Vec<ComparedLine> {
        comparison
            .lines
            .iter()
            .map(|l| ComparedLine {
                sku: l.key.sku.to_string(),
                kind: l.key.kind.map(|k| k.as_str().into()),
                from_location: l.key.from_location.as_ref().map(ToString::to_string),
                to_location: l.key.to_location.as_ref().map(ToString::to_string),
                lot: l.key.lot.clone(),
                serial: l.key.serial.clone(),
                confirmed: l.confirmed,
                realtime: l.realtime,
                delta: l.delta,
                matched: l.matched,
            })
            .collect()
    }

    /// The compared lines back in domain terms.
    pub fn comparison(&self) -> Result<Comparison, EventsError> {
        comparison_of(&self.lines)
    }

    pub fn reconciled(&self) -> bool {
        self.resolution.is_some() || self.lines.iter().all(|l| l.matched)
    }
}

/// Compared lines as recorded, back in domain terms.
pub fn comparison_of(lines: &[ComparedLine]) -> Result<Comparison, EventsError> {
    {
        let lines = lines
            .iter()
            .map(|l| {
                Ok(LineComparison {
                    key: line_key(
                        &l.sku,
                        l.kind.as_deref(),
                        &l.from_location,
                        &l.to_location,
                        &l.lot,
                        &l.serial,
                    )?,
                    confirmed: l.confirmed,
                    realtime: l.realtime,
                    delta: l.delta,
                    matched: l.matched,
                })
            })
            .collect::<Result<_, EventsError>>()?;
        Ok(Comparison { lines })
    }
}

/// `io.wes.v1.WindowReconciled` on `wes.window.reconciled.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WindowReconciled(pub WindowDecision);

/// `io.wes.v1.WindowDiscrepancy` on `wes.window.discrepancy.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WindowDiscrepancy(pub WindowDecision);

impl WindowDiscrepancy {
    /// The URGENT page a discrepancy raises.
    pub fn notification(&self) -> NotificationRaised {
        let d = &self.0;
        let differing = d.lines.iter().filter(|l| !l.matched).count();
        NotificationRaised {
            notification_id: wes_domain::idempotency::event_id(
                "notification",
                "WINDOW_DISCREPANCY",
                &d.event_id,
            )
            .to_string(),
            raised_at: d.recorded_at,
            warehouse_id: d.warehouse_id.clone(),
            warehouse_frn: d.warehouse_frn.clone(),
            severity: "URGENT".into(),
            source: "WINDOW_DISCREPANCY".into(),
            source_id: d.event_id.clone(),
            code: "WINDOW_DISCREPANCY".into(),
            summary: format!(
                "URGENT window discrepancy in {}: {differing} of {} lines differ ({}, {} to {})",
                d.warehouse_id,
                d.lines.len(),
                d.partner_id,
                UtcMillis(d.window_start).to_rfc3339(),
                UtcMillis(d.window_end).to_rfc3339()
            ),
            occurred_at: d.window_end,
        }
    }
}

/// `io.wes.v1.LateMovementFlagged` on `wes.window.late-movements.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LateMovementFlagged {
    pub event_id: String,
    pub recorded_at: i64,
    pub window_id: String,
    pub partner_id: String,
    pub warehouse_id: String,
    pub warehouse_frn: String,
    pub movement_event_id: String,
    pub movement_correlation_id: String,
    pub kind: String,
    pub sku: String,
    pub qty: i64,
    pub occurred_at: i64,
}

impl LateMovementFlagged {
    /// The id a late movement of a window (its `WindowKey::key_text`) is flagged under: the same
    /// however often it is found.
    pub fn id_for(window_key_text: &str, movement_event_id: &str) -> String {
        wes_domain::idempotency::event_id("late-movement", window_key_text, movement_event_id)
            .to_string()
    }
}

/// Any record the hub appends or reads back from the log. It serializes as its payload alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Event {
    Movement(MovementRecorded),
    WorkStatus(WorkStatusRecorded),
    Capacity(CapacityReported),
    Exception(ExceptionRecorded),
    SupervisorAction(SupervisorActionRecorded),
    Notification(NotificationRaised),
    Confirmation(ConfirmationRecorded),
    WindowReconciled(WindowDecision),
    WindowDiscrepancy(WindowDecision),
    LateMovement(LateMovementFlagged),
    Dispatch(DispatchEvent),
    Warehouse(WarehouseUpserted),
    Sku(SkuUpserted),
    Location(LocationUpserted),
    Partner(PartnerUpserted),
    DispatchTransport(DispatchTransportSet),
    DispatchPollAcked(DispatchPollAcked),
    DispatchDeadLettered(DispatchDeadLettered),
}

impl Event {
    /// Builds the typed record from a value decoded with the writer's schema (found by schema id).
    pub fn from_avro(record_fullname: &str, value: &AvroValue) -> Result<Event, EventsError> {
        let v = value;
        Ok(match record_fullname {
            "io.wes.v1.MovementRecorded" => Event::Movement(apache_avro::from_value(v)?),
            "io.wes.v1.WorkStatusRecorded" => Event::WorkStatus(apache_avro::from_value(v)?),
            "io.wes.v1.CapacityReported" => Event::Capacity(apache_avro::from_value(v)?),
            "io.wes.v1.ExceptionRecorded" => Event::Exception(apache_avro::from_value(v)?),
            "io.wes.v1.SupervisorActionRecorded" => {
                Event::SupervisorAction(apache_avro::from_value(v)?)
            }
            "io.wes.v1.NotificationRaised" => Event::Notification(apache_avro::from_value(v)?),
            "io.wes.v1.ConfirmationRecorded" => Event::Confirmation(apache_avro::from_value(v)?),
            "io.wes.v1.WindowReconciled" => Event::WindowReconciled(apache_avro::from_value(v)?),
            "io.wes.v1.WindowDiscrepancy" => Event::WindowDiscrepancy(apache_avro::from_value(v)?),
            "io.wes.v1.LateMovementFlagged" => Event::LateMovement(apache_avro::from_value(v)?),
            "io.wes.v1.DispatchEvent" => Event::Dispatch(apache_avro::from_value(v)?),
            "io.wes.v1.WarehouseUpserted" => Event::Warehouse(apache_avro::from_value(v)?),
            "io.wes.v1.SkuUpserted" => Event::Sku(apache_avro::from_value(v)?),
            "io.wes.v1.LocationUpserted" => Event::Location(apache_avro::from_value(v)?),
            "io.wes.v1.PartnerUpserted" => Event::Partner(apache_avro::from_value(v)?),
            "io.wes.v1.DispatchTransportSet" => {
                Event::DispatchTransport(apache_avro::from_value(v)?)
            }
            "io.wes.v1.DispatchPollAcked" => Event::DispatchPollAcked(apache_avro::from_value(v)?),
            "io.wes.v1.DispatchDeadLettered" => {
                Event::DispatchDeadLettered(apache_avro::from_value(v)?)
            }
            other => return Err(EventsError::UnknownRecord(other.to_owned())),
        })
    }

    pub fn event_id(&self) -> &str {
        match self {
            Event::Movement(e) => &e.event_id,
            Event::WorkStatus(e) => &e.event_id,
            Event::Capacity(e) => &e.event_id,
            Event::Exception(e) => &e.event_id,
            Event::SupervisorAction(e) => &e.event_id,
            Event::Notification(e) => &e.notification_id,
            Event::Confirmation(e) => &e.event_id,
            Event::WindowReconciled(e) | Event::WindowDiscrepancy(e) => &e.event_id,
            Event::LateMovement(e) => &e.event_id,
            Event::Dispatch(e) => &e.event_id,
            Event::Warehouse(e) => &e.event_id,
            Event::Sku(e) => &e.event_id,
            Event::Location(e) => &e.event_id,
            Event::Partner(e) => &e.event_id,
            Event::DispatchTransport(e) => &e.event_id,
            Event::DispatchPollAcked(e) => &e.event_id,
            Event::DispatchDeadLettered(e) => &e.event_id,
        }
    }
}

/// Appending any record as an `Event`: its topic, key and the page it raises follow its type.
macro_rules! event_routing {
    ($($variant:ident($record:ident)),+ $(,)?) => {
        impl Event {
            /// The topic the record is written to.
            pub fn topic(&self) -> &'static str {
                match self { $(Event::$variant(_) => <$record as Routed>::TOPIC),+ }
            }
            /// The partition key (the warehouse FRN for per-warehouse topics).
            pub fn key(&self) -> String {
                match self { $(Event::$variant(e) => <$record as Routed>::key(routed!($record, e))),+ }
            }
            /// The notification appended along with the record, if it raises one.
            pub fn notification(&self) -> Option<NotificationRaised> {
                match self {
                    $(Event::$variant(e) => <$record as Routed>::notification(routed!($record, e))),+
                }
            }
        }
    };
}

/// The `Routed` view of an event's payload (the two decision topics wrap one struct).
macro_rules! routed {
    (WindowReconciled, $e:expr) => {
        &WindowReconciled($e.clone())
    };
    (WindowDiscrepancy, $e:expr) => {
        &WindowDiscrepancy($e.clone())
    };
    ($record:ident, $e:expr) => {
        $e
    };
}

event_routing!(
    Movement(MovementRecorded),
    WorkStatus(WorkStatusRecorded),
    Capacity(CapacityReported),
    Exception(ExceptionRecorded),
    SupervisorAction(SupervisorActionRecorded),
    Notification(NotificationRaised),
    Confirmation(ConfirmationRecorded),
    WindowReconciled(WindowReconciled),
    WindowDiscrepancy(WindowDiscrepancy),
    LateMovement(LateMovementFlagged),
    Dispatch(DispatchEvent),
    Warehouse(WarehouseUpserted),
    Sku(SkuUpserted),
    Location(LocationUpserted),
    Partner(PartnerUpserted),
    DispatchTransport(DispatchTransportSet),
    DispatchPollAcked(DispatchPollAcked),
    DispatchDeadLettered(DispatchDeadLettered),
);

macro_rules! into_event {
    ($($variant:ident($record:ident)),+ $(,)?) => {
        $(impl From<$record> for Event {
            fn from(record: $record) -> Event {
                Event::$variant(record)
            }
        })+
    };
}

into_event!(
    Movement(MovementRecorded),
    WorkStatus(WorkStatusRecorded),
    Capacity(CapacityReported),
    Exception(ExceptionRecorded),
    SupervisorAction(SupervisorActionRecorded),
    Notification(NotificationRaised),
    Confirmation(ConfirmationRecorded),
    LateMovement(LateMovementFlagged),
    Dispatch(DispatchEvent),
    Warehouse(WarehouseUpserted),
    Sku(SkuUpserted),
    Location(LocationUpserted),
    Partner(PartnerUpserted),
    DispatchTransport(DispatchTransportSet),
    DispatchPollAcked(DispatchPollAcked),
    DispatchDeadLettered(DispatchDeadLettered),
);

impl From<WindowReconciled> for Event {
    fn from(record: WindowReconciled) -> Event {
        Event::WindowReconciled(record.0)
    }
}

impl From<WindowDiscrepancy> for Event {
    fn from(record: WindowDiscrepancy) -> Event {
        Event::WindowDiscrepancy(record.0)
    }
}

/// Where each record type is written, under which key, and what it raises along with it.
pub trait Routed: Serialize {
    const TOPIC: &'static str;
    fn key(&self) -> String;
    /// A notification appended together with the record (exceptions raise one).
    fn notification(&self) -> Option<NotificationRaised> {
        None
    }
}

impl Routed for MovementRecorded {
    const TOPIC: &'static str = topics::MOVEMENTS;
    fn key(&self) -> String {
        self.warehouse_frn.clone()
    }
}
impl Routed for WorkStatusRecorded {
    const TOPIC: &'static str = topics::WORK_STATUS;
    fn key(&self) -> String {
        self.warehouse_frn.clone()
    }
}
impl Routed for CapacityReported {
    const TOPIC: &'static str = topics::CAPACITY;
    fn key(&self) -> String {
        self.warehouse_frn.clone()
    }
}
impl Routed for ExceptionRecorded {
    const TOPIC: &'static str = topics::EXCEPTIONS;
    fn key(&self) -> String {
        self.warehouse_frn.clone()
    }
    fn notification(&self) -> Option<NotificationRaised> {
        Some(ExceptionRecorded::notification(self))
    }
}
impl Routed for SupervisorActionRecorded {
    const TOPIC: &'static str = topics::SUPERVISOR_ACTIONS;
    fn key(&self) -> String {
        self.warehouse_frn.clone()
    }
}
impl Routed for NotificationRaised {
    const TOPIC: &'static str = topics::NOTIFICATIONS;
    fn key(&self) -> String {
        self.warehouse_frn.clone()
    }
}
impl Routed for ConfirmationRecorded {
    const TOPIC: &'static str = topics::CONFIRMATIONS;
    fn key(&self) -> String {
        self.warehouse_frn.clone()
    }
}
impl Routed for WindowReconciled {
    const TOPIC: &'static str = topics::WINDOW_RECONCILED;
    fn key(&self) -> String {
        self.0.warehouse_frn.clone()
    }
}
impl Routed for WindowDiscrepancy {
    const TOPIC: &'static str = topics::WINDOW_DISCREPANCY;
    fn key(&self) -> String {
        self.0.warehouse_frn.clone()
    }
    fn notification(&self) -> Option<NotificationRaised> {
        Some(WindowDiscrepancy::notification(self))
    }
}
impl Routed for LateMovementFlagged {
    const TOPIC: &'static str = topics::LATE_MOVEMENTS;
    fn key(&self) -> String {
        self.warehouse_frn.clone()
    }
}
impl Routed for DispatchEvent {
    const TOPIC: &'static str = topics::DISPATCH;
    fn key(&self) -> String {
        self.warehouse_frn.clone()
    }
}
impl Routed for WarehouseUpserted {
    const TOPIC: &'static str = topics::WAREHOUSES;
    fn key(&self) -> String {
        self.warehouse_id.clone()
    }
}
impl Routed for SkuUpserted {
    const TOPIC: &'static str = topics::SKUS;
    fn key(&self) -> String {
        self.sku.clone()
    }
}
impl Routed for LocationUpserted {
    const TOPIC: &'static str = topics::LOCATIONS;
    fn key(&self) -> String {
        format!("{}/{}", self.warehouse_id, self.location)
    }
}
impl Routed for DispatchTransportSet {
    const TOPIC: &'static str = topics::DISPATCH_TRANSPORTS;
    fn key(&self) -> String {
        self.warehouse_id.clone()
    }
}
impl Routed for DispatchDeadLettered {
    const TOPIC: &'static str = topics::DISPATCH_DLQ;
    fn key(&self) -> String {
        self.warehouse_frn.clone()
    }
    fn notification(&self) -> Option<NotificationRaised> {
        Some(DispatchDeadLettered::notification(self))
    }
}
impl Routed for DispatchPollAcked {
    const TOPIC: &'static str = topics::DISPATCH_POLL_ACKS;
    fn key(&self) -> String {
        self.warehouse_id.clone()
    }
}
impl Routed for PartnerUpserted {
    const TOPIC: &'static str = topics::PARTNERS;
    fn key(&self) -> String {
        self.partner_id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalog;
    use apache_avro::Schema;

    fn round_trip<T: Routed + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(record: &T) {
        let catalog = Catalog::embedded();
        let schema = Schema::parse_str(&catalog.topic(T::TOPIC).unwrap().schema).unwrap();
        let value = apache_avro::to_value(record)
            .unwrap()
            .resolve(&schema)
            .unwrap();
        let bytes = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
            .build()
            .unwrap()
            .write_value_to_vec(value)
            .unwrap();
        let back = apache_avro::reader::datum::GenericDatumReader::builder(&schema)
            .build()
            .unwrap()
            .read_value(&mut bytes.as_slice())
            .unwrap();
        let fullname = match &schema {
            Schema::Record(r) => r.name.fullname(None),
            _ => unreachable!(),
        };
        let decoded: T = apache_avro::from_value(&back).unwrap();
        assert_eq!(&decoded, record);
        assert!(Event::from_avro(&fullname, &back).is_ok());
    }

    fn movement(qty: i64, lot: Option<String>, line_no: Option<i64>) -> MovementRecorded {
        let m = Movement {
            correlation_id: CorrelationId::parse("cid-201").unwrap(),
            kind: MovementKind::Pick,
            warehouse_id: WarehouseId::parse("WH-Tokyo-01").unwrap(),
            sku: SkuCode::parse("SKU-1").unwrap(),
            qty,
            uom: "EA".into(),
            from_location: LocationCode::parse("A.12.3.1"),
            to_location: None,
            lot,
            serial: None,
            document_ref: Some(DocumentRef {
                doc_type: DocumentType::Shipper,
                id: "SH-1".into(),
                line_no,
            }),
            occurred_at: UtcMillis(1_700_000_000_123),
            actor: Some(Actor {
                kind: ActorKind::Robot,
                id: "R2".into(),
            }),
        };
        MovementRecorded::from_domain(
            &m,
            &PartnerId::parse("WH-Tokyo-01/AcmeWES").unwrap(),
            "ab".into(),
            UtcMillis(5),
        )
    }

    /// Costs are written as an exact decimal and, for older readers, as a double; records
    /// written before the decimal carry only the double, which reads rounded to four places.
    #[test]
    fn costs_are_decimals_and_older_doubles_still_read() {
        let schema =
            Schema::parse_str(&Catalog::embedded().topic(topics::DISPATCH).unwrap().schema)
                .unwrap();
        let op = |cost: f64| {
            let mut operation = Operation {
                op_id: "1".into(),
                kind: "PICK".into(),
                sku: None,
                qty: None,
                uom: None,
                from_location: None,
                to_location: None,
                carton: None,
                dock: None,
                expected_duration_seconds: None,
                expected_cost: None,
                bom_deltas: vec![],
                skills: vec![],
                resources: vec![],
                attributes: Default::default(),
            };
            operation.expected_cost = Amount::from_f64(cost);
            operation
        };
        let release = wes_domain::release::Release {
            kind: ReleaseKind::ShipperReleased,
            correlation_id: CorrelationId::parse("c").unwrap(),
            planner_id: PlannerId::parse("P").unwrap(),
            warehouse_id: WarehouseId::parse("WH-1").unwrap(),
            document_ref: DocumentRef {
                doc_type: DocumentType::Shipper,
                id: "SH-1".into(),
                line_no: None,
            },
            routing: Routing {
                operations: vec![op(0.3)],
                ..Routing::default()
            },
            lines: vec![],
            released_at: UtcMillis(9),
            priority: Priority::High,
            cancelled_correlation_id: None,
            envelope: Default::default(),
        };
        let release = Release {
            envelope: release.derived_envelope(),
            ..release
        };
        let record = DispatchEvent::from_domain(&release);
        let value = apache_avro::to_value(&record)
            .unwrap()
            .resolve(&schema)
            .unwrap();
        let text = format!("{value:?}");
        assert!(
            text.contains(r#""expected_cost", Union(1, Double(0.3))"#)
                && text.contains(r#""expected_cost_decimal", Union(1, Decimal("#),
            "{text}"
        );
        let back: DispatchEvent = apache_avro::from_value(&value).unwrap();
        assert_eq!(back.to_domain().unwrap(), release);

        // A record of before: no decimal, a double with more places than a cost keeps, no
        // priority word, no envelope.
        let mut old = value.clone();
        forget_decimal_cost(&mut old, 0.30000000000000004);
        if let AvroValue::Record(fields) = &mut old {
            fields.retain(|(name, _)| name != "priority_level" && name != "envelope");
        }
        let read: DispatchEvent = apache_avro::from_value(&old).unwrap();
        assert_eq!(read.routing.operations[0].expected_cost_decimal, None);
        assert_eq!(read.to_domain().unwrap(), release);
    }

    /// Drops `expected_cost_decimal` from every operation and sets `expected_cost` to `cost`.
    fn forget_decimal_cost(value: &mut AvroValue, cost: f64) {
        match value {
            AvroValue::Record(fields) => {
                fields.retain(|(name, _)| name != "expected_cost_decimal");
                for (name, v) in fields {
                    if name == "expected_cost" {
                        *v = AvroValue::Union(1, Box::new(AvroValue::Double(cost)));
                    } else {
                        forget_decimal_cost(v, cost);
                    }
                }
            }
            AvroValue::Union(_, v) => forget_decimal_cost(v, cost),
            AvroValue::Array(items) => items.iter_mut().for_each(|v| forget_decimal_cost(v, cost)),
            _ => {}
        }
    }

    #[test]
    fn every_record_round_trips_through_its_schema() {
        round_trip(&movement(12, None, Some(1)));
        let md = wes_domain::masterdata::MasterData::new(
            vec![Warehouse {
                warehouse_id: WarehouseId::parse("WH-1").unwrap(),
                name: "x".into(),
            }],
            vec![Sku {
                sku: SkuCode::parse("S").unwrap(),
                base_uom: "EA".into(),
                tracking: Tracking::Lot,
                description: String::new(),
            }],
            vec![Location {
                warehouse_id: WarehouseId::parse("WH-1").unwrap(),
                location: LocationCode::parse("A").unwrap(),
            }],
            vec![],
        );
        let body = serde_json::json!({
            "kind": "RECEIVER_EXPECTED", "warehouse_id": "WH-1", "document_ref": {"type": "RECEIVER", "id": "R-1"},
            "routing": {"operations": [{"op_id": "1", "kind": "RECEIVE", "sku": "S", "qty": 3, "to_location": "A",
                        "bom_deltas": [{"sku": "S", "qty": -1}], "skills": ["forklift"], "pallet": {"n": 1},
                        "expected_cost": 12.5}]},
            "lines": [{"line_no": 1, "sku": "S", "qty": 3, "lot": "L1"}]
        });
        let release = wes_domain::release::validate_release(
            &body,
            &md,
            wes_domain::release::ReleaseDefaults {
                planner_id: PlannerId::parse("P").unwrap(),
                correlation_id: CorrelationId::parse("c").unwrap(),
                now: UtcMillis(9),
            },
        )
        .unwrap();
        assert_eq!(
            release.routing.operations[0].attributes["pallet"],
            "{\"n\":1}"
        );
        let dispatch = DispatchEvent::from_domain(&release);
        round_trip(&dispatch);
        assert_eq!(dispatch.to_domain().unwrap(), release);
        assert_eq!(
            release.routing.operations[0].expected_cost,
            Amount::from_units(125_000)
        );
        assert_eq!(
            serde_json::to_value(&dispatch).unwrap()["routing"]["operations"][0]["expected_cost_decimal"],
            12.5,
            "JSON carries the cost as a number"
        );
        let partner = Partner {
            partner_id: PartnerId::parse("WH-1/A").unwrap(),
            role: PartnerRole::Executor,
            allowed_warehouses: [WarehouseId::parse("WH-1").unwrap()].into(),
            api_key_sha256: ["00ff".to_string()].into(),
            api_key_expires_at: [("00ff".to_string(), UtcMillis(7))].into(),
            cert_sha256: ["ab".repeat(32)].into(),
            bearer_allowed: false,
        };
        round_trip(&PartnerUpserted::from_domain(&partner, UtcMillis(1)));
        let transport = DispatchTransport {
            warehouse_id: WarehouseId::parse("WH-1").unwrap(),
            transport: TransportKind::Webhook,
            partner_id: partner.partner_id.clone(),
            url: Some("https://exec.example/hook".into()),
            sealed_secret: Some("sealed".into()),
            previous_sealed_secret: Some("sealed before".into()),
            rotated_at: Some(UtcMillis(2)),
            configured_at: UtcMillis(2),
            start: vec![(0, 3), (1, 0)],
        };
        let set = DispatchTransportSet::from_domain(&transport, UtcMillis(2));
        round_trip(&set);
        assert_eq!(set.to_domain(), Some(transport.clone()));
        let removed = DispatchTransportSet::removed(&transport.warehouse_id, UtcMillis(3));
        round_trip(&removed);
        assert_eq!(removed.to_domain(), None);
        let cursor = PollCursor {
            partition: 1,
            offset: 7,
        };
        let acked = DispatchPollAcked::new(
            &transport.warehouse_id,
            &partner.partner_id,
            cursor,
            UtcMillis(4),
        );
        round_trip(&acked);
        assert_eq!(acked.cursor(), cursor);
        let dead = DispatchDeadLettered {
            event_id: DispatchDeadLettered::id_for("d-1", UtcMillis(5)),
            recorded_at: 6,
            delivery_id: "d-1".into(),
            warehouse_id: "WH-1".into(),
            warehouse_frn: "frn".into(),
            planner_id: "P".into(),
            correlation_id: "c".into(),
            partner_id: partner.partner_id.to_string(),
            url: "https://exec.example/hook".into(),
            dispatch_partition: 0,
            dispatch_offset: 9,
            original_event: "{}".into(),
            attempts: 7,
            first_attempt_at: 5,
            last_status_code: Some(503),
            last_error: None,
        };
        round_trip(&dead);
        assert_eq!(dead.notification().severity, "URGENT");
        let work = WorkStatus {
            correlation_id: CorrelationId::parse("ws-1").unwrap(),
            warehouse_id: WarehouseId::parse("WH-1").unwrap(),
            task_id: "T-1".into(),
            document_ref: DocumentRef {
                doc_type: DocumentType::Shipper,
                id: "SH-1".into(),
                line_no: None,
            },
            status: TaskStatus::InProgress,
            worker_id: Some("w-7".into()),
            robot_id: None,
            occurred_at: UtcMillis(3),
            reason: None,
        };
        round_trip(&WorkStatusRecorded::from_domain(
            &work,
            &partner.partner_id,
            "h".into(),
            UtcMillis(4),
        ));
        let capacity = CapacitySnapshot {
            correlation_id: CorrelationId::parse("cap-1").unwrap(),
            warehouse_id: WarehouseId::parse("WH-1").unwrap(),
            occurred_at: UtcMillis(5),
            active_workers: 12,
            idle_robots: 3,
            conveyor_utilization: 0.75,
            wip_per_zone: [("A".to_string(), 40)].into(),
        };
        let record =
            CapacityReported::from_domain(&capacity, &partner.partner_id, "h".into(), UtcMillis(6));
        round_trip(&record);
        assert_eq!(record.to_domain(), capacity);
        round_trip(&WarehouseUpserted::from_domain(
            md.warehouses.values().next().unwrap(),
            UtcMillis(1),
        ));
        round_trip(&SkuUpserted::from_domain(
            md.skus.values().next().unwrap(),
            UtcMillis(1),
        ));
        round_trip(&LocationUpserted::from_domain(
            &Location {
                warehouse_id: WarehouseId::parse("WH-1").unwrap(),
                location: LocationCode::parse("A").unwrap(),
            },
            UtcMillis(1),
        ));
        let report = wes_domain::parse::exception(
            &serde_json::json!({"correlation_id": "ex-1", "warehouse_id": "WH-1", "code": "SHORT_PICK",
                "severity": "HIGH", "occurred_at": "2026-03-14T09:15:00Z", "sku": "S", "location": "A", "qty": 3,
                "document_ref": {"type": "SHIPPER", "id": "SH-1"}, "message": "bin empty"}),
        )
        .unwrap();
        wes_domain::exception::check_exception(&report, &md).unwrap();
        let exception =
            ExceptionRecorded::from_domain(&report, &partner.partner_id, "h".into(), UtcMillis(8));
        round_trip(&exception);
        let page = exception.notification();
        round_trip(&page);
        assert_eq!(
            page.summary,
            "HIGH SHORT_PICK in WH-1, sku S, location A: bin empty"
        );
        assert_eq!(
            page,
            exception.notification(),
            "a retry raises the same notification id"
        );
        let summary = wes_domain::parse::shift_summary(
            &serde_json::json!({"correlation_id": "ss-1", "warehouse_id": "WH-1",
                "window_start": "2026-11-21T06:00:00Z", "window_end": "2026-11-21T14:00:00Z",
                "totals": [{"sku": "S", "kind": "RECEIVE", "to_location": "A", "lot": "L1", "qty": 4, "uom": "EA"}]}),
        )
        .unwrap();
        let summary = wes_domain::reconcile::check_shift_summary(summary, &md, &partner).unwrap();
        let confirmation =
            ConfirmationRecorded::from_shift_summary(&summary, "h".into(), UtcMillis(9));
        round_trip(&confirmation);
        assert_eq!(confirmation.totals().unwrap(), summary.totals);
        let comparison = wes_domain::reconcile::compare(&summary.totals, &Totals::new(), 0);
        let decision = WindowDecision::of(
            &confirmation,
            &comparison,
            0,
            vec![LogPosition {
                partition: 0,
                next_offset: 7,
            }],
            UtcMillis(10),
        );
        assert_eq!(decision.comparison().unwrap(), comparison);
        assert!(!decision.reconciled());
        round_trip(&WindowReconciled(decision.clone()));
        let discrepancy = WindowDiscrepancy(decision);
        round_trip(&discrepancy);
        assert_eq!(discrepancy.notification().severity, "URGENT");
        round_trip(&SupervisorActionRecorded::new(
            &exception.event_id,
            &report.warehouse_id,
            SupervisorAction::Close,
            "sup-anna",
            &partner.partner_id,
            Some("restocked".into()),
            UtcMillis(9),
        ));
    }

    proptest::proptest! {
        #[test]
        fn movements_round_trip_for_any_quantity_lot_and_line(
            qty in proptest::num::i64::ANY, lot in proptest::option::of("[A-Z0-9-]{1,20}"), line in proptest::option::of(1i64..100_000)
        ) {
            let record = movement(qty, lot, line);
            round_trip(&record);
            proptest::prop_assert_eq!(MovementRecorded::to_domain(&record).unwrap().qty, qty);
        }
    }
}
