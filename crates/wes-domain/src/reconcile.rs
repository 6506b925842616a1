//! The reconciler's rule (contract §4): compare what the executor confirms for a window with what
//! the realtime stream reported, line by line. Pure: the adapters gather both sides.

use crate::UtcMillis;
use crate::ids::*;
use crate::masterdata::{MasterData, Partner};
use crate::movement::{BalanceDelta, Movement, MovementKind, check_movement, ledger_deltas};
use crate::rejection::{Rejection, RejectionKind};
use crate::words::word_enum;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

word_enum!(
    /// Where a reconciliation window stands; ordered, and a window only ever moves forward.
    WindowStatus {
        Pending = "PENDING",
        Discrepancy = "DISCREPANCY",
        Reconciled = "RECONCILED",
    }

    /// What an executor confirmed for a window.
    ConfirmationKind {
        ShiftSummary = "SHIFT_SUMMARY",
        CycleCount = "CYCLE_COUNT",
        InventorySnapshot = "INVENTORY_SNAPSHOT",
    }

    /// How a supervisor resolved a DISCREPANCY window.
    Resolution {
        /// Compensating ADJUSTs make the ledger equal the confirmation.
        AcceptConfirmation = "ACCEPT_CONFIRMATION",
        /// The realtime stream stands; the confirmation's deltas are discarded.
        AcceptRealtime = "ACCEPT_REALTIME",
        /// The supervisor's own ADJUST lines, checked to reconcile the window before anything is written.
        ManualAdjustment = "MANUAL_ADJUSTMENT",
    }
);

impl Resolution {
    /// The word the resolve API takes (`accept-confirmation`, …).
    pub fn api_word(self) -> String {
        self.as_str().to_ascii_lowercase().replace('_', "-")
    }
}

/// Longest window a confirmation may cover (our rule): bounds the realtime scan of one reconcile.
pub const MAX_WINDOW_MILLIS: i64 = 31 * 24 * 3600 * 1000;

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

    /// The window's id in URLs and responses: a UUID (v5) of its key, so it needs no escaping
    /// (partner ids contain `/`).
    pub fn id(&self) -> String {
        uuid::Uuid::new_v5(&WINDOW_NAMESPACE, self.key_text().as_bytes()).to_string()
    }

    /// `partner|warehouse|start|end` (ms): what the hub derives claims and event ids from. It was
    /// the window's id before ids became URL-safe; records of that time still carry it.
    pub fn key_text(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.partner_id, self.warehouse_id, self.start.0, self.end.0
        )
    }

    /// Reads a key text back; `None` unless it has exactly four parts with instants at the end.
    pub fn from_key_text(text: &str) -> Option<WindowKey> {
        let mut parts = text.split('|');
        let (partner, warehouse, start, end) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(WindowKey {
            partner_id: PartnerId::parse(partner)?,
            warehouse_id: WarehouseId::parse(warehouse)?,
            start: UtcMillis(start.parse().ok()?),
            end: UtcMillis(end.parse().ok()?),
        })
    }

    /// A window id as a client or an older record may give it: the id itself, or the key text
    /// that served as the id before.
    pub fn current_id(id: &str) -> String {
        match Self::from_key_text(id) {
            Some(key) => key.id(),
            None => id.to_owned(),
        }
    }
}

const WINDOW_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x8f41_2c6e_55d0_4b9a_a3e7_0c19_d2b8_6f14);

/// A validated shift summary: cumulative movement totals of one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftSummary {
    pub correlation_id: CorrelationId,
    pub window: WindowKey,
    pub totals: Totals,
}

/// A shift summary as sent: its key, its window and its lines, each line read as a movement of
/// the window (`parse::shift_summary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftSummaryCommand {
    pub correlation_id: CorrelationId,
    pub warehouse_id: WarehouseId,
    pub start: UtcMillis,
    pub end: UtcMillis,
    pub lines: Vec<Movement>,
}

