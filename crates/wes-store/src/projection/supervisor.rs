//! The supervisor queue: entries opened by exceptions, window discrepancies and late movements,
//! acknowledged and closed by supervisors. Two topics feed it in no defined relative order, so
//! every write is order-independent (`wes_domain::supervisor::merge`).

use super::{Applied, Conn, IndexDef, Projection, Record, Spec, TableDef, Tables, insert_once};
use crate::StoreError;
use sqlx::AnyConnection;
use wes_events::Event;
use wes_events::catalog::topics;

pub struct Supervisor;

// Detail columns are nullable: a supervisor step read before its entry's opening event (the two
// come from different topics) creates the row, and the opening event fills it in.
const TABLES: &[TableDef] = &[
    TableDef::new(
        "supervisor_entries",
        "entry_id TEXT PRIMARY KEY, warehouse_id TEXT NOT NULL, status TEXT NOT NULL, source TEXT,
         code TEXT, severity TEXT, severity_rank BIGINT, opened_at BIGINT, occurred_at BIGINT,
         partner_id TEXT, correlation_id TEXT, document_type TEXT, document_id TEXT,
         document_line_no BIGINT, sku TEXT, location TEXT, qty BIGINT, device_id TEXT, message TEXT,
         acknowledged_by TEXT, acknowledged_at BIGINT, closed_by TEXT, closed_at BIGINT,
         close_reason TEXT",
    ),
    TableDef::new(
        "supervisor_steps",
        "event_id TEXT PRIMARY KEY, entry_id TEXT NOT NULL, step TEXT NOT NULL, actor TEXT NOT NULL,
         partner_id TEXT NOT NULL, at BIGINT NOT NULL, reason TEXT, kafka_topic TEXT NOT NULL,
         kafka_partition BIGINT NOT NULL, kafka_offset BIGINT NOT NULL",
    ),
];

const INDEXES: &[IndexDef] = &[
    IndexDef::on(
        "supervisor_entries",
        "ix_supervisor_entries_queue",
        "warehouse_id, status, opened_at",
    ),
    IndexDef::on(
        "supervisor_steps",
        "ix_supervisor_steps_entry",
        "entry_id, at",
    ),
];

const TOPICS: &[&str] = &[
    topics::EXCEPTIONS,
    topics::WINDOW_DISCREPANCY,
    topics::LATE_MOVEMENTS,
    topics::DISPATCH_DLQ,
    topics::SUPERVISOR_ACTIONS,
];

/// Records one step of an entry's audit trail (once per event id); false when already recorded.
#[allow(clippy::too_many_arguments)]
async fn record_supervisor_step(
    conn: &mut AnyConnection,
    t: &Tables,
    r: &Record<'_>,
    event_id: &str,
    entry_id: &str,
    step: &str,
    actor: &str,
    partner_id: &str,
    at: i64,
    reason: Option<&str>,
) -> Result<bool, StoreError> {
    let sql = format!(
        "INSERT INTO {} (event_id, entry_id, step, actor, partner_id, at, reason, kafka_topic, kafka_partition, kafka_offset)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (event_id) DO NOTHING",
        t.n("supervisor_steps")
    );
    let query = sqlx::query(&sql)
        .bind(event_id)
        .bind(entry_id)
        .bind(step)
        .bind(actor)
        .bind(partner_id)
        .bind(at)
        .bind(reason)
        .bind(r.topic);
    insert_once(conn, query, r).await
}

/// What opens a supervisor-queue entry: an exception, or a window discrepancy.
struct EntryOpening<'a> {
    entry_id: &'a str,
    warehouse_id: &'a str,
    source: &'static str,
    code: &'a str,
    severity: &'a str,
    opened_at: i64,
    occurred_at: i64,
    partner_id: &'a str,
    correlation_id: &'a str,
    document: Option<&'a wes_events::DocumentRefRecord>,
    sku: Option<&'a str>,
    location: Option<&'a str>,
    qty: Option<i64>,
    device_id: Option<&'a str>,
    message: Option<String>,
}

