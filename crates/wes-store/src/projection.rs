//! The projection framework on the SQL side: table definitions, applying a batch of events with the
//! offsets in the same transaction, and rebuild into shadow tables followed by an atomic swap.
//!
//! Each projection has a `generation` row. Every batch first updates it (taking the write lock on
//! SQLite, a row lock on PostgreSQL), so batches of one projection serialize across hub instances;
//! a rebuild swap bumps it, so a runner still positioned on the old tables re-reads its offsets.

use crate::{Store, StoreError};
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};
use wes_domain::movement::ledger_deltas;
use wes_events::Event;
use wes_events::catalog::topics;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProjectionKind {
    /// Warehouses, SKUs, locations, partners: what validation and authentication read.
    MasterData,
    /// Balances per (warehouse, SKU, location, lot, serial) and the movement log.
    Ledger,
    /// Every dispatched release and cancellation, for look-ups and CANCELLED validation.
    Dispatch,
    /// Task lifecycle: current status per task and the full history, flagged steps included.
    Tasks,
    /// Capacity snapshots for trend charts. Reads no inventory, writes no inventory.
    Capacity,
    /// The supervisor queue: entries opened by exceptions and window discrepancies, acknowledged
    /// and closed by supervisors.
    Supervisor,
    /// Confirmation windows: each confirmation and the reconciler's decisions on it.
    Windows,
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

struct TableDef {
    name: &'static str,
    columns: &'static str,
}

struct IndexDef {
    name: &'static str,
    table: &'static str,
    columns: &'static str,
}

const MASTERDATA_TABLES: &[TableDef] = &[
    TableDef {
        name: "md_warehouses",
        columns: "warehouse_id TEXT PRIMARY KEY, warehouse_frn TEXT NOT NULL, name TEXT NOT NULL, recorded_at BIGINT NOT NULL",
    },
    TableDef {
        name: "md_skus",
        columns: "sku TEXT PRIMARY KEY, base_uom TEXT NOT NULL, tracking TEXT NOT NULL, description TEXT NOT NULL, recorded_at BIGINT NOT NULL",
    },
    TableDef {
        name: "md_locations",
        columns: "warehouse_id TEXT NOT NULL, location TEXT NOT NULL, recorded_at BIGINT NOT NULL, PRIMARY KEY (warehouse_id, location)",
    },
    TableDef {
        name: "md_partners",
        columns: "partner_id TEXT PRIMARY KEY, role TEXT NOT NULL, allowed_warehouses TEXT NOT NULL, api_key_sha256 TEXT NOT NULL, api_key_expires_at TEXT NOT NULL, recorded_at BIGINT NOT NULL,
                  cert_sha256 TEXT NOT NULL DEFAULT '[]', bearer_allowed BIGINT NOT NULL DEFAULT 1",
    },
];

const LEDGER_TABLES: &[TableDef] = &[
    TableDef {
        name: "ledger_balances",
        columns: "warehouse_id TEXT NOT NULL, sku TEXT NOT NULL, location TEXT NOT NULL, lot TEXT NOT NULL, serial TEXT NOT NULL,
                  qty BIGINT NOT NULL, last_movement_at BIGINT NOT NULL, PRIMARY KEY (warehouse_id, sku, location, lot, serial)",
    },
    TableDef {
        name: "ledger_movements",
        columns: "event_id TEXT PRIMARY KEY, kafka_partition BIGINT NOT NULL, kafka_offset BIGINT NOT NULL,
                  warehouse_id TEXT NOT NULL, kind TEXT NOT NULL, sku TEXT NOT NULL, qty BIGINT NOT NULL, uom TEXT NOT NULL,
                  from_location TEXT, to_location TEXT, lot TEXT, serial TEXT,
                  document_type TEXT, document_id TEXT, document_line_no BIGINT,
                  occurred_at BIGINT NOT NULL, recorded_at BIGINT NOT NULL, source TEXT NOT NULL,
                  executor_partner_id TEXT NOT NULL, executor_correlation_id TEXT NOT NULL, actor_kind TEXT, actor_id TEXT",
    },
];

const LEDGER_INDEXES: &[IndexDef] = &[
    IndexDef {
        name: "ix_ledger_movements_correlation",
        table: "ledger_movements",
        columns: "executor_correlation_id, executor_partner_id",
    },
    IndexDef {
        name: "ix_ledger_movements_sku",
        table: "ledger_movements",
        columns: "warehouse_id, sku, occurred_at",
    },
    IndexDef {
        name: "ix_ledger_movements_occurred",
        table: "ledger_movements",
        columns: "occurred_at, event_id",
    },
];

const DISPATCH_TABLES: &[TableDef] = &[TableDef {
    name: "dispatch_releases",
    columns: "planner_id TEXT NOT NULL, correlation_id TEXT NOT NULL, event_id TEXT NOT NULL, kind TEXT NOT NULL,
              warehouse_id TEXT NOT NULL, document_type TEXT NOT NULL, document_id TEXT NOT NULL, document_line_no BIGINT,
              released_at BIGINT NOT NULL, priority BIGINT NOT NULL, operations BIGINT NOT NULL,
              cancelled_correlation_id TEXT, cancelled_by TEXT, kafka_partition BIGINT NOT NULL, kafka_offset BIGINT NOT NULL,
              PRIMARY KEY (planner_id, correlation_id)",
}];

const TASK_TABLES: &[TableDef] = &[
    TableDef {
        name: "task_current",
        columns: "warehouse_id TEXT NOT NULL, task_id TEXT NOT NULL, document_type TEXT NOT NULL, document_id TEXT NOT NULL,
                  document_line_no BIGINT, status TEXT NOT NULL, occurred_at BIGINT NOT NULL, worker_id TEXT, robot_id TEXT,
                  flagged BIGINT NOT NULL, last_event_id TEXT NOT NULL, PRIMARY KEY (warehouse_id, task_id)",
    },
    TableDef {
        name: "task_history",
        columns: "event_id TEXT PRIMARY KEY, warehouse_id TEXT NOT NULL, task_id TEXT NOT NULL, status TEXT NOT NULL,
                  occurred_at BIGINT NOT NULL, recorded_at BIGINT NOT NULL, transition TEXT NOT NULL, partner_id TEXT NOT NULL,
                  correlation_id TEXT NOT NULL, worker_id TEXT, robot_id TEXT, reason TEXT,
                  kafka_partition BIGINT NOT NULL, kafka_offset BIGINT NOT NULL",
    },
];

const TASK_INDEXES: &[IndexDef] = &[
    IndexDef {
        name: "ix_task_current_document",
        table: "task_current",
        columns: "document_type, document_id, warehouse_id",
    },
    IndexDef {
        name: "ix_task_history_task",
        table: "task_history",
        columns: "warehouse_id, task_id, occurred_at",
    },
];

const CAPACITY_TABLES: &[TableDef] = &[TableDef {
    name: "capacity_snapshots",
    columns: "event_id TEXT PRIMARY KEY, warehouse_id TEXT NOT NULL, occurred_at BIGINT NOT NULL, active_workers BIGINT NOT NULL,
              idle_robots BIGINT NOT NULL, conveyor_utilization DOUBLE PRECISION NOT NULL, wip_per_zone TEXT NOT NULL,
              partner_id TEXT NOT NULL, correlation_id TEXT NOT NULL, kafka_partition BIGINT NOT NULL, kafka_offset BIGINT NOT NULL",
}];

const CAPACITY_INDEXES: &[IndexDef] = &[IndexDef {
    name: "ix_capacity_snapshots_time",
    table: "capacity_snapshots",
    columns: "warehouse_id, occurred_at",
}];

const SUPERVISOR_TABLES: &[TableDef] = &[
    // Detail columns are nullable: a supervisor step read before its entry's opening event (the
    // two come from different topics) creates the row, and the opening event fills it in.
    TableDef {
        name: "supervisor_entries",
        columns: "entry_id TEXT PRIMARY KEY, warehouse_id TEXT NOT NULL, status TEXT NOT NULL, source TEXT, code TEXT,
                  severity TEXT, severity_rank BIGINT, opened_at BIGINT, occurred_at BIGINT, partner_id TEXT, correlation_id TEXT,
                  document_type TEXT, document_id TEXT, document_line_no BIGINT, sku TEXT, location TEXT, qty BIGINT,
                  device_id TEXT, message TEXT, acknowledged_by TEXT, acknowledged_at BIGINT,
                  closed_by TEXT, closed_at BIGINT, close_reason TEXT",
    },
    TableDef {
        name: "supervisor_steps",
        columns: "event_id TEXT PRIMARY KEY, entry_id TEXT NOT NULL, step TEXT NOT NULL, actor TEXT NOT NULL,
                  partner_id TEXT NOT NULL, at BIGINT NOT NULL, reason TEXT, kafka_topic TEXT NOT NULL,
                  kafka_partition BIGINT NOT NULL, kafka_offset BIGINT NOT NULL",
    },
];

const SUPERVISOR_INDEXES: &[IndexDef] = &[
    IndexDef {
        name: "ix_supervisor_entries_queue",
        table: "supervisor_entries",
        columns: "warehouse_id, status, opened_at",
    },
    IndexDef {
        name: "ix_supervisor_steps_entry",
        table: "supervisor_steps",
        columns: "entry_id, at",
    },
];

const WINDOW_TABLES: &[TableDef] = &[TableDef {
    // Confirmation columns are nullable: a decision read before its confirmation (another topic)
    // creates the row, and the confirmation fills them in.
    name: "windows",
    columns: "window_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, warehouse_id TEXT NOT NULL, window_start BIGINT NOT NULL,
              window_end BIGINT NOT NULL, status TEXT NOT NULL, kind TEXT, correlation_id TEXT, confirmation_event_id TEXT, as_of BIGINT, scope TEXT,
              confirmed_at BIGINT, confirmation_lines TEXT, decision_event_id TEXT, decided_at BIGINT, tolerance BIGINT,
              compared_lines TEXT, realtime_through TEXT, resolved_by TEXT, resolution TEXT, resolution_reason TEXT,
              resolved_at BIGINT, compensating_movements BIGINT NOT NULL DEFAULT 0",
}];

const WINDOW_INDEXES: &[IndexDef] = &[IndexDef {
    name: "ix_windows_warehouse",
    table: "windows",
    columns: "warehouse_id, status, window_start",
}];

const DISPATCH_INDEXES: &[IndexDef] = &[IndexDef {
    name: "ix_dispatch_releases_document",
    table: "dispatch_releases",
    columns: "warehouse_id, document_type, document_id",
}];

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

impl ProjectionKind {
    pub const ALL: [ProjectionKind; 7] = [
        ProjectionKind::MasterData,
        ProjectionKind::Ledger,
        ProjectionKind::Dispatch,
        ProjectionKind::Tasks,
        ProjectionKind::Capacity,
        ProjectionKind::Supervisor,
        ProjectionKind::Windows,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProjectionKind::MasterData => "masterdata",
            ProjectionKind::Ledger => "ledger",
            ProjectionKind::Dispatch => "dispatch",
            ProjectionKind::Tasks => "tasks",
            ProjectionKind::Capacity => "capacity",
            ProjectionKind::Supervisor => "supervisor",
            ProjectionKind::Windows => "windows",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn topics(self) -> &'static [&'static str] {
        match self {
            ProjectionKind::MasterData => &[
                topics::WAREHOUSES,
                topics::SKUS,
                topics::LOCATIONS,
                topics::PARTNERS,
            ],
            ProjectionKind::Ledger => &[topics::MOVEMENTS],
            ProjectionKind::Dispatch => &[topics::DISPATCH],
            ProjectionKind::Tasks => &[topics::WORK_STATUS],
            ProjectionKind::Capacity => &[topics::CAPACITY],
            ProjectionKind::Supervisor => &[
                topics::EXCEPTIONS,
                topics::WINDOW_DISCREPANCY,
                topics::LATE_MOVEMENTS,
                topics::SUPERVISOR_ACTIONS,
            ],
            ProjectionKind::Windows => &[
                topics::CONFIRMATIONS,
                topics::WINDOW_RECONCILED,
                topics::WINDOW_DISCREPANCY,
            ],
        }
    }

    fn tables(self) -> &'static [TableDef] {
        match self {
            ProjectionKind::MasterData => MASTERDATA_TABLES,
            ProjectionKind::Ledger => LEDGER_TABLES,
            ProjectionKind::Dispatch => DISPATCH_TABLES,
            ProjectionKind::Tasks => TASK_TABLES,
            ProjectionKind::Capacity => CAPACITY_TABLES,
            ProjectionKind::Supervisor => SUPERVISOR_TABLES,
            ProjectionKind::Windows => WINDOW_TABLES,
        }
    }

    fn indexes(self) -> &'static [IndexDef] {
        match self {
            ProjectionKind::MasterData => &[],
            ProjectionKind::Ledger => LEDGER_INDEXES,
            ProjectionKind::Dispatch => DISPATCH_INDEXES,
            ProjectionKind::Tasks => TASK_INDEXES,
            ProjectionKind::Capacity => CAPACITY_INDEXES,
            ProjectionKind::Supervisor => SUPERVISOR_INDEXES,
            ProjectionKind::Windows => WINDOW_INDEXES,
        }
    }

    /// Columns added after a table was first created: `(table, column, definition)`. Databases
    /// created before get them through `ALTER TABLE` at start.
    pub fn added_columns(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            ProjectionKind::MasterData => &[
                ("md_partners", "cert_sha256", "TEXT NOT NULL DEFAULT '[]'"),
                ("md_partners", "bearer_allowed", "BIGINT NOT NULL DEFAULT 1"),
            ],
            _ => &[],
        }
    }

    pub fn table_names(self) -> Vec<&'static str> {
        self.tables().iter().map(|t| t.name).collect()
    }

    /// `CREATE … IF NOT EXISTS` for the table set; shadow tables get their indexes only after the
    /// swap (bulk loading is faster without them, and index names stay unique).
    pub fn create_statements(self, t: &Tables, with_indexes: bool) -> Vec<String> {
        let mut statements: Vec<String> = self
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
        self.indexes()
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

async fn apply_event(
    kind: ProjectionKind,
    conn: &mut AnyConnection,
    t: &Tables,
    r: &Record<'_>,
) -> Result<bool, StoreError> {
    match (kind, r.event) {
        (ProjectionKind::MasterData, Event::Warehouse(e)) => {
            sqlx::query(&format!(
                "INSERT INTO {0} (warehouse_id, warehouse_frn, name, recorded_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (warehouse_id) DO UPDATE SET warehouse_frn = excluded.warehouse_frn, name = excluded.name, recorded_at = excluded.recorded_at",
                t.n("md_warehouses")
            ))
            .bind(&e.warehouse_id)
            .bind(&e.warehouse_frn)
            .bind(&e.name)
            .bind(e.recorded_at)
            .execute(&mut *conn)
            .await?;
        }
        (ProjectionKind::MasterData, Event::Sku(e)) => {
            sqlx::query(&format!(
                "INSERT INTO {0} (sku, base_uom, tracking, description, recorded_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (sku) DO UPDATE SET base_uom = excluded.base_uom, tracking = excluded.tracking,
                 description = excluded.description, recorded_at = excluded.recorded_at",
                t.n("md_skus")
            ))
            .bind(&e.sku)
            .bind(&e.base_uom)
            .bind(&e.tracking)
            .bind(&e.description)
            .bind(e.recorded_at)
            .execute(&mut *conn)
            .await?;
        }
        (ProjectionKind::MasterData, Event::Location(e)) => {
            sqlx::query(&format!(
                "INSERT INTO {0} (warehouse_id, location, recorded_at) VALUES ($1, $2, $3)
                 ON CONFLICT (warehouse_id, location) DO UPDATE SET recorded_at = excluded.recorded_at",
                t.n("md_locations")
            ))
            .bind(&e.warehouse_id)
            .bind(&e.location)
            .bind(e.recorded_at)
            .execute(&mut *conn)
            .await?;
        }
        (ProjectionKind::MasterData, Event::Partner(e)) => {
            sqlx::query(&format!(
                "INSERT INTO {0} (partner_id, role, allowed_warehouses, api_key_sha256, api_key_expires_at, recorded_at,
                 cert_sha256, bearer_allowed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (partner_id) DO UPDATE SET role = excluded.role, allowed_warehouses = excluded.allowed_warehouses,
                 api_key_sha256 = excluded.api_key_sha256, api_key_expires_at = excluded.api_key_expires_at,
                 recorded_at = excluded.recorded_at, cert_sha256 = excluded.cert_sha256, bearer_allowed = excluded.bearer_allowed",
                t.n("md_partners")
            ))
            .bind(&e.partner_id)
            .bind(&e.role)
            .bind(serde_json::to_string(&e.allowed_warehouses).expect("strings serialize"))
            .bind(serde_json::to_string(&e.api_key_sha256).expect("strings serialize"))
            .bind(serde_json::to_string(&e.api_key_expires_at).expect("a map of numbers serializes"))
            .bind(e.recorded_at)
            .bind(serde_json::to_string(&e.cert_sha256).expect("strings serialize"))
            .bind(i64::from(e.bearer_allowed))
            .execute(&mut *conn)
            .await?;
        }
        (ProjectionKind::Dispatch, Event::Dispatch(e)) => {
            let releases = t.n("dispatch_releases");
            let inserted = sqlx::query(&format!(
                "INSERT INTO {releases} (planner_id, correlation_id, event_id, kind, warehouse_id, document_type, document_id,
                 document_line_no, released_at, priority, operations, cancelled_correlation_id, kafka_partition, kafka_offset)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 ON CONFLICT (planner_id, correlation_id) DO NOTHING"
            ))
            .bind(&e.planner_id)
            .bind(&e.correlation_id)
            .bind(&e.event_id)
            .bind(&e.kind)
            .bind(&e.warehouse_id)
            .bind(&e.document_ref.doc_type)
            .bind(&e.document_ref.id)
            .bind(e.document_ref.line_no)
            .bind(e.released_at)
            .bind(e.priority as i64)
            .bind(e.routing.operations.len() as i64)
            .bind(e.cancelled_correlation_id.as_deref())
            .bind(r.partition as i64)
            .bind(r.offset)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Ok(false);
            }
            if let Some(original) = &e.cancelled_correlation_id {
                sqlx::query(&format!("UPDATE {releases} SET cancelled_by = $1 WHERE planner_id = $2 AND correlation_id = $3"))
                    .bind(&e.correlation_id)
                    .bind(&e.planner_id)
                    .bind(original)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        (ProjectionKind::Tasks, Event::WorkStatus(e)) => {
            return apply_work_status(conn, t, r, e).await;
        }
        (ProjectionKind::Supervisor, Event::Exception(e)) => {
            return open_supervisor_entry(conn, t, r, &EntryOpening::exception(e)).await;
        }
        (ProjectionKind::Supervisor, Event::WindowDiscrepancy(d)) if d.resolution.is_none() => {
            return open_supervisor_entry(conn, t, r, &EntryOpening::discrepancy(d)).await;
        }
        (ProjectionKind::Supervisor, Event::LateMovement(e)) => {
            return open_supervisor_entry(conn, t, r, &EntryOpening::late_movement(e)).await;
        }
        (ProjectionKind::Windows, Event::Confirmation(e)) => {
            return record_confirmation(conn, t, e).await;
        }
        (ProjectionKind::Windows, Event::WindowReconciled(d) | Event::WindowDiscrepancy(d)) => {
            return record_window_decision(conn, t, d).await;
        }
        (ProjectionKind::Supervisor, Event::SupervisorAction(e)) => {
            return apply_supervisor_action(conn, t, r, e).await;
        }
        (ProjectionKind::Capacity, Event::Capacity(e)) => {
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
        _ => return Ok(false),
    }
    Ok(true)
}

/// One work-status event: history always (once per event id), the current state only when the
/// lifecycle rule (`wes_domain::work_status::evolve`) applies it; flagged steps are counted.
async fn apply_work_status(
    conn: &mut AnyConnection,
    t: &Tables,
    r: &Record<'_>,
    e: &wes_events::WorkStatusRecorded,
) -> Result<bool, StoreError> {
    use wes_domain::work_status::{TaskState, TaskStatus, Transition, evolve};
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
    let status = e.task_status()?;
    let transition = evolve(current, status, wes_domain::UtcMillis(e.occurred_at));
    let inserted = sqlx::query(&format!(
        "INSERT INTO {} (event_id, warehouse_id, task_id, status, occurred_at, recorded_at, transition, partner_id, correlation_id,
         worker_id, robot_id, reason, kafka_partition, kafka_offset) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (event_id) DO NOTHING",
        t.n("task_history")
    ))
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
    .bind(e.reason.as_deref())
    .bind(r.partition as i64)
    .bind(r.offset)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
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

/// Records one step of an entry's audit trail (once per event id); false when already recorded.
#[allow(clippy::too_many_arguments)]
async fn record_supervisor_step(
    conn: &mut AnyConnection,
    t: &Tables,
    r: &Record<'_>,
    event_id: &str,
    entry_id: &str,
    step: &str,
    actor: &str,
    partner_id: &str,
    at: i64,
    reason: Option<&str>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(&format!(
        "INSERT INTO {} (event_id, entry_id, step, actor, partner_id, at, reason, kafka_topic, kafka_partition, kafka_offset)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (event_id) DO NOTHING",
        t.n("supervisor_steps")
    ))
    .bind(event_id)
    .bind(entry_id)
    .bind(step)
    .bind(actor)
    .bind(partner_id)
    .bind(at)
    .bind(reason)
    .bind(r.topic)
    .bind(r.partition as i64)
    .bind(r.offset)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// What opens a supervisor-queue entry: an exception, or a window discrepancy.
struct EntryOpening<'a> {
    entry_id: &'a str,
    warehouse_id: &'a str,
    source: &'static str,
    code: &'a str,
    severity: &'a str,
    opened_at: i64,
    occurred_at: i64,
    partner_id: &'a str,
    correlation_id: &'a str,
    document: Option<&'a wes_events::DocumentRefRecord>,
    sku: Option<&'a str>,
    location: Option<&'a str>,
    qty: Option<i64>,
    device_id: Option<&'a str>,
    message: Option<String>,
}

impl<'a> EntryOpening<'a> {
    /// Entry id = the exception's event id.
    fn exception(e: &'a wes_events::ExceptionRecorded) -> Self {
        EntryOpening {
            entry_id: &e.event_id,
            warehouse_id: &e.warehouse_id,
            source: "EXCEPTION",
            code: &e.code,
            severity: &e.severity,
            opened_at: e.recorded_at,
            occurred_at: e.occurred_at,
            partner_id: &e.partner_id,
            correlation_id: &e.correlation_id,
            document: e.document_ref.as_ref(),
            sku: e.sku.as_deref(),
            location: e.location.as_deref(),
            qty: e.qty,
            device_id: e.device_id.as_deref(),
            message: e.message.clone(),
        }
    }

    /// Entry id = the flag's event id; HIGH, dated when the movement occurred.
    fn late_movement(e: &'a wes_events::LateMovementFlagged) -> Self {
        EntryOpening {
            entry_id: &e.event_id,
            warehouse_id: &e.warehouse_id,
            source: "LATE_MOVEMENT",
            code: "LATE_MOVEMENT",
            severity: "HIGH",
            opened_at: e.recorded_at,
            occurred_at: e.occurred_at,
            partner_id: &e.partner_id,
            correlation_id: &e.movement_correlation_id,
            document: None,
            sku: Some(&e.sku),
            location: None,
            qty: Some(e.qty),
            device_id: None,
            message: Some(format!(
                "{} {} of {} arrived after window {} was decided; the window is unchanged",
                e.kind, e.qty, e.sku, e.window_id
            )),
        }
    }

    /// Entry id = the discrepancy's event id; URGENT, dated at the window's end.
    fn discrepancy(d: &'a wes_events::WindowDecision) -> Self {
        let differing = d.lines.iter().filter(|l| !l.matched).count();
        EntryOpening {
            entry_id: &d.event_id,
            warehouse_id: &d.warehouse_id,
            source: "WINDOW_DISCREPANCY",
            code: "WINDOW_DISCREPANCY",
            severity: "URGENT",
            opened_at: d.recorded_at,
            occurred_at: d.window_end,
            partner_id: &d.partner_id,
            correlation_id: &d.confirmation_correlation_id,
            document: None,
            sku: None,
            location: None,
            qty: None,
            device_id: None,
            message: Some(format!(
                "window {}: {differing} of {} lines differ",
                d.window_id,
                d.lines.len()
            )),
        }
    }
}

/// Opens an entry. The status is left alone when a supervisor step was read first.
async fn open_supervisor_entry(
    conn: &mut AnyConnection,
    t: &Tables,
    r: &Record<'_>,
    e: &EntryOpening<'_>,
) -> Result<bool, StoreError> {
    use wes_domain::exception::Severity;
    if !record_supervisor_step(
        conn,
        t,
        r,
        e.entry_id,
        e.entry_id,
        "OPENED",
        e.partner_id,
        e.partner_id,
        e.opened_at,
        e.message.as_deref(),
    )
    .await?
    {
        return Ok(false);
    }
    let rank = Severity::parse(e.severity).map_or(0, |s| s as i64);
    sqlx::query(&format!(
        "INSERT INTO {0} (entry_id, warehouse_id, status, source, code, severity, severity_rank, opened_at, occurred_at,
         partner_id, correlation_id, document_type, document_id, document_line_no, sku, location, qty, device_id, message)
         VALUES ($1, $2, 'OPEN', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
         ON CONFLICT (entry_id) DO UPDATE SET source = excluded.source, code = excluded.code, severity = excluded.severity,
         severity_rank = excluded.severity_rank, opened_at = excluded.opened_at, occurred_at = excluded.occurred_at,
         partner_id = excluded.partner_id, correlation_id = excluded.correlation_id, document_type = excluded.document_type,
         document_id = excluded.document_id, document_line_no = excluded.document_line_no, sku = excluded.sku,
         location = excluded.location, qty = excluded.qty, device_id = excluded.device_id, message = excluded.message",
        t.n("supervisor_entries")
    ))
    .bind(e.entry_id)
    .bind(e.warehouse_id)
    .bind(e.source)
    .bind(e.code)
    .bind(e.severity)
    .bind(rank)
    .bind(e.opened_at)
    .bind(e.occurred_at)
    .bind(e.partner_id)
    .bind(e.correlation_id)
    .bind(e.document.map(|d| d.doc_type.as_str()))
    .bind(e.document.map(|d| d.id.as_str()))
    .bind(e.document.and_then(|d| d.line_no))
    .bind(e.sku)
    .bind(e.location)
    .bind(e.qty)
    .bind(e.device_id)
    .bind(e.message.as_deref())
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// A confirmation creates its window (PENDING until decided) or fills in a row a decision created.
async fn record_confirmation(
    conn: &mut AnyConnection,
    t: &Tables,
    e: &wes_events::ConfirmationRecorded,
) -> Result<bool, StoreError> {
    let windows = t.n("windows");
    let changed = sqlx::query(&format!(
        "INSERT INTO {windows} (window_id, partner_id, warehouse_id, window_start, window_end, status, kind, correlation_id,
         confirmation_event_id, confirmed_at, confirmation_lines, as_of, scope) VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (window_id) DO UPDATE SET kind = excluded.kind, correlation_id = excluded.correlation_id, as_of = excluded.as_of,
         scope = excluded.scope,
         confirmation_event_id = excluded.confirmation_event_id, confirmed_at = excluded.confirmed_at,
         confirmation_lines = excluded.confirmation_lines WHERE {windows}.confirmation_event_id IS NULL"
    ))
    .bind(e.window().id())
    .bind(&e.partner_id)
    .bind(&e.warehouse_id)
    .bind(e.window_start)
    .bind(e.window_end)
    .bind(&e.kind)
    .bind(&e.correlation_id)
    .bind(&e.event_id)
    .bind(e.recorded_at)
    .bind(serde_json::to_string(&e.lines).expect("lines serialize"))
    .bind(e.as_of)
    .bind(e.scope.as_deref())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// A decision moves the window forward only (PENDING < DISCREPANCY < RECONCILED): the first
/// decision keeps its breakdown, a resolution adds who, how and why.
async fn record_window_decision(
    conn: &mut AnyConnection,
    t: &Tables,
    d: &wes_events::WindowDecision,
) -> Result<bool, StoreError> {
    let windows = t.n("windows");
    let status = if d.reconciled() {
        "RECONCILED"
    } else {
        "DISCREPANCY"
    };
    let changed = sqlx::query(&format!(
        "INSERT INTO {windows} (window_id, partner_id, warehouse_id, window_start, window_end, status, decision_event_id,
         decided_at, tolerance, compared_lines, realtime_through, resolved_by, resolution, resolution_reason, resolved_at,
         compensating_movements)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         ON CONFLICT (window_id) DO UPDATE SET
         status = CASE WHEN {windows}.status = 'RECONCILED' OR excluded.status = 'RECONCILED' THEN 'RECONCILED' ELSE excluded.status END,
         decision_event_id = COALESCE({windows}.decision_event_id, excluded.decision_event_id),
         decided_at = COALESCE({windows}.decided_at, excluded.decided_at),
         tolerance = COALESCE({windows}.tolerance, excluded.tolerance),
         compared_lines = COALESCE({windows}.compared_lines, excluded.compared_lines),
         realtime_through = COALESCE({windows}.realtime_through, excluded.realtime_through),
         resolved_by = COALESCE({windows}.resolved_by, excluded.resolved_by),
         resolution = COALESCE({windows}.resolution, excluded.resolution),
         resolution_reason = COALESCE({windows}.resolution_reason, excluded.resolution_reason),
         resolved_at = COALESCE({windows}.resolved_at, excluded.resolved_at),
         compensating_movements = CASE WHEN {windows}.resolution IS NULL THEN excluded.compensating_movements
                                       ELSE {windows}.compensating_movements END"
    ))
    .bind(&d.window_id)
    .bind(&d.partner_id)
    .bind(&d.warehouse_id)
    .bind(d.window_start)
    .bind(d.window_end)
    .bind(status)
    .bind(d.resolution.is_none().then_some(d.event_id.as_str()))
    .bind(d.resolution.is_none().then_some(d.recorded_at))
    .bind(d.tolerance)
    .bind(serde_json::to_string(&d.lines).expect("lines serialize"))
    .bind(serde_json::to_string(&d.realtime_through).expect("positions serialize"))
    .bind(d.resolved_by.as_deref())
    .bind(d.resolution.as_deref())
    .bind(d.resolution_reason.as_deref())
    .bind(d.resolution.is_some().then_some(d.recorded_at))
    .bind(d.compensating_movements)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// A supervisor step: recorded in the trail, and the entry's status merged forward
/// (`wes_domain::supervisor::merge`); the first acknowledgement and closure keep their who and when.
async fn apply_supervisor_action(
    conn: &mut AnyConnection,
    t: &Tables,
    r: &Record<'_>,
    e: &wes_events::SupervisorActionRecorded,
) -> Result<bool, StoreError> {
    use wes_domain::supervisor::{EntryStatus, SupervisorAction, merge};
    let action = e.supervisor_action()?;
    let target = action.target();
    if !record_supervisor_step(
        conn,
        t,
        r,
        &e.event_id,
        &e.entry_id,
        target.as_str(),
        &e.supervisor_id,
        &e.partner_id,
        e.recorded_at,
        e.reason.as_deref(),
    )
    .await?
    {
        return Ok(false);
    }
    let entries = t.n("supervisor_entries");
    let current: Option<String> =
        sqlx::query_scalar(&format!("SELECT status FROM {entries} WHERE entry_id = $1"))
            .bind(&e.entry_id)
            .fetch_optional(&mut *conn)
            .await?;
    let current = current
        .as_deref()
        .and_then(EntryStatus::parse)
        .unwrap_or(EntryStatus::Open);
    let status = merge(current, target);
    let (by, at, reason) = match action {
        SupervisorAction::Acknowledge => ("acknowledged_by", "acknowledged_at", None),
        SupervisorAction::Close => ("closed_by", "closed_at", Some("close_reason")),
    };
    let reason_sets = reason
        .map(|c| format!(", {c} = COALESCE({entries}.{c}, excluded.{c})"))
        .unwrap_or_default();
    let sql = format!(
        "INSERT INTO {entries} (entry_id, warehouse_id, status, {by}, {at}{0}) VALUES ($1, $2, $3, $4, $5{1})
         ON CONFLICT (entry_id) DO UPDATE SET status = excluded.status, {by} = COALESCE({entries}.{by}, excluded.{by}),
         {at} = COALESCE({entries}.{at}, excluded.{at}){reason_sets}",
        reason.map(|c| format!(", {c}")).unwrap_or_default(),
        if reason.is_some() { ", $6" } else { "" },
    );
    let mut query = sqlx::query(&sql)
        .bind(&e.entry_id)
        .bind(&e.warehouse_id)
        .bind(status.as_str())
        .bind(&e.supervisor_id)
        .bind(e.recorded_at);
    if reason.is_some() {
        query = query.bind(e.reason.as_deref());
    }
    query.execute(&mut *conn).await?;
    Ok(true)
}

/// Applies records in log order; returns how many changed the tables.
async fn apply_events(
    kind: ProjectionKind,
    conn: &mut AnyConnection,
    t: &Tables,
    records: &[&Record<'_>],
) -> Result<usize, StoreError> {
    if kind == ProjectionKind::Ledger {
        return apply_movements(conn, t, records).await;
    }
    let mut applied = 0;
    for record in records {
        if apply_event(kind, conn, t, record).await? {
            applied += 1;
        }
    }
    Ok(applied)
}

/// Bind parameters per multi-row statement. sqlx names every `$n` and SQLite looks a parameter name
/// up by a linear scan, so binding costs grow with the square of a statement's parameters: keep
/// statements small (measured: 2,200 parameters a statement spent a quarter of the hub's CPU there).
const PARAMS_PER_STATEMENT: usize = 200;

fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            format!(
                "({})",
                (1..=columns)
                    .map(|c| format!("${}", r * columns + c))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ledger, batched: movement rows go in with multi-row inserts (a known event id is skipped),
/// then the balance deltas of the new movements are summed per balance row and written once each.
/// The result equals applying the records one by one: sums commute, and `last_movement_at` keeps
/// the value of the last movement in log order.
async fn apply_movements(
    conn: &mut AnyConnection,
    t: &Tables,
    records: &[&Record<'_>],
) -> Result<usize, StoreError> {
    let movements: Vec<(&Record, &wes_events::MovementRecorded)> = records
        .iter()
        .filter_map(|r| match r.event {
            Event::Movement(m) => Some((*r, m)),
            _ => None,
        })
        .collect();
    let mut inserted: HashSet<String> = HashSet::new();
    for chunk in movements.chunks(PARAMS_PER_STATEMENT / 22) {
        let sql = format!(
            "INSERT INTO {} (event_id, kafka_partition, kafka_offset, warehouse_id, kind, sku, qty, uom, from_location, to_location,
             lot, serial, document_type, document_id, document_line_no, occurred_at, recorded_at, source, executor_partner_id,
             executor_correlation_id, actor_kind, actor_id) VALUES {} ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            t.n("ledger_movements"),
            placeholders(chunk.len(), 22)
        );
        let mut query = sqlx::query(&sql);
        for (r, e) in chunk {
            let doc = e.document_ref.as_ref();
            query = query
                .bind(&e.event_id)
                .bind(r.partition as i64)
                .bind(r.offset)
                .bind(&e.warehouse_id)
                .bind(&e.kind)
                .bind(&e.sku)
                .bind(e.qty)
                .bind(&e.uom)
                .bind(e.from_location.as_deref())
                .bind(e.to_location.as_deref())
                .bind(e.lot.as_deref())
                .bind(e.serial.as_deref())
                .bind(doc.map(|d| d.doc_type.as_str()))
                .bind(doc.map(|d| d.id.as_str()))
                .bind(doc.and_then(|d| d.line_no))
                .bind(e.occurred_at)
                .bind(e.recorded_at)
                .bind("WES")
                .bind(&e.partner_id)
                .bind(&e.correlation_id)
                .bind(e.actor.as_ref().map(|a| a.kind.as_str()))
                .bind(e.actor.as_ref().map(|a| a.id.as_str()));
        }
        for row in query.fetch_all(&mut *conn).await? {
            inserted.insert(row.try_get("event_id")?);
        }
    }
    // (warehouse, sku, location, lot, serial) -> (summed qty, last occurred_at), in first-seen order.
    type BalanceKey = (String, String, String, String, String);
    let mut order: Vec<BalanceKey> = vec![];
    let mut sums: HashMap<BalanceKey, (i64, i64)> = HashMap::new();
    let mut applied = 0;
    for (_, e) in &movements {
        if !inserted.remove(&e.event_id) {
            continue; // already in the ledger, or a second copy inside this batch
        }
        applied += 1;
        let from = e
            .from_location
            .as_deref()
            .map(wes_domain::LocationCode::from_trusted);
        let to = e
            .to_location
            .as_deref()
            .map(wes_domain::LocationCode::from_trusted);
        for delta in ledger_deltas(e.movement_kind()?, e.qty, from.as_ref(), to.as_ref()) {
            let key = (
                e.warehouse_id.clone(),
                e.sku.clone(),
                delta.location.to_string(),
                e.lot.clone().unwrap_or_default(),
                e.serial.clone().unwrap_or_default(),
            );
            let entry = sums.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                (0, 0)
            });
            entry.0 += delta.qty;
            entry.1 = e.occurred_at;
        }
    }
    let balances = t.n("ledger_balances");
    for chunk in order.chunks(PARAMS_PER_STATEMENT / 7) {
        let sql = format!(
            "INSERT INTO {balances} (warehouse_id, sku, location, lot, serial, qty, last_movement_at) VALUES {}
             ON CONFLICT (warehouse_id, sku, location, lot, serial)
             DO UPDATE SET qty = {balances}.qty + excluded.qty, last_movement_at = excluded.last_movement_at",
            placeholders(chunk.len(), 7)
        );
        let mut query = sqlx::query(&sql);
        for key in chunk {
            let (qty, at) = sums[key];
            query = query
                .bind(&key.0)
                .bind(&key.1)
                .bind(&key.2)
                .bind(&key.3)
                .bind(&key.4)
                .bind(qty)
                .bind(at);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(applied)
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
        let applied = apply_events(kind, &mut tx, t, &fresh).await?;
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

    /// Architecture invariant 6: capacity (and work-status) never reach inventory or accounting. The
    /// ledger consumes the movements topic and nothing else.
    #[test]
    fn only_movements_reach_the_ledger() {
        assert_eq!(ProjectionKind::Ledger.topics(), &[topics::MOVEMENTS]);
        for kind in ProjectionKind::ALL
            .into_iter()
            .filter(|k| *k != ProjectionKind::Ledger)
        {
            assert!(
                kind.table_names().iter().all(|t| !t.starts_with("ledger_")),
                "{kind:?} writes ledger tables"
            );
        }
    }
}
