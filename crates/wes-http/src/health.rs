//! `GET /healthz` (the process is up) and `GET /readyz` (broker, registry, database reachable and
//! projections running).

use crate::Shared;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "up"}))
}

pub async fn readyz(State(state): State<Shared>) -> Response {
    let bootstrap = state.settings.bootstrap.clone();
    let broker = tokio::task::spawn_blocking(move || {
        wes_kafka::consumer::metadata_client(&bootstrap)
            .map(|c| wes_kafka::consumer::broker_reachable(&c, Duration::from_secs(2)))
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    let registry = state
        .http
        .get(format!(
            "{}/subjects",
            state.settings.registry_url.trim_end_matches('/')
        ))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    let database = state.store.ping().await;
    let projections = state.projector.healthy();
    let ready = broker && registry && database && projections;
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "checks": {"broker": broker, "registry": registry, "database": database, "projections": projections},
    });
    if ready {
        Json(body).into_response()
    } else {
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        response
    }
}
