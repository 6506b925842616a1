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
use std::collections::BTreeMap;

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
    pub priority: i32,
    pub cancelled_correlation_id: Option<CorrelationId>,
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

fn parse_operation(
    index: usize,
    value: &Value,
    md: &MasterData,
    warehouse: &WarehouseId,
) -> Result<Operation, Rejection> {
    let at = |name: &str| format!("/routing/operations/{index}/{name}");
    let f = Fields::of(value)
        .map_err(|_| Rejection::malformed(&at(""), "an operation must be an object"))?;
    let relocate = |r: Rejection| Rejection {
        field: format!("/routing/operations/{index}{}", r.field),
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

fn parse_routing(
    value: Option<&Value>,
    md: &MasterData,
    warehouse: &WarehouseId,
) -> Result<Routing, Rejection> {
    let Some(value) = value else {
        return Ok(Routing::default());
    };
    let f = Fields::of(value)
        .map_err(|_| Rejection::malformed("/routing", "`routing` must be an object"))?;
    let operations = match f.raw("operations") {
        None => vec![],
        Some(Value::Array(ops)) => ops
            .iter()
            .enumerate()
            .map(|(i, op)| parse_operation(i, op, md, warehouse))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(Rejection::malformed(
                "/routing/operations",
                "expected an array",
            ));
        }
    };
    Ok(Routing {
        operations,
        expected_duration_seconds: f.opt_i64("expected_duration_seconds")?,
        requirements: string_list(f.raw("requirements"), "/routing/requirements")?,
    })
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

/// Validates a release request. `cancelled_exists` answers whether a correlation id names a release
/// this planner already dispatched (CANCELLED must reference one).
pub fn validate_release(
    body: &Value,
    md: &MasterData,
    defaults: ReleaseDefaults,
    cancelled_exists: impl Fn(&PlannerId, &CorrelationId) -> bool,
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
        None => (defaults.now, 0),
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
            let priority = m
                .opt_i64("priority")
                .map_err(|r| Rejection {
                    field: "/meta/priority".into(),
                    ..r
                })?
                .unwrap_or(0);
            let priority = i32::try_from(priority).map_err(|_| {
                Rejection::malformed("/meta/priority", "`priority` is out of range")
            })?;
            (released_at, priority)
        }
    };
    let cancelled_correlation_id = f.opt_id("cancelled_correlation_id", CorrelationId::parse)?;
    let routing = parse_routing(f.raw("routing"), md, &warehouse_id)?;
    let lines = parse_lines(f.raw("lines"), md)?;
    match (kind, &cancelled_correlation_id) {
        (ReleaseKind::Cancelled, None) => {
            return Err(Rejection::malformed(
                "/cancelled_correlation_id",
                "CANCELLED must reference the original `cancelled_correlation_id`",
            ));
        }
        (ReleaseKind::Cancelled, Some(original)) if !cancelled_exists(&planner_id, original) => {
            return Err(Rejection::unprocessable(
                "/cancelled_correlation_id",
                format!("no release {original} of planner {planner_id} to cancel"),
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
                "/routing/operations",
                "a release carries its routing inline: at least one operation",
            ));
        }
        (_, None) => {}
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
    })
}