/// The rules of a shift summary: a window of at most 31 days, each `totals[i]` line checked
/// exactly as a movement of the window would be (kind, locations the kind requires, known SKU
/// and locations, base UoM, lot when tracked, `qty` > 0), and no two lines with one key.
pub fn check_shift_summary(
    command: ShiftSummaryCommand,
    md: &MasterData,
    partner: &Partner,
) -> Result<ShiftSummary, Rejection> {
    check_window_length(command.start, command.end)?;
    let mut totals = Totals::new();
    for (i, movement) in command.lines.iter().enumerate() {
        let at = |r: Rejection| r.within(&format!("/totals/{i}"));
        check_movement(movement, md).map_err(at)?;
        if totals.insert(LineKey::of(movement), movement.qty).is_some() {
            return Err(at(Rejection {
                kind: RejectionKind::Malformed,
                field: String::new(),
                detail: "another line has the same sku, kind, locations and lot".into(),
            }));
        }
    }
    Ok(ShiftSummary {
        correlation_id: command.correlation_id,
        window: WindowKey {
            partner_id: partner.partner_id.clone(),
            warehouse_id: command.warehouse_id,
            start: command.start,
            end: command.end,
        },
        totals,
    })
}

/// The key of a compared line. A shift-summary line and the movements it sums share (sku, kind,
/// from_location, to_location, lot) (our rule: a line is a movement without its identity). A stock
/// line (cycle counts, snapshots) has no kind: it is the balance of (sku, location, lot, serial),
/// with the location in `to_location`, where a compensating ADJUST would go.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LineKey {
    pub sku: SkuCode,
    pub kind: Option<MovementKind>,
    pub from_location: Option<LocationCode>,
    pub to_location: Option<LocationCode>,
    pub lot: Option<String>,
    pub serial: Option<String>,
}

impl LineKey {
    pub fn of(m: &Movement) -> LineKey {
        LineKey {
            sku: m.sku.clone(),
            kind: Some(m.kind),
            from_location: m.from_location.clone(),
            to_location: m.to_location.clone(),
            lot: m.lot.clone(),
            serial: None,
        }
    }

    /// The balance of one (sku, location, lot, serial).
    pub fn stock(
        sku: SkuCode,
        location: LocationCode,
        lot: Option<String>,
        serial: Option<String>,
    ) -> LineKey {
        LineKey {
            sku,
            kind: None,
            from_location: None,
            to_location: Some(location),
            lot,
            serial,
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

/// Totals of one SKU across its lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SkuBreakdown {
    pub confirmed: i64,
    pub realtime: i64,
    pub delta: i64,
}

/// The comparison per SKU, for the supervisor.
pub fn by_sku(comparison: &Comparison) -> BTreeMap<SkuCode, SkuBreakdown> {
    let mut out: BTreeMap<SkuCode, SkuBreakdown> = BTreeMap::new();
    for l in &comparison.lines {
        let b = out.entry(l.key.sku.clone()).or_default();
        b.confirmed += l.confirmed;
        b.realtime += l.realtime;
        b.delta += l.delta;
    }
    out
}

/// Per location, how far the stock the confirmation implies differs from what the realtime
/// stream put in the ledger (the sum of the lines' compensations); locations without a difference
/// are left out.
pub fn by_location(comparison: &Comparison) -> BTreeMap<LocationCode, i64> {
    let mut out: BTreeMap<LocationCode, i64> = BTreeMap::new();
    for line in &comparison.lines {
        for delta in compensation(line) {
            *out.entry(delta.location).or_default() += delta.qty;
        }
    }
    out.retain(|_, qty| *qty != 0);
    out
}

/// What makes the ledger equal the confirmation for one line: the ledger effect of the line's
/// `delta` (confirmed minus realtime), as ADJUST quantities per location.
pub fn compensation(line: &LineComparison) -> Vec<BalanceDelta> {
    let kind = line.key.kind.unwrap_or(MovementKind::Adjust);
    ledger_deltas(
        kind,
        line.delta,
        line.key.from_location.as_ref(),
        line.key.to_location.as_ref(),
    )
    .into_iter()
    .filter(|d| d.qty != 0)
    .collect()
}

word_enum!(
    /// Which counted stock the ledger is compared on: a PARTIAL count (every cycle count) only the
    /// keys it counted; a FULL snapshot every key, so stock the ledger has and the snapshot lacks is
    /// flagged (counted 0).
    CountScope {
        Partial = "PARTIAL",
        Full = "FULL",
    }
);

/// Compares counted stock with the ledger's balances as of the count.
pub fn compare_stock(
    counted: &Totals,
    ledger: &Totals,
    scope: CountScope,
    tolerance: i64,
) -> Comparison {
    let ledger: Totals = match scope {
        CountScope::Full => ledger.clone(),
        CountScope::Partial => ledger
            .iter()
            .filter(|(key, _)| counted.contains_key(*key))
            .map(|(k, q)| (k.clone(), *q))
            .collect(),
    };
    let mut comparison = compare(counted, &ledger, tolerance);
    // A key both sides hold at 0 says nothing.
    comparison
        .lines
        .retain(|l| l.confirmed != 0 || l.realtime != 0);
    comparison
}

/// What an executor counted: a cycle count (PARTIAL, as of the window's end) or an inventory
/// snapshot (FULL or PARTIAL, as of `as_of`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockCount {
    pub correlation_id: CorrelationId,
    pub window: WindowKey,
    pub as_of: UtcMillis,
    pub scope: CountScope,
    pub counts: Totals,
}

/// One counted line as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountLine {
    pub sku: SkuCode,
    pub location: LocationCode,
    pub lot: Option<String>,
    pub serial: Option<String>,
    pub qty: i64,
    /// Optional; when given, the SKU's base unit.
    pub uom: Option<String>,
}

