//! Authentication against the partner registry, and role checks. A partner proves who it is with
//! a client certificate on the mTLS listener (its SHA-256 thumbprint is enrolled in the registry)
//! or, unless its registry entry refuses them, a bearer API key compared by its SHA-256 digest.
//! The raw key is never stored or logged.

use crate::problem::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use wes_domain::masterdata::{MasterData, Partner, PartnerRole};

/// Put on each request by the mTLS listener: the thumbprint of the certificate the client
/// presented and the TLS handshake verified.
#[derive(Debug, Clone)]
pub struct ClientCertificate(pub String);

/// What the request offers to prove its identity. Extracted before anything else a handler
/// reads, so a request without a usable credential gets 401 whatever else is wrong with it.
#[derive(Debug, Clone)]
pub enum Credential {
    Certificate(String),
    Bearer(String),
}

impl<S: Send + Sync> FromRequestParts<S> for Credential {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(ClientCertificate(thumbprint)) = parts.extensions.get() {
            return Ok(Credential::Certificate(thumbprint.clone()));
        }
        bearer(&parts.headers).map(|key| Credential::Bearer(key.to_owned()))
    }
}

fn bearer(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "a client certificate (mTLS) or an `Authorization: Bearer <key>` header is required",
            )
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

/// An ADMIN request: its credential authenticated, with the ADMIN role, before anything else of
/// the request is read.
pub struct Admin(pub crate::Shared);

impl FromRequestParts<crate::Shared> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::Shared,
    ) -> Result<Self, ApiError> {
        with_role(parts, state, PartnerRole::Admin).await?;
        Ok(Admin(state.clone()))
    }
}

/// A SUPERVISOR request: the state and the supervisor's partner, authenticated first.
pub struct Supervisor(pub crate::Shared, pub Partner);

impl FromRequestParts<crate::Shared> for Supervisor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::Shared,
    ) -> Result<Self, ApiError> {
        let partner = with_role(parts, state, PartnerRole::Supervisor).await?;
        Ok(Supervisor(state.clone(), partner))
    }
}

/// The partner behind the request's credential, which must have `role`.
async fn with_role(
    parts: &mut Parts,
    state: &crate::Shared,
    role: PartnerRole,
) -> Result<Partner, ApiError> {
    let credential = Credential::from_request_parts(parts, state).await?;
    authenticate(&credential, &state.masterdata(), role)
}

/// An executor on a partner route: authenticated, then charged one token of its rate limit.
pub fn executor(
    state: &crate::AppState,
    credential: &Credential,
    md: &MasterData,
) -> Result<Partner, ApiError> {
    let partner = authenticate(credential, md, PartnerRole::Executor)?;
    state.rate_limiter.check(partner.partner_id.as_str())?;
    Ok(partner)
}

/// The partner the credential belongs to, which must have `role`.
pub fn authenticate(
    credential: &Credential,
    md: &MasterData,
    role: PartnerRole,
) -> Result<Partner, ApiError> {
    let partner = match credential {
        Credential::Certificate(thumbprint) => {
            md.partner_for_certificate(thumbprint).ok_or_else(|| {
                ApiError::unauthorized(format!(
                    "the client certificate (SHA-256 {thumbprint}) is not enrolled for any partner"
                ))
            })?
        }
        Credential::Bearer(key) => {
            let now = wes_domain::UtcMillis(chrono::Utc::now().timestamp_millis());
            let partner = md
                .partner_for_key(key, now)
                .ok_or_else(|| ApiError::unauthorized("unknown, expired or revoked API key"))?;
            if !partner.bearer_allowed {
                return Err(ApiError::unauthorized(format!(
                    "partner {} does not accept API keys; authenticate with its client certificate (mTLS)",
                    partner.partner_id
                )));
            }
            partner
        }
    };
    tracing::Span::current().record("partner", tracing::field::display(&partner.partner_id));
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
