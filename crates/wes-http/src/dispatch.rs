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
pub struct DeliveriesQuery {
    warehouse_id: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
}

/// `GET /planner/v1/dispatch/deliveries?warehouse_id&status&limit`: webhook deliveries, newest
/// first.
pub async fn deliveries(
    Admin(state): Admin,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Json<Value>, ApiError> {
    let rows = state
        .app
        .webhook_deliveries(
            q.warehouse_id.as_deref(),
            q.status.as_deref(),
            crate::planner::limit(q.limit)?,
        )
        .await?;
    let deliveries: Vec<Value> = rows.iter().map(delivery_view).collect();
    Ok(Json(json!({"deliveries": deliveries})))
}

/// A delivery with its instants in RFC 3339.
fn delivery_view(row: &wes_store::deliveries::DeliveryRow) -> Value {
    let mut view = json!(row);
    let instant = |ms: i64| Value::String(wes_domain::UtcMillis(ms).to_rfc3339());
    view["first_attempt_at"] = row.first_attempt_at.map_or(Value::Null, instant);
    view["next_attempt_at"] = match row.status.as_str() {
        "PENDING" | "RETRYING" => instant(row.next_attempt_at),
        _ => Value::Null,
    };
    view["updated_at"] = instant(row.updated_at);
    view
}

/// `POST /planner/v1/dispatch/dead-letters/{delivery_id}/redrive`.
pub async fn redrive(
    Admin(state): Admin,
    Path(delivery_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = state.app.clone();
    let row = to_the_end(async move { app.redrive(&delivery_id).await }).await?;
    Ok(Json(delivery_view(&row)))
}

#[derive(Deserialize)]
pub struct PendingQuery {
    since: Option<String>,
    limit: Option<String>,
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
    let limit = match q.limit.as_deref() {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!("limit {text:?} is not a whole number (1-100)"))
                .with_field("/limit")
        })?),
    };
    Ok(Json(
        state
            .app
            .pending(
                &partner,
                q.warehouse_id.as_deref(),
                q.since.as_deref(),
                limit,
            )
            .await?,
    ))
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
    let body = json_object(&bytes)?;
    let fields = wes_domain::fields::Fields::of(&body)?;
    if let Some(unknown) = body.as_object().and_then(|m| {
        m.keys()
            .find(|k| !["cursor", "warehouse_id"].contains(&k.as_str()))
    }) {
        return Err(ApiError::bad_request(format!(
            "unknown field `{unknown}`: an ack is {{\"cursor\": \"…\"}}, with `warehouse_id` when the credential acts for several warehouses"
        ))
        .with_field(&format!("/{unknown}")));
    }
    let cursor = fields.req_str("cursor")?.to_owned();
    if cursor.is_empty() {
        return Err(ApiError::bad_request(
            "an empty cursor acknowledges nothing: ack the next_cursor of a page that had events",
        )
        .with_field("/cursor"));
    }
    let warehouse = match (fields.opt_str("warehouse_id")?, q.warehouse_id) {
        (Some(body), Some(query)) if body != query => {
            return Err(ApiError::bad_request(format!(
                "warehouse_id {body:?} in the body differs from {query:?} in the query"
            ))
            .with_field("/warehouse_id"));
        }
        (Some(body), _) => Some(body.to_owned()),
        (None, query) => query,
    };
    let app = state.app.clone();
    let outcome =
        to_the_end(async move { app.ack(&partner, warehouse.as_deref(), &cursor).await }).await?;
    Ok(Json(outcome))
}
