//! The one error type of the HTTP edge. Every 4xx/5xx leaves as RFC 7807 `application/problem+json`
//! with `type`, `title`, `status`, `detail`, `instance` and `trace_id` (the last two are filled in by
//! the request middleware, which also turns axum's own rejections into problems).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use wes_app::AppError;
use wes_domain::{Rejection, RejectionKind};

/// Problem `type` URIs are `urn:wes:problem#<slug>`; `docs/errors.md` lists every slug.
pub const PROBLEM_TYPE_BASE: &str = "urn:wes:problem#";
pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    /// Seconds, for 429 and 503.
    #[serde(skip)]
    pub retry_after: Option<u64>,
    /// Extra members (e.g. the offending field).
    #[serde(skip)]
    pub extra: Option<Value>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            slug,
            title,
            detail: detail.into(),
            retry_after: None,
            extra: None,
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Malformed request",
            detail,
        )
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Missing or invalid credential",
            detail,
        )
    }
    pub fn forbidden_role(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Credential not allowed here",
            detail,
        )
    }
    pub fn cross_warehouse(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "cross-warehouse-credential",
            "Credential not valid for this warehouse",
            detail,
        )
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }
    pub fn conflict_in_flight(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "request-in-flight",
            "Same key still in flight",
            detail,
        )
    }
    /// The request conflicts with the current state of what it names (e.g. closing a closed entry).
    pub fn state_conflict(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "state-conflict",
            "Conflicts with the current state",
            detail,
        )
    }
    pub fn key_reused(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Same key, different payload",
            detail,
        )
    }
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            detail,
        )
    }
    /// A dependency (broker, registry, database) is unavailable: try again later.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        ApiError {
            retry_after: Some(5),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "dependency-unavailable",
                "Service temporarily unavailable",
                detail,
            )
        }
    }
    /// A platform failure. The cause is logged in the request span, never sent to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "Internal error",
            "the request failed inside the hub; quote the trace_id",
        )
    }
    pub fn with_field(mut self, field: &str) -> Self {
        if !field.is_empty() {
            self.extra = Some(json!({"field": field}));
        }
        self
    }

    /// The problem body without `instance`/`trace_id`.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": format!("{PROBLEM_TYPE_BASE}{}", self.slug),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let (Some(Value::Object(extra)), Value::Object(map)) = (&self.extra, &mut body) {
            for (k, v) in extra {
                map.insert(k.clone(), v.clone());
            }
        }
        body
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        let e = match r.kind {
            RejectionKind::Malformed => ApiError::bad_request(r.detail),
            RejectionKind::Unprocessable => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable",
                "Business rule violated",
                r.detail,
            ),
            RejectionKind::Conflict => ApiError::state_conflict(r.detail),
        };
        e.with_field(&r.field)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Rejected(r) => r.into(),
            AppError::NotFound(detail) => ApiError::not_found(detail),
            AppError::Missing { field, detail } => ApiError::not_found(detail).with_field(&field),
            AppError::Conflict(detail) => ApiError::state_conflict(detail),
            AppError::InFlight(detail) => ApiError::conflict_in_flight(detail),
            AppError::KeyReused(detail) => ApiError::key_reused(detail),
            AppError::CrossWarehouse(detail) => ApiError::cross_warehouse(detail),
            AppError::Unavailable(detail) => ApiError::unavailable(detail),
            AppError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<wes_store::StoreError> for ApiError {
    fn from(e: wes_store::StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl From<wes_projector::ProjectorError> for ApiError {
    fn from(e: wes_projector::ProjectorError) -> Self {
        AppError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, PROBLEM_JSON)],
            self.body().to_string(),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(self);
        response
    }
}
