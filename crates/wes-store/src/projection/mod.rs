//! The projection framework on the SQL side: the `Projection` trait, the registry of projections
//! (one module each below), applying a batch of events with the offsets in the same transaction,
//! and rebuild into shadow tables followed by an atomic swap.
//!
//! Adding a projection: a module here implementing `Projection`, and one line in `ProjectionKind::ALL`.
//!
//! Each projection has a `generation` row. Every batch first updates it (taking the write lock on
//! SQLite, a row lock on PostgreSQL), so batches of one projection serialize across hub instances;
//! a rebuild swap bumps it, so a runner still positioned on the old tables re-reads its offsets.

use crate::{Store, StoreError};
use sqlx::{AnyConnection, Row};
use wes_events::Event;

mod capacity;
mod dispatch;
mod ledger;
mod masterdata;
mod supervisor;
mod tasks;
mod windows;

/// A read model folded from topics into its own tables. `apply_one` must be idempotent per event
/// (a record may be offered again after a crash between the broker and the commit) and must not
/// depend on the relative order of different topics.
#[async_trait::async_trait]
pub trait Projection: Send + Sync + 'static {
    /// The name in `projection_state`, the admin API and the CLI.
    fn name(&self) -> &'static str;
    fn topics(&self) -> &'static [&'static str];
    fn tables(&self) -> &'static [TableDef];
    fn indexes(&self) -> &'static [IndexDef] {
        &[]
    }
    /// Columns added after a table was first created: `(table, column, definition)`. Databases
    /// created before get them through `ALTER TABLE` at start.
    fn added_columns(&self) -> &'static [(&'static str, &'static str, &'static str)] {
        &[]
    }
    /// Applies one record; false when it changed nothing (already applied, or not for us).
    async fn apply_one(
        &self,
        conn: &mut AnyConnection,
        t: &Tables,
        r: &Record<'_>,
    ) -> Result<bool, StoreError>;
    /// Applies records in log order; returns how many changed the tables.
    async fn apply(
        &self,
        conn: &mut AnyConnection,
        t: &Tables,
        records: &[&Record<'_>],
    ) -> Result<usize, StoreError> {
        let mut applied = 0;
        for record in records {
            if self.apply_one(conn, t, record).await? {
                applied += 1;
            }
        }
        Ok(applied)
    }
}

/// A registered projection.
#[derive(Clone, Copy)]
pub struct ProjectionKind(&'static dyn Projection);

impl ProjectionKind {
    /// Warehouses, SKUs, locations, partners: what validation and authentication read.
    pub const MASTER_DATA: ProjectionKind = ProjectionKind(&masterdata::MasterData);
    /// Balances and the movement log.
    pub const LEDGER: ProjectionKind = ProjectionKind(&ledger::Ledger);
    pub const DISPATCH: ProjectionKind = ProjectionKind(&dispatch::Dispatch);
    pub const TASKS: ProjectionKind = ProjectionKind(&tasks::Tasks);
    pub const CAPACITY: ProjectionKind = ProjectionKind(&capacity::Capacity);
    pub const SUPERVISOR: ProjectionKind = ProjectionKind(&supervisor::Supervisor);
    pub const WINDOWS: ProjectionKind = ProjectionKind(&windows::Windows);

    /// The registry: every projection the hub runs.
    pub const ALL: [ProjectionKind; 7] = [
        Self::MASTER_DATA,
        Self::LEDGER,
        Self::DISPATCH,
        Self::TASKS,
        Self::CAPACITY,
        Self::SUPERVISOR,
        Self::WINDOWS,
    ];

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn topics(self) -> &'static [&'static str] {
        self.0.topics()
    }

    pub fn added_columns(self) -> &'static [(&'static str, &'static str, &'static str)] {
        self.0.added_columns()
    }

    pub fn table_names(self) -> Vec<&'static str> {
        self.0.tables().iter().map(|t| t.name).collect()
    }

    /// `CREATE … IF NOT EXISTS` for the table set; shadow tables get their indexes only after the
    /// swap (bulk loading is faster without them, and index names stay unique).
    pub fn create_statements(self, t: &Tables, with_indexes: bool) -> Vec<String> {
        let mut statements: Vec<String> = self
            .0
            .tables()
            .iter()
            .map(|d| format!("CREATE TABLE IF NOT EXISTS {} ({})", t.n(d.name), d.columns))
            .collect();
        if with_indexes {
            statements.extend(self.index_statements());
        }
        statements
    }

    fn index_statements(self) -> Vec<String> {
        self.0
            .indexes()
            .iter()
            .map(|i| {
                format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
                    i.name, i.table, i.columns
                )
            })
            .collect()
    }
}

