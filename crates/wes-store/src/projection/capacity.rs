//! Capacity snapshots for trend charts. Reads no inventory, writes no inventory.

use super::{Applied, Conn, IndexDef, Projection, Record, Spec, TableDef, Tables, insert_once};
use wes_events::Event;
use wes_events::catalog::topics;

pub struct Capacity;

impl Projection for Capacity {
    const SPEC: Spec = Spec::new("capacity", &[topics::CAPACITY], TABLES, INDEXES);

    async fn apply_one(conn: &mut Conn, t: &Tables, r: &Record<'_>) -> Applied {
        if let Event::Capacity(e) = r.event {
            let sql = format!(
                "INSERT INTO {} (event_id, warehouse_id, occurred_at, active_workers, idle_robots, conveyor_utilization, wip_per_zone,
                 partner_id, correlation_id, kafka_partition, kafka_offset) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (event_id) DO NOTHING",
                t.n("capacity_snapshots")
            );
            let query = sqlx::query(&sql)
                .bind(&e.event_id)
                .bind(&e.warehouse_id)
                .bind(e.occurred_at)
                .bind(e.active_workers)
                .bind(e.idle_robots)
                .bind(e.conveyor_utilization)
                .bind(serde_json::to_string(&e.wip_per_zone).expect("a map of counts serializes"))
                .bind(&e.partner_id)
                .bind(&e.correlation_id);
            insert_once(conn, query, r).await
        } else {
            Ok(false)
        }
    }
}

const TABLES: &[TableDef] = &[TableDef::new(
    "capacity_snapshots",
    "event_id TEXT PRIMARY KEY, warehouse_id TEXT NOT NULL, occurred_at BIGINT NOT NULL,
     active_workers BIGINT NOT NULL, idle_robots BIGINT NOT NULL,
     conveyor_utilization DOUBLE PRECISION NOT NULL, wip_per_zone TEXT NOT NULL,
     partner_id TEXT NOT NULL, correlation_id TEXT NOT NULL, kafka_partition BIGINT NOT NULL,
     kafka_offset BIGINT NOT NULL",
)];

const INDEXES: &[IndexDef] = &[IndexDef::on(
    "capacity_snapshots",
    "ix_capacity_snapshots_time",
    "warehouse_id, occurred_at",
)];
