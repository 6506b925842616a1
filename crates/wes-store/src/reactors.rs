//! Durable state of reactors (side-effecting consumers): each reactor's own log positions, apart
//! from the projections' (a rebuild or replay of a projection never moves them), and the work
//! state of the window watcher. None of it is a read model: it is never rebuilt.

use crate::columns::{json, to_json};
use crate::projection::{read_offsets, write_offset};
use crate::{Store, StoreError};
use wes_domain::reconcile::WindowKey;
use wes_domain::{PartnerId, UtcMillis, WarehouseId};
use wes_events::{ConfirmationRecorded, WindowDecision};

pub(crate) const OFFSETS_TABLE: &str = "CREATE TABLE IF NOT EXISTS reactor_offsets (
    reactor TEXT NOT NULL, topic TEXT NOT NULL, kafka_partition BIGINT NOT NULL,
    next_offset BIGINT NOT NULL, PRIMARY KEY (reactor, topic, kafka_partition))";

/// `window_id` holds the window's key text (`WindowKey::key_text`), as it did when that was its id.
pub(crate) const WINDOW_WATCH_TABLE: &str = "CREATE TABLE IF NOT EXISTS reactor_window_watch (
    window_id TEXT PRIMARY KEY, window_key TEXT NOT NULL, window_end BIGINT NOT NULL,
    confirmation TEXT, decided BIGINT NOT NULL DEFAULT 0, realtime_through TEXT)";

/// A window the watcher keeps an eye on, as its own consumed events left it.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchedWindow {
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
        read_offsets(&self.pool, "reactor_offsets", "reactor", reactor).await
    }

    /// Records that a reactor has performed the effects of everything below `positions`.
    pub async fn save_reactor_position(
        &self,
        reactor: &str,
        positions: &[(String, i32, i64)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for at in positions {
            write_offset(&mut tx, "reactor_offsets", "reactor", reactor, at).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The watcher consumed a confirmation: watch its window (first confirmation kept).
    pub async fn watch_confirmation(&self, c: &ConfirmationRecorded) -> Result<(), StoreError> {
        let update =
            "confirmation = COALESCE(reactor_window_watch.confirmation, excluded.confirmation)";
        self.watch(&c.window(), "confirmation", &to_json(c)?, update)
            .await
    }

    /// The watcher consumed a decision: the window is decided, below the first decision's position.
    pub async fn watch_decision(&self, d: &WindowDecision) -> Result<(), StoreError> {
        let through: Vec<(i32, i64)> = d
            .realtime_through
            .iter()
            .map(|p| (p.partition, p.next_offset))
            .collect();
        let update = "decided = 1,
             realtime_through = COALESCE(reactor_window_watch.realtime_through, excluded.realtime_through)";
        let key = WindowKey {
            partner_id: PartnerId::from_trusted(&d.partner_id),
            warehouse_id: WarehouseId::from_trusted(&d.warehouse_id),
            start: UtcMillis(d.window_start),
            end: UtcMillis(d.window_end),
        };
        self.watch(&key, "realtime_through", &to_json(&through)?, update)
            .await
    }

    /// Upserts the watch row of `key` with `column` set to `value` (JSON), merged by `update`.
    async fn watch(
        &self,
        key: &WindowKey,
        column: &str,
        value: &str,
        update: &str,
    ) -> Result<(), StoreError> {
        let decided = i64::from(column == "realtime_through");
        sqlx::query(&format!(
            "INSERT INTO reactor_window_watch (window_id, window_key, window_end, decided, {column})
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (window_id) DO UPDATE SET {update}"
        ))
        .bind(key.key_text())
        .bind(to_json(key)?)
        .bind(key.end.0)
        .bind(decided)
        .bind(value)
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
        let rows = sqlx::query("SELECT * FROM reactor_window_watch ORDER BY window_end, window_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(WatchedWindow {
                    key: json(r, "window_key")?
                        .ok_or_else(|| StoreError::Corrupt("window_key is NULL".into()))?,
                    confirmation: json(r, "confirmation")?,
                    realtime_through: json(r, "realtime_through")?,
                })
            })
            .collect()
    }
}
