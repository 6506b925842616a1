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
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Row};
use wes_events::Event;

mod capacity;
mod dispatch;
mod ledger;
mod masterdata;
mod poll_acks;
mod supervisor;
mod tasks;
mod windows;

/// The connection a batch is applied on (inside its transaction).
pub type Conn = AnyConnection;
/// Whether one record changed the tables.
pub type Applied = Result<bool, StoreError>;
/// How many records of a batch changed the tables.
pub type Batch = Result<usize, StoreError>;

/// What a projection is: its name (in `projection_state`, the admin API and the CLI), the topics
/// it folds, its tables and indexes, and columns added after its tables were first created
/// (`(table, column, definition)`, added by `ALTER TABLE` at start on older databases).
pub struct Spec {
    pub name: &'static str,
    pub topics: &'static [&'static str],
    pub tables: &'static [TableDef],
    pub indexes: &'static [IndexDef],
    pub added_columns: &'static [(&'static str, &'static str, &'static str)],
}

impl Spec {
    pub const fn new(
        name: &'static str,
        topics: &'static [&'static str],
        tables: &'static [TableDef],
        indexes: &'static [IndexDef],
    ) -> Spec {
        Spec {
            name,
            topics,
            tables,
            indexes,
            added_columns: &[],
        }
    }

    pub const fn with_added_columns(
        self,
        added_columns: &'static [(&'static str, &'static str, &'static str)],
    ) -> Spec {
        Spec {
            added_columns,
            ..self
        }
    }
}

/// A read model folded from topics into its own tables. `apply_one` must be idempotent per event
/// (a record may be offered again after a crash between the broker and the commit) and must not
/// depend on the relative order of different topics.
pub trait Projection: 'static {
    const SPEC: Spec;

    /// Applies one record; false when it changed nothing (already applied, or not for us).
    fn apply_one(
        conn: &mut Conn,
        t: &Tables,
        r: &Record<'_>,
    ) -> impl Future<Output = Applied> + Send;

    /// Applies records in log order; returns how many changed the tables.
    fn apply(
        conn: &mut Conn,
        t: &Tables,
        records: &[&Record<'_>],
    ) -> impl Future<Output = Batch> + Send {
        async move {
            let mut applied = 0;
            for record in records {
                if Self::apply_one(conn, t, record).await? {
                    applied += 1;
                }
            }
            Ok(applied)
        }
    }
}

type ApplyFn = for<'a> fn(&'a mut Conn, &'a Tables, &'a [&'a Record<'a>]) -> BoxFuture<'a, Batch>;

fn apply_boxed<'a, P: Projection>(
    conn: &'a mut Conn,
    t: &'a Tables,
    records: &'a [&'a Record<'a>],
) -> BoxFuture<'a, Batch> {
    Box::pin(P::apply(conn, t, records))
}

/// A registered projection: its spec and how it applies a batch.
pub struct Registered {
    spec: Spec,
    apply: ApplyFn,
}

impl Registered {
    const fn of<P: Projection>() -> Registered {
        Registered {
            spec: P::SPEC,
            apply: apply_boxed::<P>,
        }
    }
}

