//! Confirmation windows: each confirmation and the reconciler's decisions on it, folded with a
//! forward-only status merge so a rebuild reproduces every window.

use super::{Applied, Conn, IndexDef, Projection, Record, Spec, TableDef, Tables, changed_one};
use wes_domain::reconcile::WindowStatus;
use wes_events::catalog::topics;
use wes_events::{ConfirmationRecorded, Event, WindowDecision};

pub struct Windows;

// Confirmation columns are nullable: a decision read before its confirmation (another topic)
// creates the row, and the confirmation fills them in.
const TABLES: &[TableDef] = &[TableDef::new(
    "windows",
    "window_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, warehouse_id TEXT NOT NULL,
     window_start BIGINT NOT NULL, window_end BIGINT NOT NULL, status TEXT NOT NULL, kind TEXT,
     correlation_id TEXT, confirmation_event_id TEXT, as_of BIGINT, scope TEXT, confirmed_at BIGINT,
     confirmation_lines TEXT, decision_event_id TEXT, decided_at BIGINT, tolerance BIGINT,
     compared_lines TEXT, realtime_through TEXT, resolved_by TEXT, resolution TEXT,
     resolution_reason TEXT, resolved_at BIGINT, compensating_movements BIGINT NOT NULL DEFAULT 0",
)];

const INDEXES: &[IndexDef] = &[IndexDef::on(
    "windows",
    "ix_windows_warehouse",
    "warehouse_id, status, window_start",
)];

const TOPICS: &[&str] = &[
    topics::CONFIRMATIONS,
    topics::WINDOW_RECONCILED,
    topics::WINDOW_DISCREPANCY,
];

/// A confirmation creates its window (PENDING until decided) or fills in a row a decision created.
async fn record_confirmation(conn: &mut Conn, windows: &str, e: &ConfirmationRecorded) -> Applied {
    let sql = format!(
        "INSERT INTO {windows} (window_id, partner_id, warehouse_id, window_start, window_end, status, kind, correlation_id,
         confirmation_event_id, confirmed_at, confirmation_lines, as_of, scope) VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (window_id) DO UPDATE SET kind = excluded.kind, correlation_id = excluded.correlation_id, as_of = excluded.as_of,
         scope = excluded.scope,
         confirmation_event_id = excluded.confirmation_event_id, confirmed_at = excluded.confirmed_at,
         confirmation_lines = excluded.confirmation_lines WHERE {windows}.confirmation_event_id IS NULL"
    );
    let query = sqlx::query(&sql)
        .bind(e.window().id())
        .bind(&e.partner_id)
        .bind(&e.warehouse_id)
        .bind(e.window_start)
        .bind(e.window_end)
        .bind(&e.kind)
        .bind(&e.correlation_id)
        .bind(&e.event_id)
        .bind(e.recorded_at)
        .bind(serde_json::to_string(&e.lines).expect("lines serialize"))
        .bind(e.as_of)
        .bind(e.scope.as_deref());
    changed_one(conn, query).await
}

/// A decision moves the window forward only (PENDING < DISCREPANCY < RECONCILED): the first
/// decision keeps its breakdown, a resolution adds who, how and why.
async fn record_window_decision(conn: &mut Conn, windows: &str, d: &WindowDecision) -> Applied {
    let status = if d.reconciled() {
        WindowStatus::Reconciled
    } else {
        WindowStatus::Discrepancy
    };
    let sql = format!(
        "INSERT INTO {windows} (window_id, partner_id, warehouse_id, window_start, window_end, status, decision_event_id,
         decided_at, tolerance, compared_lines, realtime_through, resolved_by, resolution, resolution_reason, resolved_at,
        compensating_movements)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         ON CONFLICT (window_id) DO UPDATE SET
         status = CASE WHEN {windows}.status = 'RECONCILED' OR excluded.status = 'RECONCILED' THEN 'RECONCILED' ELSE excluded.status END,
         decision_event_id = COALESCE({windows}.decision_event_id, excluded.decision_event_id),
         decided_at = COALESCE({windows}.decided_at, excluded.decided_at),
         tolerance = COALESCE({windows}.tolerance, excluded.tolerance),
         compared_lines = COALESCE({windows}.compared_lines, excluded.compared_lines),
         realtime_through = COALESCE({windows}.realtime_through, excluded.realtime_through),
         resolved_by = COALESCE({windows}.resolved_by, excluded.resolved_by),
         resolution = COALESCE({windows}.resolution, excluded.resolution),
         resolution_reason = COALESCE({windows}.resolution_reason, excluded.resolution_reason),
         resolved_at = COALESCE({windows}.resolved_at, excluded.resolved_at),
         compensating_movements = CASE WHEN {windows}.resolution IS NULL THEN excluded.compensating_movements
         ELSE {windows}.compensating_movements END"
    );
    // The id from the key: decisions recorded when the key text was the id land on the same row.
    let query = sqlx::query(&sql)
        .bind(d.window().id())
        .bind(&d.partner_id)
        .bind(&d.warehouse_id)
        .bind(d.window_start)
        .bind(d.window_end)
        .bind(status.as_str())
        .bind(d.resolution.is_none().then_some(d.event_id.as_str()))
        .bind(d.resolution.is_none().then_some(d.recorded_at))
        .bind(d.tolerance)
        .bind(serde_json::to_string(&d.lines).expect("lines serialize"))
        .bind(serde_json::to_string(&d.realtime_through).expect("positions serialize"))
        .bind(d.resolved_by.as_deref())
        .bind(d.resolution.as_deref())
        .bind(d.resolution_reason.as_deref())
        .bind(d.resolution.is_some().then_some(d.recorded_at))
        .bind(d.compensating_movements);
    changed_one(conn, query).await
}

impl Projection for Windows {
    const SPEC: Spec = Spec::new("windows", TOPICS, TABLES, INDEXES);

    async fn apply_one(conn: &mut Conn, t: &Tables, r: &Record<'_>) -> Applied {
        let windows = t.n("windows");
        match r.event {
            Event::Confirmation(e) => record_confirmation(conn, &windows, e).await,
            Event::WindowReconciled(d) | Event::WindowDiscrepancy(d) => {
                record_window_decision(conn, &windows, d).await
            }
            _ => Ok(false),
        }
    }
}
