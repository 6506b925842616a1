//! The application layer: command handlers and process managers, free of HTTP and of Kafka client
//! types. Each handler takes a typed command (or a validated item), applies the domain's rules
//! (`wes_domain`) and talks to the outside only through the ports of `ports`:
//!
//! - `ingest`: keyed realtime items (movements, exceptions, work-status, capacity) and releases;
//! - `confirmations`: confirm → reconcile → decide a window (`reconciler`);
//! - `resolutions`: the three supervisor resolutions of a DISCREPANCY window;
//! - `watcher`: the window watcher, a reactor (late movements, windows left PENDING);
//! - `masterdata`: master-data bundles; `releases`: dispatch releases; `supervisor`: queue steps;
//! - `transports`: each warehouse's dispatch transport; `polling`: poll-mode dispatch pages and acks;
//! - `webhooks`: webhook dispatch, a reactor (queue) and a delivery loop (attempts, retries, dead letters).
//!
//! Where the coming capabilities go: a station command handler is a module here beside
//! `confirmations`; webhook delivery and induction metering are reactors beside `watcher`.

pub mod confirmations;
pub mod error;
pub mod ingest;
pub mod live;
pub mod masterdata;
pub mod polling;
pub mod ports;
pub mod reconciler;
pub mod releases;
pub mod resolutions;
pub mod secrets;
pub mod supervisor;
pub mod transports;
pub mod watcher;
pub mod webhooks;
pub mod windows;

#[cfg(test)]
mod memory;
#[cfg(test)]
mod scenarios;

pub use error::AppError;

use ports::{Clock, DeliveryState, EventLog, KeyStore, ReadModels, WatchState, WebhookPoster};
use std::sync::Arc;
use wes_domain::PlannerId;

#[derive(Debug, Clone)]
pub struct AppSettings {
    /// `planner_id` put on releases that do not name one.
    pub planner_id: PlannerId,
    /// Largest per-line difference the reconciler still counts as a match. Default 0.
    pub reconcile_tolerance: i64,
    pub webhook: webhooks::WebhookSettings,
}

/// The application: its ports and settings. Cheap to share (`Arc`).
pub struct App {
    pub log: Arc<dyn EventLog>,
    pub keys: Arc<dyn KeyStore>,
    pub reads: Arc<dyn ReadModels>,
    pub watch: Arc<dyn WatchState>,
    pub clock: Arc<dyn Clock>,
    pub settings: AppSettings,
    /// Release requests take turns in this hub: their rules read the dispatch log, then append.
    pub dispatch_turn: tokio::sync::Mutex<()>,
    /// Poll-mode acks take turns in this hub: each is judged against the one before.
    pub poll_turn: tokio::sync::Mutex<()>,
    /// Seals and opens webhook secrets.
    pub secrets: secrets::SecretBox,
    /// Webhook deliveries (the webhook reactor's work state) and outbound HTTP.
    pub deliveries: Arc<dyn DeliveryState>,
    pub poster: Arc<dyn WebhookPoster>,
}
