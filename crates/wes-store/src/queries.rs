//! Read-side queries of the planner-internal API and the master-data snapshot validation uses.

use crate::columns::{json_req, millis_text, word, word_req};
use crate::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;
use wes_domain::dispatch_transport::{DispatchTransport, PollCursor};
use wes_domain::exception::{ExceptionCode, Severity};
use wes_domain::masterdata::{
    Location, MasterData, Partner, PartnerRole, Sku, Tracking, Warehouse,
};
use wes_domain::release::Envelope;
use wes_domain::supervisor::{EntryStatus, QueueSource};
use wes_domain::*;

/// Builds `WHERE a = $1 AND b = $2 …` from the filters that are set.
struct Filter {
    clauses: Vec<String>,
    values: Vec<Param>,
}

enum Param {
    Text(String),
    Int(i64),
}

impl Filter {
    fn new() -> Self {
        Filter {
            clauses: vec![],
            values: vec![],
        }
    }
    fn eq(&mut self, column: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.values.push(Param::Text(v.to_owned()));
            self.clauses
                .push(format!("{column} = ${}", self.values.len()));
        }
        self
    }
    /// `column <op> value`, e.g. `occurred_at >= $3`.
    fn cmp(&mut self, column: &str, op: &str, value: Option<i64>) -> &mut Self {
        if let Some(v) = value {
            self.values.push(Param::Int(v));
            self.clauses
                .push(format!("{column} {op} ${}", self.values.len()));
        }
        self
    }
    /// `column IN (…)`; an empty list matches nothing.
    fn one_of(&mut self, column: &str, values: &[String]) -> &mut Self {
        let mut placeholders = vec![];
        for v in values {
            self.values.push(Param::Text(v.clone()));
            placeholders.push(format!("${}", self.values.len()));
        }
        self.clauses.push(if placeholders.is_empty() {
            "1 = 0".to_owned()
        } else {
            format!("{column} IN ({})", placeholders.join(", "))
        });
        self
    }
    fn either(&mut self, a: &str, b: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.values.push(Param::Text(v.to_owned()));
            let n = self.values.len();
            self.clauses.push(format!("({a} = ${n} OR {b} = ${n})"));
        }
        self
    }
    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
    async fn fetch(&self, store: &Store, sql: &str) -> Result<Vec<AnyRow>, sqlx::Error> {
        let mut query = sqlx::query(sql);
        for v in &self.values {
            query = match v {
                Param::Text(text) => query.bind(text.clone()),
                Param::Int(n) => query.bind(*n),
            };
        }
        query.fetch_all(&store.pool).await
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BalanceRow {
    pub warehouse_id: String,
    pub sku: String,
    pub location: String,
    pub lot: Option<String>,
    pub serial: Option<String>,
    pub qty: i64,
    pub last_movement_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MovementRow {
    pub event_id: String,
    pub warehouse_id: String,
    pub kind: String,
    pub sku: String,
    pub qty: i64,
    pub uom: String,
    pub from_location: Option<String>,
    pub to_location: Option<String>,
    pub lot: Option<String>,
    pub serial: Option<String>,
    pub document_ref: Option<serde_json::Value>,
    pub occurred_at: String,
    pub recorded_at: String,
    pub source: String,
    pub executor_partner_id: String,
    pub executor_correlation_id: String,
    pub actor: Option<serde_json::Value>,
    pub kafka_partition: i64,
    pub kafka_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseRow {
    pub planner_id: String,
    pub correlation_id: String,
    pub kind: String,
    pub warehouse_id: String,
    pub document_ref: serde_json::Value,
    pub released_at: String,
    /// LOW, NORMAL, HIGH or URGENT.
    pub priority: String,
    pub operations: i64,
    pub cancelled_correlation_id: Option<String>,
    pub cancelled_by: Option<String>,
    /// Where the event is in the dispatch topic.
    pub kafka_partition: i64,
    pub kafka_offset: i64,
}

#[derive(Default)]
pub struct MovementFilter<'a> {
    pub warehouse_id: Option<&'a str>,
    pub sku: Option<&'a str>,
    pub location: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub partner_id: Option<&'a str>,
}

/// The `kafka_partition` and `kafka_offset` of a row as a poll cursor.
fn poll_cursor(r: &AnyRow) -> Result<PollCursor, StoreError> {
    Ok(PollCursor {
        partition: i32::try_from(r.try_get::<i64, _>("kafka_partition")?)
            .map_err(|_| StoreError::Corrupt("kafka_partition".into()))?,
        offset: r.try_get("kafka_offset")?,
    })
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl Store {
    /// Everything validation and authentication read, from the master-data projection.
    pub async fn load_master_data(&self) -> Result<MasterData, StoreError> {
        let warehouses = sqlx::query("SELECT warehouse_id, name FROM md_warehouses")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(Warehouse {
                    warehouse_id: WarehouseId::from_trusted(
                        r.try_get::<String, _>("warehouse_id")?,
                    ),
                    name: r.try_get("name")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        let skus = sqlx::query("SELECT sku, base_uom, tracking, description FROM md_skus")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(Sku {
                    sku: SkuCode::from_trusted(r.try_get::<String, _>("sku")?),
                    base_uom: r.try_get("base_uom")?,
                    tracking: word_req(r, "tracking", Tracking::parse)?,
                    description: r.try_get("description")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let locations = sqlx::query("SELECT warehouse_id, location FROM md_locations")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(Location {
                    warehouse_id: WarehouseId::from_trusted(
                        r.try_get::<String, _>("warehouse_id")?,
                    ),
                    location: LocationCode::from_trusted(r.try_get::<String, _>("location")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        let partners = sqlx::query(
            "SELECT partner_id, role, allowed_warehouses, api_key_sha256, api_key_expires_at, cert_sha256, bearer_allowed FROM md_partners",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let expiry: BTreeMap<String, i64> = json_req(r, "api_key_expires_at")?;
            let list = |column| json_req::<Vec<String>>(r, column);
            Ok(Partner {
                partner_id: PartnerId::from_trusted(r.try_get::<String, _>("partner_id")?),
                role: word_req(r, "role", PartnerRole::parse)?,
                allowed_warehouses: list("allowed_warehouses")?
                    .into_iter()
                    .map(WarehouseId::from_trusted)
                    .collect(),
                api_key_sha256: list("api_key_sha256")?.into_iter().collect(),
                api_key_expires_at: expiry.into_iter().map(|(k, v)| (k, UtcMillis(v))).collect(),
                cert_sha256: list("cert_sha256")?.into_iter().collect(),
                bearer_allowed: r.try_get::<i64, _>("bearer_allowed")? != 0,
            })
        })
        .collect::<Result<_, StoreError>>()?;
        let mut md = MasterData::new(warehouses, skus, locations, partners);
        for r in sqlx::query("SELECT transport FROM md_dispatch_transports")
            .fetch_all(&self.pool)
            .await?
        {
            let transport: DispatchTransport = json_req(&r, "transport")?;
            md.transports
                .insert(transport.warehouse_id.clone(), transport);
        }
        Ok(md)
    }

    pub async fn balances(
        &self,
        warehouse: Option<&str>,
        sku: Option<&str>,
        location: Option<&str>,
        limit: i64,
    ) -> Result<Vec<BalanceRow>, StoreError> {
        let mut f = Filter::new();
        f.eq("warehouse_id", warehouse)
            .eq("sku", sku)
            .eq("location", location);
        let sql = format!(
            "SELECT warehouse_id, sku, location, lot, serial, qty, last_movement_at FROM ledger_balances{} ORDER BY warehouse_id, sku, location, lot, serial LIMIT {limit}",
            f.sql()
        );
        let rows = f.fetch(self, &sql).await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(BalanceRow {
                    warehouse_id: r.try_get("warehouse_id")?,
                    sku: r.try_get("sku")?,
                    location: r.try_get("location")?,
                    lot: non_empty(r.try_get("lot")?),
                    serial: non_empty(r.try_get("serial")?),
                    qty: r.try_get("qty")?,
                    last_movement_at: UtcMillis(r.try_get("last_movement_at")?).to_rfc3339(),
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    pub async fn movements(
        &self,
        filter: &MovementFilter<'_>,
        limit: i64,
    ) -> Result<Vec<MovementRow>, StoreError> {
        let mut f = Filter::new();
        f.eq("warehouse_id", filter.warehouse_id)
            .eq("sku", filter.sku)
            .either("from_location", "to_location", filter.location)
            .eq("executor_correlation_id", filter.correlation_id)
            .eq("executor_partner_id", filter.partner_id);
        let sql = format!(
            "SELECT * FROM ledger_movements{} ORDER BY occurred_at, event_id LIMIT {limit}",
            f.sql()
        );
        let rows = f.fetch(self, &sql).await?;
        Ok(rows
            .iter()
            .map(|r| {
                let doc_type: Option<String> = r.try_get("document_type")?;
                let actor_kind: Option<String> = r.try_get("actor_kind")?;
                Ok(MovementRow {
                    event_id: r.try_get("event_id")?,
                    warehouse_id: r.try_get("warehouse_id")?,
                    kind: r.try_get("kind")?,
                    sku: r.try_get("sku")?,
                    qty: r.try_get("qty")?,
                    uom: r.try_get("uom")?,
                    from_location: r.try_get("from_location")?,
                    to_location: r.try_get("to_location")?,
                    lot: r.try_get("lot")?,
                    serial: r.try_get("serial")?,
                    document_ref: match doc_type {
                        Some(t) => Some(serde_json::json!({
                            "type": t, "id": r.try_get::<Option<String>, _>("document_id")?,
                            "line_no": r.try_get::<Option<i64>, _>("document_line_no")?
                        })),
                        None => None,
                    },
                    occurred_at: UtcMillis(r.try_get("occurred_at")?).to_rfc3339(),
                    recorded_at: UtcMillis(r.try_get("recorded_at")?).to_rfc3339(),
                    source: r.try_get("source")?,
                    executor_partner_id: r.try_get("executor_partner_id")?,
                    executor_correlation_id: r.try_get("executor_correlation_id")?,
                    actor: match actor_kind {
                        Some(k) => Some(serde_json::json!({"kind": k, "id": r.try_get::<Option<String>, _>("actor_id")?})),
                        None => None,
                    },
                    kafka_partition: r.try_get("kafka_partition")?,
                    kafka_offset: r.try_get("kafka_offset")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    pub async fn releases(
        &self,
        warehouse: Option<&str>,
        document_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ReleaseRow>, StoreError> {
        let mut f = Filter::new();
        f.eq("warehouse_id", warehouse)
            .eq("document_id", document_id);
        let sql = format!(
            "SELECT * FROM dispatch_releases{} ORDER BY released_at, correlation_id LIMIT {limit}",
            f.sql()
        );
        let rows = f.fetch(self, &sql).await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(ReleaseRow {
                    planner_id: r.try_get("planner_id")?,
                    correlation_id: r.try_get("correlation_id")?,
                    kind: r.try_get("kind")?,
                    warehouse_id: r.try_get("warehouse_id")?,
                    document_ref: serde_json::json!({
                        "type": r.try_get::<String, _>("document_type")?, "id": r.try_get::<String, _>("document_id")?,
                        "line_no": r.try_get::<Option<i64>, _>("document_line_no")?
                    }),
                    released_at: UtcMillis(r.try_get("released_at")?).to_rfc3339(),
                    priority: r
                        .try_get::<Option<String>, _>("priority_level")?
                        .unwrap_or_default(),
                    operations: r.try_get("operations")?,
                    cancelled_correlation_id: r.try_get("cancelled_correlation_id")?,
                    cancelled_by: r.try_get("cancelled_by")?,
                    kafka_partition: r.try_get("kafka_partition")?,
                    kafka_offset: r.try_get("kafka_offset")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// Up to `limit` releases of `warehouse` in log order with their cursors: after `after`, or
    /// from the transport's `start` (the next offset of each partition when it was configured).
    pub async fn poll_page(
        &self,
        warehouse: &WarehouseId,
        after: Option<PollCursor>,
        start: &[(i32, i64)],
        limit: i64,
    ) -> Result<Vec<(PollCursor, Envelope)>, StoreError> {
        let mut sql = String::from(
            "SELECT kafka_partition, kafka_offset, envelope FROM dispatch_releases WHERE warehouse_id = $1",
        );
        // Offsets are numbers the hub produced, not input: written into the statement.
        for (partition, offset) in start {
            sql.push_str(&format!(
                " AND NOT (kafka_partition = {partition} AND kafka_offset < {offset})"
            ));
        }
        if let Some(c) = after {
            sql.push_str(&format!(
                " AND (kafka_partition > {0} OR (kafka_partition = {0} AND kafka_offset > {1}))",
                c.partition, c.offset
            ));
        }
        sql.push_str(&format!(
            " ORDER BY kafka_partition, kafka_offset LIMIT {limit}"
        ));
        sqlx::query(&sql)
            .bind(warehouse.as_str())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((poll_cursor(r)?, json_req(r, "envelope")?)))
            .collect()
    }

    /// Whether a release of `warehouse` is at `cursor`.
    pub async fn has_release_at(
        &self,
        warehouse: &WarehouseId,
        cursor: PollCursor,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "SELECT correlation_id FROM dispatch_releases
             WHERE warehouse_id = $1 AND kafka_partition = $2 AND kafka_offset = $3",
        )
        .bind(warehouse.as_str())
        .bind(i64::from(cursor.partition))
        .bind(cursor.offset)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    /// `executor`'s acknowledged position in `warehouse`'s dispatch log.
    pub async fn poll_acked(
        &self,
        warehouse: &WarehouseId,
        executor: &PartnerId,
    ) -> Result<Option<PollCursor>, StoreError> {
        let row = sqlx::query(
            "SELECT kafka_partition, kafka_offset FROM dispatch_poll_acks WHERE warehouse_id = $1 AND partner_id = $2",
        )
        .bind(warehouse.as_str())
        .bind(executor.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| poll_cursor(&r)).transpose()
    }

    /// Whether rows were projected before the dispatch projection kept envelopes: it is then
    /// rebuilt, so every release can be delivered as the planner sent it.
    pub async fn dispatch_needs_rebuild(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "SELECT correlation_id FROM dispatch_releases WHERE envelope IS NULL LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    /// The release or cancellation `correlation_id` of `planner`, as the dispatch log holds it.
    pub async fn dispatched(
        &self,
        planner_id: &str,
        correlation_id: &str,
    ) -> Result<Option<wes_domain::release::Dispatched>, StoreError> {
        use wes_domain::movement::{DocumentRef, DocumentType};
        use wes_domain::release::{Dispatched, DocumentKey, ReleaseKind};
        let Some(r) = sqlx::query(
            "SELECT kind, warehouse_id, document_type, document_id, document_line_no, cancelled_by
             FROM dispatch_releases WHERE planner_id = $1 AND correlation_id = $2",
        )
        .bind(planner_id)
        .bind(correlation_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(Dispatched {
            kind: word_req(&r, "kind", ReleaseKind::parse)?,
            document: DocumentKey {
                warehouse_id: WarehouseId::from_trusted(r.try_get::<String, _>("warehouse_id")?),
                document: DocumentRef {
                    doc_type: word_req(&r, "document_type", DocumentType::parse)?,
                    id: r.try_get("document_id")?,
                    line_no: r.try_get("document_line_no")?,
                },
            },
            cancelled_by: r
                .try_get::<Option<String>, _>("cancelled_by")?
                .map(CorrelationId::from_trusted),
        }))
    }

    /// The release of `document` that no CANCELLED cancelled: `(planner_id, correlation_id)`.
    pub async fn live_release(
        &self,
        document: &wes_domain::release::DocumentKey,
    ) -> Result<Option<(PlannerId, CorrelationId)>, StoreError> {
        let row = sqlx::query(
            "SELECT planner_id, correlation_id FROM dispatch_releases
             WHERE warehouse_id = $1 AND document_type = $2 AND document_id = $3
             AND COALESCE(document_line_no, -1) = COALESCE($4, -1)
             AND kind <> 'CANCELLED' AND cancelled_by IS NULL
             ORDER BY kafka_offset LIMIT 1",
        )
        .bind(document.warehouse_id.as_str())
        .bind(document.document.doc_type.as_str())
        .bind(&document.document.id)
        .bind(document.document.line_no)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                PlannerId::from_trusted(r.try_get::<String, _>("planner_id")?),
                CorrelationId::from_trusted(r.try_get::<String, _>("correlation_id")?),
            ))
        })
        .transpose()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRow {
    pub warehouse_id: String,
    pub task_id: String,
    pub document_ref: serde_json::Value,
    pub status: String,
    pub occurred_at: String,
    pub worker_id: Option<String>,
    pub robot_id: Option<String>,
    /// How many of the task's events were illegal steps or came after it ended.
    pub flagged: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskHistoryRow {
    pub event_id: String,
    pub status: String,
    pub occurred_at: String,
    pub recorded_at: String,
    /// APPLIED, STALE, ILLEGAL or AFTER_TERMINAL.
    pub transition: String,
    pub partner_id: String,
    pub correlation_id: String,
    pub worker_id: Option<String>,
    pub robot_id: Option<String>,
    pub reason: Option<String>,
}

fn task_row(r: &AnyRow) -> Result<TaskRow, sqlx::Error> {
    Ok(TaskRow {
        warehouse_id: r.try_get("warehouse_id")?,
        task_id: r.try_get("task_id")?,
        document_ref: serde_json::json!({
            "type": r.try_get::<String, _>("document_type")?, "id": r.try_get::<String, _>("document_id")?,
            "line_no": r.try_get::<Option<i64>, _>("document_line_no")?
        }),
        status: r.try_get("status")?,
        occurred_at: UtcMillis(r.try_get("occurred_at")?).to_rfc3339(),
        worker_id: r.try_get("worker_id")?,
        robot_id: r.try_get("robot_id")?,
        flagged: r.try_get("flagged")?,
    })
}

impl Store {
    /// Current state of every task of a document.
    pub async fn tasks_of_document(
        &self,
        doc_type: &str,
        doc_id: &str,
        warehouse: Option<&str>,
    ) -> Result<Vec<TaskRow>, StoreError> {
        let mut f = Filter::new();
        f.eq("document_type", Some(doc_type))
            .eq("document_id", Some(doc_id))
            .eq("warehouse_id", warehouse);
        let rows = f
            .fetch(
                self,
                &format!(
                    "SELECT * FROM task_current{} ORDER BY warehouse_id, task_id",
                    f.sql()
                ),
            )
            .await?;
        Ok(rows.iter().map(task_row).collect::<Result<_, _>>()?)
    }

    /// One task's current state and its whole history in `occurred_at` order.
    pub async fn task(
        &self,
        warehouse: &str,
        task_id: &str,
    ) -> Result<Option<(TaskRow, Vec<TaskHistoryRow>)>, StoreError> {
        let Some(current) =
            sqlx::query("SELECT * FROM task_current WHERE warehouse_id = $1 AND task_id = $2")
                .bind(warehouse)
                .bind(task_id)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let history = sqlx::query("SELECT * FROM task_history WHERE warehouse_id = $1 AND task_id = $2 ORDER BY occurred_at, kafka_partition, kafka_offset")
            .bind(warehouse)
            .bind(task_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(TaskHistoryRow {
                    event_id: r.try_get("event_id")?,
                    status: r.try_get("status")?,
                    occurred_at: UtcMillis(r.try_get("occurred_at")?).to_rfc3339(),
                    recorded_at: UtcMillis(r.try_get("recorded_at")?).to_rfc3339(),
                    transition: r.try_get("transition")?,
                    partner_id: r.try_get("partner_id")?,
                    correlation_id: r.try_get("correlation_id")?,
                    worker_id: r.try_get("worker_id")?,
                    robot_id: r.try_get("robot_id")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(Some((task_row(&current)?, history)))
    }

    /// Capacity snapshots of a warehouse with `from <= occurred_at < to`, oldest first.
    pub async fn capacity_snapshots(
        &self,
        warehouse: &str,
        from: UtcMillis,
        to: UtcMillis,
        limit: i64,
    ) -> Result<Vec<wes_domain::capacity::CapacitySnapshot>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT * FROM capacity_snapshots WHERE warehouse_id = $1 AND occurred_at >= $2 AND occurred_at < $3
             ORDER BY occurred_at, event_id LIMIT {limit}"
        ))
        .bind(warehouse)
        .bind(from.0)
        .bind(to.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(wes_domain::capacity::CapacitySnapshot {
                    correlation_id: CorrelationId::from_trusted(
                        r.try_get::<String, _>("correlation_id")?,
                    ),
                    warehouse_id: WarehouseId::from_trusted(
                        r.try_get::<String, _>("warehouse_id")?,
                    ),
                    occurred_at: UtcMillis(r.try_get("occurred_at")?),
                    active_workers: r.try_get("active_workers")?,
                    idle_robots: r.try_get("idle_robots")?,
                    conveyor_utilization: r.try_get("conveyor_utilization")?,
                    wip_per_zone: json_req(r, "wip_per_zone")?,
                })
            })
            .collect()
    }
}

/// Filters of the supervisor queue; `warehouses` is the set the caller may see.
#[derive(Debug, Default)]
pub struct QueueFilter {
    pub warehouses: Vec<String>,
    pub source: Option<QueueSource>,
    pub status: Option<EntryStatus>,
    pub severity: Option<Severity>,
    pub code: Option<ExceptionCode>,
    /// `occurred_at >= from` (ms).
    pub from: Option<i64>,
    /// `occurred_at < to` (ms).
    pub to: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SupervisorEntryRow {
    pub entry_id: String,
    pub warehouse_id: String,
    pub status: EntryStatus,
    pub source: Option<QueueSource>,
    pub code: Option<String>,
    pub severity: Option<String>,
    pub occurred_at: Option<String>,
    pub opened_at: Option<String>,
    pub partner_id: Option<String>,
    pub correlation_id: Option<String>,
    pub document_ref: Option<serde_json::Value>,
    pub sku: Option<String>,
    pub location: Option<String>,
    pub qty: Option<i64>,
    pub device_id: Option<String>,
    pub message: Option<String>,
    pub acknowledged: Option<serde_json::Value>,
    pub closed: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupervisorStepRow {
    pub event_id: String,
    /// OPENED, ACKNOWLEDGED or CLOSED.
    pub step: String,
    /// The reporting partner for OPENED, the supervisor for the others.
    pub by: String,
    pub partner_id: String,
    pub at: String,
    pub reason: Option<String>,
}

fn supervisor_entry_row(r: &AnyRow) -> Result<SupervisorEntryRow, StoreError> {
    let doc_type: Option<String> = r.try_get("document_type")?;
    let acknowledged_by: Option<String> = r.try_get("acknowledged_by")?;
    let closed_by: Option<String> = r.try_get("closed_by")?;
    Ok(SupervisorEntryRow {
        entry_id: r.try_get("entry_id")?,
        warehouse_id: r.try_get("warehouse_id")?,
        status: word(r, "status", EntryStatus::parse)?
            .ok_or_else(|| StoreError::Corrupt("supervisor_entries.status is NULL".into()))?,
        source: word(r, "source", QueueSource::parse)?,
        code: r.try_get("code")?,
        severity: r.try_get("severity")?,
        occurred_at: millis_text(r, "occurred_at")?,
        opened_at: millis_text(r, "opened_at")?,
        partner_id: r.try_get("partner_id")?,
        correlation_id: r.try_get("correlation_id")?,
        document_ref: match doc_type {
            Some(t) => Some(serde_json::json!({
                "type": t, "id": r.try_get::<Option<String>, _>("document_id")?,
                "line_no": r.try_get::<Option<i64>, _>("document_line_no")?
            })),
            None => None,
        },
        sku: r.try_get("sku")?,
        location: r.try_get("location")?,
        qty: r.try_get("qty")?,
        device_id: r.try_get("device_id")?,
        message: r.try_get("message")?,
        acknowledged: match acknowledged_by {
            Some(by) => {
                Some(serde_json::json!({"by": by, "at": millis_text(r, "acknowledged_at")?}))
            }
            None => None,
        },
        closed: match closed_by {
            Some(by) => Some(
                serde_json::json!({"by": by, "at": millis_text(r, "closed_at")?,
                                                "reason": r.try_get::<Option<String>, _>("close_reason")?}),
            ),
            None => None,
        },
    })
}

impl Store {
    /// The supervisor queue, most urgent first, then oldest first.
    pub async fn supervisor_queue(
        &self,
        filter: &QueueFilter,
        limit: i64,
    ) -> Result<Vec<SupervisorEntryRow>, StoreError> {
        let mut f = Filter::new();
        f.one_of("warehouse_id", &filter.warehouses)
            .eq("source", filter.source.map(QueueSource::as_str))
            .eq("status", filter.status.map(EntryStatus::as_str))
            .eq("severity", filter.severity.map(Severity::as_str))
            .eq("code", filter.code.map(ExceptionCode::as_str))
            .cmp("occurred_at", ">=", filter.from)
            .cmp("occurred_at", "<", filter.to);
        let sql = format!(
            "SELECT * FROM supervisor_entries{} ORDER BY severity_rank DESC, occurred_at, entry_id LIMIT {limit}",
            f.sql()
        );
        let rows = f.fetch(self, &sql).await?;
        rows.iter().map(supervisor_entry_row).collect()
    }

    /// One entry with its audit trail in time order.
    pub async fn supervisor_entry(
        &self,
        entry_id: &str,
    ) -> Result<Option<(SupervisorEntryRow, Vec<SupervisorStepRow>)>, StoreError> {
        let Some(entry) = sqlx::query("SELECT * FROM supervisor_entries WHERE entry_id = $1")
            .bind(entry_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let steps = sqlx::query(
            "SELECT * FROM supervisor_steps WHERE entry_id = $1 ORDER BY at, kafka_topic, kafka_partition, kafka_offset",
        )
        .bind(entry_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(SupervisorStepRow {
                event_id: r.try_get("event_id")?,
                step: r.try_get("step")?,
                by: r.try_get("actor")?,
                partner_id: r.try_get("partner_id")?,
                at: UtcMillis(r.try_get("at")?).to_rfc3339(),
                reason: r.try_get("reason")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        Ok(Some((supervisor_entry_row(&entry)?, steps)))
    }
}
