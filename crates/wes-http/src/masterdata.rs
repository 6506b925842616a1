//! Master data administration: warehouses, SKUs, locations and partners. Every change is an event on
//! a compacted topic; a write returns once the master-data projection (what validation reads) has
//! applied it. Unchanged records are not written again, so an import can be re-run safely.

use crate::auth::{Credential, authenticate};
use crate::problem::ApiError;
use crate::{AppState, Shared};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use wes_domain::masterdata::*;
use wes_domain::*;
use wes_events::{LocationUpserted, PartnerUpserted, Routed, SkuUpserted, WarehouseUpserted};
use wes_kafka::Delivery;
use wes_store::ProjectionKind;

/// How long a write waits for its change to become visible to validation.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseIn {
    pub warehouse_id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SkuIn {
    pub sku: String,
    pub base_uom: String,
    /// NONE (default), LOT or SERIAL.
    #[serde(default)]
    pub tracking: Option<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocationIn {
    pub warehouse_id: String,
    pub location: String,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerIn {
    pub partner_id: String,
    /// EXECUTOR (default), ADMIN or SUPERVISOR.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub allowed_warehouses: Vec<String>,
    /// Raw API keys to add; hashed on arrival, never stored or logged as given.
    #[serde(default, skip_serializing)]
    pub api_keys: Vec<String>,
    /// Already-hashed keys (SHA-256 hex) to add.
    #[serde(default)]
    pub api_key_sha256: Vec<String>,
    /// Expiry (RFC 3339) of the keys added by this record; without it they do not expire.
    #[serde(default)]
    pub api_key_expires_at: Option<String>,
    /// Key ids (first 16 hex digits of a digest, as listed) to revoke: they stop working at once.
    #[serde(default)]
    pub revoke_key_ids: Vec<String>,
    /// Client-certificate SHA-256 thumbprints to enroll for mTLS (hex, colons allowed).
    #[serde(default)]
    pub cert_sha256: Vec<String>,
    /// Enrolled thumbprints to remove: those certificates stop working at once.
    #[serde(default)]
    pub revoke_cert_sha256: Vec<String>,
    /// Whether bearer keys are accepted (default: unchanged, `true` for a new partner). Set
    /// `false` in production so the partner can only authenticate with its certificate.
    #[serde(default)]
    pub bearer_allowed: Option<bool>,
}

/// A master-data import: any mix of the four kinds.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    #[serde(default)]
    pub warehouses: Vec<WarehouseIn>,
    #[serde(default)]
    pub skus: Vec<SkuIn>,
    #[serde(default)]
    pub locations: Vec<LocationIn>,
    #[serde(default)]
    pub partners: Vec<PartnerIn>,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct BundleReport {
    pub written: usize,
    pub unchanged: usize,
    /// Whether the master-data projection applied every write before the answer.
    pub visible: bool,
}

fn id<T>(field: &str, text: &str, parse: fn(&str) -> Option<T>) -> Result<T, ApiError> {
    parse(text).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{field}: {text:?} is not a valid identifier (1-128 printable ASCII, no spaces)"
        ))
        .with_field(field)
    })
}

fn unprocessable(field: &str, detail: String) -> ApiError {
    ApiError::from(Rejection::unprocessable(field, detail))
}

/// A bundle that passed validation, as domain values.
struct Validated {
    warehouses: Vec<Warehouse>,
    skus: Vec<Sku>,
    locations: Vec<Location>,
    partners: Vec<Partner>,
}

