//! Planner-internal API (admin key): releases to dispatch, ledger queries, projections.

use crate::auth::Admin;
use crate::ingest::{Body, accepted, parse_body, read_body, respond, single_response};
use crate::problem::ApiError;
use crate::to_the_end;
use axum::Json;
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use wes_store::ProjectionKind;
use wes_store::queries::MovementFilter;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 10_000;

pub(crate) fn limit(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, got {n}"
        ))
        .with_field("/limit")),
    }
}

/// `POST /planner/v1/releases`: one release or an array; each gets its own result (see
/// `wes_app::releases`).
pub async fn post_releases(
    Admin(state): Admin,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body, state.settings.max_body_bytes).await?;
    let (single, items) =
        parse_body(&headers, &bytes, state.settings.max_batch_items)?.into_items();
    let app = state.app.clone();
    let results = to_the_end(async move { app.release(items).await }).await?;
    Ok(respond(single, results))
}

/// `POST /planner/v1/releases/{correlation_id}/amend`: a CANCELLED of that live release, then the
/// body as a fresh release of the same document; both or neither (see `wes_app::releases`).
pub async fn amend_release(
    Admin(state): Admin,
    Path(original): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body, state.settings.max_body_bytes).await?;
    let Body::One(release) = parse_body(&headers, &bytes, 1)? else {
        return Err(ApiError::bad_request(
            "an amendment is one release object, not an array",
        ));
    };
    let app = state.app.clone();
    let (cancellation, release) =
        to_the_end(async move { app.amend(&original, release).await }).await?;
    if cancellation.problem.is_some() {
        return Ok(single_response(cancellation));
    }
    if release.problem.is_some() {
        return Ok(single_response(release));
    }
    Ok(
        Json(json!({"cancellation": accepted(&cancellation), "release": accepted(&release)}))
            .into_response(),
    )
}

#[derive(Deserialize)]
pub struct ReleaseQuery {
    warehouse_id: Option<String>,
    document_id: Option<String>,
    limit: Option<i64>,
}

pub async fn get_releases(
    Admin(state): Admin,
    Query(q): Query<ReleaseQuery>,
) -> Result<Json<Value>, ApiError> {
    let rows = state
        .store
        .releases(
            q.warehouse_id.as_deref(),
            q.document_id.as_deref(),
            limit(q.limit)?,
        )
        .await?;
    Ok(Json(json!({"releases": rows})))
}

#[derive(Deserialize)]
pub struct BalanceQuery {
    warehouse_id: Option<String>,
    sku: Option<String>,
    location: Option<String>,
    limit: Option<i64>,
}

pub async fn balances(
    Admin(state): Admin,
    Query(q): Query<BalanceQuery>,
) -> Result<Json<Value>, ApiError> {
    let rows = state
        .store
        .balances(
            q.warehouse_id.as_deref(),
            q.sku.as_deref(),
            q.location.as_deref(),
            limit(q.limit)?,
        )
        .await?;
    Ok(Json(json!({"balances": rows})))
}

#[derive(Deserialize)]
pub struct MovementQuery {
    warehouse_id: Option<String>,
    sku: Option<String>,
    location: Option<String>,
    correlation_id: Option<String>,
    partner_id: Option<String>,
    limit: Option<i64>,
}

pub async fn movements(
    Admin(state): Admin,
    Query(q): Query<MovementQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = MovementFilter {
        warehouse_id: q.warehouse_id.as_deref(),
        sku: q.sku.as_deref(),
        location: q.location.as_deref(),
        correlation_id: q.correlation_id.as_deref(),
        partner_id: q.partner_id.as_deref(),
    };
    let rows = state.store.movements(&filter, limit(q.limit)?).await?;
    Ok(Json(json!({"movements": rows})))
}

pub async fn projections(Admin(state): Admin) -> Result<Json<Value>, ApiError> {
    let status = state.projector.status().await?;
    Ok(Json(json!({"projections": status})))
}

pub async fn rebuild(
    Admin(state): Admin,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let kind = ProjectionKind::parse(&name).ok_or_else(|| {
        ApiError::not_found(format!(
            "no projection {name:?}; known: {}",
            ProjectionKind::ALL.map(|k| k.name()).join(", ")
        ))
    })?;
    let report = state.projector.rebuild(kind).await?;
    Ok(Json(json!(report)))
}

#[derive(Deserialize)]
pub struct DocumentTasksQuery {
    warehouse_id: Option<String>,
}

/// `GET /planner/v1/documents/{type}/{id}/tasks`: current state of every task of a document.
pub async fn tasks_of_document(
    Admin(state): Admin,
    Path((doc_type, doc_id)): Path<(String, String)>,
    Query(q): Query<DocumentTasksQuery>,
) -> Result<Json<Value>, ApiError> {
    let tasks = state
        .store
        .tasks_of_document(&doc_type, &doc_id, q.warehouse_id.as_deref())
        .await?;
    Ok(Json(
        json!({"document_ref": {"type": doc_type, "id": doc_id}, "tasks": tasks}),
    ))
}

/// `GET /planner/v1/warehouses/{warehouse}/tasks/{task}`: one task and its full history.
pub async fn task(
    Admin(state): Admin,
    Path((warehouse_id, task_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (current, history) = state
        .store
        .task(&warehouse_id, &task_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("no task {task_id} in warehouse {warehouse_id}"))
        })?;
    Ok(Json(json!({"task": current, "history": history})))
}

#[derive(Deserialize)]
pub struct TrendQuery {
    warehouse_id: String,
    from: String,
    to: String,
    #[serde(default = "default_bucket")]
    bucket: String,
}

fn default_bucket() -> String {
    "5m".into()
}

/// Most buckets one trend request may ask for.
const MAX_BUCKETS: i64 = 10_000;
/// Most snapshots one trend request reads.
const MAX_SNAPSHOTS: i64 = 200_000;

/// `GET /planner/v1/capacity/trends?warehouse_id&from&to&bucket`: time-bucketed capacity series.
pub async fn capacity_trends(
    Admin(state): Admin,
    Query(q): Query<TrendQuery>,
) -> Result<Json<Value>, ApiError> {
    let time = |field: &str, text: &str| {
        wes_domain::UtcMillis::parse_rfc3339(text).ok_or_else(|| {
            ApiError::bad_request(format!("`{field}` must be an RFC 3339 timestamp"))
                .with_field(&format!("/{field}"))
        })
    };
    let (from, to) = (time("from", &q.from)?, time("to", &q.to)?);
    if to <= from {
        return Err(ApiError::bad_request("`to` must be after `from`").with_field("/to"));
    }
    let width = wes_domain::capacity::parse_bucket(&q.bucket).ok_or_else(|| {
        ApiError::bad_request("`bucket` is a width like 30s, 5m, 1h or 1d").with_field("/bucket")
    })?;
    if (to.0 - from.0) / width > MAX_BUCKETS {
        return Err(ApiError::bad_request(format!(
            "more than {MAX_BUCKETS} buckets: widen `bucket` or narrow the range"
        ))
        .with_field("/bucket"));
    }
    let snapshots = state
        .store
        .capacity_snapshots(&q.warehouse_id, from, to, MAX_SNAPSHOTS)
        .await?;
    let truncated = snapshots.len() as i64 == MAX_SNAPSHOTS;
    let buckets = wes_domain::capacity::trend(&snapshots, width);
    Ok(Json(
        json!({"warehouse_id": q.warehouse_id, "bucket": q.bucket, "from": from.to_rfc3339(), "to": to.to_rfc3339(),
                   "truncated": truncated, "buckets": buckets}),
    ))
}
