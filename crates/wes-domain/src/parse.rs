//! Reading partner JSON into typed commands, field by field, with a precise rejection naming the
//! field (`/totals/1/sku`): only shape here (types, required fields, known words, identifiers).
//! Every rule that needs master data or relates one field to another lives with its command
//! (`movement::check_movement`, `reconcile::check_count`, …), on the typed values read here.

use crate::capacity::CapacitySnapshot;
use crate::exception::{ExceptionCode, ExceptionReport, MAX_MESSAGE_CHARS};
use crate::fields::Fields;
use crate::ids::*;
use crate::movement::{Actor, ActorKind, DocumentRef, DocumentType, Movement, MovementKind};
use crate::reconcile::{CountCommand, CountLine, CountScope, ShiftSummaryCommand};
use crate::rejection::Rejection;
use crate::work_status::{TaskStatus, WorkStatus};
use crate::{UtcMillis, exception::Severity};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A `document_ref` object (`{type, id, line_no?}`). Anything wrong inside it is
/// business-invalid (422), as the contract says for a malformed `document_ref`.
pub fn document_ref(field: &str, value: &Value) -> Result<DocumentRef, Rejection> {
    let bad = |detail: String| {
        Rejection::unprocessable(field, format!("malformed document_ref: {detail}"))
    };
    let object = value
        .as_object()
        .ok_or_else(|| bad("expected an object".into()))?;
    let doc_type = match object.get("type") {
        Some(Value::String(t)) => {
            DocumentType::parse(t).ok_or_else(|| bad(format!("unknown type {t:?}")))?
        }
        _ => return Err(bad("`type` is required".into())),
    };
    let id = match object.get("id") {
        Some(Value::String(id)) if is_valid_id(id) => id.clone(),
        _ => return Err(bad("`id` must be a non-empty identifier".into())),
    };
    let line_no = match object.get("line_no") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(line) if line >= 1 => Some(line),
            _ => return Err(bad("`line_no` must be a whole number >= 1".into())),
        },
        Some(_) => return Err(bad("`line_no` must be a number".into())),
    };
    Ok(DocumentRef {
        doc_type,
        id,
        line_no,
    })
}

/// A free identifier (lot, serial, task, device, worker, robot).
fn text_id(s: &str) -> Option<String> {
    is_valid_id(s).then(|| s.to_owned())
}

/// A realtime movement. Unknown fields are ignored (minor versions only add optional fields).
/// Fields are read in the order written here; the first that fails is the one reported.
pub fn movement(item: &Value) -> Result<Movement, Rejection> {
    let f = Fields::of(item)?;
    Ok(Movement {
        correlation_id: f.req_id("correlation_id", CorrelationId::parse)?,
        kind: f.req_enum("kind", MovementKind::parse, &MovementKind::words())?,
        warehouse_id: f.req_id("warehouse_id", WarehouseId::parse)?,
        sku: f.req_id("sku", SkuCode::parse)?,
        qty: f.req_i64("qty")?,
        uom: f.req_str("uom")?.to_owned(),
        from_location: f.opt_id("from_location", LocationCode::parse)?,
        to_location: f.opt_id("to_location", LocationCode::parse)?,
        lot: f.opt_id("lot", text_id)?,
        serial: f.opt_id("serial", text_id)?,
        occurred_at: f.req_time("occurred_at")?,
        actor: f.raw("actor").map(actor).transpose()?,
        document_ref: f
            .raw("document_ref")
            .map(|v| document_ref("/document_ref", v))
            .transpose()?,
    })
}

/// A movement's `actor`: `{kind, id}`.
fn actor(value: &Value) -> Result<Actor, Rejection> {
    let a = Fields::of(value)
        .map_err(|_| Rejection::malformed("/actor", "`actor` must be an object"))?;
    let kind = a
        .req_enum("kind", ActorKind::parse, &ActorKind::words())
        .map_err(|r| Rejection::malformed("/actor/kind", r.detail))?;
    let id = a
        .req_str("id")
        .map_err(|r| Rejection::malformed("/actor/id", r.detail))?;
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(Rejection::malformed(
            "/actor/id",
            "`actor.id` must be 1-128 characters",
        ));
    }
    Ok(Actor {
        kind,
        id: id.to_owned(),
    })
}