impl<'a> EntryOpening<'a> {
    /// Entry id = the exception's event id.
    fn exception(e: &'a wes_events::ExceptionRecorded) -> Self {
        EntryOpening {
            entry_id: &e.event_id,
            warehouse_id: &e.warehouse_id,
            source: "EXCEPTION",
            code: &e.code,
            severity: &e.severity,
            opened_at: e.recorded_at,
            occurred_at: e.occurred_at,
            partner_id: &e.partner_id,
            correlation_id: &e.correlation_id,
            document: e.document_ref.as_ref(),
            sku: e.sku.as_deref(),
            location: e.location.as_deref(),
            qty: e.qty,
            device_id: e.device_id.as_deref(),
            message: e.message.clone(),
        }
    }

    /// Entry id = the flag's event id; HIGH, dated when the movement occurred.
    fn late_movement(e: &'a wes_events::LateMovementFlagged) -> Self {
        EntryOpening {
            entry_id: &e.event_id,
            warehouse_id: &e.warehouse_id,
            source: "LATE_MOVEMENT",
            code: "LATE_MOVEMENT",
            severity: "HIGH",
            opened_at: e.recorded_at,
            occurred_at: e.occurred_at,
            partner_id: &e.partner_id,
            correlation_id: &e.movement_correlation_id,
            document: None,
            sku: Some(&e.sku),
            location: None,
            qty: Some(e.qty),
            device_id: None,
            message: Some(format!(
                "{} {} of {} arrived after window {} was decided; the window is unchanged",
                e.kind, e.qty, e.sku, e.window_id
            )),
        }
    }

    /// Entry id = the dead letter's event id; URGENT: a release did not reach its executor.
    fn dead_letter(e: &'a wes_events::DispatchDeadLettered) -> Self {
        EntryOpening {
            entry_id: &e.event_id,
            warehouse_id: &e.warehouse_id,
            source: "DISPATCH_DEAD_LETTER",
            code: "DISPATCH_DEAD_LETTER",
            severity: "URGENT",
            opened_at: e.recorded_at,
            occurred_at: e.first_attempt_at,
            partner_id: &e.partner_id,
            correlation_id: &e.correlation_id,
            document: None,
            sku: None,
            location: None,
            qty: None,
            device_id: None,
            message: Some(e.notification().summary),
        }
    }

    /// Entry id = the discrepancy's event id; URGENT, dated at the window's end.
    fn discrepancy(d: &'a wes_events::WindowDecision) -> Self {
        let differing = d.lines.iter().filter(|l| !l.matched).count();
        EntryOpening {
            entry_id: &d.event_id,
            warehouse_id: &d.warehouse_id,
            source: "WINDOW_DISCREPANCY",
            code: "WINDOW_DISCREPANCY",
            severity: "URGENT",
            opened_at: d.recorded_at,
            occurred_at: d.window_end,
            partner_id: &d.partner_id,
            correlation_id: &d.confirmation_correlation_id,
            document: None,
            sku: None,
            location: None,
            qty: None,
            device_id: None,
            message: Some(format!(
                "window {}: {differing} of {} lines differ",
                d.window_id,
                d.lines.len()
            )),
        }
    }
}

