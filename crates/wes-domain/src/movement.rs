//! Realtime movements (contract §3): validation of one record and its effect on the ledger.

use crate::UtcMillis;
use crate::ids::*;
use crate::masterdata::{MasterData, Tracking};
use crate::rejection::Rejection;
use crate::words::word_enum;
use serde::{Deserialize, Serialize};

word_enum!(
    MovementKind {
        Pick = "PICK",
        Put = "PUT",
        Move = "MOVE",
        Adjust = "ADJUST",
        Consume = "CONSUME",
        Produce = "PRODUCE",
        Receive = "RECEIVE",
        Ship = "SHIP",
    }

    DocumentType {
        Pr = "PR",
        Po = "PO",
        So = "SO",
        Receiver = "RECEIVER",
        Shipper = "SHIPPER",
        Workorder = "WORKORDER",
        TransferOrder = "TRANSFER_ORDER",
        Vasorder = "VASORDER",
        RefurbishOrder = "REFURBISH_ORDER",
        CycleCount = "CYCLE_COUNT",
        Other = "OTHER",
    }

    ActorKind {
        Human = "HUMAN",
        Robot = "ROBOT",
        Device = "DEVICE",
        System = "SYSTEM",
    }
);

impl MovementKind {
    fn requires_from(self) -> bool {
        matches!(
            self,
            MovementKind::Pick | MovementKind::Move | MovementKind::Consume | MovementKind::Ship
        )
    }

    fn requires_to(self) -> bool {
        matches!(
            self,
            MovementKind::Put | MovementKind::Move | MovementKind::Produce | MovementKind::Receive
        )
    }
}

/// `{type, id, line_no?}`: the planner document a movement or release belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DocumentRef {
    pub doc_type: DocumentType,
    pub id: String,
    pub line_no: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
}

/// A validated movement, ready to become a `MovementRecorded` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    pub correlation_id: CorrelationId,
    pub kind: MovementKind,
    pub warehouse_id: WarehouseId,
    pub sku: SkuCode,
    /// Signed quantity in the SKU's base unit; negative only for ADJUST.
    pub qty: i64,
    pub uom: String,
    pub from_location: Option<LocationCode>,
    pub to_location: Option<LocationCode>,
    pub lot: Option<String>,
    pub serial: Option<String>,
    pub document_ref: Option<DocumentRef>,
    pub occurred_at: UtcMillis,
    pub actor: Option<Actor>,
}

/// The rules a movement obeys: the locations its kind needs, a known warehouse, SKU and
/// locations, the SKU's base unit, the quantity's sign, and lot or serial exactly as the SKU is
/// tracked. The partner is already known to be allowed in the movement's warehouse.
pub fn check_movement(m: &Movement, md: &MasterData) -> Result<(), Rejection> {
    let (kind, qty, warehouse_id, sku) = (m.kind, m.qty, &m.warehouse_id, &m.sku);
    let (from_location, to_location, lot, serial) =
        (&m.from_location, &m.to_location, &m.lot, &m.serial);
    if kind.requires_from() && from_location.is_none() {
        return Err(Rejection::malformed(
            "/from_location",
            format!("`from_location` is required for {}", kind.as_str()),
        ));
    }
    if kind.requires_to() && to_location.is_none() {
        return Err(Rejection::malformed(
            "/to_location",
            format!("`to_location` is required for {}", kind.as_str()),
        ));
    }
    if kind == MovementKind::Adjust && from_location.is_none() && to_location.is_none() {
        return Err(Rejection::malformed(
            "/to_location",
            "ADJUST needs the location it adjusts in `to_location`",
        ));
    }

    if !md.warehouses.contains_key(warehouse_id) {
        return Err(Rejection::unprocessable(
            "/warehouse_id",
            format!("unknown warehouse {warehouse_id}"),
        ));
    }
    let sku_master = md
        .skus
        .get(sku)
        .ok_or_else(|| Rejection::unprocessable("/sku", format!("unknown SKU {sku}")))?;
    if m.uom != sku_master.base_uom {
        return Err(Rejection::unprocessable(
            "/uom",
            format!(
                "SKU {sku} is kept in base UoM {}, got {:?} (no conversion is done)",
                sku_master.base_uom, m.uom
            ),
        ));
    }
    match kind {
        MovementKind::Adjust if qty == 0 => {
            return Err(Rejection::unprocessable(
                "/qty",
                "ADJUST `qty` must not be 0",
            ));
        }
        MovementKind::Adjust => {}
        _ if qty <= 0 => {
            return Err(Rejection::unprocessable(
                "/qty",
                format!("`qty` must be > 0 for {}", kind.as_str()),
            ));
        }
        _ => {}
    }
    if let Some(from) = from_location {
        md.require_location("/from_location", warehouse_id, from)?;
    }
    if let Some(to) = to_location {
        md.require_location("/to_location", warehouse_id, to)?;
    }
    match sku_master.tracking {
        Tracking::Lot if lot.is_none() => {
            return Err(Rejection::unprocessable(
                "/lot",
                format!("SKU {sku} is lot-tracked: `lot` is required"),
            ));
        }
        Tracking::Serial if serial.is_none() => {
            return Err(Rejection::unprocessable(
                "/serial",
                format!("SKU {sku} is serial-tracked: `serial` is required"),
            ));
        }
        Tracking::Serial if qty.abs() != 1 => {
            return Err(Rejection::unprocessable(
                "/qty",
                "a serial-tracked movement carries one serial: `qty` must be 1",
            ));
        }
        _ => {}
    }
    if sku_master.tracking != Tracking::Lot && lot.is_some() {
        return Err(Rejection::unprocessable(
            "/lot",
            format!("SKU {sku} is not lot-tracked"),
        ));
    }
    if sku_master.tracking != Tracking::Serial && serial.is_some() {
        return Err(Rejection::unprocessable(
            "/serial",
            format!("SKU {sku} is not serial-tracked"),
        ));
    }

    Ok(())
}