impl PartialEq for ProjectionKind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}
impl Eq for ProjectionKind {}
impl std::hash::Hash for ProjectionKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state)
    }
}
impl std::fmt::Debug for ProjectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Physical table names: live, or the shadow set a rebuild fills.
#[derive(Debug, Clone, Copy)]
pub struct Tables {
    suffix: &'static str,
}

impl Tables {
    pub const LIVE: Tables = Tables { suffix: "" };
    pub const SHADOW: Tables = Tables {
        suffix: "__rebuild",
    };

    pub fn n(&self, base: &str) -> String {
        format!("{base}{}", self.suffix)
    }

    /// The key under which this table set's offsets and generation are stored.
    pub fn state_key(&self, kind: ProjectionKind) -> String {
        format!("{}{}", kind.name(), self.suffix)
    }
}

/// A table of a projection: its base name and column definitions.
pub struct TableDef {
    pub name: &'static str,
    pub columns: &'static str,
}

pub struct IndexDef {
    pub name: &'static str,
    pub table: &'static str,
    pub columns: &'static str,
}

/// One record to apply, with its position in the log.
pub struct Record<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub event: &'a Event,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// Committed: `applied` records changed the tables, `skipped` were already applied.
    Applied { applied: usize, skipped: usize },
    /// The stored generation moved (a rebuild swapped tables): re-read positions and re-seek.
    StaleGeneration,
}

/// Stored position of one projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub generation: i64,
    /// `(topic, partition, next_offset)` for every partition seen so far.
    pub offsets: Vec<(String, i32, i64)>,
}

