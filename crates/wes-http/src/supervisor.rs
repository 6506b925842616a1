//! Supervisor API (supervisor credentials, limited to the partner's warehouses): the supervisor
//! queue, and acknowledging and closing its entries. Each step is an event on
//! `wes.supervisor.actions.v1`; the answer waits until the queue projection shows it.

use crate::Shared;
use crate::auth::{Credential, authenticate};
use crate::planner::limit;
use crate::problem::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use wes_domain::exception::{ExceptionCode, Severity};
use wes_domain::masterdata::{Partner, PartnerRole};
use wes_domain::supervisor::{EntryStatus, SupervisorAction, decide};
use wes_domain::{UtcMillis, WarehouseId, is_valid_id};
use wes_events::{Routed, SupervisorActionRecorded};
use wes_store::ProjectionKind;
use wes_store::queries::QueueFilter;

/// How long an action waits for the queue projection to show it before answering anyway.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest `reason` or `note` accepted.
const MAX_REASON_CHARS: usize = 2000;

pub(crate) fn supervisor(state: &Shared, credential: &Credential) -> Result<Partner, ApiError> {
    authenticate(credential, &state.masterdata(), PartnerRole::Supervisor)
}

pub(crate) fn check_warehouse(partner: &Partner, warehouse: &str) -> Result<(), ApiError> {
    let allowed = WarehouseId::parse(warehouse).is_some_and(|w| partner.may_act_for(&w));
    if allowed {
        Ok(())
    } else {
        Err(ApiError::cross_warehouse(format!(
            "partner {} may not act for warehouse {warehouse}",
            partner.partner_id
        )))
    }
}

/// The warehouses a listing covers: the one asked for (which the partner must be allowed), or
/// all the partner's.
pub(crate) fn visible_warehouses(
    partner: &Partner,
    requested: &Option<String>,
) -> Result<Vec<String>, ApiError> {
    match requested {
        Some(w) => {
            check_warehouse(partner, w)?;
            Ok(vec![w.clone()])
        }
        None => Ok(partner
            .allowed_warehouses
            .iter()
            .map(ToString::to_string)
            .collect()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    warehouse_id: Option<String>,
    /// EXCEPTION, WINDOW_DISCREPANCY or LATE_MOVEMENT.
    source: Option<String>,
    status: Option<String>,
    severity: Option<String>,
    code: Option<String>,
    /// RFC 3339; entries whose exception occurred at or after it.
    from: Option<String>,
    /// RFC 3339; entries whose exception occurred before it.
    to: Option<String>,
    limit: Option<i64>,
}

fn word<'a>(
    field: &str,
    text: &'a Option<String>,
    known: fn(&str) -> bool,
    words: String,
) -> Result<Option<&'a str>, ApiError> {
    match text.as_deref() {
        Some(t) if !known(t) => Err(ApiError::bad_request(format!(
            "`{field}` has unknown value {t:?}; expected one of {words}"
        ))
        .with_field(&format!("/{field}"))),
        other => Ok(other),
    }
}

fn time(field: &str, text: &Option<String>) -> Result<Option<i64>, ApiError> {
    text.as_deref()
        .map(|t| {
            UtcMillis::parse_rfc3339(t).map(|m| m.0).ok_or_else(|| {
                ApiError::bad_request(format!("`{field}` must be an RFC 3339 timestamp"))
                    .with_field(&format!("/{field}"))
            })
        })
        .transpose()
}

/// `GET /planner/v1/supervisor/queue`: entries of the caller's warehouses, most severe first,
/// then oldest first; filters `warehouse_id`, `status`, `severity`, `code`, `from`, `to`, `limit`.
pub async fn queue(
    State(state): State<Shared>,
    credential: Credential,
    Query(q): Query<QueueQuery>,
) -> Result<Json<Value>, ApiError> {
    let partner = supervisor(&state, &credential)?;
    let warehouses = visible_warehouses(&partner, &q.warehouse_id)?;
    let filter = QueueFilter {
        warehouses,
        source: word(
            "source",
            &q.source,
            |t| matches!(t, "EXCEPTION" | "WINDOW_DISCREPANCY" | "LATE_MOVEMENT"),
            "EXCEPTION, WINDOW_DISCREPANCY, LATE_MOVEMENT".into(),
        )?,
        status: word(
            "status",
            &q.status,
            |t| EntryStatus::parse(t).is_some(),
            EntryStatus::words(),
        )?,
        severity: word(
            "severity",
            &q.severity,
            |t| Severity::parse(t).is_some(),
            Severity::words(),
        )?,
        code: word(
            "code",
            &q.code,
            |t| ExceptionCode::parse(t).is_some(),
            ExceptionCode::words(),
        )?,
        from: time("from", &q.from)?,
        to: time("to", &q.to)?,
    };
    let limit = limit(q.limit)?;
    let entries = state.store.supervisor_queue(&filter, limit).await?;
    let truncated = entries.len() as i64 == limit;
    Ok(Json(json!({"entries": entries, "truncated": truncated})))
}

