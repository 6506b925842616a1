//! Logging: `WES_LOG` filter (default `info`), to stderr, coloured only on a terminal. Kafka
//! clients' errors are silenced once a clean stop has begun: the broker going away then is the
//! stop itself, not a fault.

use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

fn filter_from_env() -> EnvFilter {
    EnvFilter::try_from_env("WES_LOG").unwrap_or_else(|_| "info".into())
}

pub fn init() {
    let (filter, handle) = reload::Layer::new(filter_from_env());
    let format = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    tracing_subscriber::registry()
        .with(filter)
        .with(format)
        .init();
    let _ = FILTER.set(handle);
}

/// From now on, nothing the Kafka clients report is logged (a clean stop is under way).
pub fn quiet_kafka_clients() {
    if let Some(handle) = FILTER.get() {
        let quieter = filter_from_env()
            .add_directive("rdkafka=off".parse().expect("a valid directive"))
            .add_directive("librdkafka=off".parse().expect("a valid directive"));
        let _ = handle.reload(quieter);
    }
}
