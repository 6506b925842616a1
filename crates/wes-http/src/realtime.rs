//! The realtime partner endpoints (contract §3): movements, exceptions, work-status, capacity.

use crate::Shared;
use crate::auth::{Credential, executor};
use crate::ingest::{ingest_for, parse_body, read_body};
use crate::problem::ApiError;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;
use wes_domain::capacity::validate_capacity;
use wes_domain::exception::validate_exception;
use wes_domain::idempotency::IdempotencyScope;
use wes_domain::masterdata::{MasterData, Partner};
use wes_domain::movement::validate_movement;
use wes_domain::work_status::validate_work_status;
use wes_domain::{Rejection, UtcMillis};
use wes_events::{
    CapacityReported, Event, ExceptionRecorded, MovementRecorded, WorkStatusRecorded,
};

/// The shape every realtime endpoint shares: authenticate the executor and charge its rate limit
/// before reading the body, then validate each item into its event and ingest under `scope`.
async fn realtime(
    state: Shared,
    credential: Credential,
    headers: HeaderMap,
    body: Body,
    scope: IdempotencyScope,
    to_event: impl Fn(&Value, &MasterData, &Partner, String, UtcMillis) -> Result<Event, Rejection>,
) -> Result<Response, ApiError> {
    let md = state.masterdata();
    let partner = executor(&state, &credential, &md)?;
    let bytes = read_body(body, state.settings.max_body_bytes).await?;
    let body = parse_body(&headers, &bytes, state.settings.max_batch_items)?;
    ingest_for(&state, scope, &partner, body, |item, fingerprint, now| {
        to_event(item, &md, &partner, fingerprint, now)
    })
    .await
}

/// `POST /wes/v1/realtime/movements`: applied to the ledger.
pub async fn movements(
    State(state): State<Shared>,
    credential: Credential,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    realtime(
        state,
        credential,
        headers,
        body,
        IdempotencyScope::Movement,
        |item, md, partner, fingerprint, now| {
            let movement = validate_movement(item, md, partner)?;
            Ok(
                MovementRecorded::from_domain(&movement, &partner.partner_id, fingerprint, now)
                    .into(),
            )
        },
    )
    .await
}

/// `POST /wes/v1/realtime/exceptions`: each opens a supervisor-queue entry and raises a notification.
pub async fn exceptions(
    State(state): State<Shared>,
    credential: Credential,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    realtime(
        state,
        credential,
        headers,
        body,
        IdempotencyScope::Exception,
        |item, md, partner, fingerprint, now| {
            let report = validate_exception(item, md)?;
            Ok(
                ExceptionRecorded::from_domain(&report, &partner.partner_id, fingerprint, now)
                    .into(),
            )
        },
    )
    .await
}

/// `POST /wes/v1/realtime/work-status`: task lifecycle transitions, no ledger effect.
pub async fn work_status(
    State(state): State<Shared>,
    credential: Credential,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    realtime(
        state,
        credential,
        headers,
        body,
        IdempotencyScope::WorkStatus,
        |item, md, partner, fingerprint, now| {
            let status = validate_work_status(item, md)?;
            Ok(
                WorkStatusRecorded::from_domain(&status, &partner.partner_id, fingerprint, now)
                    .into(),
            )
        },
    )
    .await
}

/// `POST /wes/v1/realtime/capacity`: snapshots for dashboards and trends only.
pub async fn capacity(
    State(state): State<Shared>,
    credential: Credential,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    realtime(
        state,
        credential,
        headers,
        body,
        IdempotencyScope::Capacity,
        |item, md, partner, fingerprint, now| {
            let snapshot = validate_capacity(item, md)?;
            Ok(
                CapacityReported::from_domain(&snapshot, &partner.partner_id, fingerprint, now)
                    .into(),
            )
        },
    )
    .await
}
