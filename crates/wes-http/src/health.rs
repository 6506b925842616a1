//! `GET /healthz` (the process is up) and `GET /readyz` (broker, registry, database reachable and
//! projections running).

use crate::Shared;
use crate::problem::ApiError;
use axum::Json;
use axum::extract::State;
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
    let checks = json!({"broker": broker, "registry": registry, "database": database, "projections": projections});
    if ready {
        Json(json!({"status": "ready", "checks": checks})).into_response()
    } else {
        // A problem document like every other 5xx, with the failing checks as an extension member.
        let mut problem = ApiError::unavailable(
            "not ready: a dependency is unreachable or a projection is failing",
        );
        problem.extra = Some(json!({"checks": checks}));
        problem.into_response()
    }
}
