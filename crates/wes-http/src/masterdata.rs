//! Master data administration over HTTP: warehouses, SKUs, locations, partners and their keys.
//! Each write is a bundle applied by the application (`wes_app::masterdata`).

use crate::Shared;
use crate::auth::{Credential, authenticate};
use crate::problem::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use wes_app::masterdata::{Bundle, BundleReport, LocationIn, PartnerIn, SkuIn, WarehouseIn};
use wes_domain::masterdata::*;
use wes_domain::*;

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
    Ok(Json(
        state.app.apply_bundle(&parse::<Bundle>(&bytes)?).await?,
    ))
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
        state
            .app
            .apply_bundle(&Bundle {
                warehouses: vec![w],
                ..Bundle::default()
            })
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
        state
            .app
            .apply_bundle(&Bundle {
                skus: vec![s],
                ..Bundle::default()
            })
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
        state
            .app
            .apply_bundle(&Bundle {
                locations: vec![LocationIn {
                    warehouse_id,
                    location,
                }],
                ..Bundle::default()
            })
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
        state
            .app
            .apply_bundle(&Bundle {
                partners: vec![p],
                ..Bundle::default()
            })
            .await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueKey {
    /// RFC 3339; the key is refused from then on. Without it the key does not expire.
    #[serde(default)]
    pub expires_at: Option<String>,
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
    let request: IssueKey = if bytes.is_empty() {
        IssueKey::default()
    } else {
        parse(&bytes)?
    };
    let (key, report) = state
        .app
        .issue_key(&partner_id, request.expires_at.clone())
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
    let report = state.app.revoke_key(&partner_id, &key).await?;
    Ok(Json(
        json!({"partner_id": partner_id, "revoked": key, "visible": report.visible}),
    ))
}
