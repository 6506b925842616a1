//! SQL adapter. One code path for SQLite and PostgreSQL through sqlx's `Any` driver: every statement
//! uses `$n` placeholders, BIGINT/TEXT columns and `ON CONFLICT`, which both databases accept.

mod columns;
pub mod deliveries;
pub mod idempotency;
pub mod projection;
pub mod queries;
pub mod reactors;
pub mod windows;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;

pub use projection::{ApplyOutcome, ProjectionKind, Tables};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("event: {0}")]
    Event(#[from] wes_events::EventsError),
    #[error("unsupported DATABASE_URL {0:?}: use sqlite:… or postgres://…")]
    UnsupportedUrl(String),
    #[error("unknown projection {0}")]
    UnknownProjection(String),
    /// A stored value that does not decode (a JSON column, an unknown word): never defaulted.
    #[error("stored value does not decode: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the database itself is unreachable, refusing connections or busy (answer 503,
    /// try again), as opposed to a statement failing.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Sql(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => {
                // PostgreSQL SQLSTATE classes: 08 connection exception, 57P admin shutdown /
                // cannot connect now, 53 insufficient resources, 55000 "not accepting connections".
                let code = db.code().unwrap_or_default();
                code.starts_with("08")
                    || code.starts_with("57P")
                    || code.starts_with("53")
                    || code == "55000"
                    || db.message().contains("locked")
                    || db.message().contains("busy")
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pub pool: AnyPool,
    pub backend: Backend,
}

impl Store {
    /// Connects and creates the hub's own tables and every projection's live tables.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let options = AnyConnectOptions::from_str(url)?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(5))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL lets readers run beside the one writer; busy_timeout makes writers queue.
                            conn.execute("PRAGMA journal_mode=WAL").await?;
                            conn.execute("PRAGMA synchronous=NORMAL").await?;
                            conn.execute("PRAGMA busy_timeout=5000").await?;
                            conn.execute("PRAGMA foreign_keys=ON").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(10)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await?
            }
        };
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        for ddl in [
            "CREATE TABLE IF NOT EXISTS projection_offsets (
                projection TEXT NOT NULL, topic TEXT NOT NULL, kafka_partition BIGINT NOT NULL,
                next_offset BIGINT NOT NULL, PRIMARY KEY (projection, topic, kafka_partition))",
            "CREATE TABLE IF NOT EXISTS idempotency_keys (
                scope TEXT NOT NULL, partner_id TEXT NOT NULL, correlation_id TEXT NOT NULL,
                payload_sha256 TEXT NOT NULL, state TEXT NOT NULL, lease_until BIGINT NOT NULL, owner TEXT NOT NULL,
                created_at BIGINT NOT NULL, PRIMARY KEY (scope, partner_id, correlation_id))",
            "CREATE TABLE IF NOT EXISTS projection_state (projection TEXT PRIMARY KEY, generation BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS ix_idempotency_keys_created ON idempotency_keys (created_at)",
            reactors::OFFSETS_TABLE,
            reactors::WINDOW_WATCH_TABLE,
            deliveries::DELIVERIES_TABLE,
            deliveries::DELIVERIES_INDEXES[0],
            deliveries::DELIVERIES_INDEXES[1],
            deliveries::LEASES_TABLE,
        ] {
            sqlx::query(ddl).execute(&self.pool).await?;
        }
        for kind in ProjectionKind::ALL {
            for ddl in kind.create_statements(&Tables::LIVE, true) {
                sqlx::query(&ddl).execute(&self.pool).await?;
            }
            for (table, column, definition) in kind.added_columns() {
                let present = sqlx::query(&format!("SELECT {column} FROM {table} LIMIT 1"))
                    .fetch_optional(&self.pool)
                    .await
                    .is_ok();
                if !present {
                    sqlx::query(&format!(
                        "ALTER TABLE {table} ADD COLUMN {column} {definition}"
                    ))
                    .execute(&self.pool)
                    .await?;
                }
            }
        }
        Ok(())
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}
