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

pub fn decide(existing: Option<&StoredKey>, payload: &Fingerprint, now: UtcMillis) -> Claim {
    match existing {
        None => Claim::Fresh,
        Some(key) if !payload.matches(&key.payload_sha256) => Claim::PayloadMismatch,
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

/// What a key remembers of its request's payload, to tell a replay from a reused key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Stored with a new key.
    pub sha256: String,
    /// The fingerprint a key stored before RFC 8785 fingerprints (hub 0.1) has for the same
    /// payload, when it differs (numbers written with a fraction or an exponent, keys outside the
    /// Basic Multilingual Plane). Such keys expire 30 days after the upgrade; then this can go.
    legacy_sha256: Option<String>,
}

impl Fingerprint {
    /// SHA-256 of the payload's RFC 8785 canonical JSON: the same for every serialization of one
    /// JSON value, whatever the key order, white space, escapes or number spelling.
    pub fn of(payload: &Value) -> Fingerprint {
        let mut canonical = String::new();
        crate::canonical_json::write(payload, &mut canonical);
        // Before RFC 8785: serde_json's text with its (sorted) keys.
        let legacy = Some(payload.to_string()).filter(|legacy| *legacy != canonical);
        Fingerprint {
            sha256: sha256_hex(&canonical),
            legacy_sha256: legacy.as_deref().map(sha256_hex),
        }
    }

    /// A fingerprint that is the given text itself (a claim whose "payload" is an id).
    pub fn exact(text: impl Into<String>) -> Fingerprint {
        Fingerprint {
            sha256: text.into(),
            legacy_sha256: None,
        }
    }

    /// Whether a key stored with `stored` was taken by this payload.
    pub fn matches(&self, stored: &str) -> bool {
        self.sha256 == stored || self.legacy_sha256.as_deref() == Some(stored)
    }
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
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
        let (h, other) = (Fingerprint::exact("h"), Fingerprint::exact("other"));
        assert_eq!(decide(None, &h, now), Claim::Fresh);
        assert_eq!(decide(Some(&done), &h, now), Claim::Replay);
        assert_eq!(decide(Some(&done), &other, now), Claim::PayloadMismatch);
        assert_eq!(decide(Some(&flying(2_000)), &h, now), Claim::InFlight);
        assert_eq!(decide(Some(&flying(500)), &h, now), Claim::TakeOver);
    }

    #[test]
    fn fingerprint_ignores_key_order_and_number_spelling_and_event_ids_are_stable() {
        let of = |text: &str| Fingerprint::of(&serde_json::from_str(text).unwrap()).sha256;
        assert_eq!(of(r#"{"a": 1, "b": 2}"#), of(r#"{"b":2,"a":1}"#));
        assert_eq!(of(r#"{"qty": 12}"#), of(r#"{"qty": 12.0}"#));
        assert_eq!(of(r#"{"cost": 1.5}"#), of(r#"{"cost": 15e-1}"#));
        assert_eq!(of(r#"{"s": "\u00e9"}"#), of(r#"{"s": "é"}"#));
        assert_ne!(of(r#"{"a": 1}"#), of(r#"{"a": 2}"#));
        assert_eq!(
            event_id("movement", "p", "c"),
            event_id("movement", "p", "c")
        );
        assert_ne!(
            event_id("movement", "p", "c"),
            event_id("movement", "q", "c")
        );
    }

    #[test]
    fn keys_stored_before_rfc_8785_still_recognise_their_payload() {
        let payload = json!({"cost": 12.0, "qty": 3});
        let stored_before = hex::encode(Sha256::digest(payload.to_string().as_bytes()));
        let fingerprint = Fingerprint::of(&payload);
        assert_ne!(
            fingerprint.sha256, stored_before,
            "the spelling differs: 12 vs 12.0"
        );
        let key = StoredKey {
            payload_sha256: stored_before,
            state: KeyState::Done,
        };
        assert_eq!(
            decide(Some(&key), &fingerprint, UtcMillis(0)),
            Claim::Replay
        );
        let changed = Fingerprint::of(&json!({"cost": 13.0, "qty": 3}));
        assert_eq!(
            decide(Some(&key), &changed, UtcMillis(0)),
            Claim::PayloadMismatch
        );
        // Most payloads never differed: no second fingerprint is kept for them.
        assert_eq!(Fingerprint::of(&json!({"qty": 3})).legacy_sha256, None);
    }
}
