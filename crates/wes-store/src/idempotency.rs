//! The idempotency-key table. Requests claim keys before producing and mark them done once the
//! broker acknowledged; the decision itself is the domain's (`wes_domain::idempotency::decide`).

use crate::{Store, StoreError};
use sqlx::Row;
use wes_domain::UtcMillis;
use wes_domain::idempotency::{
    Claim, IN_FLIGHT_LEASE_MILLIS, KEY_RETENTION_MILLIS, KeyState, StoredKey, decide,
};

pub struct KeyRequest<'a> {
    pub correlation_id: &'a str,
    pub payload_sha256: &'a str,
}

impl Store {
    /// Claims every key in one transaction for the hub instance `owner` and returns the decision for
    /// each, in order.
    pub async fn claim_keys(
        &self,
        scope: &str,
        partner: &str,
        owner: &str,
        keys: &[KeyRequest<'_>],
        now: UtcMillis,
    ) -> Result<Vec<Claim>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut claims = Vec::with_capacity(keys.len());
        let lease_until = now.0 + IN_FLIGHT_LEASE_MILLIS;
        for key in keys {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (scope, partner_id, correlation_id, payload_sha256, state, lease_until, owner, created_at)
                 VALUES ($1, $2, $3, $4, 'IN_FLIGHT', $5, $6, $7) ON CONFLICT (scope, partner_id, correlation_id) DO NOTHING",
            )
            .bind(scope)
            .bind(partner)
            .bind(key.correlation_id)
            .bind(key.payload_sha256)
            .bind(lease_until)
            .bind(owner)
            .bind(now.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                claims.push(Claim::Fresh);
                continue;
            }
            let row = sqlx::query(
                "SELECT payload_sha256, state, lease_until FROM idempotency_keys WHERE scope = $1 AND partner_id = $2 AND correlation_id = $3",
            )
            .bind(scope)
            .bind(partner)
            .bind(key.correlation_id)
            .fetch_one(&mut *tx)
            .await?;
            let state: String = row.try_get("state")?;
            let stored = StoredKey {
                payload_sha256: row.try_get("payload_sha256")?,
                state: if state == "DONE" {
                    KeyState::Done
                } else {
                    KeyState::InFlight {
                        lease_until: UtcMillis(row.try_get("lease_until")?),
                    }
                },
            };
            let claim = decide(Some(&stored), key.payload_sha256, now);
            if claim == Claim::TakeOver {
                sqlx::query("UPDATE idempotency_keys SET lease_until = $4, owner = $5 WHERE scope = $1 AND partner_id = $2 AND correlation_id = $3")
                    .bind(scope)
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
        scope: &str,
        partner: &str,
        done: &[&str],
        failed: &[&str],
    ) -> Result<(), StoreError> {
        if done.is_empty() && failed.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for cid in done {
            sqlx::query("UPDATE idempotency_keys SET state = 'DONE' WHERE scope = $1 AND partner_id = $2 AND correlation_id = $3")
                .bind(scope)
                .bind(partner)
                .bind(*cid)
                .execute(&mut *tx)
                .await?;
        }
        for cid in failed {
            sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND partner_id = $2 AND correlation_id = $3 AND state = 'IN_FLIGHT'")
                .bind(scope)
                .bind(partner)
                .bind(*cid)
                .execute(&mut *tx)
                .await?;
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
        scope: &str,
        partner: &str,
        correlation_id: &str,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT state FROM idempotency_keys WHERE scope = $1 AND partner_id = $2 AND correlation_id = $3")
            .bind(scope)
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
