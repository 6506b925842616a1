//! Task lifecycle: current status per task and the full history, flagged steps included.

use super::{Applied, Conn, IndexDef, Projection, Record, Spec, TableDef, Tables, insert_once};
use crate::StoreError;
use sqlx::Row;
use wes_domain::work_status::{TaskState, TaskStatus, Transition, evolve};
use wes_events::Event;
use wes_events::catalog::topics;

pub struct Tasks;

const TABLES: &[TableDef] = &[
    TableDef::new(
        "task_current",
        "warehouse_id TEXT NOT NULL, task_id TEXT NOT NULL, document_type TEXT NOT NULL,
         document_id TEXT NOT NULL, document_line_no BIGINT, status TEXT NOT NULL,
         occurred_at BIGINT NOT NULL, worker_id TEXT, robot_id TEXT, flagged BIGINT NOT NULL,
         last_event_id TEXT NOT NULL, PRIMARY KEY (warehouse_id, task_id)",
    ),
    TableDef::new(
        "task_history",
        "event_id TEXT PRIMARY KEY, warehouse_id TEXT NOT NULL, task_id TEXT NOT NULL,
         status TEXT NOT NULL, occurred_at BIGINT NOT NULL, recorded_at BIGINT NOT NULL,
         transition TEXT NOT NULL, partner_id TEXT NOT NULL, correlation_id TEXT NOT NULL,
         worker_id TEXT, robot_id TEXT, reason TEXT, kafka_partition BIGINT NOT NULL,
         kafka_offset BIGINT NOT NULL",
    ),
];

const INDEXES: &[IndexDef] = &[
    IndexDef::on(
        "task_current",
        "ix_task_current_document",
        "document_type, document_id, warehouse_id",
    ),
    IndexDef::on(
        "task_history",
        "ix_task_history_task",
        "warehouse_id, task_id, occurred_at",
    ),
];

impl Projection for Tasks {
    const SPEC: Spec = Spec::new("tasks", &[topics::WORK_STATUS], TABLES, INDEXES);

    /// One work-status event: history always (once per event id), the current state only when the
    /// lifecycle rule (`wes_domain::work_status::evolve`) applies it; flagged steps are counted.
    async fn apply_one(conn: &mut Conn, t: &Tables, r: &Record<'_>) -> Applied {
        let Event::WorkStatus(e) = r.event else {
            return Ok(false);
        };
        let status = e.task_status()?;
        let current_table = t.n("task_current");
        let current = sqlx::query(&format!(
            "SELECT status, occurred_at FROM {current_table} WHERE warehouse_id = $1 AND task_id = $2"
        ))
        .bind(&e.warehouse_id)
        .bind(&e.task_id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| -> Result<TaskState, StoreError> {
            let status: String = row.try_get("status")?;
            Ok(TaskState {
                status: TaskStatus::parse(&status).unwrap_or(TaskStatus::Assigned),
                occurred_at: wes_domain::UtcMillis(row.try_get("occurred_at")?),
            })
        })
        .transpose()?;
        let transition = evolve(current, status, wes_domain::UtcMillis(e.occurred_at));
        let sql = format!(
            "INSERT INTO {} (event_id, warehouse_id, task_id, status, occurred_at, recorded_at, transition, partner_id, correlation_id,
             worker_id, robot_id, reason, kafka_partition, kafka_offset) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (event_id) DO NOTHING",
            t.n("task_history")
        );
        let query = sqlx::query(&sql)
            .bind(&e.event_id)
            .bind(&e.warehouse_id)
            .bind(&e.task_id)
            .bind(&e.status)
            .bind(e.occurred_at)
            .bind(e.recorded_at)
            .bind(transition.as_str())
            .bind(&e.partner_id)
            .bind(&e.correlation_id)
            .bind(e.worker_id.as_deref())
            .bind(e.robot_id.as_deref())
            .bind(e.reason.as_deref());
        if !insert_once(conn, query, r).await? {
            return Ok(false);
        }
        if transition == Transition::Applied {
            sqlx::query(&format!(
                "INSERT INTO {current_table} (warehouse_id, task_id, document_type, document_id, document_line_no, status, occurred_at,
                 worker_id, robot_id, flagged, last_event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10)
                 ON CONFLICT (warehouse_id, task_id) DO UPDATE SET status = excluded.status, occurred_at = excluded.occurred_at,
                 worker_id = COALESCE(excluded.worker_id, {current_table}.worker_id), robot_id = COALESCE(excluded.robot_id, {current_table}.robot_id),
                 last_event_id = excluded.last_event_id"
            ))
            .bind(&e.warehouse_id)
            .bind(&e.task_id)
            .bind(&e.document_ref.doc_type)
            .bind(&e.document_ref.id)
            .bind(e.document_ref.line_no)
            .bind(&e.status)
            .bind(e.occurred_at)
            .bind(e.worker_id.as_deref())
            .bind(e.robot_id.as_deref())
            .bind(&e.event_id)
            .execute(&mut *conn)
            .await?;
        } else if transition.flagged() {
            sqlx::query(&format!("UPDATE {current_table} SET flagged = flagged + 1 WHERE warehouse_id = $1 AND task_id = $2"))
            .bind(&e.warehouse_id)
            .bind(&e.task_id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(true)
    }
}
