//! Reads for reconciliation: the realtime side of a window (from the ledger's movement log) and
//! the windows projection.

use crate::columns::{json, millis_text, word};
use crate::{Store, StoreError};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use wes_domain::movement::MovementKind;
use wes_domain::reconcile::{
    ConfirmationKind, CountScope, LineKey, Totals, WindowKey, WindowStatus,
};
use wes_domain::*;
use wes_events::{ComparedLine, ConfirmationLine, LogPosition};

/// `(kafka_partition = p AND kafka_offset < o) OR …` for the movements below a log position, with
/// placeholders from `$first`; `1 = 0` when the log was empty.
fn below(through: &[(i32, i64)], first: usize) -> String {
    let clauses: Vec<String> = through
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let n = first + 2 * i;
            format!("(kafka_partition = ${n} AND kafka_offset < ${})", n + 1)
        })
        .collect();
    if clauses.is_empty() {
        "1 = 0".into()
    } else {
        format!("({})", clauses.join(" OR "))
    }
}

/// The query of `window_movements_sql` with its parameters bound.
fn window_movements<'q>(
    sql: &'q str,
    window: &'q WindowKey,
    through: &[(i32, i64)],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut query = sqlx::query(sql)
        .bind(window.partner_id.as_str())
        .bind(window.warehouse_id.as_str())
        .bind(window.start.0)
        .bind(window.end.0);
    for (partition, offset) in through {
        query = query.bind(*partition as i64).bind(*offset);
    }
    query
}

/// `SELECT {columns} FROM ledger_movements` for the window's partner, warehouse and time range,
/// restricted to the movements below `through` (or, `late`, at or beyond it), then `{tail}`.
fn window_movements_sql(columns: &str, through: &[(i32, i64)], late: bool, tail: &str) -> String {
    format!(
        "SELECT {columns} FROM ledger_movements WHERE executor_partner_id = $1 AND warehouse_id = $2
         AND occurred_at >= $3 AND occurred_at < $4 AND {}{} {tail}",
        if late { "NOT " } else { "" },
        below(through, 5)
    )
}

/// A movement that reached the log after its window was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateMovementRow {
    pub event_id: String,
    pub correlation_id: String,
    pub kind: String,
    pub sku: String,
    pub qty: i64,
    pub occurred_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowRow {
    pub window_id: String,
    pub partner_id: String,
    pub warehouse_id: String,
    pub window_start: String,
    pub window_end: String,
    pub status: WindowStatus,
    pub kind: Option<ConfirmationKind>,
    /// Counts and snapshots: the instant the stock was counted.
    pub as_of: Option<String>,
    #[serde(skip)]
    pub as_of_ms: Option<i64>,
    /// Counts and snapshots: FULL or PARTIAL.
    pub scope: Option<CountScope>,
    pub correlation_id: Option<String>,
    pub confirmation_event_id: Option<String>,
    /// Also the id of the supervisor-queue entry a discrepancy opened.
    pub decision_event_id: Option<String>,
    pub confirmed_at: Option<String>,
    #[serde(skip)]
    pub confirmed_at_ms: Option<i64>,
    pub decided_at: Option<String>,
    pub tolerance: Option<i64>,
    /// The compared lines: confirmed, realtime, delta, matched.
    pub lines: Option<Vec<ComparedLine>>,
    pub confirmation_lines: Option<Vec<ConfirmationLine>>,
    /// The movements-log position the realtime sum covers.
    pub realtime_through: Option<Vec<LogPosition>>,
    pub resolution: Option<Value>,
    pub compensating_movements: i64,
    #[serde(skip)]
    pub key: WindowKey,
    /// When a correction of this window takes effect: just before `as_of` for counts (so the
    /// stock as of the count includes it), just before the window's end otherwise.
    #[serde(skip)]
    pub effective_at: UtcMillis,
}

