//! Dispatch: every release and cancellation, for look-ups and CANCELLED validation.

use super::{Applied, Conn, IndexDef, Projection, Record, Spec, TableDef, Tables, insert_once};
use wes_events::Event;
use wes_events::catalog::topics;

pub struct Dispatch;

impl Projection for Dispatch {
    const SPEC: Spec = Spec::new("dispatch", &[topics::DISPATCH], TABLES, INDEXES)
        .with_added_columns(ADDED_COLUMNS);

    /// A release or a cancellation, once per (planner, correlation id); a cancellation marks the
    /// release it names, the first one only, whichever of the two is read first.
    async fn apply_one(conn: &mut Conn, t: &Tables, r: &Record<'_>) -> Applied {
        let Event::Dispatch(e) = r.event else {
            return Ok(false);
        };

        let releases = t.n("dispatch_releases");
        let sql = format!(
            "INSERT INTO {releases} (planner_id, correlation_id, event_id, kind, warehouse_id, document_type, document_id,
             document_line_no, released_at, priority, operations, cancelled_correlation_id, priority_level, envelope,
             kafka_partition, kafka_offset)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (planner_id, correlation_id) DO NOTHING"
        );
        let query = sqlx::query(&sql)
            .bind(&e.planner_id)
            .bind(&e.correlation_id)
            .bind(&e.event_id)
            .bind(&e.kind)
            .bind(&e.warehouse_id)
            .bind(&e.document_ref.doc_type)
            .bind(&e.document_ref.id)
            .bind(e.document_ref.line_no)
            .bind(e.released_at)
            .bind(e.priority as i64)
            .bind(e.routing.operations.len() as i64)
            .bind(e.cancelled_correlation_id.as_deref())
            .bind(e.priority_word().as_str())
            .bind(e.envelope_text());
        if !insert_once(conn, query, r).await? {
            return Ok(false);
        }
        if let Some(original) = &e.cancelled_correlation_id {
            let sql = format!(
                "UPDATE {releases} SET cancelled_by = COALESCE(cancelled_by, $1) WHERE planner_id = $2 AND correlation_id = $3"
            );
            sqlx::query(&sql)
                .bind(&e.correlation_id)
                .bind(&e.planner_id)
                .bind(original)
                .execute(&mut *conn)
                .await?;
        } else {
            // A CANCELLED read before the release it names (another partition) marks it now.
            let sql = format!(
                "UPDATE {releases} SET cancelled_by = (SELECT MIN(c.correlation_id) FROM {releases} c
                 WHERE c.planner_id = $1 AND c.cancelled_correlation_id = $2)
                 WHERE planner_id = $1 AND correlation_id = $2 AND cancelled_by IS NULL"
            );
            sqlx::query(&sql)
                .bind(&e.planner_id)
                .bind(&e.correlation_id)
                .execute(&mut *conn)
                .await?;
        }
        Ok(true)
    }
}

const TABLES: &[TableDef] = &[TableDef::new(
    "dispatch_releases",
    "planner_id TEXT NOT NULL, correlation_id TEXT NOT NULL, event_id TEXT NOT NULL,
     kind TEXT NOT NULL, warehouse_id TEXT NOT NULL, document_type TEXT NOT NULL,
     document_id TEXT NOT NULL, document_line_no BIGINT, released_at BIGINT NOT NULL,
     priority BIGINT NOT NULL, operations BIGINT NOT NULL, cancelled_correlation_id TEXT,
     cancelled_by TEXT, kafka_partition BIGINT NOT NULL, kafka_offset BIGINT NOT NULL,
     priority_level TEXT, envelope TEXT,
     PRIMARY KEY (planner_id, correlation_id)",
)];

/// Columns added after the table was first created; rows of before lack them until
/// `Store::dispatch_needs_rebuild` has the projection rebuilt.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("dispatch_releases", "priority_level", "TEXT"),
    ("dispatch_releases", "envelope", "TEXT"),
];

const INDEXES: &[IndexDef] = &[
    IndexDef::on(
        "dispatch_releases",
        "ix_dispatch_releases_document",
        "warehouse_id, document_type, document_id",
    ),
    // Poll-mode pages: a warehouse's releases in log order.
    IndexDef::on(
        "dispatch_releases",
        "ix_dispatch_releases_log",
        "warehouse_id, kafka_partition, kafka_offset",
    ),
];
