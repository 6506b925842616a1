//! Exceptions (contract §3): what went wrong on the floor, reported by an executor. Each one is its
//! own event, opens a supervisor-queue entry and raises a notification with its severity.

use crate::UtcMillis;
use crate::ids::*;
use crate::masterdata::MasterData;
use crate::movement::DocumentRef;
use crate::rejection::Rejection;
use crate::words::word_enum;
use serde::{Deserialize, Serialize};

word_enum!(
    /// What kind of exception the executor reports.
    ExceptionCode {
        ShortPick = "SHORT_PICK",
        DamagedProduct = "DAMAGED_PRODUCT",
        WrongSku = "WRONG_SKU",
        RobotStuck = "ROBOT_STUCK",
        WorkerUnavailable = "WORKER_UNAVAILABLE",
        DeviceFault = "DEVICE_FAULT",
        SubsystemOffline = "SUBSYSTEM_OFFLINE",
        Other = "OTHER",
    }

    /// How urgently a person must look at it; ordered from least to most urgent.
    Severity {
        Low = "LOW",
        Medium = "MEDIUM",
        High = "HIGH",
        Urgent = "URGENT",
    }
);

/// Longest free-text `message` accepted on an exception.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// A validated exception record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionReport {
    pub correlation_id: CorrelationId,
    pub warehouse_id: WarehouseId,
    pub code: ExceptionCode,
    pub severity: Severity,
    pub occurred_at: UtcMillis,
    pub document_ref: Option<DocumentRef>,
    pub sku: Option<SkuCode>,
    pub location: Option<LocationCode>,
    pub qty: Option<i64>,
    pub device_id: Option<String>,
    pub message: Option<String>,
}

/// The rules an exception obeys: a known warehouse, and a known SKU and location and a
/// quantity of zero or more when it names them.
pub fn check_exception(e: &ExceptionReport, md: &MasterData) -> Result<(), Rejection> {
    let ExceptionReport {
        warehouse_id,
        sku,
        location,
        qty,
        ..
    } = e;
    if !md.warehouses.contains_key(warehouse_id) {
        return Err(Rejection::unprocessable(
            "/warehouse_id",
            format!("unknown warehouse {warehouse_id}"),
        ));
    }
    if let Some(sku) = sku
        && !md.skus.contains_key(sku)
    {
        return Err(Rejection::unprocessable(
            "/sku",
            format!("unknown SKU {sku}"),
        ));
    }
    if let Some(location) = location {
        md.require_location("/location", warehouse_id, location)?;
    }
    if let Some(qty) = *qty
        && qty < 0
    {
        return Err(Rejection::unprocessable(
            "/qty",
            format!("`qty` must be zero or more, got {qty}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading, then the rules: what the realtime endpoint does with an item.
    fn validate_exception(
        item: &serde_json::Value,
        md: &MasterData,
    ) -> Result<ExceptionReport, Rejection> {
        let report = crate::parse::exception(item)?;
        check_exception(&report, md)?;
        Ok(report)
    }
    use crate::RejectionKind;
    use crate::masterdata::{Location, Sku, Tracking, Warehouse};
    use serde_json::{Value, json};

    fn md() -> MasterData {
        let wh = WarehouseId::parse("WH-1").unwrap();
        MasterData::new(
            vec![Warehouse {
                warehouse_id: wh.clone(),
                name: "one".into(),
            }],
            vec![Sku {
                sku: SkuCode::parse("SKU-1").unwrap(),
                base_uom: "EA".into(),
                tracking: Tracking::None,
                description: String::new(),
            }],
            vec![Location {
                warehouse_id: wh,
                location: LocationCode::parse("A.1").unwrap(),
            }],
            vec![],
        )
    }

    fn short_pick() -> Value {
        json!({"correlation_id": "cid-1", "warehouse_id": "WH-1", "code": "SHORT_PICK", "severity": "HIGH",
               "occurred_at": "2026-03-14T09:15:00Z", "sku": "SKU-1", "location": "A.1", "qty": 3,
               "document_ref": {"type": "SHIPPER", "id": "SH-1", "line_no": 1}, "message": "bin empty"})
    }

    fn kind_of(item: Value) -> RejectionKind {
        validate_exception(&item, &md()).unwrap_err().kind
    }

    #[test]
    fn given_a_short_pick_when_validated_then_every_field_is_kept() {
        let e = validate_exception(&short_pick(), &md()).unwrap();
        assert_eq!(e.code, ExceptionCode::ShortPick);
        assert_eq!(e.severity, Severity::High);
        assert_eq!(e.qty, Some(3));
        assert_eq!(e.document_ref.unwrap().id, "SH-1");
        assert_eq!(e.message.as_deref(), Some("bin empty"));
    }

    #[test]
    fn structural_errors_are_malformed_and_unknown_references_unprocessable() {
        let with = |k: &str, v: Value| {
            let mut item = short_pick();
            item[k] = v;
            item
        };
        assert_eq!(
            kind_of(with("code", json!("FIRE"))),
            RejectionKind::Malformed
        );
        assert_eq!(
            kind_of(with("severity", json!("low"))),
            RejectionKind::Malformed
        );
        assert_eq!(
            kind_of(with("occurred_at", json!("yesterday"))),
            RejectionKind::Malformed
        );
        assert_eq!(
            kind_of(with("message", json!("x".repeat(2001)))),
            RejectionKind::Malformed
        );
        assert_eq!(
            kind_of(with("sku", json!("SKU-404"))),
            RejectionKind::Unprocessable
        );
        assert_eq!(
            kind_of(with("location", json!("Z.9"))),
            RejectionKind::Unprocessable
        );
        assert_eq!(
            kind_of(with("warehouse_id", json!("WH-9"))),
            RejectionKind::Unprocessable
        );
        assert_eq!(
            kind_of(with("qty", json!(-1))),
            RejectionKind::Unprocessable
        );
        assert_eq!(
            kind_of(with("document_ref", json!({"type": "NOPE", "id": "x"}))),
            RejectionKind::Unprocessable
        );
    }

    #[test]
    fn only_the_identity_code_severity_and_time_are_required() {
        let minimal = json!({"correlation_id": "c", "warehouse_id": "WH-1", "code": "ROBOT_STUCK",
                             "severity": "URGENT", "occurred_at": "2026-03-14T09:15:00.123Z"});
        let e = validate_exception(&minimal, &md()).unwrap();
        assert_eq!(
            (e.sku, e.location, e.qty, e.document_ref),
            (None, None, None, None)
        );
        assert!(Severity::Urgent > Severity::High && Severity::Low < Severity::Medium);
    }
}
