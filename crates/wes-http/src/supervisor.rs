//! Supervisor API (supervisor credentials, limited to the partner's warehouses): the supervisor
//! queue, and acknowledging and closing its entries (`wes_app::supervisor`).

use crate::auth::Supervisor;
use crate::planner::limit;
use crate::problem::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use serde::Deserialize;
use serde_json::{Value, json};
use wes_app::supervisor::Step;
use wes_app::windows::check_warehouse;
use wes_domain::exception::{ExceptionCode, Severity};
use wes_domain::masterdata::Partner;
use wes_domain::supervisor::{EntryStatus, QueueSource, SupervisorAction};
use wes_domain::{UtcMillis, is_valid_id};
use wes_store::queries::QueueFilter;

/// Longest `reason` or `note` accepted.
const MAX_REASON_CHARS: usize = 2000;

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
    /// EXCEPTION, WINDOW_DISCREPANCY, LATE_MOVEMENT or DISPATCH_DEAD_LETTER.
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

/// An optional query word parsed into its enum; an unknown word is a 400 naming the field.
pub(crate) fn word<T>(
    field: &str,
    text: &Option<String>,
    parse: fn(&str) -> Option<T>,
    words: fn() -> String,
) -> Result<Option<T>, ApiError> {
    text.as_deref()
        .map(|t| {
            parse(t).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "`{field}` has unknown value {t:?}; expected one of {}",
                    words()
                ))
                .with_field(&format!("/{field}"))
            })
        })
        .transpose()
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
    Supervisor(state, partner): Supervisor,
    Query(q): Query<QueueQuery>,
) -> Result<Json<Value>, ApiError> {
    let warehouses = visible_warehouses(&partner, &q.warehouse_id)?;
    let filter = QueueFilter {
        warehouses,
        source: word("source", &q.source, QueueSource::parse, QueueSource::words)?,
        status: word("status", &q.status, EntryStatus::parse, EntryStatus::words)?,
        severity: word("severity", &q.severity, Severity::parse, Severity::words)?,
        code: word("code", &q.code, ExceptionCode::parse, ExceptionCode::words)?,
        from: time("from", &q.from)?,
        to: time("to", &q.to)?,
    };
    let limit = limit(q.limit)?;
    let entries = state.store.supervisor_queue(&filter, limit).await?;
    let truncated = entries.len() as i64 == limit;
    Ok(Json(json!({"entries": entries, "truncated": truncated})))
}

/// `GET /planner/v1/supervisor/queue/{entry_id}`: one entry with its audit trail.
pub async fn entry(
    Supervisor(state, partner): Supervisor,
    Path(entry_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.app.entry_detail(&partner, &entry_id).await?))
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
    who: Supervisor,
    entry_id: Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    act(who, entry_id, bytes, SupervisorAction::Acknowledge).await
}

/// `POST /planner/v1/supervisor/queue/{entry_id}/close` `{supervisor_id, reason}`.
pub async fn close(
    who: Supervisor,
    entry_id: Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    act(who, entry_id, bytes, SupervisorAction::Close).await
}

async fn act(
    Supervisor(state, partner): Supervisor,
    Path(entry_id): Path<String>,
    bytes: Bytes,
    action: SupervisorAction,
) -> Result<Json<Value>, ApiError> {
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
    let step = Step {
        entry_id,
        action,
        supervisor_id,
        reason,
    };
    Ok(Json(state.app.supervisor_step(&partner, step).await?))
}
