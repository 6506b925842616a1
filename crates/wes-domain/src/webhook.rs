//! Webhook dispatch (contract §2): the signature a receiver verifies, the retry schedule and when
//! a delivery is given up (dead-lettered).

use crate::UtcMillis;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `sha256=<lowercase hex HMAC-SHA256(secret, body)>`, the `X-FGAI-Signature` of a delivery.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` (`sha256=<hex>`) is the signature of `body` under `secret`, compared in
/// constant time (what a receiver checks, over the raw body, before parsing it).
pub fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(digest) = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&digest).is_ok()
}

/// A duration setting: a whole number and a unit, `ms`, `s`, `m`, `h` or `d` (`500ms`, `2m`).
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().ok()?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// When attempts of one delivery are made: the first after `steps[0]`, attempt `n + 1` `steps[n]`
/// after attempt `n` failed, the last step repeating; given up once the next attempt would come
/// more than `give_up_after_ms` after the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    pub steps_ms: Vec<i64>,
    pub give_up_after_ms: i64,
}

impl RetrySchedule {
    /// The contract's: 0 s → 5 s → 30 s → 2 m → 10 m → 1 h → hourly, for 24 h.
    pub fn contract() -> RetrySchedule {
        RetrySchedule::parse("0s,5s,30s,2m,10m,1h", "24h").expect("the contract's schedule parses")
    }

    /// From the settings' text: `0s,5s,30s,2m,10m,1h` and `24h`.
    pub fn parse(steps: &str, give_up_after: &str) -> Result<RetrySchedule, String> {
        let steps_ms = steps
            .split(',')
            .map(|s| {
                parse_duration_ms(s)
                    .ok_or_else(|| format!("{s:?} is not a duration like 5s, 2m or 1h"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let give_up_after_ms = parse_duration_ms(give_up_after)
            .ok_or_else(|| format!("{give_up_after:?} is not a duration like 24h"))?;
        if steps_ms.len() < 2 || steps_ms[1..].contains(&0) {
            return Err(
                "a schedule has a first delay and at least one retry delay, the retries above 0"
                    .into(),
            );
        }
        Ok(RetrySchedule {
            steps_ms,
            give_up_after_ms,
        })
    }

    /// When the first attempt of a delivery enqueued at `at` is due.
    pub fn first_attempt(&self, at: UtcMillis) -> UtcMillis {
        UtcMillis(at.0 + self.steps_ms[0])
    }

    /// After attempt `attempts` failed at `now` (the first was at `first_attempt_at`): when the
    /// next is due, or `None` to give up.
    pub fn after_failure(
        &self,
        attempts: u32,
        first_attempt_at: UtcMillis,
        now: UtcMillis,
    ) -> Option<UtcMillis> {
        let step = self
            .steps_ms
            .get(attempts as usize)
            .or(self.steps_ms.last())
            .copied()
            .unwrap_or(0);
        let next = UtcMillis(now.0 + step);
        (next.0 - first_attempt_at.0 <= self.give_up_after_ms).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hex_hmac_of_the_raw_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let header = signature("Jefe", b"body");
        assert!(verify("Jefe", b"body", &header));
        assert!(!verify("Jefe", b"body!", &header));
        assert!(!verify("Jeff", b"body", &header));
        assert!(!verify("Jefe", b"body", "sha256=zz"));
        assert!(!verify("Jefe", b"body", &header.replace("sha256=", "")));
    }

    #[test]
    fn the_contracts_schedule_retries_hourly_and_gives_up_after_a_day() {
        let s = RetrySchedule::contract();
        let start = UtcMillis(0);
        assert_eq!(s.first_attempt(start), start);
        let mut now = start;
        let mut delays = vec![];
        for attempt in 1.. {
            match s.after_failure(attempt, start, now) {
                Some(next) => {
                    delays.push(next.0 - now.0);
                    now = next;
                }
                None => break,
            }
        }
        let minute = 60_000;
        assert_eq!(
            delays[..6],
            [
                5_000,
                30_000,
                2 * minute,
                10 * minute,
                60 * minute,
                60 * minute
            ]
        );
        assert!(
            now.0 <= 24 * 60 * minute && now.0 > 23 * 60 * minute,
            "{now:?}"
        );
        assert!(delays[5..].iter().all(|d| *d == 60 * minute));
    }

    #[test]
    fn settings_parse_or_say_why_not() {
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("2m"), Some(120_000));
        assert_eq!(parse_duration_ms("1d"), Some(86_400_000));
        for bad in ["", "5", "m", "5 minutes", "-1s"] {
            assert_eq!(parse_duration_ms(bad), None, "{bad}");
        }
        assert!(RetrySchedule::parse("0s,1s", "3s").is_ok());
        assert!(RetrySchedule::parse("0s", "3s").is_err());
        assert!(RetrySchedule::parse("0s,0s", "3s").is_err());
        assert!(
            RetrySchedule::parse("0s,1x", "3s")
                .unwrap_err()
                .contains("1x")
        );
    }
}
