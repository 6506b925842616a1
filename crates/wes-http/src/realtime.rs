//! `POST /wes/v1/realtime/movements` (contract §3).

use crate::Shared;
use crate::auth::authenticate;
use crate::ingest::{parse_body, respond};
use crate::problem::ApiError;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use wes_domain::masterdata::PartnerRole;
use wes_domain::movement::validate_movement;
use wes_events::MovementRecorded;

pub async fn movements(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let bytes = crate::ingest::read_body(body, state.settings.max_body_bytes).await?;
    let md = state.masterdata();
    let partner = authenticate(&headers, &md, PartnerRole::Executor)?;
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
