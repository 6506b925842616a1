//! The realtime partner endpoints (contract §3): movements, work-status, capacity.

use crate::Shared;
use crate::auth::executor;
use crate::ingest::{parse_body, respond};
use crate::problem::ApiError;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use wes_domain::capacity::validate_capacity;
use wes_domain::movement::validate_movement;
use wes_domain::work_status::validate_work_status;
use wes_events::{CapacityReported, MovementRecorded, WorkStatusRecorded};

pub async fn movements(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let bytes = crate::ingest::read_body(body, state.settings.max_body_bytes).await?;
    let md = state.masterdata();
    let partner = executor(&state, &headers, &md)?;
    let body = parse_body(&headers, &bytes, state.settings.max_batch_items)?;
    respond(
        &state,
        "movement",
        partner.partner_id.as_str(),
        Some(&partner),
        body,
        |item, fingerprint, now| {
            let movement = validate_movement(item, &md, &partner)?;
            Ok(MovementRecorded::from_domain(
                &movement,
                &partner.partner_id,
                fingerprint,
                now,
            ))
        },
    )
    .await
}

/// `POST /wes/v1/realtime/work-status`: task lifecycle transitions, no ledger effect.
pub async fn work_status(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let bytes = crate::ingest::read_body(body, state.settings.max_body_bytes).await?;
    let md = state.masterdata();
    let partner = executor(&state, &headers, &md)?;
    let body = parse_body(&headers, &bytes, state.settings.max_batch_items)?;
    respond(
        &state,
        "work-status",
        partner.partner_id.as_str(),
        Some(&partner),
        body,
        |item, fingerprint, now| {
            let status = validate_work_status(item, &md)?;
            Ok(WorkStatusRecorded::from_domain(
                &status,
                &partner.partner_id,
                fingerprint,
                now,
            ))
        },
    )
    .await
}

/// `POST /wes/v1/realtime/capacity`: snapshots for dashboards and trends only.
pub async fn capacity(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let bytes = crate::ingest::read_body(body, state.settings.max_body_bytes).await?;
    let md = state.masterdata();
    let partner = executor(&state, &headers, &md)?;
    let body = parse_body(&headers, &bytes, state.settings.max_batch_items)?;
    respond(
        &state,
        "capacity",
        partner.partner_id.as_str(),
        Some(&partner),
        body,
        |item, fingerprint, now| {
            let snapshot = validate_capacity(item, &md)?;
            Ok(CapacityReported::from_domain(
                &snapshot,
                &partner.partner_id,
                fingerprint,
                now,
            ))
        },
    )
    .await
}