/// A realtime exception.
pub fn exception(item: &Value) -> Result<ExceptionReport, Rejection> {
    let f = Fields::of(item)?;
    Ok(ExceptionReport {
        correlation_id: f.req_id("correlation_id", CorrelationId::parse)?,
        warehouse_id: f.req_id("warehouse_id", WarehouseId::parse)?,
        code: f.req_enum("code", ExceptionCode::parse, &ExceptionCode::words())?,
        severity: f.req_enum("severity", Severity::parse, &Severity::words())?,
        occurred_at: f.req_time("occurred_at")?,
        document_ref: f
            .raw("document_ref")
            .map(|v| document_ref("/document_ref", v))
            .transpose()?,
        sku: f.opt_id("sku", SkuCode::parse)?,
        location: f.opt_id("location", LocationCode::parse)?,
        qty: f.opt_i64("qty")?,
        device_id: f.opt_id("device_id", text_id)?,
        message: f.opt_text("message", MAX_MESSAGE_CHARS)?,
    })
}

/// A realtime work-status report; its `document_ref` is required.
pub fn work_status(item: &Value) -> Result<WorkStatus, Rejection> {
    let f = Fields::of(item)?;
    Ok(WorkStatus {
        correlation_id: f.req_id("correlation_id", CorrelationId::parse)?,
        warehouse_id: f.req_id("warehouse_id", WarehouseId::parse)?,
        task_id: f.req_id("task_id", text_id)?,
        status: f.req_enum("status", TaskStatus::parse, &TaskStatus::words())?,
        occurred_at: f.req_time("occurred_at")?,
        document_ref: match f.raw("document_ref") {
            None => {
                return Err(Rejection::malformed(
                    "/document_ref",
                    "`document_ref` is required",
                ));
            }
            Some(v) => document_ref("/document_ref", v)?,
        },
        worker_id: f.opt_id("worker_id", text_id)?,
        robot_id: f.opt_id("robot_id", text_id)?,
        reason: f.opt_text("reason", 2000)?,
    })
}

/// A capacity snapshot; absent counts are 0.
pub fn capacity(item: &Value) -> Result<CapacitySnapshot, Rejection> {
    let f = Fields::of(item)?;
    let correlation_id = f.req_id("correlation_id", CorrelationId::parse)?;
    let warehouse_id = f.req_id("warehouse_id", WarehouseId::parse)?;
    let occurred_at = f.req_time("occurred_at")?;
    let conveyor_utilization = match f.raw("conveyor_utilization") {
        None => 0.0,
        Some(v) => v.as_f64().ok_or_else(|| {
            Rejection::malformed(
                "/conveyor_utilization",
                "`conveyor_utilization` must be a number",
            )
        })?,
    };
    let mut wip_per_zone = BTreeMap::new();
    match f.raw("wip_per_zone") {
        None => {}
        Some(Value::Object(zones)) => {
            for (zone, units) in zones {
                let field = format!("/wip_per_zone/{zone}");
                if !is_valid_id(zone) {
                    return Err(Rejection::malformed(
                        &field,
                        "zone names are 1-128 printable ASCII characters",
                    ));
                }
                let units = units
                    .as_i64()
                    .ok_or_else(|| Rejection::malformed(&field, "WIP must be a whole number"))?;
                wip_per_zone.insert(zone.clone(), units);
            }
        }
        Some(_) => {
            return Err(Rejection::malformed(
                "/wip_per_zone",
                "`wip_per_zone` must be an object of zone -> count",
            ));
        }
    }
    Ok(CapacitySnapshot {
        correlation_id,
        active_workers: f.opt_i64("active_workers")?.unwrap_or(0),
        idle_robots: f.opt_i64("idle_robots")?.unwrap_or(0),
        warehouse_id,
        occurred_at,
        conveyor_utilization,
        wip_per_zone,
    })
}