/// One change to one balance row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceDelta {
    pub location: LocationCode,
    pub qty: i64,
}

/// The ledger effect of a movement (contract §3): PICK moves stock out of `from_location` (into
/// `to_location` when given); PUT, PRODUCE and RECEIVE add at `to_location`; MOVE moves; CONSUME and
/// SHIP remove from `from_location`; ADJUST adds the signed quantity at its one location.
pub fn ledger_deltas(
    kind: MovementKind,
    qty: i64,
    from: Option<&LocationCode>,
    to: Option<&LocationCode>,
) -> Vec<BalanceDelta> {
    let out = |l: Option<&LocationCode>| {
        l.map(|l| BalanceDelta {
            location: l.clone(),
            qty: -qty,
        })
    };
    let into = |l: Option<&LocationCode>| {
        l.map(|l| BalanceDelta {
            location: l.clone(),
            qty,
        })
    };
    match kind {
        MovementKind::Pick | MovementKind::Move => out(from).into_iter().chain(into(to)).collect(),
        MovementKind::Put | MovementKind::Produce | MovementKind::Receive => {
            into(to).into_iter().collect()
        }
        MovementKind::Consume | MovementKind::Ship => out(from).into_iter().collect(),
        MovementKind::Adjust => into(to.or(from)).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading, then the rules: what the realtime endpoint does with an item.
    fn validate_movement(
        item: &Value,
        md: &MasterData,
        _: &Partner,
    ) -> Result<Movement, Rejection> {
        let movement = crate::parse::movement(item)?;
        check_movement(&movement, md)?;
        Ok(movement)
    }
    use crate::RejectionKind;
    use crate::masterdata::*;
    use serde_json::{Value, json};

    fn md() -> (MasterData, Partner) {
        let wh = WarehouseId::parse("WH-1").unwrap();
        let partner = Partner {
            partner_id: PartnerId::parse("WH-1/Acme").unwrap(),
            role: PartnerRole::Executor,
            allowed_warehouses: [wh.clone()].into(),
            api_key_sha256: Default::default(),
            api_key_expires_at: Default::default(),
            cert_sha256: Default::default(),
            bearer_allowed: true,
        };
        let sku = |code: &str, uom: &str, tracking| Sku {
            sku: SkuCode::parse(code).unwrap(),
            base_uom: uom.into(),
            tracking,
            description: String::new(),
        };
        let loc = |code: &str| Location {
            warehouse_id: wh.clone(),
            location: LocationCode::parse(code).unwrap(),
        };
        let md = MasterData::new(
            vec![Warehouse {
                warehouse_id: wh.clone(),
                name: "one".into(),
            }],
            vec![
                sku("RED", "EA", Tracking::None),
                sku("LOT", "EA", Tracking::Lot),
                sku("SER", "EA", Tracking::Serial),
            ],
            vec![loc("A"), loc("B")],
            vec![partner.clone()],
        );
        (md, partner)
    }

    fn pick() -> Value {
        json!({"correlation_id": "c1", "kind": "PICK", "warehouse_id": "WH-1", "sku": "RED", "qty": 12,
               "uom": "EA", "from_location": "A", "to_location": "B", "occurred_at": "2026-11-21T06:10:00Z"})
    }

    fn rejection(item: Value) -> Rejection {
        let (md, partner) = md();
        validate_movement(&item, &md, &partner).unwrap_err()
    }

    fn with(field: &str, value: Value) -> Value {
        let mut item = pick();
        item[field] = value;
        item
    }

    #[test]
    fn given_a_valid_pick_when_validated_then_it_is_accepted_with_its_fields() {
        let (md, partner) = md();
        let m = validate_movement(&pick(), &md, &partner).unwrap();
        assert_eq!(m.kind, MovementKind::Pick);
        assert_eq!(m.qty, 12);
        assert_eq!(
            m.occurred_at,
            UtcMillis::parse_rfc3339("2026-11-21T06:10:00.000Z").unwrap()
        );
    }

    #[test]
    fn structural_errors_are_malformed() {
        assert_eq!(
            rejection(with("qty", json!("12"))).kind,
            RejectionKind::Malformed
        );
        assert_eq!(
            rejection(with("qty", json!(1.5))).kind,
            RejectionKind::Malformed
        );
        assert_eq!(
            rejection(with("kind", json!("TELEPORT"))).kind,
            RejectionKind::Malformed
        );
        assert_eq!(
            rejection(with("occurred_at", json!("yesterday"))).kind,
            RejectionKind::Malformed
        );
        assert_eq!(
            rejection(with("from_location", Value::Null)).field,
            "/from_location"
        );
        assert_eq!(rejection(json!([1, 2])).kind, RejectionKind::Malformed);
    }

    #[test]
    fn business_errors_are_unprocessable() {
        for (field, value) in [
            ("sku", json!("NOPE")),
            ("uom", json!("CS")),
            ("from_location", json!("Z.9")),
            ("qty", json!(0)),
            ("qty", json!(-3)),
            ("document_ref", json!({"type": "INVOICE", "id": "1"})),
            ("lot", json!("L1")),
        ] {
            let r = rejection(with(field, value.clone()));
            assert_eq!(
                r.kind,
                RejectionKind::Unprocessable,
                "{field}={value}: {r:?}"
            );
        }
    }

    #[test]
    fn tracked_skus_need_their_lot_or_single_serial() {
        assert_eq!(rejection(with("sku", json!("LOT"))).field, "/lot");
        assert_eq!(rejection(with("sku", json!("SER"))).field, "/serial");
        let mut item = with("sku", json!("SER"));
        item["serial"] = json!("SN-1");
        assert_eq!(rejection(item).field, "/qty");
    }

    #[test]
    fn adjust_may_be_negative_at_its_one_location() {
        let (md, partner) = md();
        let item = json!({"correlation_id": "c2", "kind": "ADJUST", "warehouse_id": "WH-1", "sku": "RED", "qty": -4,
                          "uom": "EA", "to_location": "A", "occurred_at": "2026-11-21T06:10:00.123Z"});
        let m = validate_movement(&item, &md, &partner).unwrap();
        let deltas = ledger_deltas(
            m.kind,
            m.qty,
            m.from_location.as_ref(),
            m.to_location.as_ref(),
        );
        assert_eq!(
            deltas,
            vec![BalanceDelta {
                location: LocationCode::parse("A").unwrap(),
                qty: -4
            }]
        );
    }

    #[test]
    fn each_kind_has_its_ledger_effect() {
        let a = LocationCode::parse("A").unwrap();
        let b = LocationCode::parse("B").unwrap();
        let sum = |kind| -> i64 {
            ledger_deltas(kind, 5, Some(&a), Some(&b))
                .iter()
                .map(|d| d.qty)
                .sum()
        };
        assert_eq!(sum(MovementKind::Pick), 0);
        assert_eq!(sum(MovementKind::Move), 0);
        assert_eq!(sum(MovementKind::Put), 5);
        assert_eq!(sum(MovementKind::Receive), 5);
        assert_eq!(sum(MovementKind::Produce), 5);
        assert_eq!(sum(MovementKind::Ship), -5);
        assert_eq!(sum(MovementKind::Consume), -5);
        assert_eq!(
            ledger_deltas(MovementKind::Pick, 5, Some(&a), None),
            vec![BalanceDelta {
                location: a,
                qty: -5
            }]
        );
    }

    proptest::proptest! {
        #[test]
        fn moves_and_picks_conserve_stock(qty in 1i64..1_000_000) {
            let a = LocationCode::parse("A").unwrap();
            let b = LocationCode::parse("B").unwrap();
            for kind in [MovementKind::Move, MovementKind::Pick] {
                let total: i64 = ledger_deltas(kind, qty, Some(&a), Some(&b)).iter().map(|d| d.qty).sum();
                proptest::prop_assert_eq!(total, 0);
            }
        }

        #[test]
        fn arbitrary_json_never_panics_validation(s in ".{0,64}", n in proptest::num::i64::ANY) {
            let (md, partner) = md();
            let _ = validate_movement(&json!({"correlation_id": s, "qty": n, "kind": s}), &md, &partner);
        }
    }
}
