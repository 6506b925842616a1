//! Webhook deliveries: the durable work state of the webhook reactor (one row per dispatch event
//! of a WEBHOOK warehouse: status, attempts, next attempt), and the lease that lets one hub
//! instance at a time deliver. Reactor state, not a read model: it is never rebuilt.

use crate::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use wes_domain::UtcMillis;

pub(crate) const DELIVERIES_TABLE: &str = "CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id TEXT PRIMARY KEY, planner_id TEXT NOT NULL, warehouse_id TEXT NOT NULL,
    correlation_id TEXT NOT NULL, kafka_partition BIGINT NOT NULL, kafka_offset BIGINT NOT NULL,
    body TEXT NOT NULL, status TEXT NOT NULL, attempts BIGINT NOT NULL,
    first_attempt_at BIGINT, next_attempt_at BIGINT NOT NULL, last_status_code BIGINT,
    last_error TEXT, updated_at BIGINT NOT NULL, redrives BIGINT NOT NULL DEFAULT 0,
    dead_letter_pending BIGINT NOT NULL DEFAULT 0)";

pub(crate) const DELIVERIES_INDEXES: [&str; 2] = [
    "CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_lane
     ON webhook_deliveries (planner_id, warehouse_id, status, kafka_partition, kafka_offset)",
    "CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_updated ON webhook_deliveries (updated_at)",
];

pub(crate) const LEASES_TABLE: &str = "CREATE TABLE IF NOT EXISTS reactor_leases (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL)";

pub const PENDING: &str = "PENDING";
pub const RETRYING: &str = "RETRYING";
pub const DELIVERED: &str = "DELIVERED";
pub const DEAD_LETTERED: &str = "DEAD_LETTERED";
/// The warehouse's transport was removed or changed before it was delivered.
pub const DROPPED: &str = "DROPPED";
pub const STATUSES: [&str; 5] = [PENDING, RETRYING, DELIVERED, DEAD_LETTERED, DROPPED];

/// A dispatch event to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub delivery_id: String,
    pub planner_id: String,
    pub warehouse_id: String,
    pub correlation_id: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    pub body: String,
    pub due_at: UtcMillis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRow {
    pub delivery_id: String,
    pub planner_id: String,
    pub warehouse_id: String,
    pub correlation_id: String,
    pub kafka_partition: i64,
    pub kafka_offset: i64,
    #[serde(skip)]
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub first_attempt_at: Option<i64>,
    pub next_attempt_at: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub updated_at: i64,
    pub redrives: i64,
}

/// What an attempt left. It applies only if the row is still as the attempt found it (waiting,
/// after `attempts - 1` attempts): a stale or repeated attempt changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord<'a> {
    pub delivery_id: &'a str,
    pub status: &'static str,
    pub attempts: i64,
    pub first_attempt_at: UtcMillis,
    pub next_attempt_at: UtcMillis,
    pub last_status_code: Option<i64>,
    pub last_error: Option<&'a str>,
    pub now: UtcMillis,
}

fn delivery_row(r: &AnyRow) -> Result<DeliveryRow, sqlx::Error> {
    Ok(DeliveryRow {
        delivery_id: r.try_get("delivery_id")?,
        planner_id: r.try_get("planner_id")?,
        warehouse_id: r.try_get("warehouse_id")?,
        correlation_id: r.try_get("correlation_id")?,
        kafka_partition: r.try_get("kafka_partition")?,
        kafka_offset: r.try_get("kafka_offset")?,
        body: r.try_get("body")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        first_attempt_at: r.try_get("first_attempt_at")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_status_code: r.try_get("last_status_code")?,
        last_error: r.try_get("last_error")?,
        updated_at: r.try_get("updated_at")?,
        redrives: r.try_get("redrives")?,
    })
}