/// A registered projection, by reference.
#[derive(Clone, Copy)]
pub struct ProjectionKind(&'static Registered);

impl ProjectionKind {
    /// Warehouses, SKUs, locations, partners: what validation and authentication read.
    pub const MASTER_DATA: ProjectionKind =
        ProjectionKind(&Registered::of::<masterdata::MasterData>());
    /// Balances and the movement log.
    pub const LEDGER: ProjectionKind = ProjectionKind(&Registered::of::<ledger::Ledger>());
    pub const DISPATCH: ProjectionKind = ProjectionKind(&Registered::of::<dispatch::Dispatch>());
    pub const TASKS: ProjectionKind = ProjectionKind(&Registered::of::<tasks::Tasks>());
    pub const CAPACITY: ProjectionKind = ProjectionKind(&Registered::of::<capacity::Capacity>());
    pub const SUPERVISOR: ProjectionKind =
        ProjectionKind(&Registered::of::<supervisor::Supervisor>());
    pub const WINDOWS: ProjectionKind = ProjectionKind(&Registered::of::<windows::Windows>());
    /// Poll-mode executors' acknowledged positions.
    pub const POLL_ACKS: ProjectionKind = ProjectionKind(&Registered::of::<poll_acks::PollAcks>());

    /// The registry: every projection the hub runs.
    pub const ALL: [ProjectionKind; 8] = [
        Self::MASTER_DATA,
        Self::LEDGER,
        Self::DISPATCH,
        Self::TASKS,
        Self::CAPACITY,
        Self::SUPERVISOR,
        Self::WINDOWS,
        Self::POLL_ACKS,
    ];

    fn spec(self) -> &'static Spec {
        &self.0.spec
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn topics(self) -> &'static [&'static str] {
        self.spec().topics
    }

    pub fn added_columns(self) -> &'static [(&'static str, &'static str, &'static str)] {
        self.spec().added_columns
    }

    pub fn table_names(self) -> Vec<&'static str> {
        self.spec().tables.iter().map(|t| t.name).collect()
    }

    /// Applies a batch (in log order) on `conn`; how many records changed the tables.
    async fn apply(self, conn: &mut Conn, t: &Tables, records: &[&Record<'_>]) -> Batch {
        (self.0.apply)(conn, t, records).await
    }

    /// `CREATE … IF NOT EXISTS` for the table set; shadow tables get their indexes only after the
    /// swap (bulk loading is faster without them, and index names stay unique).
    pub fn create_statements(self, t: &Tables, with_indexes: bool) -> Vec<String> {
        let mut statements: Vec<String> = self
            .spec()
            .tables
            .iter()
            .map(|d| format!("CREATE TABLE IF NOT EXISTS {} ({})", t.n(d.name), d.columns))
            .collect();
        if with_indexes {
            statements.extend(self.index_statements());
        }
        statements
    }

    fn index_statements(self) -> Vec<String> {
        self.spec()
            .indexes
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

impl TableDef {
    pub const fn new(name: &'static str, columns: &'static str) -> Self {
        TableDef { name, columns }
    }
}

pub struct IndexDef {
    pub name: &'static str,
    pub table: &'static str,
    pub columns: &'static str,
}

impl IndexDef {
    pub const fn on(table: &'static str, name: &'static str, columns: &'static str) -> Self {
        IndexDef {
            name,
            table,
            columns,
        }
    }
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

/// A statement with its parameters bound so far.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Runs an insert whose last two parameters are the record's log position (`kafka_partition`,
/// `kafka_offset`); whether it wrote the row (false: the event was applied before).
pub(crate) async fn insert_once(conn: &mut Conn, query: AnyQuery<'_>, r: &Record<'_>) -> Applied {
    changed_one(conn, query.bind(r.partition as i64).bind(r.offset)).await
}

/// Runs a statement; whether it changed exactly one row.
pub(crate) async fn changed_one(conn: &mut Conn, query: AnyQuery<'_>) -> Applied {
    Ok(query.execute(&mut *conn).await?.rows_affected() == 1)
}

/// `(topic, partition, next_offset)` of every partition `owner` committed in an offsets table
/// (`projection_offsets` by projection, `reactor_offsets` by reactor).
pub(crate) async fn read_offsets<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    table: &str,
    owner_column: &str,
    owner: &str,
) -> Result<Vec<(String, i32, i64)>, StoreError> {
    let sql = format!(
        "SELECT topic, kafka_partition, next_offset FROM {table} WHERE {owner_column} = $1
         ORDER BY topic, kafka_partition"
    );
    let rows = sqlx::query(&sql).bind(owner).fetch_all(db).await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("topic")?,
                r.try_get::<i64, _>("kafka_partition")? as i32,
                r.try_get("next_offset")?,
            ))
        })
        .collect()
}

