//! HTTP adapter (axum), and only that: the partner API under `/wes/v1/` and the planner API
//! under `/planner/v1/`. Handlers parse, authenticate, call the application (`wes_app`) or read a
//! projection (`wes_store`), and map errors to problem documents. No business rule and no
//! background task lives here.

// The OpenAPI document is one large `json!` literal.
#![recursion_limit = "512"]

mod auth;
mod context;
mod dispatch;
mod health;
mod ingest;
mod masterdata;
pub mod openapi;
mod planner;
pub mod problem;
pub mod ratelimit;
mod realtime;
mod supervisor;
pub mod tls;
mod windows;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, get, post, put};
use std::sync::Arc;
use tokio::sync::watch;
use wes_app::App;
use wes_domain::masterdata::MasterData;
use wes_projector::Projector;
use wes_store::Store;

pub use auth::ClientCertificate;
pub use context::trace_id_from_traceparent;
pub use problem::ApiError;

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest request body accepted (413 above). Default 4 MiB.
    pub max_body_bytes: usize,
    /// Most items in one realtime array (413 above). Default 200.
    pub max_batch_items: usize,
    pub bootstrap: String,
    pub registry_url: String,
    /// Per-partner limit on partner-API requests.
    pub rate_limit: ratelimit::RateLimit,
}

pub struct AppState {
    /// The application: every command goes through it.
    pub app: Arc<App>,
    /// Read models for queries that are plain reads.
    pub store: Store,
    /// Projection status, rebuilds and readiness.
    pub projector: Arc<Projector>,
    pub masterdata: watch::Receiver<Arc<MasterData>>,
    pub settings: HttpSettings,
    pub http: reqwest::Client,
    pub rate_limiter: ratelimit::RateLimiter,
}

impl AppState {
    pub fn masterdata(&self) -> Arc<MasterData> {
        self.masterdata.borrow().clone()
    }
}

pub type Shared = Arc<AppState>;

/// Runs a command to its end even if the client goes away: commands that take a turn (releases,
/// transports, acks) must not stop while their writes are on their way to the log.
pub(crate) async fn to_the_end<T: Send + 'static>(
    command: impl std::future::Future<Output = Result<T, wes_app::AppError>> + Send + 'static,
) -> Result<T, problem::ApiError> {
    tokio::spawn(command)
        .await
        .map_err(|e| problem::ApiError::internal(format!("command task: {e}")))?
        .map_err(Into::into)
}

/// The router's routes with the paths they were registered under.
struct Routes {
    router: Router<Shared>,
    paths: Vec<&'static str>,
}

impl Routes {
    fn route(mut self, path: &'static str, methods: MethodRouter<Shared>) -> Self {
        self.paths.push(path);
        self.router = self.router.route(path, methods);
        self
    }
}

fn routes() -> Routes {
    Routes {
        router: Router::new(),
        paths: vec![],
    }
    .route("/healthz", get(health::healthz))
    .route("/readyz", get(health::readyz))
    .route(
        "/openapi.json",
        get(|| async { axum::Json(openapi::document()) }),
    )
    .route("/wes/v1/realtime/movements", post(realtime::movements))
    .route("/wes/v1/realtime/exceptions", post(realtime::exceptions))
    .route("/wes/v1/realtime/work-status", post(realtime::work_status))
    .route("/wes/v1/realtime/capacity", post(realtime::capacity))
    .route("/wes/v1/dispatch/pending", get(dispatch::pending))
    .route("/wes/v1/dispatch/ack", post(dispatch::ack))
    .route(
        "/wes/v1/confirmation/shift-summary",
        post(windows::shift_summary),
    )
    .route(
        "/wes/v1/confirmation/cycle-count",
        post(windows::cycle_count),
    )
    .route(
        "/wes/v1/confirmation/inventory-snapshot",
        post(windows::inventory_snapshot),
    )
    .route("/planner/v1/windows", get(windows::list))
    .route("/planner/v1/windows/{window_id}", get(windows::window))
    .route(
        "/planner/v1/windows/{window_id}/resolve",
        post(windows::resolve),
    )
    .route(
        "/planner/v1/documents/{doc_type}/{doc_id}/tasks",
        get(planner::tasks_of_document),
    )
    .route(
        "/planner/v1/warehouses/{warehouse_id}/tasks/{task_id}",
        get(planner::task),
    )
    .route("/planner/v1/capacity/trends", get(planner::capacity_trends))
    .route("/planner/v1/supervisor/queue", get(supervisor::queue))
    .route(
        "/planner/v1/supervisor/queue/{entry_id}",
        get(supervisor::entry),
    )
    .route(
        "/planner/v1/supervisor/queue/{entry_id}/acknowledge",
        post(supervisor::acknowledge),
    )
    .route(
        "/planner/v1/supervisor/queue/{entry_id}/close",
        post(supervisor::close),
    )
    .route(
        "/planner/v1/releases",
        post(planner::post_releases).get(planner::get_releases),
    )
    .route(
        "/planner/v1/releases/{correlation_id}/amend",
        post(planner::amend_release),
    )
    .route("/planner/v1/ledger/balances", get(planner::balances))
    .route("/planner/v1/ledger/movements", get(planner::movements))
    .route("/planner/v1/projections", get(planner::projections))
    .route(
        "/planner/v1/projections/{name}/rebuild",
        post(planner::rebuild),
    )
    .route(
        "/planner/v1/masterdata",
        get(masterdata::get_all).post(masterdata::post_bundle),
    )
    .route(
        "/planner/v1/warehouses/{warehouse_id}",
        put(masterdata::put_record::<wes_app::masterdata::WarehouseIn>),
    )
    .route(
        "/planner/v1/warehouses/{warehouse_id}/dispatch-transport",
        get(dispatch::get_transport)
            .put(dispatch::put_transport)
            .delete(dispatch::delete_transport),
    )
    .route("/planner/v1/dispatch/deliveries", get(dispatch::deliveries))
    .route(
        "/planner/v1/dispatch/dead-letters/{delivery_id}/redrive",
        post(dispatch::redrive),
    )
    .route(
        "/planner/v1/warehouses/{warehouse_id}/dispatch-transport/rotate-secret",
        post(dispatch::rotate_secret),
    )
    .route(
        "/planner/v1/skus/{sku}",
        put(masterdata::put_record::<wes_app::masterdata::SkuIn>),
    )
    .route(
        "/planner/v1/warehouses/{warehouse_id}/locations/{location}",
        put(masterdata::put_location),
    )
    .route(
        "/planner/v1/partners/{partner_id}",
        put(masterdata::put_record::<wes_app::masterdata::PartnerIn>),
    )
    .route(
        "/planner/v1/partners/{partner_id}/keys",
        post(masterdata::issue_key),
    )
    .route(
        "/planner/v1/partners/{partner_id}/keys/{key_id}",
        axum::routing::delete(masterdata::revoke_key),
    )
}

/// Every path the router serves (the OpenAPI document must describe each).
pub fn route_paths() -> Vec<&'static str> {
    routes().paths
}

pub fn router(state: Shared) -> Router {
    let max_body = state.settings.max_body_bytes;
    routes()
        .router
        .route_layer(axum::middleware::from_fn(context::record_route))
        .route_layer(axum::middleware::from_fn(ingest::json_bodies_only))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            context::panic_response,
        ))
        .layer(axum::middleware::from_fn(context::request_context))
        .with_state(state)
}