/// Validates the whole bundle against the current snapshot; nothing is written unless all is valid.
fn validate(bundle: &Bundle, md: &MasterData) -> Result<Validated, ApiError> {
    let warehouses: Vec<Warehouse> = bundle
        .warehouses
        .iter()
        .enumerate()
        .map(|(i, w)| {
            Ok(Warehouse {
                warehouse_id: id(
                    &format!("/warehouses/{i}/warehouse_id"),
                    &w.warehouse_id,
                    WarehouseId::parse,
                )?,
                name: w.name.clone(),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    let known_warehouse = |w: &WarehouseId| {
        md.warehouses.contains_key(w) || warehouses.iter().any(|x| &x.warehouse_id == w)
    };
    let skus = bundle
        .skus
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let tracking_text = s.tracking.as_deref().unwrap_or("NONE");
            let tracking = Tracking::parse(tracking_text).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "tracking {tracking_text:?} is not NONE, LOT or SERIAL"
                ))
                .with_field(&format!("/skus/{i}/tracking"))
            })?;
            if s.base_uom.trim().is_empty() || s.base_uom.len() > 16 {
                return Err(ApiError::bad_request("base_uom must be 1-16 characters")
                    .with_field(&format!("/skus/{i}/base_uom")));
            }
            Ok(Sku {
                sku: id(&format!("/skus/{i}/sku"), &s.sku, SkuCode::parse)?,
                base_uom: s.base_uom.clone(),
                tracking,
                description: s.description.clone(),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    let locations = bundle
        .locations
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let warehouse_id = id(
                &format!("/locations/{i}/warehouse_id"),
                &l.warehouse_id,
                WarehouseId::parse,
            )?;
            if !known_warehouse(&warehouse_id) {
                return Err(unprocessable(
                    &format!("/locations/{i}/warehouse_id"),
                    format!("unknown warehouse {warehouse_id}"),
                ));
            }
            Ok(Location {
                warehouse_id,
                location: id(
                    &format!("/locations/{i}/location"),
                    &l.location,
                    LocationCode::parse,
                )?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    let partners = bundle
        .partners
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let partner_id = id(
                &format!("/partners/{i}/partner_id"),
                &p.partner_id,
                PartnerId::parse,
            )?;
            let role_text = p.role.as_deref().unwrap_or("EXECUTOR");
            let role = PartnerRole::parse(role_text).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "role {role_text:?} is not EXECUTOR, ADMIN or SUPERVISOR"
                ))
                .with_field(&format!("/partners/{i}/role"))
            })?;
            let mut allowed = BTreeSet::new();
            for (j, w) in p.allowed_warehouses.iter().enumerate() {
                let field = format!("/partners/{i}/allowed_warehouses/{j}");
                let w = id(&field, w, WarehouseId::parse)?;
                if !known_warehouse(&w) {
                    return Err(unprocessable(&field, format!("unknown warehouse {w}")));
                }
                allowed.insert(w);
            }
            let existing = md.partners.get(&partner_id);
            let mut keys: BTreeSet<String> = existing
                .map(|e| e.api_key_sha256.clone())
                .unwrap_or_default();
            let mut expiry: BTreeMap<String, UtcMillis> = existing
                .map(|e| e.api_key_expires_at.clone())
                .unwrap_or_default();
            let expires_at = match &p.api_key_expires_at {
                None => None,
                Some(text) => Some(UtcMillis::parse_rfc3339(text).ok_or_else(|| {
                    ApiError::bad_request("api_key_expires_at must be an RFC 3339 timestamp")
                        .with_field(&format!("/partners/{i}/api_key_expires_at"))
                })?),
            };
            let mut added = vec![];
            for (j, key) in p.api_keys.iter().enumerate() {
                if key.len() < 16 || key.len() > 256 || !key.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(ApiError::bad_request(
                        "API keys must be 16-256 printable ASCII characters",
                    )
                    .with_field(&format!("/partners/{i}/api_keys/{j}")));
                }
                added.push(api_key_digest(key));
            }
            for (j, digest) in p.api_key_sha256.iter().enumerate() {
                if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(
                        ApiError::bad_request("api_key_sha256 entries are 64 hex digits")
                            .with_field(&format!("/partners/{i}/api_key_sha256/{j}")),
                    );
                }
                added.push(digest.to_ascii_lowercase());
            }
            for digest in added {
                match expires_at {
                    Some(at) => expiry.insert(digest.clone(), at),
                    None => expiry.remove(&digest),
                };
                keys.insert(digest);
            }
            for (j, revoked) in p.revoke_key_ids.iter().enumerate() {
                let found: Vec<String> = keys
                    .iter()
                    .filter(|d| key_id(d) == revoked.as_str())
                    .cloned()
                    .collect();
                if found.is_empty() {
                    return Err(ApiError::not_found(format!(
                        "partner {partner_id} has no key {revoked}"
                    ))
                    .with_field(&format!("/partners/{i}/revoke_key_ids/{j}")));
                }
                for digest in found {
                    keys.remove(&digest);
                    expiry.remove(&digest);
                }
            }
            let mut certs: BTreeSet<String> =
                existing.map(|e| e.cert_sha256.clone()).unwrap_or_default();
            let thumbprint = |field: String, text: &str| {
                normalize_thumbprint(text).ok_or_else(|| {
                    ApiError::bad_request("certificate thumbprints are 64 hex digits (SHA-256)")
                        .with_field(&field)
                })
            };
            for (j, text) in p.cert_sha256.iter().enumerate() {
                certs.insert(thumbprint(format!("/partners/{i}/cert_sha256/{j}"), text)?);
            }
            for (j, text) in p.revoke_cert_sha256.iter().enumerate() {
                let field = format!("/partners/{i}/revoke_cert_sha256/{j}");
                if !certs.remove(&thumbprint(field.clone(), text)?) {
                    return Err(ApiError::not_found(format!(
                        "partner {partner_id} has no certificate {text}"
                    ))
                    .with_field(&field));
                }
            }
            Ok(Partner {
                partner_id,
                role,
                allowed_warehouses: allowed,
                api_key_sha256: keys,
                api_key_expires_at: expiry,
                cert_sha256: certs,
                bearer_allowed: p
                    .bearer_allowed
                    .unwrap_or_else(|| existing.is_none_or(|e| e.bearer_allowed)),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Validated {
        warehouses,
        skus,
        locations,
        partners,
    })
}

