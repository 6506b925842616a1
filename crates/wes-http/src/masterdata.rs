//! Master data administration over HTTP: warehouses, SKUs, locations, partners and their keys.
//! Each write is a bundle applied by the application (`wes_app::masterdata`).

use crate::Shared;
use crate::auth::Admin;
use crate::problem::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use serde::Deserialize;
use serde_json::{Value, json};
use wes_app::masterdata::{Bundle, BundleReport, LocationIn, PartnerIn, SkuIn, WarehouseIn};
use wes_domain::masterdata::*;
use wes_domain::*;

/// An optional body: `empty` when none was sent.
fn parse_or<T: for<'de> Deserialize<'de>>(bytes: &Bytes, empty: T) -> Result<T, ApiError> {
    if bytes.is_empty() {
        Ok(empty)
    } else {
        parse(bytes)
    }
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid master data: {e}")))
}

pub async fn post_bundle(
    Admin(state): Admin,
    bytes: Bytes,
) -> Result<Json<BundleReport>, ApiError> {
    Ok(Json(
        state.app.apply_bundle(&parse::<Bundle>(&bytes)?).await?,
    ))
}

pub async fn get_all(Admin(state): Admin) -> Result<Json<Value>, ApiError> {
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

/// A record a PUT of one path writes: the body field its id is in, and the bundle it makes.
pub trait PutRecord: serde::de::DeserializeOwned {
    const ID_FIELD: &'static str;
    fn id(&self) -> &str;
    fn into_bundle(self) -> Bundle;
}

/// `$record` is PUT by its `$id` field and goes into the bundle's `$list`.
macro_rules! put_record {
    ($record:ident, $id:ident, $list:ident) => {
        impl PutRecord for $record {
            const ID_FIELD: &'static str = stringify!($id);
            fn id(&self) -> &str {
                &self.$id
            }
            fn into_bundle(self) -> Bundle {
                Bundle {
                    $list: vec![self],
                    ..Bundle::default()
                }
            }
        }
    };
}

put_record!(WarehouseIn, warehouse_id, warehouses);
put_record!(SkuIn, sku, skus);
put_record!(PartnerIn, partner_id, partners);

/// `PUT /planner/v1/warehouses/{id}`, `…/skus/{id}`, `…/partners/{id}`: the body (required; `{}`
/// at least) is the record, with its id taken from the path when the body omits it; a body naming
/// another id is refused.
pub async fn put_record<R: PutRecord>(
    Admin(state): Admin,
    Path(in_path): Path<String>,
    bytes: Bytes,
) -> Result<Json<BundleReport>, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "a body is required: the record as JSON (`{}` when every field may default)",
        ));
    }
    let mut body: Value = parse(&bytes)?;
    if let Value::Object(map) = &mut body
        && map.get(R::ID_FIELD).is_none_or(|v| v.is_null() || v == "")
    {
        map.insert(R::ID_FIELD.to_owned(), Value::String(in_path.clone()));
    }
    let record: R = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("invalid master data: {e}")))?;
    if record.id() != in_path {
        let field = format!("/{}", R::ID_FIELD);
        return Err(ApiError::bad_request(format!(
            "{field} in the body ({:?}) differs from the path ({in_path:?})",
            record.id()
        ))
        .with_field(&field));
    }
    apply(&state, record.into_bundle()).await
}

async fn apply(state: &Shared, bundle: Bundle) -> Result<Json<BundleReport>, ApiError> {
    Ok(Json(state.app.apply_bundle(&bundle).await?))
}

pub async fn put_location(
    Admin(state): Admin,
    Path((warehouse_id, location)): Path<(String, String)>,
) -> Result<Json<BundleReport>, ApiError> {
    let locations = vec![LocationIn {
        warehouse_id,
        location,
    }];
    apply(
        &state,
        Bundle {
            locations,
            ..Bundle::default()
        },
    )
    .await
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
    Admin(state): Admin,
    Path(partner_id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: IssueKey = parse_or(&bytes, IssueKey::default())?;
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
    Admin(state): Admin,
    Path((partner_id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let report = state.app.revoke_key(&partner_id, &key).await?;
    Ok(Json(
        json!({"partner_id": partner_id, "revoked": key, "visible": report.visible}),
    ))
}
