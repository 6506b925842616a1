//! The ledger: balances per (warehouse, SKU, location, lot, serial) and the movement log. The
//! only projection that reads the movements topic, and the only one that reads nothing else.

use super::{Applied, Batch, Conn, IndexDef, Projection, Record, Spec, TableDef, Tables};
use crate::StoreError;
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};
use wes_domain::movement::ledger_deltas;
use wes_events::Event;
use wes_events::catalog::topics;

pub struct Ledger;

const TABLES: &[TableDef] = &[
    TableDef::new(
        "ledger_balances",
        "warehouse_id TEXT NOT NULL, sku TEXT NOT NULL, location TEXT NOT NULL, lot TEXT NOT NULL,
         serial TEXT NOT NULL, qty BIGINT NOT NULL, last_movement_at BIGINT NOT NULL,
         PRIMARY KEY (warehouse_id, sku, location, lot, serial)",
    ),
    TableDef::new(
        "ledger_movements",
        "event_id TEXT PRIMARY KEY, kafka_partition BIGINT NOT NULL, kafka_offset BIGINT NOT NULL,
         warehouse_id TEXT NOT NULL, kind TEXT NOT NULL, sku TEXT NOT NULL, qty BIGINT NOT NULL,
         uom TEXT NOT NULL, from_location TEXT, to_location TEXT, lot TEXT, serial TEXT,
         document_type TEXT, document_id TEXT, document_line_no BIGINT, occurred_at BIGINT NOT NULL,
         recorded_at BIGINT NOT NULL, source TEXT NOT NULL, executor_partner_id TEXT NOT NULL,
         executor_correlation_id TEXT NOT NULL, actor_kind TEXT, actor_id TEXT",
    ),
];

const INDEXES: &[IndexDef] = &[
    IndexDef::on(
        "ledger_movements",
        "ix_ledger_movements_correlation",
        "executor_correlation_id, executor_partner_id",
    ),
    IndexDef::on(
        "ledger_movements",
        "ix_ledger_movements_sku",
        "warehouse_id, sku, occurred_at",
    ),
    IndexDef::on(
        "ledger_movements",
        "ix_ledger_movements_occurred",
        "occurred_at, event_id",
    ),
];

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
        // The ledger applies the domain's movement and its ledger effect, not wire strings.
        let m = e.to_domain()?;
        let deltas = ledger_deltas(
            m.kind,
            m.qty,
            m.from_location.as_ref(),
            m.to_location.as_ref(),
        );
        for delta in deltas {
            let key = (
                m.warehouse_id.to_string(),
                m.sku.to_string(),
                delta.location.to_string(),
                m.lot.clone().unwrap_or_default(),
                m.serial.clone().unwrap_or_default(),
            );
            let entry = sums.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                (0, 0)
            });
            entry.0 += delta.qty;
            entry.1 = m.occurred_at.0;
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

impl Projection for Ledger {
    const SPEC: Spec = Spec::new("ledger", &[topics::MOVEMENTS], TABLES, INDEXES);

    async fn apply(conn: &mut Conn, t: &Tables, records: &[&Record<'_>]) -> Batch {
        apply_movements(conn, t, records).await
    }
    async fn apply_one(conn: &mut Conn, t: &Tables, r: &Record<'_>) -> Applied {
        Ok(apply_movements(conn, t, &[r]).await? == 1)
    }
}
