//! Dispatch releases (contract §2): the constant envelope, the inline routing recipe, validation.

use crate::UtcMillis;
use crate::amount::Amount;
use crate::fields::Fields;
use crate::ids::*;
use crate::masterdata::MasterData;
use crate::movement::DocumentRef;
use crate::rejection::Rejection;
use crate::words::word_enum;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

word_enum!(
    ReleaseKind {
        ShipperReleased = "SHIPPER_RELEASED",
        ReceiverExpected = "RECEIVER_EXPECTED",
        WorkorderReleased = "WORKORDER_RELEASED",
        TransferOutReleased = "TRANSFER_OUT_RELEASED",
        TransferInExpected = "TRANSFER_IN_EXPECTED",
        VasorderReleased = "VASORDER_RELEASED",
        RefurbishOrderReleased = "REFURBISH_ORDER_RELEASED",
        Cancelled = "CANCELLED",
    }
);

word_enum!(
    /// How urgent a release is (contract §2, `meta.priority`).
    Priority {
        Low = "LOW",
        Normal = "NORMAL",
        High = "HIGH",
        Urgent = "URGENT",
    }
);

impl Priority {
    /// The number written beside the word for readers of the schema before it (and the number
    /// planners sent before the word): LOW -1, NORMAL 0, HIGH 1, URGENT 2.
    pub fn rank(self) -> i32 {
        match self {
            Priority::Low => -1,
            Priority::Normal => 0,
            Priority::High => 1,
            Priority::Urgent => 2,
        }
    }

    /// The word of a number: below 0 LOW, 0 NORMAL, 1 HIGH, above URGENT.
    pub fn from_rank(rank: i64) -> Priority {
        match rank {
            ..0 => Priority::Low,
            0 => Priority::Normal,
            1 => Priority::High,
            _ => Priority::Urgent,
        }
    }
}

/// The contract's JSON envelope of a release, as the planner sent it (unknown fields included),
/// with what the hub filled in: `correlation_id`, `planner_id`, `meta.released_at`,
/// `meta.priority` as a word, and the list of operations under the contract's name `ops`. Every
/// transport delivers this object.
pub type Envelope = serde_json::Map<String, Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BomDelta {
    pub sku: SkuCode,
    pub qty: i64,
}

/// One step of the recipe. Known fields are typed; anything else the planner sends is kept, as JSON
/// text, in `attributes` so nothing is lost on the way to the executor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub op_id: String,
    pub kind: String,
    pub sku: Option<SkuCode>,
    pub qty: Option<i64>,
    pub uom: Option<String>,
    pub from_location: Option<LocationCode>,
    pub to_location: Option<LocationCode>,
    pub carton: Option<String>,
    pub dock: Option<String>,
    pub expected_duration_seconds: Option<i64>,
    pub expected_cost: Option<Amount>,
    pub bom_deltas: Vec<BomDelta>,
    pub skills: Vec<String>,
    pub resources: Vec<String>,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Routing {
    pub operations: Vec<Operation>,
    pub expected_duration_seconds: Option<i64>,
    pub requirements: Vec<String>,
}

/// An expected line of an ASN-driven receiver or an inbound transfer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedLine {
    pub line_no: i64,
    pub sku: SkuCode,
    pub qty: i64,
    pub lot: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub kind: ReleaseKind,
    pub correlation_id: CorrelationId,
    pub planner_id: PlannerId,
    pub warehouse_id: WarehouseId,
    pub document_ref: DocumentRef,
    pub routing: Routing,
    pub lines: Vec<ExpectedLine>,
    pub released_at: UtcMillis,
    pub priority: Priority,
    pub cancelled_correlation_id: Option<CorrelationId>,
    pub envelope: Envelope,
}

/// What the caller did not send and the hub fills in.
pub struct ReleaseDefaults {
    pub planner_id: PlannerId,
    pub correlation_id: CorrelationId,
    pub now: UtcMillis,
}

const KNOWN_OP_FIELDS: [&str; 15] = [
    "op_id",
    "kind",
    "sku",
    "qty",
    "uom",
    "from_location",
    "to_location",
    "carton",
    "dock",
    "expected_duration_seconds",
    "expected_cost",
    "bom_deltas",
    "skills",
    "resources",
    "attributes",
];