fn window_row(r: &AnyRow) -> Result<WindowRow, StoreError> {
    let start: i64 = r.try_get("window_start")?;
    let end: i64 = r.try_get("window_end")?;
    let partner: String = r.try_get("partner_id")?;
    let warehouse: String = r.try_get("warehouse_id")?;
    let resolved_by: Option<String> = r.try_get("resolved_by")?;
    Ok(WindowRow {
        window_id: r.try_get("window_id")?,
        key: WindowKey {
            partner_id: PartnerId::from_trusted(&partner),
            warehouse_id: WarehouseId::from_trusted(&warehouse),
            start: UtcMillis(start),
            end: UtcMillis(end),
        },
        partner_id: partner,
        warehouse_id: warehouse,
        window_start: UtcMillis(start).to_rfc3339(),
        window_end: UtcMillis(end).to_rfc3339(),
        status: word(r, "status", WindowStatus::parse)?
            .ok_or_else(|| StoreError::Corrupt("windows.status is NULL".into()))?,
        kind: word(r, "kind", ConfirmationKind::parse)?,
        as_of: millis_text(r, "as_of")?,
        as_of_ms: r.try_get("as_of")?,
        scope: word(r, "scope", CountScope::parse)?,
        effective_at: UtcMillis(r.try_get::<Option<i64>, _>("as_of")?.unwrap_or(end) - 1),
        correlation_id: r.try_get("correlation_id")?,
        confirmation_event_id: r.try_get("confirmation_event_id")?,
        decision_event_id: r.try_get("decision_event_id")?,
        confirmed_at: millis_text(r, "confirmed_at")?,
        confirmed_at_ms: r.try_get("confirmed_at")?,
        decided_at: millis_text(r, "decided_at")?,
        tolerance: r.try_get("tolerance")?,
        lines: json(r, "compared_lines")?,
        confirmation_lines: json(r, "confirmation_lines")?,
        realtime_through: json(r, "realtime_through")?,
        resolution: match resolved_by {
            Some(by) => Some(serde_json::json!({
                "resolved_by": by, "resolution": r.try_get::<Option<String>, _>("resolution")?,
                "reason": r.try_get::<Option<String>, _>("resolution_reason")?, "at": millis_text(r, "resolved_at")?
            })),
            None => None,
        },
        compensating_movements: r.try_get("compensating_movements")?,
    })
}

impl Store {
    /// The realtime side of a window: the partner's movements with `start <= occurred_at < end`
    /// that lie below `through` in the movements log, summed per line.
    pub async fn realtime_totals(
        &self,
        window: &WindowKey,
        through: &[(i32, i64)],
    ) -> Result<Totals, StoreError> {
        let sql = window_movements_sql(
            "sku, kind, from_location, to_location, lot, CAST(SUM(qty) AS BIGINT) AS qty",
            through,
            false,
            "GROUP BY sku, kind, from_location, to_location, lot",
        );
        let query = window_movements(&sql, window, through);
        let mut totals = Totals::new();
        for r in query.fetch_all(&self.pool).await? {
            let kind: String = r.try_get("kind")?;
            let Some(kind) = MovementKind::parse(&kind) else {
                continue;
            };
            let key = LineKey {
                sku: SkuCode::from_trusted(r.try_get::<String, _>("sku")?),
                kind: Some(kind),
                from_location: r
                    .try_get::<Option<String>, _>("from_location")?
                    .map(LocationCode::from_trusted),
                to_location: r
                    .try_get::<Option<String>, _>("to_location")?
                    .map(LocationCode::from_trusted),
                lot: r.try_get("lot")?,
                serial: None,
            };
            totals.insert(key, r.try_get::<i64, _>("qty")?);
        }
        Ok(totals)
    }