/// A cycle count (`counts[]`, as of the window's end) or an inventory snapshot (`quantities[]`,
/// `scope`, `as_of`) as sent (`parse::count`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountCommand {
    pub correlation_id: CorrelationId,
    pub warehouse_id: WarehouseId,
    pub start: UtcMillis,
    pub end: UtcMillis,
    pub scope: CountScope,
    pub as_of: UtcMillis,
    /// `counts` or `quantities`: where the lines were, for the fields of problems.
    pub lines_field: &'static str,
    pub lines: Vec<CountLine>,
}

/// The rules of a count: a window of at most 31 days, `as_of` within it, a known warehouse; each
/// line with a known `sku` and `location`, `lot` exactly when lot-tracked, `serial` exactly when
/// serial-tracked (then `qty` 0 or 1), `qty` >= 0, `uom` (optional) the base unit; one line per key.
pub fn check_count(
    command: CountCommand,
    md: &MasterData,
    partner: &Partner,
) -> Result<StockCount, Rejection> {
    use crate::masterdata::Tracking;
    let (start, end, as_of) = (command.start, command.end, command.as_of);
    let (warehouse_id, lines_field) = (command.warehouse_id, command.lines_field);
    check_window_length(start, end)?;
    if as_of < start || as_of > end {
        return Err(Rejection::unprocessable(
            "/as_of",
            "`as_of` must lie within the window",
        ));
    }
    if !md.warehouses.contains_key(&warehouse_id) {
        return Err(Rejection::unprocessable(
            "/warehouse_id",
            format!("unknown warehouse {warehouse_id}"),
        ));
    }
    let mut counts = Totals::new();
    for (i, line) in command.lines.into_iter().enumerate() {
        let at = |r: Rejection| r.within(&format!("/{lines_field}/{i}"));
        let CountLine {
            sku,
            location,
            lot,
            serial,
            qty,
            uom,
        } = line;
        let master = md.skus.get(&sku).ok_or_else(|| {
            at(Rejection::unprocessable(
                "/sku",
                format!("unknown SKU {sku}"),
            ))
        })?;
        md.require_location("/location", &warehouse_id, &location)
            .map_err(at)?;
        if let Some(uom) = &uom
            && *uom != master.base_uom
        {
            return Err(at(Rejection::unprocessable(
                "/uom",
                format!(
                    "SKU {sku} is kept in base UoM {}, got {uom:?}",
                    master.base_uom
                ),
            )));
        }
        let tracked = |needed: bool, value: &Option<String>, name: &str| match (needed, value) {
            (true, None) => Err(at(Rejection::unprocessable(
                &format!("/{name}"),
                format!("SKU {sku} is {name}-tracked: `{name}` is required"),
            ))),
            (false, Some(_)) => Err(at(Rejection::unprocessable(
                &format!("/{name}"),
                format!("SKU {sku} is not {name}-tracked"),
            ))),
            _ => Ok(()),
        };
        tracked(master.tracking == Tracking::Lot, &lot, "lot")?;
        tracked(master.tracking == Tracking::Serial, &serial, "serial")?;
        if qty < 0 || (serial.is_some() && qty > 1) {
            return Err(at(Rejection::unprocessable(
                "/qty",
                "`qty` must be >= 0 (0 or 1 for a serial)",
            )));
        }
        if counts
            .insert(LineKey::stock(sku, location, lot, serial), qty)
            .is_some()
        {
            return Err(at(Rejection::malformed(
                "",
                "another line counts the same sku, location, lot and serial",
            )));
        }
    }
    Ok(StockCount {
        correlation_id: command.correlation_id,
        window: WindowKey {
            partner_id: partner.partner_id.clone(),
            warehouse_id,
            start,
            end,
        },
        as_of,
        scope: command.scope,
        counts,
    })
}