fn string_list(value: Option<&Value>, field: &str) -> Result<Vec<String>, Rejection> {
    match value {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Rejection::malformed(field, "expected an array of strings"))
            })
            .collect(),
        Some(_) => Err(Rejection::malformed(field, "expected an array of strings")),
    }
}

/// One operation of `routing.{list}` (`ops`, or its alias `operations`).
fn parse_operation(
    list: &str,
    index: usize,
    value: &Value,
    md: &MasterData,
    warehouse: &WarehouseId,
) -> Result<Operation, Rejection> {
    let at = |name: &str| format!("/routing/{list}/{index}/{name}");
    let f = Fields::of(value)
        .map_err(|_| Rejection::malformed(&at(""), "an operation must be an object"))?;
    let relocate = |r: Rejection| Rejection {
        field: format!("/routing/{list}/{index}{}", r.field),
        ..r
    };
    let op_id = f.req_str("op_id").map_err(relocate)?.to_owned();
    let kind = f.req_str("kind").map_err(relocate)?.to_owned();
    let sku = f.opt_id("sku", SkuCode::parse).map_err(relocate)?;
    if let Some(sku) = sku.as_ref().filter(|s| !md.skus.contains_key(*s)) {
        return Err(Rejection::unprocessable(
            &at("sku"),
            format!("unknown SKU {sku}"),
        ));
    }
    let from_location = f
        .opt_id("from_location", LocationCode::parse)
        .map_err(relocate)?;
    let to_location = f
        .opt_id("to_location", LocationCode::parse)
        .map_err(relocate)?;
    for (name, loc) in [
        ("from_location", &from_location),
        ("to_location", &to_location),
    ] {
        if let Some(loc) = loc {
            md.require_location(&at(name), warehouse, loc)?;
        }
    }
    let bom_deltas = match f.raw("bom_deltas") {
        None => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                let d = Fields::of(item)
                    .map_err(|_| Rejection::malformed(&at("bom_deltas"), "expected objects"))?;
                Ok(BomDelta {
                    sku: d.req_id("sku", SkuCode::parse).map_err(relocate)?,
                    qty: d.req_i64("qty").map_err(relocate)?,
                })
            })
            .collect::<Result<_, Rejection>>()?,
        Some(_) => return Err(Rejection::malformed(&at("bom_deltas"), "expected an array")),
    };
    let expected_cost = match f.raw("expected_cost") {
        None => None,
        Some(v) => Some(v.as_number().and_then(Amount::from_json).ok_or_else(|| {
            Rejection::malformed(
                &at("expected_cost"),
                "expected a number of at most 15 significant digits, 4 of them after the point",
            )
        })?),
    };
    let mut attributes = BTreeMap::new();
    if let Some(Value::Object(extra)) = f.raw("attributes") {
        for (k, v) in extra {
            attributes.insert(k.clone(), v.to_string());
        }
    }
    if let Value::Object(all) = value {
        for (k, v) in all
            .iter()
            .filter(|(k, _)| !KNOWN_OP_FIELDS.contains(&k.as_str()))
        {
            attributes.insert(k.clone(), v.to_string());
        }
    }
    Ok(Operation {
        op_id,
        kind,
        sku,
        qty: f.opt_i64("qty").map_err(relocate)?,
        uom: f.opt_str("uom").map_err(relocate)?.map(str::to_owned),
        from_location,
        to_location,
        carton: f.opt_str("carton").map_err(relocate)?.map(str::to_owned),
        dock: f.opt_str("dock").map_err(relocate)?.map(str::to_owned),
        expected_duration_seconds: f.opt_i64("expected_duration_seconds").map_err(relocate)?,
        expected_cost,
        bom_deltas,
        skills: string_list(f.raw("skills"), &at("skills"))?,
        resources: string_list(f.raw("resources"), &at("resources"))?,
        attributes,
    })
}

