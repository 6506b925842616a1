//! Capacity snapshots for trend charts. Reads no inventory, writes no inventory.

use super::{IndexDef, Projection, Record, TableDef, Tables};
use crate::StoreError;
use sqlx::AnyConnection;
use wes_events::Event;
use wes_events::catalog::topics;

pub struct Capacity;

const TABLES: &[TableDef] = &[TableDef {
    name: "capacity_snapshots",
    columns: "event_id TEXT PRIMARY KEY, warehouse_id TEXT NOT NULL, occurred_at BIGINT NOT NULL, active_workers BIGINT NOT NULL,
              idle_robots BIGINT NOT NULL, conveyor_utilization DOUBLE PRECISION NOT NULL, wip_per_zone TEXT NOT NULL,
              partner_id TEXT NOT NULL, correlation_id TEXT NOT NULL, kafka_partition BIGINT NOT NULL, kafka_offset BIGINT NOT NULL",
}];

const INDEXES: &[IndexDef] = &[IndexDef {
    name: "ix_capacity_snapshots_time",
    table: "capacity_snapshots",
    columns: "warehouse_id, occurred_at",
}];

#[async_trait::async_trait]
impl Projection for Capacity {
    fn name(&self) -> &'static str {
        "capacity"
    }
    fn topics(&self) -> &'static [&'static str] {
        &[topics::CAPACITY]
    }
    fn tables(&self) -> &'static [TableDef] {
        TABLES
    }
    fn indexes(&self) -> &'static [IndexDef] {
        INDEXES
    }
    async fn apply_one(
        &self,
        conn: &mut AnyConnection,
        t: &Tables,
        r: &Record<'_>,
    ) -> Result<bool, StoreError> {
        let Event::Capacity(e) = r.event else {
            return Ok(false);
        };
        let inserted = sqlx::query(&format!(
                "INSERT INTO {} (event_id, warehouse_id, occurred_at, active_workers, idle_robots, conveyor_utilization, wip_per_zone,
                 partner_id, correlation_id, kafka_partition, kafka_offset) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (event_id) DO NOTHING",
                t.n("capacity_snapshots")
            ))
            .bind(&e.event_id)
            .bind(&e.warehouse_id)
            .bind(e.occurred_at)
            .bind(e.active_workers)
            .bind(e.idle_robots)
            .bind(e.conveyor_utilization)
            .bind(serde_json::to_string(&e.wip_per_zone).expect("a map of counts serializes"))
            .bind(&e.partner_id)
            .bind(&e.correlation_id)
            .bind(r.partition as i64)
            .bind(r.offset)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        return Ok(inserted == 1);
    }
}
