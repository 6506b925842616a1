//! Supervisor-queue steps: acknowledging and closing an entry. Each step is an event on
//! `wes.supervisor.actions.v1`; the answer waits until the queue projection shows it.

use crate::windows::check_warehouse;
use crate::{App, AppError};
use serde_json::Value;
use std::time::Duration;
use wes_domain::masterdata::Partner;
use wes_domain::supervisor::{SupervisorAction, decide};
use wes_domain::{Rejection, WarehouseId};
use wes_events::SupervisorActionRecorded;
use wes_store::ProjectionKind;

/// How long an action waits for the queue projection to show it before answering anyway.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(10);

/// A supervisor's step on one entry.
#[derive(Debug, Clone)]
pub struct Step {
    pub entry_id: String,
    pub action: SupervisorAction,
    pub supervisor_id: String,
    /// Why (required to close; an optional note when acknowledging).
    pub reason: Option<String>,
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, AppError> {
    serde_json::to_value(value).map_err(|e| AppError::Internal(e.to_string()))
}

impl App {
    /// One entry with its audit trail, which `partner` must be allowed to see.
    pub async fn entry_detail(&self, partner: &Partner, entry_id: &str) -> Result<Value, AppError> {
        let (entry, steps) = self
            .reads
            .supervisor_entry(entry_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no supervisor-queue entry {entry_id}")))?;
        check_warehouse(partner, &entry.warehouse_id)?;
        let mut body = to_json(&entry)?;
        body["steps"] = to_json(&steps)?;
        Ok(body)
    }

    /// Records the step if the entry's state allows it (409 otherwise); returns the entry after it.
    pub async fn supervisor_step(&self, partner: &Partner, step: Step) -> Result<Value, AppError> {
        if step.action == SupervisorAction::Close && step.reason.is_none() {
            return Err(Rejection::malformed(
                "/reason",
                "closing an entry needs a non-empty `reason`",
            )
            .into());
        }
        let (entry, _) = self
            .reads
            .supervisor_entry(&step.entry_id)
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!("no supervisor-queue entry {}", step.entry_id))
            })?;
        check_warehouse(partner, &entry.warehouse_id)?;
        decide(entry.status, step.action).map_err(|c| AppError::Conflict(c.to_string()))?;
        let event = SupervisorActionRecorded::new(
            &step.entry_id,
            &WarehouseId::from_trusted(&entry.warehouse_id),
            step.action,
            &step.supervisor_id,
            &partner.partner_id,
            step.reason,
            self.clock.now(),
        );
        let at = self.append_one(event.into()).await?;
        self.log
            .wait_applied(ProjectionKind::SUPERVISOR, at, VISIBILITY_TIMEOUT)
            .await;
        self.entry_detail(partner, &step.entry_id).await
    }
}