/// The routing, and the name the list of operations was sent under.
fn parse_routing(
    value: Option<&Value>,
    md: &MasterData,
    warehouse: &WarehouseId,
) -> Result<(Routing, &'static str), Rejection> {
    let Some(value) = value else {
        return Ok((Routing::default(), "ops"));
    };
    let f = Fields::of(value)
        .map_err(|_| Rejection::malformed("/routing", "`routing` must be an object"))?;
    // The contract names the list `ops`; `operations` is accepted too.
    let (list, given) = match (f.raw("ops"), f.raw("operations")) {
        (Some(_), Some(_)) => {
            return Err(Rejection::malformed(
                "/routing",
                "give the operations once: `ops` (the contract's name) or `operations`",
            ));
        }
        (Some(ops), None) => ("ops", Some(ops)),
        (None, operations) => ("operations", operations),
    };
    let operations = match given {
        None => vec![],
        Some(Value::Array(ops)) => ops
            .iter()
            .enumerate()
            .map(|(i, op)| parse_operation(list, i, op, md, warehouse))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(Rejection::malformed(
                &format!("/routing/{list}"),
                "expected an array",
            ));
        }
    };
    let routing = Routing {
        operations,
        expected_duration_seconds: f.opt_i64("expected_duration_seconds")?,
        requirements: string_list(f.raw("requirements"), "/routing/requirements")?,
    };
    Ok((routing, list))
}

/// `meta.priority`: the contract's word; a number (what planners sent before the word) is
/// still accepted and read by `Priority::from_rank`.
fn parse_priority(value: Option<&Value>) -> Result<Priority, Rejection> {
    let field = "/meta/priority";
    match value {
        None | Some(Value::Null) => Ok(Priority::Normal),
        Some(Value::String(word)) => Priority::parse(word).ok_or_else(|| {
            Rejection::malformed(
                field,
                format!("priority {word:?} is not one of {}", Priority::words()),
            )
        }),
        Some(Value::Number(n)) => n.as_i64().map(Priority::from_rank).ok_or_else(|| {
            Rejection::malformed(field, "a numeric priority must be a whole number")
        }),
        Some(_) => Err(Rejection::malformed(
            field,
            format!("priority is one of {}", Priority::words()),
        )),
    }
}

