//! Durable state of reactors (side-effecting consumers): each reactor's own log positions, apart
//! from the projections' (a rebuild or replay of a projection never moves them), and the work
//! state of the window watcher. None of it is a read model: it is never rebuilt.

use crate::{Store, StoreError};
use sqlx::Row;
use wes_domain::reconcile::WindowKey;
use wes_domain::{PartnerId, UtcMillis, WarehouseId};
use wes_events::{ConfirmationRecorded, WindowDecision};

pub(crate) const OFFSETS_TABLE: &str = "CREATE TABLE IF NOT EXISTS reactor_offsets (
    reactor TEXT NOT NULL, topic TEXT NOT NULL, kafka_partition BIGINT NOT NULL,
    next_offset BIGINT NOT NULL, PRIMARY KEY (reactor, topic, kafka_partition))";

pub(crate) const WINDOW_WATCH_TABLE: &str = "CREATE TABLE IF NOT EXISTS reactor_window_watch (
    window_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, warehouse_id TEXT NOT NULL,
    window_start BIGINT NOT NULL, window_end BIGINT NOT NULL, confirmation TEXT, confirmed_at BIGINT,
    decided BIGINT NOT NULL DEFAULT 0, realtime_through TEXT)";

/// A window the watcher keeps an eye on, as its own consumed events left it.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchedWindow {
    pub window_id: String,
    pub key: WindowKey,
    /// The confirmation, once consumed (a decision may be read first: another topic).
    pub confirmation: Option<ConfirmationRecorded>,
    /// The movements-log position the first decision covered; `None` while undecided.
    pub realtime_through: Option<Vec<(i32, i64)>>,
}

impl Store {
    /// Where a reactor stands: `(topic, partition, next_offset)` for every partition it committed.
    pub async fn reactor_position(
        &self,
        reactor: &str,
    ) -> Result<Vec<(String, i32, i64)>, StoreError> {
        sqlx::query(
            "SELECT topic, kafka_partition, next_offset FROM reactor_offsets WHERE reactor = $1",
        )
        .bind(reactor)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("topic")?,
                r.try_get::<i64, _>("kafka_partition")? as i32,
                r.try_get("next_offset")?,
            ))
        })
        .collect()
    }

    /// Records that a reactor has performed the effects of everything below `positions`.
    pub async fn save_reactor_position(
        &self,
        reactor: &str,
        positions: &[(String, i32, i64)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (topic, partition, next) in positions {
            sqlx::query(
                "INSERT INTO reactor_offsets (reactor, topic, kafka_partition, next_offset) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (reactor, topic, kafka_partition) DO UPDATE SET next_offset = excluded.next_offset",
            )
            .bind(reactor)
            .bind(topic)
            .bind(*partition as i64)
            .bind(*next)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The watcher consumed a confirmation: watch its window (first confirmation kept).
    pub async fn watch_confirmation(&self, c: &ConfirmationRecorded) -> Result<(), StoreError> {
        let json = serde_json::to_string(c).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO reactor_window_watch (window_id, partner_id, warehouse_id, window_start, window_end,
             confirmation, confirmed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (window_id) DO UPDATE SET confirmation = COALESCE(reactor_window_watch.confirmation, excluded.confirmation),
             confirmed_at = COALESCE(reactor_window_watch.confirmed_at, excluded.confirmed_at)",
        )
        .bind(c.window().id())
        .bind(&c.partner_id)
        .bind(&c.warehouse_id)
        .bind(c.window_start)
        .bind(c.window_end)
        .bind(json)
        .bind(c.recorded_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The watcher consumed a decision: the window is decided, below the first decision's position.
    pub async fn watch_decision(&self, d: &WindowDecision) -> Result<(), StoreError> {
        let through: Vec<(i32, i64)> = d
            .realtime_through
            .iter()
            .map(|p| (p.partition, p.next_offset))
            .collect();
        let json =
            serde_json::to_string(&through).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO reactor_window_watch (window_id, partner_id, warehouse_id, window_start, window_end,
             decided, realtime_through) VALUES ($1, $2, $3, $4, $5, 1, $6)
             ON CONFLICT (window_id) DO UPDATE SET decided = 1,
             realtime_through = COALESCE(reactor_window_watch.realtime_through, excluded.realtime_through)",
        )
        .bind(&d.window_id)
        .bind(&d.partner_id)
        .bind(&d.warehouse_id)
        .bind(d.window_start)
        .bind(d.window_end)
        .bind(json)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The windows still watched; decided windows that ended before `horizon` are dropped first.
    pub async fn watched_windows(
        &self,
        horizon: UtcMillis,
    ) -> Result<Vec<WatchedWindow>, StoreError> {
        sqlx::query("DELETE FROM reactor_window_watch WHERE decided = 1 AND window_end < $1")
            .bind(horizon.0)
            .execute(&self.pool)
            .await?;
        let corrupt = |column: &str, e: serde_json::Error| {
            StoreError::Corrupt(format!("reactor_window_watch.{column}: {e}"))
        };
        sqlx::query("SELECT * FROM reactor_window_watch ORDER BY window_end, window_id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                let confirmation = r
                    .try_get::<Option<String>, _>("confirmation")?
                    .map(|text| serde_json::from_str(&text).map_err(|e| corrupt("confirmation", e)))
                    .transpose()?;
                let realtime_through = r
                    .try_get::<Option<String>, _>("realtime_through")?
                    .map(|text| {
                        serde_json::from_str(&text).map_err(|e| corrupt("realtime_through", e))
                    })
                    .transpose()?;
                Ok(WatchedWindow {
                    window_id: r.try_get("window_id")?,
                    key: WindowKey {
                        partner_id: PartnerId::from_trusted(r.try_get::<String, _>("partner_id")?),
                        warehouse_id: WarehouseId::from_trusted(
                            r.try_get::<String, _>("warehouse_id")?,
                        ),
                        start: UtcMillis(r.try_get("window_start")?),
                        end: UtcMillis(r.try_get("window_end")?),
                    },
                    confirmation,
                    realtime_through,
                })
            })
            .collect()
    }
}
