//! Confirmation endpoints (contract §4) and the supervisor's window API. The confirmation path,
//! the reconciler and the resolutions are the application's (`wes_app::confirmations`,
//! `reconciler`, `resolutions`); this module parses requests into their commands.

use crate::Shared;
use crate::auth::{Credential, Supervisor, executor};
use crate::ingest::{Body, check_warehouses, parse_body, read_body};
use crate::planner::limit;
use crate::problem::ApiError;
use crate::supervisor::{visible_warehouses, word};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use wes_app::confirmations::{ConfirmOutcome, Confirmation};
use wes_app::resolutions::Resolve;
use wes_domain::idempotency::Fingerprint;
use wes_domain::is_valid_id;
use wes_domain::parse;
use wes_domain::reconcile::{
    ConfirmationKind, Resolution, WindowStatus, check_count, check_shift_summary,
};

fn answer(outcome: ConfirmOutcome) -> Json<Value> {
    Json(json!({
        "correlation_id": outcome.correlation_id,
        "status": if outcome.replay { "REPLAY" } else { "ACCEPTED" },
        "replay": outcome.replay,
        "window_id": outcome.window_id,
        "window_status": outcome.window_status,
    }))
}

/// An executor's confirmation: one JSON object for its own warehouse, parsed by its kind's rules
/// and handed to the application.
async fn confirm(
    state: Shared,
    credential: Credential,
    headers: HeaderMap,
    body: axum::body::Body,
    kind: ConfirmationKind,
) -> Result<Json<Value>, ApiError> {
    let md = state.masterdata();
    let partner = executor(&state, &credential, &md)?;
    let bytes = read_body(body, state.settings.max_body_bytes).await?;
    // Any array is refused as an array (400), whatever its length.
    let Body::One(item) = parse_body(&headers, &bytes, usize::MAX)? else {
        return Err(ApiError::bad_request("a confirmation is one JSON object"));
    };
    check_warehouses(std::slice::from_ref(&item), &partner)?;
    let confirmation = match kind {
        ConfirmationKind::ShiftSummary => {
            let summary = parse::shift_summary(&item)?;
            Confirmation::ShiftSummary(check_shift_summary(summary, &md, &partner)?)
        }
        ConfirmationKind::CycleCount | ConfirmationKind::InventorySnapshot => {
            let snapshot = kind == ConfirmationKind::InventorySnapshot;
            let count = parse::count(&item, snapshot)?;
            Confirmation::Count(check_count(count, &md, &partner)?, kind)
        }
    };
    let outcome = state
        .app
        .confirm(confirmation, Fingerprint::of(&item))
        .await?;
    Ok(answer(outcome))
}

/// A confirmation endpoint: `$name` takes confirmations of `$kind`.
macro_rules! confirmation_endpoint {
    ($(#[$doc:meta])* $name:ident, $kind:ident) => {
        $(#[$doc])*
        pub async fn $name(
            State(state): State<Shared>,
            credential: Credential,
            headers: HeaderMap,
            body: axum::body::Body,
        ) -> Result<Json<Value>, ApiError> {
            confirm(state, credential, headers, body, ConfirmationKind::$kind).await
        }
    };
}

confirmation_endpoint!(
    /// `POST /wes/v1/confirmation/shift-summary`: movement totals of a window.
    shift_summary,
    ShiftSummary
);
confirmation_endpoint!(
    /// `POST /wes/v1/confirmation/cycle-count`: counted stock, as of the window's end.
    cycle_count,
    CycleCount
);
confirmation_endpoint!(
    /// `POST /wes/v1/confirmation/inventory-snapshot`: FULL or PARTIAL stock as of `as_of`.
    inventory_snapshot,
    InventorySnapshot
);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowQuery {
    warehouse_id: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
}

/// `GET /planner/v1/windows?warehouse_id&status&limit`: the caller's windows, newest first.
pub async fn list(
    Supervisor(state, partner): Supervisor,
    Query(q): Query<WindowQuery>,
) -> Result<Json<Value>, ApiError> {
    let warehouses = visible_warehouses(&partner, &q.warehouse_id)?;
    let status = word(
        "status",
        &q.status,
        WindowStatus::parse,
        WindowStatus::words,
    )?;
    let windows = state
        .store
        .windows(&warehouses, status, limit(q.limit)?)
        .await?;
    Ok(Json(json!({"windows": windows})))
}

/// `GET /planner/v1/windows/{window_id}`: confirmation totals, realtime sums, the compared lines,
/// per-SKU and per-location breakdowns, the exceptions logged in the window, late movements.
pub async fn window(
    Supervisor(state, partner): Supervisor,
    Path(window_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let window = state.app.window_for(&partner, &window_id).await?;
    Ok(Json(state.app.window_detail(window).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    supervisor_id: Option<String>,
    reason: Option<String>,
    /// `accept-confirmation`, `accept-realtime` or `manual-adjustment`.
    resolution: Option<String>,
    /// `manual-adjustment`: `[{sku, location, lot?, serial?, qty}]`, signed quantities.
    adjustments: Option<Value>,
}

/// The resolve body as a command: who, why, which resolution.
fn resolve_command(window_id: String, bytes: &[u8]) -> Result<Resolve, ApiError> {
    let body: ResolveBody = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
    let supervisor_id = body
        .supervisor_id
        .filter(|id| is_valid_id(id))
        .ok_or_else(|| {
            ApiError::bad_request("`supervisor_id` (who resolves) is required")
                .with_field("/supervisor_id")
        })?;
    let reason = body
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty() && r.chars().count() <= 2000)
        .ok_or_else(|| {
            ApiError::bad_request("a non-empty `reason` of at most 2000 characters is required")
                .with_field("/reason")
        })?;
    let resolution = Resolution::ALL
        .iter()
        .copied()
        .find(|r| body.resolution.as_deref() == Some(r.api_word().as_str()))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`resolution` must be accept-confirmation, accept-realtime or manual-adjustment, got {:?}",
                body.resolution
            ))
            .with_field("/resolution")
        })?;
    Ok(Resolve {
        window_id,
        supervisor_id,
        reason,
        resolution,
        adjustments: match &body.adjustments {
            None => vec![],
            adjustments => parse::stock_lines(adjustments.as_ref(), "adjustments")?,
        },
    })
}

/// `POST /planner/v1/windows/{window_id}/resolve` `{supervisor_id, reason, resolution,
/// adjustments?}`: a DISCREPANCY window becomes RECONCILED (see `wes_app::resolutions`).
pub async fn resolve(
    Supervisor(state, partner): Supervisor,
    Path(window_id): Path<String>,
    bytes: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let command = resolve_command(window_id, &bytes)?;
    Ok(Json(state.app.resolve(&partner, command).await?))
}
