//! Idempotency on `(partner_id, correlation_id)`: what a second request with a known key gets.

use crate::UtcMillis;
use crate::words::word_enum;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How long a key is kept (contract §1: 30 days).
pub const KEY_RETENTION_MILLIS: i64 = 30 * 24 * 3600 * 1000;

/// How long a request may hold a key in flight before another request may take it over (the first
/// one crashed or timed out). Longer than the producer's delivery timeout.
pub const IN_FLIGHT_LEASE_MILLIS: i64 = 30_000;

word_enum!(
    /// The namespace of an idempotency key: one per kind of keyed request.
    IdempotencyScope {
        Movement = "movement",
        Exception = "exception",
        WorkStatus = "work-status",
        Capacity = "capacity",
        Dispatch = "dispatch",
        Confirmation = "confirmation",
        /// The claim that keeps a window to one confirmation.
        Window = "window",
    }
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// A request is producing the event; it holds the key until `lease_until`.
    InFlight { lease_until: UtcMillis },
    /// The event is durably in the log.
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub payload_sha256: String,
    pub state: KeyState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// New key: produce the event.
    Fresh,
    /// Same key, same payload, already in the log: `200 replay: true`, nothing written.
    Replay,
    /// Same key while the first request is still in flight: `409`.
    InFlight,
    /// Same key, different payload: `422`.
    PayloadMismatch,
    /// The holder's lease ran out (it crashed before finishing): produce again. The event id is
    /// derived from the key, so if the first attempt did reach the log the projection ignores this one.
    TakeOver,
}

pub fn decide(existing: Option<&StoredKey>, payload_sha256: &str, now: UtcMillis) -> Claim {
    match existing {
        None => Claim::Fresh,
        Some(key) if key.payload_sha256 != payload_sha256 => Claim::PayloadMismatch,
        Some(StoredKey {
            state: KeyState::Done,
            ..
        }) => Claim::Replay,
        Some(StoredKey {
            state: KeyState::InFlight { lease_until },
            ..
        }) if *lease_until > now => Claim::InFlight,
        Some(_) => Claim::TakeOver,
    }
}

/// SHA-256 of the payload's canonical JSON (object keys sorted, no insignificant white space).
pub fn payload_fingerprint(payload: &Value) -> String {
    // serde_json's map keeps keys sorted (no `preserve_order`), so `to_string` is canonical.
    hex::encode(Sha256::digest(payload.to_string().as_bytes()))
}

const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x5b0e_6f3c_8d1a_4e7b_9c2d_1f0a_3e4b_5c6d);

/// The event id of the event a keyed request produces: the same key always gives the same id, so a
/// re-produced event is recognised and skipped by every projection.
pub fn event_id(scope: &str, partner: &str, correlation_id: &str) -> Uuid {
    Uuid::new_v5(
        &EVENT_NAMESPACE,
        format!("{scope}\u{0}{partner}\u{0}{correlation_id}").as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decisions_follow_the_contract() {
        let now = UtcMillis(1_000);
        let done = StoredKey {
            payload_sha256: "h".into(),
            state: KeyState::Done,
        };
        let flying = |until| StoredKey {
            payload_sha256: "h".into(),
            state: KeyState::InFlight {
                lease_until: UtcMillis(until),
            },
        };
        assert_eq!(decide(None, "h", now), Claim::Fresh);
        assert_eq!(decide(Some(&done), "h", now), Claim::Replay);
        assert_eq!(decide(Some(&done), "other", now), Claim::PayloadMismatch);
        assert_eq!(decide(Some(&flying(2_000)), "h", now), Claim::InFlight);
        assert_eq!(decide(Some(&flying(500)), "h", now), Claim::TakeOver);
    }

    #[test]
    fn fingerprint_ignores_key_order_and_event_ids_are_stable() {
        assert_eq!(
            payload_fingerprint(&json!({"a": 1, "b": 2})),
            payload_fingerprint(&json!({"b": 2, "a": 1}))
        );
        assert_ne!(
            payload_fingerprint(&json!({"a": 1})),
            payload_fingerprint(&json!({"a": 2}))
        );
        assert_eq!(
            event_id("movement", "p", "c"),
            event_id("movement", "p", "c")
        );
        assert_ne!(
            event_id("movement", "p", "c"),
            event_id("movement", "q", "c")
        );
    }
}