fn parse_lines(value: Option<&Value>, md: &MasterData) -> Result<Vec<ExpectedLine>, Rejection> {
    let Some(value) = value else {
        return Ok(vec![]);
    };
    let Value::Array(items) = value else {
        return Err(Rejection::malformed("/lines", "expected an array"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let relocate = |r: Rejection| Rejection {
                field: format!("/lines/{i}{}", r.field),
                ..r
            };
            let f = Fields::of(item).map_err(relocate)?;
            let sku = f.req_id("sku", SkuCode::parse).map_err(relocate)?;
            if !md.skus.contains_key(&sku) {
                return Err(Rejection::unprocessable(
                    &format!("/lines/{i}/sku"),
                    format!("unknown SKU {sku}"),
                ));
            }
            Ok(ExpectedLine {
                line_no: f.req_i64("line_no").map_err(relocate)?,
                sku,
                qty: f.req_i64("qty").map_err(relocate)?,
                lot: f.opt_str("lot").map_err(relocate)?.map(str::to_owned),
            })
        })
        .collect()
}

/// Validates a release request on its own: shape, master data, the fields each kind needs. The
/// rules against what was dispatched before are `check_against_dispatched`.
pub fn validate_release(
    body: &Value,
    md: &MasterData,
    defaults: ReleaseDefaults,
) -> Result<Release, Rejection> {
    let f = Fields::of(body)?;
    let kind = f.req_enum(
        "kind",
        ReleaseKind::parse,
        "SHIPPER_RELEASED, RECEIVER_EXPECTED, WORKORDER_RELEASED, TRANSFER_OUT_RELEASED, TRANSFER_IN_EXPECTED, VASORDER_RELEASED, REFURBISH_ORDER_RELEASED, CANCELLED",
    )?;
    let correlation_id = f
        .opt_id("correlation_id", CorrelationId::parse)?
        .unwrap_or(defaults.correlation_id);
    let planner_id = f
        .opt_id("planner_id", PlannerId::parse)?
        .unwrap_or(defaults.planner_id);
    let warehouse_id = f.req_id("warehouse_id", WarehouseId::parse)?;
    if !md.warehouses.contains_key(&warehouse_id) {
        return Err(Rejection::unprocessable(
            "/warehouse_id",
            format!("unknown warehouse {warehouse_id}"),
        ));
    }
    let document_ref = match f.raw("document_ref") {
        None => {
            return Err(Rejection::malformed(
                "/document_ref",
                "`document_ref` is required",
            ));
        }
        Some(v) => crate::parse::document_ref("/document_ref", v)?,
    };
    let (released_at, priority) = match f.raw("meta") {
        None => (defaults.now, Priority::Normal),
        Some(meta) => {
            let m = Fields::of(meta)
                .map_err(|_| Rejection::malformed("/meta", "`meta` must be an object"))?;
            let released_at = match m.opt_str("released_at").map_err(|r| Rejection {
                field: "/meta/released_at".into(),
                ..r
            })? {
                None => defaults.now,
                Some(text) => UtcMillis::parse_rfc3339(text).ok_or_else(|| {
                    Rejection::malformed(
                        "/meta/released_at",
                        "`released_at` must be an RFC 3339 timestamp",
                    )
                })?,
            };
            (released_at, parse_priority(m.raw("priority"))?)
        }
    };
    let cancelled_correlation_id = f.opt_id("cancelled_correlation_id", CorrelationId::parse)?;
    let (routing, ops_name) = parse_routing(f.raw("routing"), md, &warehouse_id)?;
    let lines = parse_lines(f.raw("lines"), md)?;
    match (kind, &cancelled_correlation_id) {
        (ReleaseKind::Cancelled, None) => {
            return Err(Rejection::malformed(
                "/cancelled_correlation_id",
                "CANCELLED must reference the original `cancelled_correlation_id`",
            ));
        }
        (ReleaseKind::Cancelled, Some(_)) => {}
        (_, Some(_)) => {
            return Err(Rejection::malformed(
                "/cancelled_correlation_id",
                "only CANCELLED carries `cancelled_correlation_id`",
            ));
        }
        (_, None) if routing.operations.is_empty() => {
            return Err(Rejection::malformed(
                "/routing/ops",
                "a release carries its routing inline: at least one operation in `routing.ops`",
            ));
        }
        (_, None) => {}
    }
    let mut envelope = body.as_object().cloned().unwrap_or_default();
    envelope.insert("correlation_id".into(), correlation_id.as_str().into());
    envelope.insert("planner_id".into(), planner_id.as_str().into());
    // The envelope is constant across kinds: a CANCELLED sent without routing gets an empty one.
    let sent_routing = envelope.entry("routing").or_insert(Value::Null);
    if sent_routing.is_null() {
        *sent_routing = serde_json::json!({"ops": []});
    }
    if let Value::Object(sent_routing) = sent_routing
        && let Some(list) = sent_routing.remove(ops_name)
    {
        sent_routing.insert("ops".into(), list);
    }
    // A null `meta` (validated as absent) becomes the object the hub fills.
    let meta = envelope.entry("meta").or_insert(Value::Null);
    if meta.is_null() {
        *meta = Value::Object(Default::default());
    }
    if let Value::Object(meta) = meta {
        if meta.get("released_at").is_none_or(Value::is_null) {
            meta.insert("released_at".into(), released_at.to_rfc3339().into());
        }
        meta.insert("priority".into(), priority.as_str().into());
    }
    Ok(Release {
        kind,
        correlation_id,
        planner_id,
        warehouse_id,
        document_ref,
        routing,
        lines,
        released_at,
        priority,
        cancelled_correlation_id,
        envelope,
    })
}

impl Release {
    /// The envelope of a release recorded before the hub kept the one it was sent: rebuilt from
    /// the typed fields (unknown fields of operations come back from `attributes`).
    pub fn derived_envelope(&self) -> Envelope {
        let mut envelope = Envelope::new();
        envelope.insert("kind".into(), self.kind.as_str().into());
        envelope.insert("correlation_id".into(), self.correlation_id.as_str().into());
        envelope.insert("planner_id".into(), self.planner_id.as_str().into());
        envelope.insert("warehouse_id".into(), self.warehouse_id.as_str().into());
        let d = &self.document_ref;
        let mut document_ref = serde_json::json!({"type": d.doc_type.as_str(), "id": d.id});
        if let Some(line) = d.line_no {
            document_ref["line_no"] = line.into();
        }
        envelope.insert("document_ref".into(), document_ref);
        if let Some(cancelled) = &self.cancelled_correlation_id {
            envelope.insert("cancelled_correlation_id".into(), cancelled.as_str().into());
        }
        let mut routing = serde_json::Map::new();
        let ops = self
            .routing
            .operations
            .iter()
            .map(Operation::to_json)
            .collect();
        routing.insert("ops".into(), Value::Array(ops));
        if let Some(seconds) = self.routing.expected_duration_seconds {
            routing.insert("expected_duration_seconds".into(), seconds.into());
        }
        if !self.routing.requirements.is_empty() {
            routing.insert(
                "requirements".into(),
                self.routing.requirements.clone().into(),
            );
        }
        envelope.insert("routing".into(), Value::Object(routing));
        if !self.lines.is_empty() {
            let lines = self.lines.iter().map(|l| {
                let mut line =
                    serde_json::json!({"line_no": l.line_no, "sku": l.sku.as_str(), "qty": l.qty});
                if let Some(lot) = &l.lot {
                    line["lot"] = lot.as_str().into();
                }
                line
            });
            envelope.insert("lines".into(), lines.collect());
        }
        envelope.insert(
            "meta".into(),
            serde_json::json!({"released_at": self.released_at.to_rfc3339(), "priority": self.priority.as_str()}),
        );
        envelope
    }
}

impl Operation {
    /// The operation as the contract writes it: the fields it has, then its other fields.
    fn to_json(&self) -> Value {
        let mut op = serde_json::Map::new();
        op.insert("op_id".into(), self.op_id.as_str().into());
        op.insert("kind".into(), self.kind.as_str().into());
        let mut text = |name: &str, value: Option<&str>| {
            if let Some(v) = value {
                op.insert(name.into(), v.into());
            }
        };
        text("sku", self.sku.as_ref().map(SkuCode::as_str));
        text("uom", self.uom.as_deref());
        text(
            "from_location",
            self.from_location.as_ref().map(LocationCode::as_str),
        );
        text(
            "to_location",
            self.to_location.as_ref().map(LocationCode::as_str),
        );
        text("carton", self.carton.as_deref());
        text("dock", self.dock.as_deref());
        for (name, value) in [
            ("qty", self.qty),
            ("expected_duration_seconds", self.expected_duration_seconds),
        ] {
            if let Some(v) = value {
                op.insert(name.into(), v.into());
            }
        }
        if let Some(cost) = self.expected_cost {
            op.insert("expected_cost".into(), cost.to_f64().into());
        }
        if !self.bom_deltas.is_empty() {
            let deltas = self
                .bom_deltas
                .iter()
                .map(|d| serde_json::json!({"sku": d.sku.as_str(), "qty": d.qty}));
            op.insert("bom_deltas".into(), deltas.collect());
        }
        for (name, list) in [("skills", &self.skills), ("resources", &self.resources)] {
            if !list.is_empty() {
                op.insert(name.into(), list.clone().into());
            }
        }
        for (name, json_text) in &self.attributes {
            let value =
                serde_json::from_str(json_text).unwrap_or_else(|_| json_text.as_str().into());
            op.insert(name.clone(), value);
        }
        Value::Object(op)
    }
}

/// The document a release is for: a warehouse and a document (line). It has at most one live
/// release at a time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentKey {
    pub warehouse_id: WarehouseId,
    pub document: DocumentRef,
}

