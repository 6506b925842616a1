//! Per-partner rate limits: a token bucket per partner and hub instance. A request that finds the
//! bucket empty gets `429` with `Retry-After` (whole seconds until a token is back), so executors back
//! off instead of retry-storming. One request (one object or one array) takes one token.

use crate::problem::ApiError;
use axum::http::StatusCode;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Tokens added per second (sustained requests per second).
    pub per_second: f64,
    /// Bucket size (the burst a partner may send at once).
    pub burst: f64,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `partner` at `now`, or says how long to wait.
    pub fn check_at(&self, partner: &str, now: Instant) -> Result<(), ApiError> {
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        let bucket = buckets.entry(partner.to_owned()).or_insert(Bucket {
            tokens: self.limit.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.limit.per_second).min(self.limit.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - bucket.tokens) / self.limit.per_second)
            .ceil()
            .max(1.0) as u64;
        Err(ApiError {
            retry_after: Some(wait),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!(
                    "partner {partner} is limited to {} requests/s (burst {}); retry after {wait} s",
                    self.limit.per_second, self.limit.burst
                ),
            )
        })
    }

    pub fn check(&self, partner: &str) -> Result<(), ApiError> {
        self.check_at(partner, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_passes_then_the_bucket_refills_at_the_rate() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 2.0,
            burst: 3.0,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("p", t0).is_ok());
        }
        let refused = limiter.check_at("p", t0).unwrap_err();
        assert_eq!(
            (refused.status.as_u16(), refused.retry_after),
            (429, Some(1))
        );
        assert!(
            limiter.check_at("other", t0).is_ok(),
            "buckets are per partner"
        );
        assert!(
            limiter
                .check_at("p", t0 + Duration::from_millis(500))
                .is_ok(),
            "one token after 0.5 s at 2/s"
        );
        assert!(
            limiter
                .check_at("p", t0 + Duration::from_millis(500))
                .is_err()
        );
    }
}
