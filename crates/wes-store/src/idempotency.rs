//! The idempotency-key table. Requests claim keys before producing and mark them done once the
//! broker acknowledged; the decision itself is the domain's (`wes_domain::idempotency::decide`).

use crate::{Store, StoreError};
use sqlx::Row;
use std::collections::{HashMap, HashSet};
use wes_domain::UtcMillis;
use wes_domain::idempotency::IdempotencyScope;

/// Keys per statement: about 200 bind parameters (see `projection::PARAMS_PER_STATEMENT`).
const CHUNK: usize = 100;
use wes_domain::idempotency::{
    Claim, Fingerprint, IN_FLIGHT_LEASE_MILLIS, KEY_RETENTION_MILLIS, KeyState, StoredKey, decide,
};

pub struct KeyRequest<'a> {
    pub correlation_id: &'a str,
    pub payload: &'a Fingerprint,
}

impl Store {
    /// Claims every key in one transaction for the hub instance `owner` and returns the decision for
    /// each, in order. New keys are inserted with one multi-row statement; only keys that already
    /// existed are read back and decided one by one.
    pub async fn claim_keys(
        &self,
        scope: IdempotencyScope,
        partner: &str,
        owner: &str,
        keys: &[KeyRequest<'_>],
        now: UtcMillis,
    ) -> Result<Vec<Claim>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let lease_until = now.0 + IN_FLIGHT_LEASE_MILLIS;
        // The first occurrence of a key in the request claims it; a repeat inside the same request is
        // "still in flight".
        let mut first_index: HashMap<&str, usize> = HashMap::new();
        let unique: Vec<&KeyRequest> = keys
            .iter()
            .enumerate()
            .filter(|(i, k)| *first_index.entry(k.correlation_id).or_insert(*i) == *i)
            .map(|(_, k)| k)
            .collect();
        let mut inserted: HashSet<String> = HashSet::new();
        for chunk in unique.chunks(CHUNK) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    format!(
                        "($1, $2, ${}, ${}, 'IN_FLIGHT', $3, $4, $5)",
                        6 + 2 * i,
                        7 + 2 * i
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO idempotency_keys (scope, partner_id, correlation_id, payload_sha256, state, lease_until, owner, created_at)
                 VALUES {} ON CONFLICT (scope, partner_id, correlation_id) DO NOTHING RETURNING correlation_id",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql)
                .bind(scope.as_str())
                .bind(partner)
                .bind(lease_until)
                .bind(owner)
                .bind(now.0);
            for key in chunk {
                query = query.bind(key.correlation_id).bind(&key.payload.sha256);
            }
            for row in query.fetch_all(&mut *tx).await? {
                inserted.insert(row.try_get("correlation_id")?);
            }
        }
        let existing: Vec<&&KeyRequest> = unique
            .iter()
            .filter(|k| !inserted.contains(k.correlation_id))
            .collect();
        let mut stored: HashMap<String, StoredKey> = HashMap::new();
        for chunk in existing.chunks(CHUNK) {
            let sql =
                format!(
                "SELECT correlation_id, payload_sha256, state, lease_until FROM idempotency_keys
                 WHERE scope = $1 AND partner_id = $2 AND correlation_id IN ({})",
                (0..chunk.len()).map(|i| format!("${}", 3 + i)).collect::<Vec<_>>().join(", ")
            );
            let mut query = sqlx::query(&sql).bind(scope.as_str()).bind(partner);
            for key in chunk {
                query = query.bind(key.correlation_id);
            }
            for row in query.fetch_all(&mut *tx).await? {
                let state: String = row.try_get("state")?;
                stored.insert(
                    row.try_get("correlation_id")?,
                    StoredKey {
                        payload_sha256: row.try_get("payload_sha256")?,
                        state: if state == "DONE" {
                            KeyState::Done
                        } else {
                            KeyState::InFlight {
                                lease_until: UtcMillis(row.try_get("lease_until")?),
                            }
                        },
                    },
                );
            }
        }
        let mut claims = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            let claim = if first_index[key.correlation_id] != i {
                Claim::InFlight
            } else if inserted.contains(key.correlation_id) {
                Claim::Fresh
            } else {
                decide(stored.get(key.correlation_id), key.payload, now)
            };
            if claim == Claim::TakeOver {
                sqlx::query("UPDATE idempotency_keys SET lease_until = $4, owner = $5 WHERE scope = $1 AND partner_id = $2 AND correlation_id = $3")
                    .bind(scope.as_str())
                    .bind(partner)
                    .bind(key.correlation_id)
                    .bind(lease_until)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await?;
            }
            claims.push(claim);
        }
        tx.commit().await?;
        Ok(claims)
    }

    /// Marks keys whose events the broker acknowledged (`done`) and frees those that failed.
    pub async fn settle_keys(
        &self,
        scope: IdempotencyScope,
        partner: &str,
        done: &[&str],
        failed: &[&str],
    ) -> Result<(), StoreError> {
        if done.is_empty() && failed.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (statement, keys) in [
            (
                "UPDATE idempotency_keys SET state = 'DONE' WHERE scope = $1 AND partner_id = $2 AND correlation_id IN",
                done,
            ),
            (
                "DELETE FROM idempotency_keys WHERE state = 'IN_FLIGHT' AND scope = $1 AND partner_id = $2 AND correlation_id IN",
                failed,
            ),
        ] {
            for chunk in keys.chunks(CHUNK) {
                let sql = format!(
                    "{statement} ({})",
                    (0..chunk.len())
                        .map(|i| format!("${}", 3 + i))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let mut query = sqlx::query(&sql).bind(scope.as_str()).bind(partner);
                for cid in chunk {
                    query = query.bind(*cid);
                }
                query.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Ends the leases an instance held before it crashed: those requests died with it, so their
    /// retries may take over at once instead of getting 409 until the lease runs out.
    pub async fn expire_claims_of(&self, owner: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE idempotency_keys SET lease_until = 0 WHERE state = 'IN_FLIGHT' AND owner = $1",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Whether a key is known and done (used to check that a CANCELLED names a real release).
    pub async fn key_done(
        &self,
        scope: IdempotencyScope,
        partner: &str,
        correlation_id: &str,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT state FROM idempotency_keys WHERE scope = $1 AND partner_id = $2 AND correlation_id = $3")
            .bind(scope.as_str())
            .bind(partner)
            .bind(correlation_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<String, _>("state")? == "DONE",
            None => false,
        })
    }

    /// Drops keys older than the 30-day retention. Returns how many were removed.
    pub async fn purge_expired_keys(&self, now: UtcMillis) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                .bind(now.0 - KEY_RETENTION_MILLIS)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}