/// A window covers at most 31 days.
fn check_window_length(start: UtcMillis, end: UtcMillis) -> Result<(), Rejection> {
    if end.0 - start.0 > MAX_WINDOW_MILLIS {
        return Err(Rejection::unprocessable(
            "/window_end",
            "a window may cover at most 31 days",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn window_ids_are_url_safe_and_the_old_key_text_still_finds_them() {
        let window = WindowKey {
            partner_id: PartnerId::parse("WH-Tokyo-01/AcmeWES").unwrap(),
            warehouse_id: WarehouseId::parse("WH-Tokyo-01").unwrap(),
            start: UtcMillis(1_763_704_800_000),
            end: UtcMillis(1_763_733_600_000),
        };
        let id = window.id();
        assert!(
            id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "{id}"
        );
        assert_eq!(
            window.key_text(),
            "WH-Tokyo-01/AcmeWES|WH-Tokyo-01|1763704800000|1763733600000"
        );
        assert_eq!(
            WindowKey::from_key_text(&window.key_text()),
            Some(window.clone())
        );
        assert_eq!(WindowKey::current_id(&window.key_text()), id);
        assert_eq!(WindowKey::current_id(&id), id);
        let other = WindowKey {
            end: UtcMillis(1_763_733_600_001),
            ..window
        };
        assert_ne!(other.id(), id);
        for text in ["a|b|1", "a|b|1|2|3", "a|b|x|2", "a||1|2"] {
            assert_eq!(WindowKey::from_key_text(text), None, "{text}");
        }
    }

    /// Reading, then the rules: what the shift-summary endpoint does with a body.
    fn validate_shift_summary(
        item: &Value,
        md: &MasterData,
        partner: &Partner,
    ) -> Result<ShiftSummary, Rejection> {
        check_shift_summary(crate::parse::shift_summary(item)?, md, partner)
    }

    fn key(kind: MovementKind, from: Option<&str>, to: Option<&str>) -> LineKey {
        LineKey {
            sku: SkuCode::parse("SKU-WIDGET-RED-LG").unwrap(),
            kind: Some(kind),
            from_location: from.map(|l| LocationCode::parse(l).unwrap()),
            to_location: to.map(|l| LocationCode::parse(l).unwrap()),
            lot: None,
            serial: None,
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
        // Confirmed 11 picked where 12 were reported: one unit goes back to the bin.
        let line = result.discrepancies().next().unwrap();
        let back: Vec<(String, i64)> = compensation(line)
            .into_iter()
            .map(|d| (d.location.to_string(), d.qty))
            .collect();
        assert_eq!(back, [("A".to_string(), 1)]);
    }

    #[test]
    fn a_full_snapshot_flags_stock_it_lacks_and_a_partial_count_does_not() {
        let stock = |loc: &str| {
            LineKey::stock(
                SkuCode::parse("S").unwrap(),
                LocationCode::parse(loc).unwrap(),
                None,
                None,
            )
        };
        let ledger: Totals = [(stock("A"), 10), (stock("B"), 3)].into();
        let counted: Totals = [(stock("A"), 9)].into();
        let partial = compare_stock(&counted, &ledger, CountScope::Partial, 0);
        assert_eq!(partial.lines.len(), 1);
        let full = compare_stock(&counted, &ledger, CountScope::Full, 0);
        let deltas: Vec<i64> = full.lines.iter().map(|l| l.delta).collect();
        assert_eq!(deltas, [-1, -3]);
        // A stock line compensates with an ADJUST at its location.
        let back: Vec<(String, i64)> = full
            .lines
            .iter()
            .flat_map(compensation)
            .map(|d| (d.location.to_string(), d.qty))
            .collect();
        assert_eq!(back, [("A".to_string(), -1), ("B".to_string(), -3)]);
    }

    #[test]
    fn shift_summary_lines_follow_the_movement_rules() {
        use crate::masterdata::{Location, PartnerRole, Sku, Tracking, Warehouse};
        let wh = WarehouseId::parse("WH-1").unwrap();
        let md = MasterData::new(
            vec![Warehouse {
                warehouse_id: wh.clone(),
                name: "one".into(),
            }],
            vec![Sku {
                sku: SkuCode::parse("SKU-WIDGET-RED-LG").unwrap(),
                base_uom: "EA".into(),
                tracking: Tracking::None,
                description: String::new(),
            }],
            vec![Location {
                warehouse_id: wh.clone(),
                location: LocationCode::parse("A").unwrap(),
            }],
            vec![],
        );
        let partner = Partner {
            partner_id: PartnerId::parse("WH-1/Acme").unwrap(),
            role: PartnerRole::Executor,
            allowed_warehouses: [wh].into(),
            api_key_sha256: Default::default(),
            api_key_expires_at: Default::default(),
            cert_sha256: Default::default(),
            bearer_allowed: true,
        };
        let line = json!({"sku": "SKU-WIDGET-RED-LG", "kind": "PICK", "from_location": "A", "qty": 12, "uom": "EA"});
        let body = |totals: Value| {
            json!({"correlation_id": "c", "warehouse_id": "WH-1",
            "window_start": "2026-11-21T06:00:00Z", "window_end": "2026-11-21T14:00:00Z", "totals": totals})
        };
        let summary = validate_shift_summary(&body(json!([line])), &md, &partner).unwrap();
        assert_eq!(
            summary.totals[&key(MovementKind::Pick, Some("A"), None)],
            12
        );
        assert_eq!(
            summary.window.end.0 - summary.window.start.0,
            8 * 3600 * 1000
        );
        let error =
            |totals: Value| validate_shift_summary(&body(totals), &md, &partner).unwrap_err();
        let mut unknown = line.clone();
        unknown["sku"] = "SKU-NOPE".into();
        let e = error(json!([line, unknown]));
        assert_eq!(
            (e.kind, e.field.as_str()),
            (RejectionKind::Unprocessable, "/totals/1/sku")
        );
        let mut wrong_uom = line.clone();
        wrong_uom["uom"] = "CS".into();
        assert_eq!(error(json!([wrong_uom])).kind, RejectionKind::Unprocessable);
        assert_eq!(error(json!([line, line])).field, "/totals/1");
        let mut reversed = body(json!([line]));
        reversed["window_end"] = "2026-11-21T06:00:00Z".into();
        assert_eq!(
            validate_shift_summary(&reversed, &md, &partner)
                .unwrap_err()
                .field,
            "/window_end"
        );
    }
}