async fn entry_detail(
    state: &Shared,
    partner: &Partner,
    entry_id: &str,
) -> Result<Value, ApiError> {
    let (entry, steps) = state
        .store
        .supervisor_entry(entry_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no supervisor-queue entry {entry_id}")))?;
    check_warehouse(partner, &entry.warehouse_id)?;
    let mut body = serde_json::to_value(&entry).map_err(ApiError::internal)?;
    body["steps"] = serde_json::to_value(&steps).map_err(ApiError::internal)?;
    Ok(body)
}

/// `GET /planner/v1/supervisor/queue/{entry_id}`: one entry with its audit trail.
pub async fn entry(
    State(state): State<Shared>,
    credential: Credential,
    Path(entry_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let partner = supervisor(&state, &credential)?;
    Ok(Json(entry_detail(&state, &partner, &entry_id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    supervisor_id: Option<String>,
    /// Why (required to close; an optional note when acknowledging).
    #[serde(alias = "note")]
    reason: Option<String>,
}

/// `POST /planner/v1/supervisor/queue/{entry_id}/acknowledge` `{supervisor_id, note?}`.
pub async fn acknowledge(
    state: State<Shared>,
    credential: Credential,
    entry_id: Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    act(
        state,
        credential,
        entry_id,
        bytes,
        SupervisorAction::Acknowledge,
    )
    .await
}

/// `POST /planner/v1/supervisor/queue/{entry_id}/close` `{supervisor_id, reason}`.
pub async fn close(
    state: State<Shared>,
    credential: Credential,
    entry_id: Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    act(state, credential, entry_id, bytes, SupervisorAction::Close).await
}

async fn act(
    State(state): State<Shared>,
    credential: Credential,
    Path(entry_id): Path<String>,
    bytes: Bytes,
    action: SupervisorAction,
) -> Result<Json<Value>, ApiError> {
    let partner = supervisor(&state, &credential)?;
    let body: ActionBody = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
    let supervisor_id = match body.supervisor_id.as_deref() {
        Some(id) if is_valid_id(id) => id.to_owned(),
        _ => {
            return Err(ApiError::bad_request(
                "`supervisor_id` (who acts, 1-128 printable characters) is required",
            )
            .with_field("/supervisor_id"));
        }
    };
    let reason = body
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        return Err(ApiError::bad_request(format!(
            "`reason` is longer than {MAX_REASON_CHARS} characters"
        ))
        .with_field("/reason"));
    }
    if action == SupervisorAction::Close && reason.is_none() {
        return Err(
            ApiError::bad_request("closing an entry needs a non-empty `reason`")
                .with_field("/reason"),
        );
    }
    let (entry, _) = state
        .store
        .supervisor_entry(&entry_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no supervisor-queue entry {entry_id}")))?;
    check_warehouse(&partner, &entry.warehouse_id)?;
    let current = EntryStatus::parse(&entry.status).unwrap_or(EntryStatus::Open);
    decide(current, action).map_err(|conflict| ApiError::state_conflict(conflict.to_string()))?;
    let event = SupervisorActionRecorded::new(
        &entry_id,
        &WarehouseId::from_trusted(&entry.warehouse_id),
        action,
        &supervisor_id,
        &partner.partner_id,
        reason,
        UtcMillis(chrono::Utc::now().timestamp_millis()),
    );
    let delivery = state.producer.send(&event).await?;
    state
        .projector
        .wait_applied(
            ProjectionKind::Supervisor,
            SupervisorActionRecorded::TOPIC,
            delivery.partition,
            delivery.offset,
            VISIBILITY_TIMEOUT,
        )
        .await;
    Ok(Json(entry_detail(&state, &partner, &entry_id).await?))
}
