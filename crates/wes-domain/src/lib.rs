//! The pure domain of the hub. No IO, no async: typed ids, master data, validation of movements and
//! releases, the ledger effect of a movement and the idempotency decision. Adapters (Kafka, SQL,
//! HTTP) call into this crate; it never calls out.

pub mod amount;
pub mod canonical_json;
pub mod capacity;
pub mod dispatch_transport;
pub mod exception;
pub mod fields;
pub mod idempotency;
pub mod ids;
pub mod masterdata;
pub mod movement;
pub mod parse;
pub mod reconcile;
pub mod rejection;
pub mod release;
pub mod supervisor;
pub mod webhook;
mod words;
pub mod work_status;

pub use ids::*;
pub use rejection::{Rejection, RejectionKind};

/// Milliseconds since the Unix epoch, UTC. Every timestamp in events and read models uses it.
#[derive(
    Debug,
    Default,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct UtcMillis(pub i64);

impl UtcMillis {
    pub fn parse_rfc3339(text: &str) -> Option<UtcMillis> {
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| UtcMillis(t.timestamp_millis()))
    }

    pub fn to_rfc3339(self) -> String {
        chrono::DateTime::from_timestamp_millis(self.0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    }
}
