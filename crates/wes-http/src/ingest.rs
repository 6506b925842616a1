//! The shared path of every keyed, event-shaped request: parse one object or an array, check the
//! credential's warehouses, validate each item, claim idempotency keys, append the new events, and
//! answer per the contract (single object all-or-nothing; arrays with per-item results).

use crate::Shared;
use crate::problem::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use wes_domain::idempotency::{Claim, payload_fingerprint};
use wes_domain::masterdata::Partner;
use wes_domain::{Rejection, UtcMillis, WarehouseId};
use wes_events::Routed;
use wes_store::idempotency::KeyRequest;

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

/// Checks the content type and parses JSON; never panics on any input.
pub fn parse_body(headers: &HeaderMap, bytes: &Bytes, max_items: usize) -> Result<Body, ApiError> {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    Accepted,
    Replay,
    Rejected,
}

pub struct ItemResult {
    pub correlation_id: Option<String>,
    pub status: ItemStatus,
    pub problem: Option<ApiError>,
}

impl ItemResult {
    fn rejected(correlation_id: Option<String>, problem: ApiError) -> Self {
        ItemResult {
            correlation_id,
            status: ItemStatus::Rejected,
            problem: Some(problem),
        }
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

/// Validates, deduplicates and appends `items`. `to_record` turns one item into its event.
pub async fn ingest<T: Routed>(
    state: &Shared,
    scope: &str,
    partner_key: &str,
    items: &[Value],
    to_record: impl Fn(&Value, String, UtcMillis) -> Result<T, Rejection>,
) -> Result<Vec<ItemResult>, ApiError> {
    let now = UtcMillis(chrono::Utc::now().timestamp_millis());
    let mut results: Vec<Option<ItemResult>> = Vec::with_capacity(items.len());
    let mut valid: Vec<(usize, String, String, T)> = vec![]; // (index, correlation_id, fingerprint, record)
    for (index, item) in items.iter().enumerate() {
        let correlation_id = item
            .get("correlation_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let fingerprint = payload_fingerprint(item);
        match to_record(item, fingerprint.clone(), now) {
            Ok(record) => {
                valid.push((
                    index,
                    correlation_id.clone().unwrap_or_default(),
                    fingerprint,
                    record,
                ));
                results.push(None);
            }
            Err(rejection) => {
                results.push(Some(ItemResult::rejected(correlation_id, rejection.into())))
            }
        }
    }
    let keys: Vec<KeyRequest> = valid
        .iter()
        .map(|(_, cid, fp, _)| KeyRequest {
            correlation_id: cid,
            payload_sha256: fp,
        })
        .collect();
    let claims = state
        .store
        .claim_keys(scope, partner_key, &state.settings.instance_id, &keys, now)
        .await?;

    let mut sends = vec![];
    for ((index, cid, _, record), claim) in valid.iter().zip(&claims) {
        let result = match claim {
            Claim::Fresh | Claim::TakeOver => {
                sends.push((*index, cid.as_str(), record));
                continue;
            }
            Claim::Replay => ItemResult {
                correlation_id: Some(cid.clone()),
                status: ItemStatus::Replay,
                problem: None,
            },
            Claim::InFlight => ItemResult::rejected(
                Some(cid.clone()),
                ApiError::conflict_in_flight(format!(
                    "a request with correlation_id {cid} is still being processed; retry later"
                )),
            ),
            Claim::PayloadMismatch => ItemResult::rejected(
                Some(cid.clone()),
                ApiError::key_reused(format!(
                    "correlation_id {cid} was already used with a different payload"
                )),
            ),
        };
        results[*index] = Some(result);
    }
    let records: Vec<&T> = sends.iter().map(|(_, _, record)| *record).collect();
    let deliveries = append_with_notifications(state, &records).await;
    let mut done = vec![];
    let mut failed = vec![];
    for ((index, cid, _), delivery) in sends.iter().zip(deliveries) {
        results[*index] = Some(match delivery {
            Ok(_) => {
                done.push(*cid);
                ItemResult {
                    correlation_id: Some(cid.to_string()),
                    status: ItemStatus::Accepted,
                    problem: None,
                }
            }
            Err(e) => {
                failed.push(*cid);
                ItemResult::rejected(Some(cid.to_string()), e.into())
            }
        });
    }
    state
        .store
        .settle_keys(scope, partner_key, &done, &failed)
        .await?;
    Ok(results
        .into_iter()
        .map(|r| r.expect("every item has a result"))
        .collect())
}

/// Appends the records, then the notifications of those the log confirmed (so a page never names
/// an event that is not in the log). An item succeeds only when both are confirmed; on a retry both
/// are appended again under the same ids, and the queue and pager consumers deduplicate by id.
pub(crate) async fn append_with_notifications<T: Routed>(
    state: &Shared,
    records: &[&T],
) -> Vec<Result<wes_kafka::Delivery, wes_kafka::KafkaError>> {
    let mut deliveries = state.producer.send_all(records).await;
    let pages: Vec<(usize, wes_events::NotificationRaised)> = records
        .iter()
        .enumerate()
        .filter(|(i, _)| deliveries[*i].is_ok())
        .filter_map(|(i, record)| record.notification().map(|page| (i, page)))
        .collect();
    if pages.is_empty() {
        return deliveries;
    }
    let page_refs: Vec<&wes_events::NotificationRaised> = pages.iter().map(|(_, p)| p).collect();
    let paged = state.producer.send_all(&page_refs).await;
    for ((index, _), result) in pages.iter().zip(paged) {
        if let Err(e) = result {
            deliveries[*index] = Err(e);
        }
    }
    deliveries
}

fn status_word(s: ItemStatus) -> &'static str {
    match s {
        ItemStatus::Accepted => "ACCEPTED",
        ItemStatus::Replay => "REPLAY",
        ItemStatus::Rejected => "REJECTED",
    }
}

/// The contract's response for a single-object body: all or nothing.
pub fn single_response(result: ItemResult) -> Response {
    match result.problem {
        Some(problem) => problem.into_response(),
        None => Json(json!({
            "correlation_id": result.correlation_id,
            "status": status_word(result.status),
            "replay": result.status == ItemStatus::Replay,
        }))
        .into_response(),
    }
}

/// The contract's response for an array body: per-item results in input order.
pub fn batch_response(results: Vec<ItemResult>) -> Response {
    // Every item failing because the log is down is a 503 for the request, so the client backs off.
    if !results.is_empty()
        && results.iter().all(|r| {
            r.problem
                .as_ref()
                .is_some_and(|p| p.status == StatusCode::SERVICE_UNAVAILABLE)
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
    let items: Vec<Value> = results
        .into_iter()
        .map(|r| {
            let mut item =
                json!({"correlation_id": r.correlation_id, "status": status_word(r.status)});
            if let Some(problem) = r.problem {
                item["problem"] = problem.body();
            }
            item
        })
        .collect();
    Json(json!({"replay": replay, "results": items, "summary": summary})).into_response()
}

/// Authorizes (when `restrict_to` names the sending partner), ingests under the idempotency owner
/// `key_owner`, and answers per body shape.
pub async fn respond<T: Routed>(
    state: &Shared,
    scope: &str,
    key_owner: &str,
    restrict_to: Option<&Partner>,
    body: Body,
    to_record: impl Fn(&Value, String, UtcMillis) -> Result<T, Rejection>,
) -> Result<Response, ApiError> {
    let (single, items) = match body {
        Body::One(item) => (true, vec![item]),
        Body::Many(items) => (false, items),
    };
    if let Some(partner) = restrict_to {
        check_warehouses(&items, partner)?;
    }
    let results = ingest(state, scope, key_owner, &items, to_record).await?;
    Ok(if single {
        single_response(results.into_iter().next().expect("one result"))
    } else {
        batch_response(results)
    })
}