async fn send_changed<T: Routed>(
    state: &AppState,
    records: Vec<T>,
    last: &mut Vec<(&'static str, Delivery)>,
) -> Result<usize, ApiError> {
    let count = records.len();
    for record in records {
        let delivery = state.producer.send(&record).await?;
        last.retain(|(topic, d)| !(*topic == T::TOPIC && d.partition == delivery.partition));
        last.push((T::TOPIC, delivery));
    }
    Ok(count)
}

/// Writes what differs from the current snapshot and waits until validation sees it.
pub async fn apply_bundle(state: &AppState, bundle: &Bundle) -> Result<BundleReport, ApiError> {
    let md = state.masterdata();
    let Validated {
        warehouses,
        skus,
        locations,
        partners,
    } = validate(bundle, &md)?;
    let now = UtcMillis(chrono::Utc::now().timestamp_millis());
    let total = warehouses.len() + skus.len() + locations.len() + partners.len();
    let warehouses: Vec<_> = warehouses
        .into_iter()
        .filter(|w| md.warehouses.get(&w.warehouse_id) != Some(w))
        .map(|w| WarehouseUpserted::from_domain(&w, now))
        .collect();
    let skus: Vec<_> = skus
        .into_iter()
        .filter(|s| md.skus.get(&s.sku) != Some(s))
        .map(|s| SkuUpserted::from_domain(&s, now))
        .collect();
    let locations: Vec<_> = locations
        .into_iter()
        .filter(|l| !md.location_exists(&l.warehouse_id, &l.location))
        .map(|l| LocationUpserted::from_domain(&l, now))
        .collect();
    let partners: Vec<_> = partners
        .into_iter()
        .filter(|p| md.partners.get(&p.partner_id) != Some(p))
        .map(|p| PartnerUpserted::from_domain(&p, now))
        .collect();
    let mut last = vec![];
    let mut written = send_changed(state, warehouses, &mut last).await?;
    written += send_changed(state, skus, &mut last).await?;
    written += send_changed(state, locations, &mut last).await?;
    written += send_changed(state, partners, &mut last).await?;
    let mut visible = true;
    for (topic, delivery) in last {
        visible &= state
            .projector
            .wait_applied(
                ProjectionKind::MasterData,
                topic,
                delivery.partition,
                delivery.offset,
                VISIBILITY_TIMEOUT,
            )
            .await;
    }
    Ok(BundleReport {
        written,
        unchanged: total - written,
        visible,
    })
}

fn admin(state: &Shared, credential: &Credential) -> Result<(), ApiError> {
    authenticate(credential, &state.masterdata(), PartnerRole::Admin).map(|_| ())
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid master data: {e}")))
}

pub async fn post_bundle(
    State(state): State<Shared>,
    credential: Credential,
    bytes: Bytes,
) -> Result<Json<BundleReport>, ApiError> {
    admin(&state, &credential)?;
    Ok(Json(apply_bundle(&state, &parse::<Bundle>(&bytes)?).await?))
}

pub async fn get_all(
    State(state): State<Shared>,
    credential: Credential,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &credential)?;
    let md = state.masterdata();
    let mut warehouses: Vec<_> = md
        .warehouses
        .values()
        .map(|w| json!({"warehouse_id": w.warehouse_id, "warehouse_frn": WarehouseFrn::for_warehouse(&w.warehouse_id), "name": w.name}))
        .collect();
    warehouses.sort_by_key(|w| w["warehouse_id"].as_str().unwrap_or_default().to_owned());
    let mut skus: Vec<_> = md.skus.values().cloned().collect();
    skus.sort_by(|a, b| a.sku.cmp(&b.sku));
    let locations: Vec<_> = md
        .locations
        .iter()
        .flat_map(|(w, ls)| {
            ls.iter()
                .map(move |l| json!({"warehouse_id": w, "location": l}))
        })
        .collect();
    let mut partners: Vec<_> = md
        .partners
        .values()
        .map(|p| json!({"partner_id": p.partner_id, "role": p.role, "allowed_warehouses": p.allowed_warehouses, "api_keys": p.api_key_sha256.iter().map(|d| json!({"key_id": key_id(d), "expires_at": p.api_key_expires_at.get(d).map(|t| t.to_rfc3339())})).collect::<Vec<_>>(), "cert_sha256": p.cert_sha256, "bearer_allowed": p.bearer_allowed}))
        .collect();
    partners.sort_by_key(|p| p["partner_id"].as_str().unwrap_or_default().to_owned());
    Ok(Json(
        json!({"warehouses": warehouses, "skus": skus, "locations": locations, "partners": partners}),
    ))
}

