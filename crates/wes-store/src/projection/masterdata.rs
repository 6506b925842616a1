//! Master data: warehouses, SKUs, locations and partners, as validation and authentication read them.

use super::{Applied, Conn, Projection, Record, Spec, TableDef, Tables};
use crate::columns::to_json;
use wes_events::Event;
use wes_events::catalog::topics;

pub struct MasterData;

const TABLES: &[TableDef] = &[
    TableDef::new(
        "md_warehouses",
        "warehouse_id TEXT PRIMARY KEY, warehouse_frn TEXT NOT NULL, name TEXT NOT NULL,
         recorded_at BIGINT NOT NULL",
    ),
    TableDef::new(
        "md_skus",
        "sku TEXT PRIMARY KEY, base_uom TEXT NOT NULL, tracking TEXT NOT NULL,
         description TEXT NOT NULL, recorded_at BIGINT NOT NULL",
    ),
    TableDef::new(
        "md_locations",
        "warehouse_id TEXT NOT NULL, location TEXT NOT NULL, recorded_at BIGINT NOT NULL,
         PRIMARY KEY (warehouse_id, location)",
    ),
    TableDef::new(
        "md_partners",
        "partner_id TEXT PRIMARY KEY, role TEXT NOT NULL, allowed_warehouses TEXT NOT NULL,
         api_key_sha256 TEXT NOT NULL, api_key_expires_at TEXT NOT NULL, recorded_at BIGINT NOT NULL,
         cert_sha256 TEXT NOT NULL DEFAULT '[]', bearer_allowed BIGINT NOT NULL DEFAULT 1",
    ),
    // The domain's `DispatchTransport` as JSON (its secret sealed).
    TableDef::new(
        "md_dispatch_transports",
        "warehouse_id TEXT PRIMARY KEY, transport TEXT NOT NULL, recorded_at BIGINT NOT NULL",
    ),
];

/// Columns added after the tables were first created.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("md_partners", "cert_sha256", "TEXT NOT NULL DEFAULT '[]'"),
    ("md_partners", "bearer_allowed", "BIGINT NOT NULL DEFAULT 1"),
];

const TOPICS: &[&str] = &[
    topics::WAREHOUSES,
    topics::SKUS,
    topics::LOCATIONS,
    topics::PARTNERS,
    topics::DISPATCH_TRANSPORTS,
];

impl Projection for MasterData {
    const SPEC: Spec =
        Spec::new("masterdata", TOPICS, TABLES, &[]).with_added_columns(ADDED_COLUMNS);

    async fn apply_one(conn: &mut Conn, t: &Tables, r: &Record<'_>) -> Applied {
        match r.event {
            Event::Warehouse(e) => {
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
            Event::Sku(e) => {
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
            Event::Location(e) => {
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
            Event::Partner(e) => {
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
            Event::DispatchTransport(e) => match e.to_domain() {
                Some(transport) => {
                    sqlx::query(&format!(
                        "INSERT INTO {0} (warehouse_id, transport, recorded_at) VALUES ($1, $2, $3)
                         ON CONFLICT (warehouse_id) DO UPDATE SET transport = excluded.transport, recorded_at = excluded.recorded_at",
                        t.n("md_dispatch_transports")
                    ))
                    .bind(&e.warehouse_id)
                    .bind(to_json(&transport)?)
                    .bind(e.recorded_at)
                    .execute(&mut *conn)
                    .await?;
                }
                // Removed (or a transport this hub does not know: it cannot deliver it).
                None => {
                    sqlx::query(&format!(
                        "DELETE FROM {0} WHERE warehouse_id = $1",
                        t.n("md_dispatch_transports")
                    ))
                    .bind(&e.warehouse_id)
                    .execute(&mut *conn)
                    .await?;
                }
            },
            _ => return Ok(false),
        }
        Ok(true)
    }
}