    /// The stock of a warehouse per (sku, location, lot, serial) as of `as_of` (movements with
    /// `occurred_at < as_of`, of every partner, below `through` in the log), by the ledger effect
    /// of each kind (`wes_domain::movement::ledger_deltas`); zero balances are left out.
    pub async fn stock_as_of(
        &self,
        warehouse: &WarehouseId,
        as_of: UtcMillis,
        through: &[(i32, i64)],
    ) -> Result<Totals, StoreError> {
        let base = "FROM ledger_movements WHERE warehouse_id = $1 AND occurred_at < $2";
        let sql = format!(
            "SELECT sku, location, lot, serial, CAST(SUM(delta) AS BIGINT) AS qty FROM (
               SELECT sku, to_location AS location, lot, serial, qty AS delta, kafka_partition, kafka_offset {base}
                 AND to_location IS NOT NULL AND kind IN ('PICK', 'MOVE', 'PUT', 'PRODUCE', 'RECEIVE')
               UNION ALL
               SELECT sku, from_location AS location, lot, serial, -qty AS delta, kafka_partition, kafka_offset {base}
                 AND from_location IS NOT NULL AND kind IN ('PICK', 'MOVE', 'CONSUME', 'SHIP')
               UNION ALL
               SELECT sku, COALESCE(to_location, from_location) AS location, lot, serial, qty AS delta, kafka_partition,
                 kafka_offset {base} AND kind = 'ADJUST'
             ) AS deltas WHERE {} GROUP BY sku, location, lot, serial",
            below(through, 3)
        );
        let mut query = sqlx::query(&sql).bind(warehouse.as_str()).bind(as_of.0);
        for (partition, offset) in through {
            query = query.bind(*partition as i64).bind(*offset);
        }
        let mut stock = Totals::new();
        for r in query.fetch_all(&self.pool).await? {
            let qty: i64 = r.try_get("qty")?;
            if qty == 0 {
                continue;
            }
            let key = LineKey::stock(
                SkuCode::from_trusted(r.try_get::<String, _>("sku")?),
                LocationCode::from_trusted(r.try_get::<String, _>("location")?),
                r.try_get("lot")?,
                r.try_get("serial")?,
            );
            stock.insert(key, qty);
        }
        Ok(stock)
    }

    /// The partner's movements of the window at or beyond `through` in the log: arrived late.
    pub async fn late_movement_rows(
        &self,
        window: &WindowKey,
        through: &[(i32, i64)],
    ) -> Result<Vec<LateMovementRow>, StoreError> {
        let sql = window_movements_sql(
            "event_id, executor_correlation_id, kind, sku, qty, occurred_at",
            through,
            true,
            "ORDER BY kafka_partition, kafka_offset",
        );
        let query = window_movements(&sql, window, through);
        Ok(query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(LateMovementRow {
                    event_id: r.try_get("event_id")?,
                    correlation_id: r.try_get("executor_correlation_id")?,
                    kind: r.try_get("kind")?,
                    sku: r.try_get("sku")?,
                    qty: r.try_get("qty")?,
                    occurred_at: r.try_get("occurred_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    pub async fn window(&self, window_id: &str) -> Result<Option<WindowRow>, StoreError> {
        sqlx::query("SELECT * FROM windows WHERE window_id = $1")
            .bind(window_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| window_row(&r))
            .transpose()
    }

    /// Whether rows were projected when a window's id was its key text (`partner|…|end`): the
    /// projection is then rebuilt to give them their URL-safe ids.
    pub async fn has_key_text_window_ids(&self) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT window_id FROM windows WHERE window_id LIKE '%|%' LIMIT 1")
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Windows of the given warehouses, newest first.
    pub async fn windows(
        &self,
        warehouses: &[String],
        status: Option<WindowStatus>,
        limit: i64,
    ) -> Result<Vec<WindowRow>, StoreError> {
        if warehouses.is_empty() {
            return Ok(vec![]);
        }
        let placeholders: Vec<String> = (1..=warehouses.len()).map(|n| format!("${n}")).collect();
        let status_clause = if status.is_some() {
            format!(" AND status = ${}", warehouses.len() + 1)
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT * FROM windows WHERE warehouse_id IN ({}){status_clause} ORDER BY window_start DESC, window_id LIMIT {limit}",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for w in warehouses {
            query = query.bind(w.clone());
        }
        if let Some(status) = status {
            query = query.bind(status.as_str());
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(window_row)
            .collect()
    }
}