fn path_must_match(field: &str, in_path: &str, in_body: &str) -> Result<(), ApiError> {
    if in_path == in_body {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{field} in the body ({in_body:?}) differs from the path ({in_path:?})"
        ))
        .with_field(field))
    }
}

pub async fn put_warehouse(
    State(state): State<Shared>,
    credential: Credential,
    Path(warehouse_id): Path<String>,
    bytes: Bytes,
) -> Result<Json<BundleReport>, ApiError> {
    admin(&state, &credential)?;
    let mut w: WarehouseIn = if bytes.is_empty() {
        WarehouseIn::default()
    } else {
        parse(&bytes)?
    };
    if w.warehouse_id.is_empty() {
        w.warehouse_id = warehouse_id.clone();
    }
    path_must_match("/warehouse_id", &warehouse_id, &w.warehouse_id)?;
    Ok(Json(
        apply_bundle(
            &state,
            &Bundle {
                warehouses: vec![w],
                ..Bundle::default()
            },
        )
        .await?,
    ))
}

pub async fn put_sku(
    State(state): State<Shared>,
    credential: Credential,
    Path(sku): Path<String>,
    bytes: Bytes,
) -> Result<Json<BundleReport>, ApiError> {
    admin(&state, &credential)?;
    let mut body: Value = parse(&bytes)?;
    if let Value::Object(map) = &mut body {
        map.entry("sku")
            .or_insert_with(|| Value::String(sku.clone()));
    }
    let s: SkuIn = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("invalid SKU: {e}")))?;
    path_must_match("/sku", &sku, &s.sku)?;
    Ok(Json(
        apply_bundle(
            &state,
            &Bundle {
                skus: vec![s],
                ..Bundle::default()
            },
        )
        .await?,
    ))
}

pub async fn put_location(
    State(state): State<Shared>,
    credential: Credential,
    Path((warehouse_id, location)): Path<(String, String)>,
) -> Result<Json<BundleReport>, ApiError> {
    admin(&state, &credential)?;
    Ok(Json(
        apply_bundle(
            &state,
            &Bundle {
                locations: vec![LocationIn {
                    warehouse_id,
                    location,
                }],
                ..Bundle::default()
            },
        )
        .await?,
    ))
}