/// Stores `owner`'s next offset of one partition in an offsets table.
pub(crate) async fn write_offset(
    conn: &mut Conn,
    table: &str,
    owner_column: &str,
    owner: &str,
    (topic, partition, next): &(String, i32, i64),
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO {table} ({owner_column}, topic, kafka_partition, next_offset) VALUES ($1, $2, $3, $4)
         ON CONFLICT ({owner_column}, topic, kafka_partition) DO UPDATE SET next_offset = excluded.next_offset"
    ))
    .bind(owner)
    .bind(topic)
    .bind(*partition as i64)
    .bind(*next)
    .execute(&mut *conn)
    .await?;
    Ok(())
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
        let offsets = read_offsets(&self.pool, "projection_offsets", "projection", &key).await?;
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
        let applied = kind.apply(&mut tx, t, &fresh).await?;
        let skipped = records.len() - applied;
        for (topic, partition, before, after) in next {
            if after > before {
                let at = (topic.to_owned(), partition, after);
                write_offset(&mut tx, "projection_offsets", "projection", &key, &at).await?;
            }
        }
        tx.commit().await?;
        Ok(ApplyOutcome::Applied { applied, skipped })
    }

    /// Empties the shadow table set of a projection and resets its offsets, ready to replay from 0.
    pub async fn prepare_shadow(&self, kind: ProjectionKind) -> Result<(), StoreError> {
        let key = Tables::SHADOW.state_key(kind);
        self.ensure_state_row(&key).await?;
        let mut statements: Vec<(String, Vec<&str>)> = vec![
            (
                "UPDATE projection_state SET generation = 0 WHERE projection = $1".into(),
                vec![&key],
            ),
            (
                "DELETE FROM projection_offsets WHERE projection = $1".into(),
                vec![&key],
            ),
        ];
        for table in kind.table_names() {
            let drop = format!("DROP TABLE IF EXISTS {}", Tables::SHADOW.n(table));
            statements.push((drop, vec![]));
        }
        for ddl in kind.create_statements(&Tables::SHADOW, false) {
            statements.push((ddl, vec![]));
        }
        self.in_one_transaction(&statements).await
    }

    /// Swaps the shadow tables in: in one transaction the live tables are dropped, the shadow ones
    /// renamed, indexes created, offsets moved over and the generation bumped.
    pub async fn swap_shadow(&self, kind: ProjectionKind) -> Result<(), StoreError> {
        let live = Tables::LIVE.state_key(kind);
        let shadow = Tables::SHADOW.state_key(kind);
        let mut statements: Vec<(String, Vec<&str>)> = vec![(
            "UPDATE projection_state SET generation = generation + 1 WHERE projection = $1".into(),
            vec![&live],
        )];
        for table in kind.table_names() {
            statements.push((format!("DROP TABLE IF EXISTS {table}"), vec![]));
            let rename = format!("ALTER TABLE {} RENAME TO {table}", Tables::SHADOW.n(table));
            statements.push((rename, vec![]));
        }
        for ddl in kind.index_statements() {
            statements.push((ddl, vec![]));
        }
        statements.push((
            "DELETE FROM projection_offsets WHERE projection = $1".into(),
            vec![&live],
        ));
        statements.push((
            "UPDATE projection_offsets SET projection = $1 WHERE projection = $2".into(),
            vec![&live, &shadow],
        ));
        self.in_one_transaction(&statements).await
    }

    /// Runs `(sql, text parameters)` statements in order in one transaction.
    async fn in_one_transaction(
        &self,
        statements: &[(String, Vec<&str>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (sql, params) in statements {
            let mut query = sqlx::query(sql);
            for param in params {
                query = query.bind(*param);
            }
            query.execute(&mut *tx).await?;
        }
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
