//! The reconciler's rule (contract §4): compare what the executor confirms for a window with what
//! the realtime stream reported, line by line. Pure: the adapters gather both sides.

use crate::UtcMillis;
use crate::ids::*;
use crate::movement::{Movement, MovementKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A confirmation window of one partner in one warehouse: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WindowKey {
    pub partner_id: PartnerId,
    pub warehouse_id: WarehouseId,
    pub start: UtcMillis,
    pub end: UtcMillis,
}

impl WindowKey {
    pub fn contains(&self, at: UtcMillis) -> bool {
        self.start <= at && at < self.end
    }
}

/// What a shift-summary line and the movements it sums share (our rule): a line is shaped like a
/// movement without its identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LineKey {
    pub sku: SkuCode,
    pub kind: MovementKind,
    pub from_location: Option<LocationCode>,
    pub to_location: Option<LocationCode>,
    pub lot: Option<String>,
}

impl LineKey {
    pub fn of(m: &Movement) -> LineKey {
        LineKey {
            sku: m.sku.clone(),
            kind: m.kind,
            from_location: m.from_location.clone(),
            to_location: m.to_location.clone(),
            lot: m.lot.clone(),
        }
    }
}

/// Quantities per line.
pub type Totals = BTreeMap<LineKey, i64>;

/// Adds the movements of `window` (by `occurred_at`) to realtime totals.
pub fn realtime_totals<'a>(
    window: &WindowKey,
    movements: impl IntoIterator<Item = &'a Movement>,
) -> Totals {
    let mut totals = Totals::new();
    for m in movements {
        if m.warehouse_id == window.warehouse_id && window.contains(m.occurred_at) {
            *totals.entry(LineKey::of(m)).or_default() += m.qty;
        }
    }
    totals
}

/// One compared line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineComparison {
    pub key: LineKey,
    pub confirmed: i64,
    pub realtime: i64,
    /// `confirmed - realtime`.
    pub delta: i64,
    pub matched: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// Every line either side has, in key order.
    pub lines: Vec<LineComparison>,
}

impl Comparison {
    /// RECONCILED when every line matches within the tolerance.
    pub fn reconciled(&self) -> bool {
        self.lines.iter().all(|l| l.matched)
    }

    pub fn discrepancies(&self) -> impl Iterator<Item = &LineComparison> {
        self.lines.iter().filter(|l| !l.matched)
    }
}

/// Compares line by line; a line one side lacks counts as 0 there. `tolerance` is the largest
/// absolute difference per line still treated as a match (default 0).
pub fn compare(confirmed: &Totals, realtime: &Totals, tolerance: i64) -> Comparison {
    let keys: BTreeSet<&LineKey> = confirmed.keys().chain(realtime.keys()).collect();
    let lines = keys
        .into_iter()
        .map(|key| {
            let c = confirmed.get(key).copied().unwrap_or(0);
            let r = realtime.get(key).copied().unwrap_or(0);
            LineComparison {
                key: key.clone(),
                confirmed: c,
                realtime: r,
                delta: c - r,
                matched: (c - r).abs() <= tolerance.max(0),
            }
        })
        .collect();
    Comparison { lines }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: MovementKind, from: Option<&str>, to: Option<&str>) -> LineKey {
        LineKey {
            sku: SkuCode::parse("SKU-WIDGET-RED-LG").unwrap(),
            kind,
            from_location: from.map(|l| LocationCode::parse(l).unwrap()),
            to_location: to.map(|l| LocationCode::parse(l).unwrap()),
            lot: None,
        }
    }

    fn movement(kind: MovementKind, qty: i64, at: i64, from: Option<&str>) -> Movement {
        Movement {
            correlation_id: CorrelationId::parse("c").unwrap(),
            kind,
            warehouse_id: WarehouseId::parse("WH-1").unwrap(),
            sku: SkuCode::parse("SKU-WIDGET-RED-LG").unwrap(),
            qty,
            uom: "EA".into(),
            from_location: from.map(|l| LocationCode::parse(l).unwrap()),
            to_location: None,
            lot: None,
            serial: None,
            document_ref: None,
            occurred_at: UtcMillis(at),
            actor: None,
        }
    }

    fn window() -> WindowKey {
        WindowKey {
            partner_id: PartnerId::parse("WH-1/Acme").unwrap(),
            warehouse_id: WarehouseId::parse("WH-1").unwrap(),
            start: UtcMillis(100),
            end: UtcMillis(200),
        }
    }

    #[test]
    fn only_movements_inside_the_half_open_window_count() {
        let moves = [
            movement(MovementKind::Pick, 5, 99, Some("A")),
            movement(MovementKind::Pick, 7, 100, Some("A")),
            movement(MovementKind::Pick, 5, 199, Some("A")),
            movement(MovementKind::Pick, 9, 200, Some("A")),
        ];
        let totals = realtime_totals(&window(), &moves);
        assert_eq!(totals[&key(MovementKind::Pick, Some("A"), None)], 12);
    }

    #[test]
    fn matching_totals_reconcile_and_a_missing_line_is_a_discrepancy() {
        let pick = key(MovementKind::Pick, Some("A"), None);
        let ship = key(MovementKind::Ship, Some("S"), None);
        let realtime: Totals = [(pick.clone(), 12), (ship.clone(), 12)].into();
        assert!(compare(&realtime.clone(), &realtime, 0).reconciled());
        let confirmed: Totals = [(pick.clone(), 11)].into();
        let result = compare(&confirmed, &realtime, 0);
        assert!(!result.reconciled());
        let deltas: Vec<(i64, i64, i64)> = result
            .discrepancies()
            .map(|l| (l.confirmed, l.realtime, l.delta))
            .collect();
        assert_eq!(deltas, [(11, 12, -1), (0, 12, -12)]);
        assert!(
            compare(&confirmed, &[(pick, 12)].into(), 1).reconciled(),
            "within tolerance"
        );
    }
}
