//! The edge of every keyed, event-shaped request: read and parse one object or an array, check the
//! credential's warehouses, hand the items to the application's keyed ingest (`wes_app::ingest`),
//! and answer per the contract (single object all-or-nothing; arrays with per-item results).

use crate::Shared;
use crate::problem::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use wes_app::ingest::{ItemResult, ItemStatus};
use wes_domain::idempotency::IdempotencyScope;
use wes_domain::masterdata::Partner;
use wes_domain::{Rejection, UtcMillis, WarehouseId};
use wes_events::Event;

/// How much of an oversized body is read and discarded before answering 413, so a client still
/// writing its body gets the answer instead of a reset connection.
const OVERSIZE_DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// Reads the body up to `limit` bytes; larger bodies get 413 (after a bounded drain).
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes, ApiError> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut buffer = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("reading the request body failed: {e}")))?;
        total += chunk.len();
        if total > limit {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
            while total <= limit + OVERSIZE_DRAIN_BYTES {
                match tokio::time::timeout_at(deadline, stream.next()).await {
                    Ok(Some(Ok(more))) => total += more.len(),
                    _ => break,
                }
            }
            return Err(ApiError::too_large(format!(
                "the body exceeds the limit of {limit} bytes"
            )));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buffer))
}

/// The request body: one object, or an array of them.
pub enum Body {
    One(Value),
    Many(Vec<Value>),
}

/// Refuses a declared body that is not JSON (`application/json` or `+json`) with 415.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && !mime.ends_with("+json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            format!("send `Content-Type: application/json`, got {content_type:?}"),
        ));
    }
    Ok(())
}

/// Every request that carries a body (a `Content-Type`, or a length above zero) carries JSON.
pub async fn json_bodies_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let headers = request.headers();
    let has_body = headers.contains_key(header::CONTENT_TYPE)
        || headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    if has_body && let Err(problem) = require_json(headers) {
        return axum::response::IntoResponse::into_response(problem);
    }
    next.run(request).await
}

/// Checks the content type and parses JSON; never panics on any input.
pub fn parse_body(headers: &HeaderMap, bytes: &Bytes, max_items: usize) -> Result<Body, ApiError> {
    require_json(headers)?;
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    match value {
        Value::Array(items) if items.is_empty() => Err(ApiError::bad_request(
            "an array body needs at least one item",
        )),
        Value::Array(items) if items.len() > max_items => Err(ApiError::too_large(format!(
            "{} items in one request; at most {max_items} are accepted",
            items.len()
        ))),
        Value::Array(items) => Ok(Body::Many(items)),
        Value::Object(_) => Ok(Body::One(value)),
        _ => Err(ApiError::bad_request(
            "the body must be a JSON object or an array of objects",
        )),
    }
}

/// Fails the whole request with 403 when any item names a warehouse the partner may not act for.
pub fn check_warehouses(items: &[Value], partner: &Partner) -> Result<(), ApiError> {
    for item in items {
        if let Some(Value::String(w)) = item.get("warehouse_id")
            && let Some(warehouse) = WarehouseId::parse(w)
            && !partner.may_act_for(&warehouse)
        {
            return Err(ApiError::cross_warehouse(format!(
                "partner {} may not act for warehouse {warehouse}",
                partner.partner_id
            )));
        }
    }
    Ok(())
}

/// The contract's response for a single-object body: all or nothing.
pub fn single_response(result: ItemResult) -> Response {
    match result.problem {
        Some(problem) => ApiError::from(problem).into_response(),
        None => Json(accepted(&result)).into_response(),
    }
}

/// An accepted or replayed item as it is answered: `{correlation_id, status, replay}`.
pub fn accepted(result: &ItemResult) -> Value {
    json!({
        "correlation_id": result.correlation_id,
        "status": result.status.as_str(),
        "replay": result.status == ItemStatus::Replay,
    })
}

/// The contract's response for an array body: per-item results in input order.
pub fn batch_response(results: Vec<ItemResult>) -> Response {
    // Every item failing because the log is down is a 503 for the request, so the client backs off.
    if !results.is_empty()
        && results.iter().all(|r| {
            r.problem
                .as_ref()
                .is_some_and(|p| matches!(p, wes_app::AppError::Unavailable(_)))
        })
    {
        return ApiError::unavailable(
            "the event log did not confirm the writes in time; retry with the same correlation_ids",
        )
        .into_response();
    }
    let count = |s| results.iter().filter(|r| r.status == s).count();
    let summary = json!({"accepted": count(ItemStatus::Accepted), "replay": count(ItemStatus::Replay), "rejected": count(ItemStatus::Rejected)});
    let replay = results.iter().all(|r| r.status == ItemStatus::Replay);
    // An item's problem is a complete document: its instance points at the item in the body.
    let context = crate::context::current();
    let items: Vec<Value> = results
        .into_iter()
        .enumerate()
        .map(|(index, r)| {
            let mut item = json!({"correlation_id": r.correlation_id, "status": r.status.as_str()});
            if let Some(problem) = r.problem {
                let mut problem = ApiError::from(problem).body();
                if let Some(context) = &context {
                    problem["instance"] = format!("{}#/{index}", context.instance).into();
                    problem["trace_id"] = context.trace_id.clone().into();
                }
                item["problem"] = problem;
            }
            item
        })
        .collect();
    Json(json!({"replay": replay, "results": items, "summary": summary})).into_response()
}

impl Body {
    /// Whether the body was one object, and its items.
    pub fn into_items(self) -> (bool, Vec<Value>) {
        match self {
            Body::One(item) => (true, vec![item]),
            Body::Many(items) => (false, items),
        }
    }
}

/// The answer per body shape: one object all or nothing, an array with per-item results.
pub fn respond(single: bool, results: Vec<ItemResult>) -> Response {
    if single {
        single_response(results.into_iter().next().expect("one result"))
    } else {
        batch_response(results)
    }
}

/// Authorizes the partner's warehouses, ingests under `(scope, partner)`, and answers.
pub async fn ingest_for(
    state: &Shared,
    scope: IdempotencyScope,
    partner: &Partner,
    body: Body,
    to_event: impl Fn(&Value, String, UtcMillis) -> Result<Event, Rejection>,
) -> Result<Response, ApiError> {
    let (single, items) = body.into_items();
    check_warehouses(&items, partner)?;
    let results = state
        .app
        .ingest(scope, partner.partner_id.as_str(), &items, to_event)
        .await?;
    Ok(respond(single, results))
}
