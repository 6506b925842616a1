//! Poll-mode dispatch: each warehouse's executor's acknowledged position. Acks only move forward,
//! whatever order they are read in, so replaying the topic restores the furthest one.

use super::{Applied, Conn, Projection, Record, Spec, TableDef, Tables, changed_one};
use wes_events::Event;
use wes_events::catalog::topics;

pub struct PollAcks;

impl Projection for PollAcks {
    const SPEC: Spec = Spec::new("poll_acks", &[topics::DISPATCH_POLL_ACKS], TABLES, &[]);

    async fn apply_one(conn: &mut Conn, t: &Tables, r: &Record<'_>) -> Applied {
        let Event::DispatchPollAcked(e) = r.event else {
            return Ok(false);
        };
        let acks = t.n("dispatch_poll_acks");
        let sql = format!(
            "INSERT INTO {acks} (warehouse_id, partner_id, kafka_partition, kafka_offset, acked_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (warehouse_id, partner_id) DO UPDATE SET kafka_partition = excluded.kafka_partition, kafka_offset = excluded.kafka_offset,
             acked_at = excluded.acked_at
             WHERE excluded.kafka_partition > {acks}.kafka_partition
             OR (excluded.kafka_partition = {acks}.kafka_partition AND excluded.kafka_offset > {acks}.kafka_offset)"
        );
        let query = sqlx::query(&sql)
            .bind(&e.warehouse_id)
            .bind(&e.partner_id)
            .bind(i64::from(e.partition))
            .bind(e.offset)
            .bind(e.acked_at);
        changed_one(conn, query).await
    }
}

const TABLES: &[TableDef] = &[TableDef::new(
    "dispatch_poll_acks",
    "warehouse_id TEXT NOT NULL, partner_id TEXT NOT NULL, kafka_partition BIGINT NOT NULL,
     kafka_offset BIGINT NOT NULL, acked_at BIGINT NOT NULL, PRIMARY KEY (warehouse_id, partner_id)",
)];