pub async fn put_partner(
    State(state): State<Shared>,
    credential: Credential,
    Path(partner_id): Path<String>,
    bytes: Bytes,
) -> Result<Json<BundleReport>, ApiError> {
    admin(&state, &credential)?;
    let mut body: Value = parse(&bytes)?;
    if let Value::Object(map) = &mut body {
        map.entry("partner_id")
            .or_insert_with(|| Value::String(partner_id.clone()));
    }
    let p: PartnerIn = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("invalid partner: {e}")))?;
    path_must_match("/partner_id", &partner_id, &p.partner_id)?;
    Ok(Json(
        apply_bundle(
            &state,
            &Bundle {
                partners: vec![p],
                ..Bundle::default()
            },
        )
        .await?,
    ))
}

/// A fresh random API key (256 bits from the OS generator).
pub fn generate_api_key() -> String {
    format!(
        "wes_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueKey {
    /// RFC 3339; the key is refused from then on. Without it the key does not expire.
    #[serde(default)]
    pub expires_at: Option<String>,
}

fn existing_partner(state: &AppState, partner_id: &str) -> Result<Partner, ApiError> {
    let id =
        PartnerId::parse(partner_id).ok_or_else(|| ApiError::bad_request("invalid partner id"))?;
    state
        .masterdata()
        .partners
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no partner {partner_id}")))
}

/// The partner as it stands, ready to be written back with a key change.
fn partner_in(existing: &Partner) -> PartnerIn {
    PartnerIn {
        partner_id: existing.partner_id.to_string(),
        role: Some(existing.role.as_str().into()),
        allowed_warehouses: existing
            .allowed_warehouses
            .iter()
            .map(ToString::to_string)
            .collect(),
        ..PartnerIn::default()
    }
}

/// `POST /planner/v1/partners/{id}/keys`: adds a new key to the partner and returns it, once.
/// Body (optional): `{"expires_at": "<RFC 3339>"}`.
pub async fn issue_key(
    State(state): State<Shared>,
    credential: Credential,
    Path(partner_id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &credential)?;
    let existing = existing_partner(&state, &partner_id)?;
    let request: IssueKey = if bytes.is_empty() {
        IssueKey::default()
    } else {
        parse(&bytes)?
    };
    if let Some(text) = &request.expires_at {
        let at = UtcMillis::parse_rfc3339(text).ok_or_else(|| {
            ApiError::bad_request("expires_at must be an RFC 3339 timestamp")
                .with_field("/expires_at")
        })?;
        if at.0 <= chrono::Utc::now().timestamp_millis() {
            return Err(
                ApiError::bad_request("expires_at must be in the future").with_field("/expires_at")
            );
        }
    }
    let key = generate_api_key();
    let partner = PartnerIn {
        api_keys: vec![key.clone()],
        api_key_expires_at: request.expires_at.clone(),
        ..partner_in(&existing)
    };
    let report = apply_bundle(
        &state,
        &Bundle {
            partners: vec![partner],
            ..Bundle::default()
        },
    )
    .await?;
    Ok(Json(json!({
        "partner_id": partner_id, "api_key": key, "key_id": key_id(&api_key_digest(&key)),
        "expires_at": request.expires_at, "visible": report.visible
    })))
}

/// `DELETE /planner/v1/partners/{id}/keys/{key_id}`: revokes a key; it is refused as soon as this
/// answers (the master-data projection has applied the change).
pub async fn revoke_key(
    State(state): State<Shared>,
    credential: Credential,
    Path((partner_id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &credential)?;
    let existing = existing_partner(&state, &partner_id)?;
    let partner = PartnerIn {
        revoke_key_ids: vec![key.clone()],
        ..partner_in(&existing)
    };
    let report = apply_bundle(
        &state,
        &Bundle {
            partners: vec![partner],
            ..Bundle::default()
        },
    )
    .await?;
    Ok(Json(
        json!({"partner_id": partner_id, "revoked": key, "visible": report.visible}),
    ))
}
