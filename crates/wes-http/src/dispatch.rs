//! Dispatch transports (admin) and poll-mode dispatch (executors), contract §2. The rules are the
//! application's (`wes_app::transports`, `wes_app::polling`); this is their HTTP shape.

use crate::auth::{Admin, Credential, executor};
use crate::problem::ApiError;
use crate::{Shared, to_the_end};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use wes_app::polling::{AckOutcome, PendingPage};
use wes_app::transports::TransportView;

fn json_object(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("a JSON object body is required"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// `GET /planner/v1/warehouses/{warehouse_id}/dispatch-transport`: never the secret.
pub async fn get_transport(
    Admin(state): Admin,
    Path(warehouse): Path<String>,
) -> Result<Json<TransportView>, ApiError> {
    Ok(Json(TransportView::from(
        &state.app.dispatch_transport(&warehouse)?,
    )))
}

/// `PUT …/dispatch-transport`: configures, updates or leaves as is; the answer says which.
pub async fn put_transport(
    Admin(state): Admin,
    Path(warehouse): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_object(&bytes)?;
    let app = state.app.clone();
    let (transport, outcome) =
        to_the_end(async move { app.set_dispatch_transport(&warehouse, &body).await }).await?;
    Ok(Json(
        json!({"outcome": outcome, "transport": TransportView::from(&transport)}),
    ))
}

/// `POST …/dispatch-transport/rotate-secret {"secret": "…"}`.
pub async fn rotate_secret(
    Admin(state): Admin,
    Path(warehouse): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_object(&bytes)?;
    let app = state.app.clone();
    let (transport, rotated) =
        to_the_end(async move { app.rotate_webhook_secret(&warehouse, &body).await }).await?;
    Ok(Json(
        json!({"rotated": rotated, "transport": TransportView::from(&transport)}),
    ))
}

/// `DELETE …/dispatch-transport`.
pub async fn delete_transport(
    Admin(state): Admin,
    Path(warehouse): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = state.app.clone();
    let removed = warehouse.clone();
    to_the_end(async move { app.remove_dispatch_transport(&warehouse).await }).await?;
    Ok(Json(json!({"warehouse_id": removed, "removed": true})))
}

#[derive(Deserialize)]
pub struct PendingQuery {
    since: Option<String>,
    limit: Option<i64>,
    warehouse_id: Option<String>,
}

/// `GET /wes/v1/dispatch/pending?since=&limit=&warehouse_id=`.
pub async fn pending(
    State(state): State<Shared>,
    credential: Credential,
    Query(q): Query<PendingQuery>,
) -> Result<Json<PendingPage>, ApiError> {
    let md = state.masterdata();
    let partner = executor(&state, &credential, &md)?;
    Ok(Json(
        state
            .app
            .pending(
                &partner,
                q.warehouse_id.as_deref(),
                q.since.as_deref(),
                q.limit,
            )
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    cursor: String,
    warehouse_id: Option<String>,
}

#[derive(Deserialize)]
pub struct AckQuery {
    warehouse_id: Option<String>,
}

/// `POST /wes/v1/dispatch/ack {"cursor": "…"}` (`warehouse_id` in the body or the query when the
/// credential acts for several warehouses).
pub async fn ack(
    State(state): State<Shared>,
    credential: Credential,
    Query(q): Query<AckQuery>,
    bytes: Bytes,
) -> Result<Json<AckOutcome>, ApiError> {
    let md = state.masterdata();
    let partner = executor(&state, &credential, &md)?;
    let body: AckBody = serde_json::from_value(json_object(&bytes)?).map_err(|e| {
        ApiError::bad_request(format!("an ack is {{\"cursor\": \"…\"}}: {e}")).with_field("/cursor")
    })?;
    let warehouse = body.warehouse_id.or(q.warehouse_id);
    let app = state.app.clone();
    let outcome =
        to_the_end(async move { app.ack(&partner, warehouse.as_deref(), &body.cursor).await })
            .await?;
    Ok(Json(outcome))
}