impl Store {
    /// Queues a delivery, once per dispatch event.
    pub async fn enqueue_delivery(&self, d: &NewDelivery) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (delivery_id, planner_id, warehouse_id, correlation_id,
             kafka_partition, kafka_offset, body, status, attempts, next_attempt_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9) ON CONFLICT (delivery_id) DO NOTHING",
        )
        .bind(&d.delivery_id)
        .bind(&d.planner_id)
        .bind(&d.warehouse_id)
        .bind(&d.correlation_id)
        .bind(i64::from(d.kafka_partition))
        .bind(d.kafka_offset)
        .bind(&d.body)
        .bind(PENDING)
        .bind(d.due_at.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The head of every lane (planner, warehouse) with work left: its oldest delivery not yet
    /// delivered, dead-lettered or dropped, due or not (without its body). Later deliveries of a
    /// lane wait behind it.
    pub async fn lane_heads(&self) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.delivery_id, d.planner_id, d.warehouse_id, d.correlation_id, d.kafka_partition,
             d.kafka_offset, '' AS body, d.status, d.attempts, d.first_attempt_at, d.next_attempt_at,
             d.last_status_code, d.last_error, d.updated_at, d.redrives
             FROM webhook_deliveries d WHERE d.status IN ($1, $2) AND NOT EXISTS (
               SELECT 1 FROM webhook_deliveries e WHERE e.planner_id = d.planner_id
               AND e.warehouse_id = d.warehouse_id AND e.status IN ($1, $2)
               AND (e.kafka_partition < d.kafka_partition
                    OR (e.kafka_partition = d.kafka_partition AND e.kafka_offset < d.kafka_offset)))",
        )
        .bind(PENDING)
        .bind(RETRYING)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(delivery_row)
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// Records an attempt; false when the row had moved on (another attempt recorded first).
    pub async fn record_attempt(&self, a: &AttemptRecord<'_>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = $2, first_attempt_at = $3,
             next_attempt_at = $4, last_status_code = $5, last_error = $6, updated_at = $7,
             dead_letter_pending = $8
             WHERE delivery_id = $9 AND status IN ($10, $11) AND attempts = $12",
        )
        .bind(a.status)
        .bind(a.attempts)
        .bind(a.first_attempt_at.0)
        .bind(a.next_attempt_at.0)
        .bind(a.last_status_code)
        .bind(a.last_error)
        .bind(a.now.0)
        .bind(i64::from(a.status == DEAD_LETTERED))
        .bind(a.delivery_id)
        .bind(PENDING)
        .bind(RETRYING)
        .bind(a.attempts - 1)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Dead-lettered deliveries whose dead letter is not on the log yet.
    pub async fn dead_letters_pending(&self) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM webhook_deliveries WHERE dead_letter_pending = 1 AND status = $1",
        )
        .bind(DEAD_LETTERED)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(delivery_row)
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// The dead letter of `delivery_id` is on the log.
    pub async fn dead_letter_written(&self, delivery_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE webhook_deliveries SET dead_letter_pending = 0 WHERE delivery_id = $1")
            .bind(delivery_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drops a waiting delivery its warehouse's transport no longer covers (removed or changed):
    /// it stays listed as DROPPED.
    pub async fn drop_delivery(&self, delivery_id: &str, now: UtcMillis) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, last_error = $2, updated_at = $3
             WHERE delivery_id = $4 AND status IN ($5, $6)",
        )
        .bind(DROPPED)
        .bind("the warehouse's transport was removed or changed before delivery")
        .bind(now.0)
        .bind(delivery_id)
        .bind(PENDING)
        .bind(RETRYING)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delivery(&self, delivery_id: &str) -> Result<Option<DeliveryRow>, StoreError> {
        Ok(
            sqlx::query("SELECT * FROM webhook_deliveries WHERE delivery_id = $1")
                .bind(delivery_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| delivery_row(&r))
                .transpose()?,
        )
    }

    /// Deliveries, newest first, of `warehouses` (all when empty) with `status` when given.
    pub async fn deliveries(
        &self,
        warehouse: Option<&str>,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let sql = format!(
            "SELECT * FROM webhook_deliveries WHERE ($1 = '' OR warehouse_id = $1) AND ($2 = '' OR status = $2)
             ORDER BY updated_at DESC, delivery_id LIMIT {limit}"
        );
        let rows = sqlx::query(&sql)
            .bind(warehouse.unwrap_or_default())
            .bind(status.unwrap_or_default())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(delivery_row)
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// Sends a dead-lettered delivery again: back to PENDING, a fresh round of attempts. Being
    /// its lane's oldest, it is the lane's head again. False when it is not dead-lettered.
    pub async fn redrive(&self, delivery_id: &str, now: UtcMillis) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = 0, first_attempt_at = NULL,
             next_attempt_at = $2, updated_at = $2, redrives = redrives + 1
             WHERE delivery_id = $3 AND status = $4",
        )
        .bind(PENDING)
        .bind(now.0)
        .bind(delivery_id)
        .bind(DEAD_LETTERED)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes or keeps the lease `name` for `holder` until `until`; false while another holder's
    /// lease runs.
    pub async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        now: UtcMillis,
        until: UtcMillis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO reactor_leases (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE reactor_leases.holder = excluded.holder OR reactor_leases.expires_at < $4",
        )
        .bind(name)
        .bind(holder)
        .bind(until.0)
        .bind(now.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