/// `window_start` and `window_end`, the end after the start (the window is `[start, end)`).
fn window(f: &Fields) -> Result<(UtcMillis, UtcMillis), Rejection> {
    let start = f.req_time("window_start")?;
    let end = f.req_time("window_end")?;
    if end <= start {
        return Err(Rejection::malformed(
            "/window_end",
            "`window_end` must be after `window_start` (the window is [start, end))",
        ));
    }
    Ok((start, end))
}

/// The array at `name`, required.
fn array<'a>(value: Option<&'a Value>, name: &str) -> Result<&'a Vec<Value>, Rejection> {
    match value {
        Some(Value::Array(lines)) => Ok(lines),
        Some(_) => Err(Rejection::malformed(
            &format!("/{name}"),
            format!("`{name}` must be an array"),
        )),
        None => Err(Rejection::malformed(
            &format!("/{name}"),
            format!("`{name}` is required"),
        )),
    }
}

/// A shift summary: its `totals[]` lines are movements of the window without their identity
/// (they carry the summary's key and warehouse and the window's start), and no serial.
pub fn shift_summary(item: &Value) -> Result<ShiftSummaryCommand, Rejection> {
    let f = Fields::of(item)?;
    let correlation_id = f.req_id("correlation_id", CorrelationId::parse)?;
    let warehouse_id = f.req_id("warehouse_id", WarehouseId::parse)?;
    let (start, end) = window(&f)?;
    let mut lines = vec![];
    for (i, line) in array(f.raw("totals"), "totals")?.iter().enumerate() {
        let at = |r: Rejection| r.within(&format!("/totals/{i}"));
        let Value::Object(fields) = line else {
            return Err(at(Rejection::malformed("", "a line must be an object")));
        };
        if fields.contains_key("serial") {
            return Err(at(Rejection::malformed(
                "/serial",
                "lines sum movements; they carry no serial",
            )));
        }
        let mut as_movement = line.clone();
        as_movement["correlation_id"] = json!(correlation_id.as_str());
        as_movement["warehouse_id"] = json!(warehouse_id.as_str());
        as_movement["occurred_at"] = json!(start.to_rfc3339());
        lines.push(movement(&as_movement).map_err(at)?);
    }
    Ok(ShiftSummaryCommand {
        correlation_id,
        warehouse_id,
        start,
        end,
        lines,
    })
}

/// A cycle count (`snapshot: false`: `counts[]`, as of the window's end) or an inventory
/// snapshot (`snapshot: true`: `scope`, `as_of`, `quantities[]`).
pub fn count(item: &Value, snapshot: bool) -> Result<CountCommand, Rejection> {
    let f = Fields::of(item)?;
    let correlation_id = f.req_id("correlation_id", CorrelationId::parse)?;
    let warehouse_id = f.req_id("warehouse_id", WarehouseId::parse)?;
    let (start, end) = window(&f)?;
    let (scope, as_of, lines_field) = if snapshot {
        let scope = f.req_enum("scope", CountScope::parse, &CountScope::words())?;
        (scope, f.req_time("as_of")?, "quantities")
    } else {
        (CountScope::Partial, end, "counts")
    };
    Ok(CountCommand {
        lines: stock_lines(f.raw(lines_field), lines_field)?,
        correlation_id,
        warehouse_id,
        start,
        end,
        scope,
        as_of,
        lines_field,
    })
}

/// Lines of stock at `field` (`[{sku, location, lot?, serial?, qty, uom?}]`, signed quantities):
/// the lines of a count, or a supervisor's adjustments.
pub fn stock_lines(value: Option<&Value>, field: &str) -> Result<Vec<CountLine>, Rejection> {
    array(value, field)?
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let at = |r: Rejection| r.within(&format!("/{field}/{i}"));
            let l = Fields::of(line).map_err(at)?;
            Ok(CountLine {
                sku: l.req_id("sku", SkuCode::parse).map_err(at)?,
                location: l.req_id("location", LocationCode::parse).map_err(at)?,
                lot: l.opt_id("lot", text_id).map_err(at)?,
                serial: l.opt_id("serial", text_id).map_err(at)?,
                qty: l.req_i64("qty").map_err(at)?,
                uom: l.opt_str("uom").map_err(at)?.map(str::to_owned),
            })
        })
        .collect()
}