impl fmt::Display for DocumentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.document;
        write!(f, "{} {} {}", self.warehouse_id, d.doc_type, d.id)?;
        match d.line_no {
            Some(line) => write!(f, " line {line}"),
            None => Ok(()),
        }
    }
}

impl Release {
    pub fn document(&self) -> DocumentKey {
        DocumentKey {
            warehouse_id: self.warehouse_id.clone(),
            document: self.document_ref.clone(),
        }
    }
}

/// A release or cancellation as the dispatch log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched {
    pub kind: ReleaseKind,
    pub document: DocumentKey,
    /// The CANCELLED that cancelled it.
    pub cancelled_by: Option<CorrelationId>,
}

/// What the release rules know of the dispatch log for one request: what the log held when the
/// request began (read for the documents and releases the request names), then each release of
/// the request in order as it passes (an amend cancels, then releases the same document).
#[derive(Debug, Clone, Default)]
pub struct DispatchSnapshot {
    dispatched: HashMap<(PlannerId, CorrelationId), Dispatched>,
    live: HashMap<DocumentKey, (PlannerId, CorrelationId)>,
}

impl DispatchSnapshot {
    /// The log holds `dispatched` under `(planner, correlation_id)`.
    pub fn knows(
        &mut self,
        planner: PlannerId,
        correlation_id: CorrelationId,
        dispatched: Dispatched,
    ) {
        self.dispatched
            .insert((planner, correlation_id), dispatched);
    }