impl Store {
    async fn ensure_state_row(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO projection_state (projection, generation) VALUES ($1, 0) ON CONFLICT (projection) DO NOTHING")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Where a projection's table set stands: its generation and stored offsets.
    pub async fn position(&self, kind: ProjectionKind, t: &Tables) -> Result<Position, StoreError> {
        let key = t.state_key(kind);
        self.ensure_state_row(&key).await?;
        let generation: i64 =
            sqlx::query("SELECT generation FROM projection_state WHERE projection = $1")
                .bind(&key)
                .fetch_one(&self.pool)
                .await?
                .try_get("generation")?;
        let rows = sqlx::query("SELECT topic, kafka_partition, next_offset FROM projection_offsets WHERE projection = $1 ORDER BY topic, kafka_partition")
            .bind(&key)
            .fetch_all(&self.pool)
            .await?;
        let offsets = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("topic")?,
                    r.try_get::<i64, _>("kafka_partition")? as i32,
                    r.try_get("next_offset")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(Position {
            generation,
            offsets,
        })
    }

    /// Applies records (in log order per partition) and advances the stored offsets, all in one
    /// transaction. Records below a stored offset were applied before and are skipped.
    pub async fn apply_batch(
        &self,
        kind: ProjectionKind,
        t: &Tables,
        generation: i64,
        records: &[Record<'_>],
    ) -> Result<ApplyOutcome, StoreError> {
        let key = t.state_key(kind);
        let mut tx = self.pool.begin().await?;
        let stored: Option<i64> = sqlx::query("UPDATE projection_state SET generation = generation WHERE projection = $1 RETURNING generation")
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("generation"))
            .transpose()?;
        if stored != Some(generation) {
            return Ok(ApplyOutcome::StaleGeneration);
        }
        let mut fresh: Vec<&Record> = Vec::with_capacity(records.len());
        let mut next: Vec<(&str, i32, i64, i64)> = vec![]; // (topic, partition, stored next, new next)
        for record in records {
            let slot = match next
                .iter()
                .position(|(tp, p, _, _)| *tp == record.topic && *p == record.partition)
            {
                Some(i) => i,
                None => {
                    let stored_next: i64 = sqlx::query("SELECT next_offset FROM projection_offsets WHERE projection = $1 AND topic = $2 AND kafka_partition = $3")
                        .bind(&key)
                        .bind(record.topic)
                        .bind(record.partition as i64)
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|r| r.try_get("next_offset"))
                        .transpose()?
                        .unwrap_or(0);
                    next.push((record.topic, record.partition, stored_next, stored_next));
                    next.len() - 1
                }
            };
            if record.offset < next[slot].3 {
                continue;
            }
            next[slot].3 = record.offset + 1;
            fresh.push(record);
        }
        let applied = kind.0.apply(&mut tx, t, &fresh).await?;
        let skipped = records.len() - applied;
        for (topic, partition, before, after) in next {
            if after > before {
                sqlx::query(
                    "INSERT INTO projection_offsets (projection, topic, kafka_partition, next_offset) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (projection, topic, kafka_partition) DO UPDATE SET next_offset = excluded.next_offset",
                )
                .bind(&key)
                .bind(topic)
                .bind(partition as i64)
                .bind(after)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(ApplyOutcome::Applied { applied, skipped })
    }

    /// Empties the shadow table set of a projection and resets its offsets, ready to replay from 0.
    pub async fn prepare_shadow(&self, kind: ProjectionKind) -> Result<(), StoreError> {
        let key = Tables::SHADOW.state_key(kind);
        self.ensure_state_row(&key).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE projection_state SET generation = 0 WHERE projection = $1")
            .bind(&key)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM projection_offsets WHERE projection = $1")
            .bind(&key)
            .execute(&mut *tx)
            .await?;
        for table in kind.table_names() {
            sqlx::query(&format!("DROP TABLE IF EXISTS {}", Tables::SHADOW.n(table)))
                .execute(&mut *tx)
                .await?;
        }
        for ddl in kind.create_statements(&Tables::SHADOW, false) {
            sqlx::query(&ddl).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Swaps the shadow tables in: in one transaction the live tables are dropped, the shadow ones
    /// renamed, indexes created, offsets moved over and the generation bumped.
    pub async fn swap_shadow(&self, kind: ProjectionKind) -> Result<(), StoreError> {
        let live = Tables::LIVE.state_key(kind);
        let shadow = Tables::SHADOW.state_key(kind);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE projection_state SET generation = generation + 1 WHERE projection = $1",
        )
        .bind(&live)
        .execute(&mut *tx)
        .await?;
        for table in kind.table_names() {
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "ALTER TABLE {} RENAME TO {table}",
                Tables::SHADOW.n(table)
            ))
            .execute(&mut *tx)
            .await?;
        }
        for ddl in kind.index_statements() {
            sqlx::query(&ddl).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM projection_offsets WHERE projection = $1")
            .bind(&live)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE projection_offsets SET projection = $1 WHERE projection = $2")
            .bind(&live)
            .bind(&shadow)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wes_events::catalog::topics;

    /// Architecture invariant 6: capacity (and work-status) never reach inventory or accounting. The
    /// ledger consumes the movements topic and nothing else.
    #[test]
    fn only_movements_reach_the_ledger() {
        assert_eq!(ProjectionKind::LEDGER.topics(), &[topics::MOVEMENTS]);
        for kind in ProjectionKind::ALL
            .into_iter()
            .filter(|k| *k != ProjectionKind::LEDGER)
        {
            assert!(
                kind.table_names().iter().all(|t| !t.starts_with("ledger_")),
                "{kind:?} writes ledger tables"
            );
        }
    }
}
