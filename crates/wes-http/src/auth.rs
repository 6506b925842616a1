//! Bearer-key authentication against the partner registry, and role checks. Keys are compared by
//! their SHA-256 digest; the raw key is never stored or logged.

use crate::problem::ApiError;
use axum::http::HeaderMap;
use wes_domain::masterdata::{MasterData, Partner, PartnerRole};

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized("an `Authorization: Bearer <key>` header is required")
        })?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid text"))?;
    match text.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") && !key.trim().is_empty() => {
            Ok(key.trim())
        }
        _ => Err(ApiError::unauthorized(
            "the Authorization header must be `Bearer <key>`",
        )),
    }
}

/// An executor on a partner route: authenticated, then charged one token of its rate limit.
pub fn executor(
    state: &crate::AppState,
    headers: &HeaderMap,
    md: &MasterData,
) -> Result<Partner, ApiError> {
    let partner = authenticate(headers, md, PartnerRole::Executor)?;
    state.rate_limiter.check(partner.partner_id.as_str())?;
    Ok(partner)
}

/// The partner holding the request's key, which must have `role`.
pub fn authenticate(
    headers: &HeaderMap,
    md: &MasterData,
    role: PartnerRole,
) -> Result<Partner, ApiError> {
    let key = bearer(headers)?;
    let partner = md
        .partner_for_key(
            key,
            wes_domain::UtcMillis(chrono::Utc::now().timestamp_millis()),
        )
        .ok_or_else(|| ApiError::unauthorized("unknown, expired or revoked API key"))?;
    if partner.role != role {
        return Err(ApiError::forbidden_role(format!(
            "partner {} has role {} and cannot use this API (needs {})",
            partner.partner_id,
            partner.role.as_str(),
            role.as_str()
        )));
    }
    Ok(partner.clone())
}