    /// `document`'s live release in the log.
    pub fn knows_live(
        &mut self,
        document: DocumentKey,
        planner: PlannerId,
        correlation_id: CorrelationId,
    ) {
        self.live.insert(document, (planner, correlation_id));
    }

    /// A release of the request passed the rules: later items see it.
    pub fn record(&mut self, release: &Release) {
        let document = release.document();
        let planner = &release.planner_id;
        if let Some(original) = &release.cancelled_correlation_id {
            let key = (planner.clone(), original.clone());
            if let Some(cancelled) = self.dispatched.get_mut(&key) {
                cancelled.cancelled_by = Some(release.correlation_id.clone());
            }
            if self.live.get(&document) == Some(&key) {
                self.live.remove(&document);
            }
        } else {
            self.live.insert(
                document.clone(),
                (planner.clone(), release.correlation_id.clone()),
            );
        }
        self.dispatched
            .entry((planner.clone(), release.correlation_id.clone()))
            .or_insert(Dispatched {
                kind: release.kind,
                document,
                cancelled_by: None,
            });
    }
}

/// The rules of a release against what was dispatched before (contract §2: amend = CANCELLED,
/// then a fresh release):
/// - a document with a live release is not released again (409) until that release is cancelled;
/// - a CANCELLED names a release (not a cancellation) of its planner (422), of the same warehouse
///   and document (422), not cancelled by another CANCELLED already (409).
///
/// The same release or CANCELLED again (a replay) passes: it is what the log holds.
pub fn check_against_dispatched(
    release: &Release,
    log: &DispatchSnapshot,
) -> Result<(), Rejection> {
    let document = release.document();
    let Some(original) = &release.cancelled_correlation_id else {
        return match log.live.get(&document) {
            Some((planner, live))
                if (planner, live) != (&release.planner_id, &release.correlation_id) =>
            {
                Err(Rejection::conflict(
                    "/document_ref",
                    format!(
                        "{document} has a live release {live} (planner {planner}); cancel it first, or amend it with POST /planner/v1/releases/{live}/amend"
                    ),
                ))
            }
            _ => Ok(()),
        };
    };
    let field = "/cancelled_correlation_id";
    let planner = &release.planner_id;
    let Some(cancelled) = log.dispatched.get(&(planner.clone(), original.clone())) else {
        return Err(Rejection::unprocessable(
            field,
            format!("no release {original} of planner {planner} to cancel"),
        ));
    };
    if cancelled.kind == ReleaseKind::Cancelled {
        return Err(Rejection::unprocessable(
            field,
            format!("{original} is a cancellation, not a release"),
        ));
    }
    if cancelled.document != document {
        return Err(Rejection::unprocessable(
            field,
            format!(
                "release {original} is for {}, not {document}: a CANCELLED names the warehouse and document of the release it cancels",
                cancelled.document
            ),
        ));
    }
    match &cancelled.cancelled_by {
        Some(by) if *by != release.correlation_id => Err(Rejection::conflict(
            field,
            format!("release {original} was cancelled already, by {by}"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::movement::DocumentType;
    use crate::rejection::RejectionKind;

    fn release(cid: &str, doc: &str, cancels: Option<&str>) -> Release {
        Release {
            kind: if cancels.is_some() {
                ReleaseKind::Cancelled
            } else {
                ReleaseKind::ShipperReleased
            },
            correlation_id: CorrelationId::parse(cid).unwrap(),
            planner_id: PlannerId::parse("fgai-wms").unwrap(),
            warehouse_id: WarehouseId::parse("WH-Tokyo-01").unwrap(),
            document_ref: DocumentRef {
                doc_type: DocumentType::Shipper,
                id: doc.into(),
                line_no: None,
            },
            routing: Routing::default(),
            lines: vec![],
            released_at: UtcMillis(0),
            priority: Priority::Normal,
            cancelled_correlation_id: cancels.map(|c| CorrelationId::parse(c).unwrap()),
            envelope: Envelope::new(),
        }
    }

    fn md() -> MasterData {
        use crate::masterdata::{Location, Sku, Tracking, Warehouse};
        MasterData::new(
            vec![Warehouse {
                warehouse_id: WarehouseId::parse("WH-1").unwrap(),
                name: "x".into(),
            }],
            vec![Sku {
                sku: SkuCode::parse("S").unwrap(),
                base_uom: "EA".into(),
                tracking: Tracking::None,
                description: String::new(),
            }],
            vec![Location {
                warehouse_id: WarehouseId::parse("WH-1").unwrap(),
                location: LocationCode::parse("A").unwrap(),
            }],
            vec![],
        )
    }

    fn validate(body: &Value) -> Result<Release, Rejection> {
        let defaults = ReleaseDefaults {
            planner_id: PlannerId::parse("P").unwrap(),
            correlation_id: CorrelationId::parse("c").unwrap(),
            now: UtcMillis(1_780_000_000_000),
        };
        validate_release(body, &md(), defaults)
    }

    #[test]
    fn the_envelope_is_the_body_as_sent_with_what_the_hub_fills_in() {
        let sent = serde_json::json!({"kind": "SHIPPER_RELEASED", "warehouse_id": "WH-1", "customer": {"ref": 7},
            "document_ref": {"type": "SHIPPER", "id": "SH-1"},
            "routing": {"operations": [{"op_id": "op-1", "kind": "PICK", "sku": "S", "qty": 12, "from_location": "A", "tote": "T-1"}], "zone": "Z"},
            "meta": {"released_at": null, "priority": 1, "wave": "W-7"}});
        let release = validate(&sent).unwrap();
        assert_eq!(release.priority, Priority::High, "a number is still read");
        let envelope = Value::Object(release.envelope.clone());
        let expected = serde_json::json!({"kind": "SHIPPER_RELEASED", "warehouse_id": "WH-1", "customer": {"ref": 7},
            "correlation_id": "c", "planner_id": "P",
            "document_ref": {"type": "SHIPPER", "id": "SH-1"},
            "routing": {"ops": [{"op_id": "op-1", "kind": "PICK", "sku": "S", "qty": 12, "from_location": "A", "tote": "T-1"}], "zone": "Z"},
            "meta": {"released_at": UtcMillis(1_780_000_000_000).to_rfc3339(), "priority": "HIGH", "wave": "W-7"}});
        assert_eq!(envelope, expected);
        // Without meta at all, and with meta null, the hub's meta is there too.
        for meta in [None, Some(Value::Null)] {
            let mut body = sent.clone();
            match meta {
                None => body.as_object_mut().unwrap().remove("meta"),
                Some(null) => body.as_object_mut().unwrap().insert("meta".into(), null),
            };
            let release = validate(&body).unwrap();
            assert_eq!(release.envelope["meta"]["priority"], "NORMAL");
            assert!(release.envelope["meta"]["released_at"].is_string());
        }
        for bad in [
            serde_json::json!("SOON"),
            serde_json::json!(1.5),
            serde_json::json!([]),
        ] {
            let mut body = sent.clone();
            body["meta"]["priority"] = bad;
            assert_eq!(validate(&body).unwrap_err().field, "/meta/priority");
        }
        // Records of before have none: it is rebuilt from the typed fields.
        let derived = Value::Object(release.derived_envelope());
        assert_eq!(derived["routing"]["ops"], expected["routing"]["ops"]);
        assert_eq!(derived["meta"]["priority"], "HIGH");
    }

    #[test]
    fn routing_takes_the_contracts_ops_or_operations_but_not_both() {
        let with_routing = |routing: Value| {
            let body = serde_json::json!({"kind": "SHIPPER_RELEASED", "warehouse_id": "WH-1",
                "document_ref": {"type": "SHIPPER", "id": "SH-1"}, "routing": routing});
            validate(&body)
        };
        let op = serde_json::json!([{"op_id": "op-1", "kind": "PICK", "sku": "S", "qty": 1, "from_location": "A"}]);
        let by_ops = with_routing(serde_json::json!({"ops": op})).unwrap();
        let by_operations = with_routing(serde_json::json!({"operations": op})).unwrap();
        assert_eq!(by_ops, by_operations);
        assert_eq!(by_ops.routing.operations.len(), 1);
        let both = with_routing(serde_json::json!({"ops": op, "operations": op})).unwrap_err();
        assert_eq!(both.field, "/routing");
        let unknown_sku = serde_json::json!([{"op_id": "op-1", "kind": "PICK", "sku": "NOPE"}]);
        assert_eq!(
            with_routing(serde_json::json!({"ops": unknown_sku}))
                .unwrap_err()
                .field,
            "/routing/ops/0/sku",
            "problems point at the list as sent"
        );
        assert_eq!(
            with_routing(serde_json::json!({"ops": []}))
                .unwrap_err()
                .field,
            "/routing/ops"
        );
    }

    /// Checks `r` and, when it passes, records it (as a request does item by item).
    fn submit(log: &mut DispatchSnapshot, r: &Release) -> Result<(), RejectionKind> {
        check_against_dispatched(r, log).map_err(|e| e.kind)?;
        log.record(r);
        Ok(())
    }

    #[test]
    fn a_document_has_one_live_release_until_it_is_cancelled() {
        let mut log = DispatchSnapshot::default();
        assert_eq!(submit(&mut log, &release("r1", "SH-1", None)), Ok(()));
        assert_eq!(
            submit(&mut log, &release("r1", "SH-1", None)),
            Ok(()),
            "a replay"
        );
        assert_eq!(
            submit(&mut log, &release("r2", "SH-1", None)),
            Err(RejectionKind::Conflict)
        );
        assert_eq!(submit(&mut log, &release("r3", "SH-2", None)), Ok(()));
        // Amend: CANCELLED, then a fresh release of the same document.
        assert_eq!(submit(&mut log, &release("c1", "SH-1", Some("r1"))), Ok(()));
        assert_eq!(submit(&mut log, &release("r2", "SH-1", None)), Ok(()));
    }

    #[test]
    fn a_cancellation_names_a_live_release_of_its_own_document() {
        let mut log = DispatchSnapshot::default();
        submit(&mut log, &release("r1", "SH-1", None)).unwrap();
        submit(&mut log, &release("r2", "SH-2", None)).unwrap();
        let unprocessable = Err(RejectionKind::Unprocessable);
        assert_eq!(
            submit(&mut log, &release("c0", "SH-1", Some("nope"))),
            unprocessable
        );
        assert_eq!(
            submit(&mut log, &release("c1", "SH-2", Some("r1"))),
            unprocessable,
            "another document"
        );
        let mut elsewhere = release("c1", "SH-1", Some("r1"));
        elsewhere.warehouse_id = WarehouseId::parse("WH-Osaka-02").unwrap();
        assert_eq!(
            submit(&mut log, &elsewhere),
            unprocessable,
            "another warehouse"
        );
        assert_eq!(submit(&mut log, &release("c1", "SH-1", Some("r1"))), Ok(()));
        assert_eq!(
            submit(&mut log, &release("c1", "SH-1", Some("r1"))),
            Ok(()),
            "the same CANCELLED again (a replay)"
        );
        assert_eq!(
            submit(&mut log, &release("c2", "SH-1", Some("r1"))),
            Err(RejectionKind::Conflict),
            "a second CANCELLED of one release"
        );
        assert_eq!(
            submit(&mut log, &release("c3", "SH-1", Some("c1"))),
            unprocessable,
            "a cancellation is not cancelled"
        );
    }

    #[test]
    fn what_the_log_held_before_counts_like_what_the_request_did() {
        let mut log = DispatchSnapshot::default();
        let r1 = release("r1", "SH-1", None);
        log.knows(
            r1.planner_id.clone(),
            r1.correlation_id.clone(),
            Dispatched {
                kind: r1.kind,
                document: r1.document(),
                cancelled_by: None,
            },
        );
        log.knows_live(
            r1.document(),
            r1.planner_id.clone(),
            r1.correlation_id.clone(),
        );
        assert_eq!(
            submit(&mut log, &release("r2", "SH-1", None)),
            Err(RejectionKind::Conflict)
        );
        assert_eq!(submit(&mut log, &release("c1", "SH-1", Some("r1"))), Ok(()));
    }
}
