//! The confirmation path (contract §4): one confirmation per window and partner, appended, then
//! decided by the reconciler. Shift summaries, cycle counts and inventory snapshots share it.

use crate::ingest::claim_refusal;
use crate::ports::KeyOwner;
use crate::{App, AppError};
use wes_domain::idempotency::{Claim, Fingerprint, IdempotencyScope};
use wes_domain::reconcile::{ConfirmationKind, ShiftSummary, StockCount, WindowStatus};
use wes_events::{ConfirmationRecorded, Event};
use wes_store::idempotency::KeyRequest;

/// A validated confirmation.
pub enum Confirmation {
    ShiftSummary(ShiftSummary),
    /// A cycle count or an inventory snapshot.
    Count(StockCount, ConfirmationKind),
}

/// What the executor is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmOutcome {
    pub correlation_id: String,
    pub replay: bool,
    pub window_id: String,
    pub window_status: WindowStatus,
}

fn status_of(decision: Option<&wes_events::WindowDecision>) -> WindowStatus {
    match decision {
        Some(d) if d.reconciled() => WindowStatus::Reconciled,
        Some(_) => WindowStatus::Discrepancy,
        None => WindowStatus::Pending,
    }
}

impl App {
    /// Records `confirmation` (keyed by its correlation id, one per window) and decides its window.
    /// A replay answers the window's state, deciding it first if a crash left it PENDING.
    pub async fn confirm(
        &self,
        confirmation: Confirmation,
        payload: Fingerprint,
    ) -> Result<ConfirmOutcome, AppError> {
        let at = self.clock.now();
        let record = match &confirmation {
            Confirmation::ShiftSummary(summary) => {
                ConfirmationRecorded::from_shift_summary(summary, payload.sha256.clone(), at)
            }
            Confirmation::Count(count, kind) => {
                ConfirmationRecorded::from_count(count, *kind, payload.sha256.clone(), at)
            }
        };
        let window = record.window();
        // The claim on the window is keyed by its key text, as it was before ids became UUIDs.
        let (owner, cid, window_id, window_key) = (
            record.partner_id.clone(),
            record.correlation_id.clone(),
            window.id(),
            window.key_text(),
        );
        let outcome = |replay, window_status| ConfirmOutcome {
            correlation_id: cid.clone(),
            replay,
            window_id: window_id.clone(),
            window_status,
        };
        let key = |correlation_id, payload| KeyRequest {
            correlation_id,
            payload,
        };
        let confirmations = KeyOwner {
            scope: IdempotencyScope::Confirmation,
            owner: &owner,
        };
        let windows = KeyOwner {
            scope: IdempotencyScope::Window,
            owner: &owner,
        };
        let claim = self
            .keys
            .claim(confirmations, at, &[key(&cid, &payload)])
            .await?
            .remove(0);
        if let Some(refusal) = claim_refusal(claim, "a confirmation", &cid) {
            refusal?;
            let mut status = self
                .reads
                .window(&window_id)
                .await?
                .map_or(WindowStatus::Pending, |w| w.status);
            if status == WindowStatus::Pending {
                status = status_of(self.decide(&record).await?.as_ref());
            }
            return Ok(outcome(true, status));
        }
        // One confirmation per window, whatever its state: the claim on the window settles races,
        // the projection keeps the rule after the claim is purged.
        let window_claim = self
            .keys
            .claim(windows, at, &[key(&window_key, &Fingerprint::exact(&cid))])
            .await?
            .remove(0);
        let took_window = matches!(window_claim, Claim::Fresh | Claim::TakeOver);
        let confirmed_by = self
            .reads
            .window(&window_id)
            .await?
            .and_then(|w| w.correlation_id)
            .filter(|other| *other != cid);
        let window_taken = matches!(window_claim, Claim::PayloadMismatch | Claim::InFlight)
            || confirmed_by.is_some();
        if window_taken {
            self.release_claims(&owner, &cid, &window_key, took_window)
                .await?;
            return Err(AppError::Conflict(format!(
                "window {} to {} of warehouse {} is already confirmed{}; a window takes one confirmation",
                window.start.to_rfc3339(),
                window.end.to_rfc3339(),
                window.warehouse_id,
                confirmed_by
                    .map(|c| format!(" by correlation_id {c}"))
                    .unwrap_or_default()
            )));
        }
        if let Err(e) = self.append_one(Event::Confirmation(record.clone())).await {
            // Free the window only if this request took it (not when an earlier attempt holds it).
            self.release_claims(&owner, &cid, &window_key, took_window)
                .await?;
            return Err(e);
        }
        self.keys.settle(confirmations, &[&cid], &[]).await?;
        self.keys.settle(windows, &[&window_key], &[]).await?;
        let decision = self.decide(&record).await?;
        Ok(outcome(false, status_of(decision.as_ref())))
    }

    async fn release_claims(
        &self,
        owner: &str,
        cid: &str,
        window_key: &str,
        took_window: bool,
    ) -> Result<(), AppError> {
        let of = |scope| KeyOwner { scope, owner };
        self.keys
            .settle(of(IdempotencyScope::Confirmation), &[], &[cid])
            .await?;
        if took_window {
            self.keys
                .settle(of(IdempotencyScope::Window), &[], &[window_key])
                .await?;
        }
        Ok(())
    }
}