/// Opens an entry. The status is left alone when a supervisor step was read first.
async fn open_supervisor_entry(
    conn: &mut AnyConnection,
    t: &Tables,
    r: &Record<'_>,
    e: &EntryOpening<'_>,
) -> Result<bool, StoreError> {
    use wes_domain::exception::Severity;
    if !record_supervisor_step(
        conn,
        t,
        r,
        e.entry_id,
        e.entry_id,
        "OPENED",
        e.partner_id,
        e.partner_id,
        e.opened_at,
        e.message.as_deref(),
    )
    .await?
    {
        return Ok(false);
    }
    let rank = Severity::parse(e.severity).map_or(0, |s| s as i64);
    sqlx::query(&format!(
        "INSERT INTO {0} (entry_id, warehouse_id, status, source, code, severity, severity_rank, opened_at, occurred_at,
         partner_id, correlation_id, document_type, document_id, document_line_no, sku, location, qty, device_id, message)
         VALUES ($1, $2, 'OPEN', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
         ON CONFLICT (entry_id) DO UPDATE SET source = excluded.source, code = excluded.code, severity = excluded.severity,
         severity_rank = excluded.severity_rank, opened_at = excluded.opened_at, occurred_at = excluded.occurred_at,
         partner_id = excluded.partner_id, correlation_id = excluded.correlation_id, document_type = excluded.document_type,
         document_id = excluded.document_id, document_line_no = excluded.document_line_no, sku = excluded.sku,
         location = excluded.location, qty = excluded.qty, device_id = excluded.device_id, message = excluded.message",
        t.n("supervisor_entries")
    ))
    .bind(e.entry_id)
    .bind(e.warehouse_id)
    .bind(e.source)
    .bind(e.code)
    .bind(e.severity)
    .bind(rank)
    .bind(e.opened_at)
    .bind(e.occurred_at)
    .bind(e.partner_id)
    .bind(e.correlation_id)
    .bind(e.document.map(|d| d.doc_type.as_str()))
    .bind(e.document.map(|d| d.id.as_str()))
    .bind(e.document.and_then(|d| d.line_no))
    .bind(e.sku)
    .bind(e.location)
    .bind(e.qty)
    .bind(e.device_id)
    .bind(e.message.as_deref())
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// A supervisor step: recorded in the trail, and the entry's status merged forward
/// (`wes_domain::supervisor::merge`); the first acknowledgement and closure keep their who and when.
async fn apply_supervisor_action(
    conn: &mut AnyConnection,
    t: &Tables,
    r: &Record<'_>,
    e: &wes_events::SupervisorActionRecorded,
) -> Result<bool, StoreError> {
    use wes_domain::supervisor::{EntryStatus, SupervisorAction, merge};
    let action = e.supervisor_action()?;
    let target = action.target();
    if !record_supervisor_step(
        conn,
        t,
        r,
        &e.event_id,
        &e.entry_id,
        target.as_str(),
        &e.supervisor_id,
        &e.partner_id,
        e.recorded_at,
        e.reason.as_deref(),
    )
    .await?
    {
        return Ok(false);
    }
    let entries = t.n("supervisor_entries");
    let current: Option<String> =
        sqlx::query_scalar(&format!("SELECT status FROM {entries} WHERE entry_id = $1"))
            .bind(&e.entry_id)
            .fetch_optional(&mut *conn)
            .await?;
    let current = current
        .as_deref()
        .and_then(EntryStatus::parse)
        .unwrap_or(EntryStatus::Open);
    let status = merge(current, target);
    let (by, at, reason) = match action {
        SupervisorAction::Acknowledge => ("acknowledged_by", "acknowledged_at", None),
        SupervisorAction::Close => ("closed_by", "closed_at", Some("close_reason")),
    };
    let reason_sets = reason
        .map(|c| format!(", {c} = COALESCE({entries}.{c}, excluded.{c})"))
        .unwrap_or_default();
    let sql = format!(
        "INSERT INTO {entries} (entry_id, warehouse_id, status, {by}, {at}{0}) VALUES ($1, $2, $3, $4, $5{1})
         ON CONFLICT (entry_id) DO UPDATE SET status = excluded.status, {by} = COALESCE({entries}.{by}, excluded.{by}),
         {at} = COALESCE({entries}.{at}, excluded.{at}){reason_sets}",
         reason.map(|c| format!(", {c}")).unwrap_or_default(),
         if reason.is_some() { ", $6" } else { "" },
    );
    let mut query = sqlx::query(&sql)
        .bind(&e.entry_id)
        .bind(&e.warehouse_id)
        .bind(status.as_str())
        .bind(&e.supervisor_id)
        .bind(e.recorded_at);
    if reason.is_some() {
        query = query.bind(e.reason.as_deref());
    }
    query.execute(&mut *conn).await?;
    Ok(true)
}

impl Projection for Supervisor {
    const SPEC: Spec = Spec::new("supervisor", TOPICS, TABLES, INDEXES);

    async fn apply_one(conn: &mut Conn, t: &Tables, r: &Record<'_>) -> Applied {
        match r.event {
            Event::Exception(e) => {
                open_supervisor_entry(conn, t, r, &EntryOpening::exception(e)).await
            }
            Event::WindowDiscrepancy(d) if d.resolution.is_none() => {
                open_supervisor_entry(conn, t, r, &EntryOpening::discrepancy(d)).await
            }
            Event::LateMovement(e) => {
                open_supervisor_entry(conn, t, r, &EntryOpening::late_movement(e)).await
            }
            Event::DispatchDeadLettered(e) => {
                open_supervisor_entry(conn, t, r, &EntryOpening::dead_letter(e)).await
            }
            Event::SupervisorAction(e) => apply_supervisor_action(conn, t, r, e).await,
            _ => Ok(false),
        }
    }
}
