//! The window watcher, a reactor: keeps windows complete after their deciding request.
//! - It consumes confirmations and decisions into its own work state (`WatchState`), so it never
//!   depends on a projection being rebuilt, and never acts on a replay.
//! - On each tick (woken by ledger batches, or every `PENDING_GRACE`) it flags every movement that
//!   reached the log after its window was decided with a `LateMovementFlagged` event (id derived
//!   from the window and the movement, so finding it twice flags it once), which opens a
//!   supervisor-queue entry; and it decides windows whose deciding request did not finish (a
//!   crash, a ledger too far behind).

use crate::{App, AppError};
use std::sync::Arc;
use std::time::Duration;
use wes_domain::{UtcMillis, WarehouseFrn};
use wes_events::catalog::topics;
use wes_events::{Event, LateMovementFlagged};
use wes_projector::reactor::Reactor;
use wes_store::projection::Record;

/// How long a PENDING window is left to the request deciding it before the watcher decides it.
pub const PENDING_GRACE: Duration = Duration::from_secs(30);
/// How long after a window's end movements arriving for it are flagged.
const LATE_WATCH_MILLIS: i64 = 30 * 24 * 3600 * 1000;

pub struct WindowWatcher(pub Arc<App>);

#[async_trait::async_trait]
impl Reactor for WindowWatcher {
    fn name(&self) -> &'static str {
        "window-watcher"
    }

    fn topics(&self) -> &'static [&'static str] {
        &[
            topics::CONFIRMATIONS,
            topics::WINDOW_RECONCILED,
            topics::WINDOW_DISCREPANCY,
        ]
    }

    async fn react(&self, records: &[Record<'_>]) -> Result<(), String> {
        self.0
            .note_windows(records)
            .await
            .map_err(|e| e.to_string())
    }

    async fn tick(&self) -> Result<(), String> {
        self.0.sweep_windows().await.map_err(|e| e.to_string())
    }
}

impl App {
    /// Records which windows are confirmed and decided, and below which log position.
    pub async fn note_windows(&self, records: &[Record<'_>]) -> Result<(), AppError> {
        for record in records {
            match record.event {
                Event::Confirmation(c) => self.watch.watch_confirmation(c).await?,
                Event::WindowReconciled(d) | Event::WindowDiscrepancy(d) => {
                    self.watch.watch_decision(d).await?
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Decides stale PENDING windows and flags late movements of decided ones.
    pub async fn sweep_windows(&self) -> Result<(), AppError> {
        let now = self.clock.now();
        for window in self
            .watch
            .watched(UtcMillis(now.0 - LATE_WATCH_MILLIS))
            .await?
        {
            let Some(through) = &window.realtime_through else {
                if let Some(confirmation) = &window.confirmation
                    && now.0 - confirmation.recorded_at > PENDING_GRACE.as_millis() as i64
                {
                    self.decide(confirmation).await?;
                }
                continue;
            };
            for late in self.reads.late_movements(&window.key, through).await? {
                let event_id = LateMovementFlagged::id_for(&window.key.key_text(), &late.event_id);
                if self.reads.supervisor_entry(&event_id).await?.is_some() {
                    continue;
                }
                let flag = LateMovementFlagged {
                    event_id,
                    recorded_at: now.0,
                    window_id: window.key.id(),
                    partner_id: window.key.partner_id.to_string(),
                    warehouse_id: window.key.warehouse_id.to_string(),
                    warehouse_frn: WarehouseFrn::for_warehouse(&window.key.warehouse_id)
                        .to_string(),
                    movement_event_id: late.event_id,
                    movement_correlation_id: late.correlation_id,
                    kind: late.kind,
                    sku: late.sku,
                    qty: late.qty,
                    occurred_at: late.occurred_at,
                };
                self.append_one(flag.into()).await?;
            }
        }
        Ok(())
    }
}
