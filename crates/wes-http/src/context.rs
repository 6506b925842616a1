//! Per-request context: the W3C trace id (from `traceparent`, else generated), the tracing span, and
//! the final shaping of every error response into a complete problem document.

use crate::problem::{ApiError, PROBLEM_JSON};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

/// The trace id of a valid `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), if any.
pub fn trace_id_from_traceparent(value: &str) -> Option<String> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    match parts.as_slice() {
        [version, trace, parent, flags]
            if hex(version, 2)
                && *version != "ff"
                && hex(trace, 32)
                && hex(parent, 16)
                && hex(flags, 2)
                && trace.bytes().any(|b| b != b'0') =>
        {
            Some(trace.to_string())
        }
        _ => None,
    }
}

/// The request being answered: what a problem document names as `instance` and `trace_id`.
#[derive(Clone)]
pub struct RequestContext {
    pub instance: String,
    pub trace_id: String,
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// The context of the request this task is answering (handlers run inside `request_context`).
pub fn current() -> Option<RequestContext> {
    CURRENT.try_with(Clone::clone).ok()
}

fn generic_problem(status: StatusCode, detail: String) -> ApiError {
    let (slug, title) = match status {
        StatusCode::NOT_FOUND => ("not-found", "Not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "Method not allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "Payload too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported-media-type", "Unsupported media type"),
        StatusCode::UNPROCESSABLE_ENTITY => ("unprocessable", "Business rule violated"),
        s if s.is_client_error() => ("malformed-request", "Malformed request"),
        _ => ("internal-error", "Internal error"),
    };
    ApiError::new(status, slug, title, detail)
}

pub async fn request_context(request: Request, next: Next) -> Response {
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let trace_id = traceparent
        .as_deref()
        .and_then(trace_id_from_traceparent)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let instance = request.uri().path().to_owned();
    let method = request.method().clone();
    // `route` (the matched path) and `partner` (the authenticated caller) are recorded later, by
    // the router and the authentication.
    let span = tracing::info_span!(
        "request",
        trace_id = %trace_id,
        method = %method,
        path = %instance,
        route = tracing::field::Empty,
        partner = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let context = RequestContext {
        instance: instance.clone(),
        trace_id: trace_id.clone(),
    };
    let response = CURRENT
        .scope(context, next.run(request).instrument(span.clone()))
        .await;
    let status = response.status();
    let mut response = if status.is_client_error() || status.is_server_error() {
        let (parts, body) = response.into_parts();
        let problem = match parts.extensions.get::<ApiError>() {
            Some(p) => p.clone(),
            None => {
                // axum's own rejection (unknown route, wrong method, body limit, bad path): keep its text.
                let text = axum::body::to_bytes(body, 64 * 1024)
                    .await
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let detail = if text.is_empty() {
                    status.canonical_reason().unwrap_or("error").to_owned()
                } else {
                    text
                };
                generic_problem(status, detail)
            }
        };
        let mut document = problem.body();
        document["instance"] = instance.clone().into();
        document["trace_id"] = trace_id.clone().into();
        let mut rebuilt = Response::from_parts(parts, Body::from(document.to_string()));
        rebuilt
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        rebuilt.headers_mut().remove(header::CONTENT_LENGTH);
        rebuilt
    } else {
        response
    };
    if let Ok(value) = HeaderValue::from_str(&trace_id) {
        response.headers_mut().insert("x-trace-id", value);
    }
    if let Some(tp) = traceparent.and_then(|tp| HeaderValue::from_str(&tp).ok()) {
        response.headers_mut().insert("traceparent", tp);
    }
    let latency_ms = started.elapsed().as_millis() as u64;
    // The access log: one line per request, with the span's trace id, route and partner.
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), latency_ms, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), latency_ms, "request");
        }
    });
    response
}

/// Records the matched route (`/planner/v1/windows/{window_id}`) on the request's span.
pub async fn record_route(
    route: axum::extract::MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    tracing::Span::current().record("route", tracing::field::display(route.as_str()));
    next.run(request).await
}

/// Turns a panic inside a handler into a 500 problem instead of a dropped connection.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("handler panicked").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_gives_its_trace_id_and_garbage_gives_none() {
        assert_eq!(
            trace_id_from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                .as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            trace_id_from_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(trace_id_from_traceparent("hello"), None);
        assert_eq!(
            trace_id_from_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            None
        );
    }
}
