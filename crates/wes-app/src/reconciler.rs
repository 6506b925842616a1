//! The reconciler (contract §4): once a confirmation is in the log, read the movements log's end,
//! wait until the ledger holds everything below it, sum the window below that position (shift
//! summaries: the partner's movements of the window; counts and snapshots: the warehouse's stock
//! as of the count), compare (`wes_domain::reconcile`) and append the decision with its breakdown
//! and that position, as `WindowReconciled` or `WindowDiscrepancy` (which opens a supervisor-queue
//! entry and pages URGENT). It never retries and never resolves.

use crate::ports::Appended;
use crate::{App, AppError};
use std::time::Duration;
use wes_domain::UtcMillis;
use wes_domain::reconcile::{ConfirmationKind, compare, compare_stock};
use wes_events::catalog::topics;
use wes_events::{ConfirmationRecorded, Event, LogPosition, WindowDecision};
use wes_store::ProjectionKind;

/// How long the reconciler waits for the ledger to hold the movements already in the log.
const LEDGER_WAIT: Duration = Duration::from_secs(10);
/// How long an answer waits for the windows projection to show a decision.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(10);

/// A log position as a decision records it.
pub(crate) fn positions(ends: &[(i32, i64)]) -> Vec<LogPosition> {
    ends.iter()
        .map(|(partition, next_offset)| LogPosition {
            partition: *partition,
            next_offset: *next_offset,
        })
        .collect()
}

/// A recorded log position as `(partition, next_offset)` pairs.
pub(crate) fn through(positions: &[LogPosition]) -> Vec<(i32, i64)> {
    positions
        .iter()
        .map(|p| (p.partition, p.next_offset))
        .collect()
}

impl App {
    /// Appends `event` (and its page) and waits until the windows projection shows it.
    pub(crate) async fn append_visible(&self, event: Event) -> Result<Appended, AppError> {
        let at = self.append_one(event).await?;
        self.log
            .wait_applied(ProjectionKind::WINDOWS, at, VISIBILITY_TIMEOUT)
            .await;
        Ok(at)
    }

    /// The end of the movements log, once the ledger holds everything below it; `None` when the
    /// ledger did not get there within `LEDGER_WAIT`.
    pub(crate) async fn ledger_at_log_end(&self) -> Result<Option<Vec<(i32, i64)>>, AppError> {
        let end = self.log.log_end(topics::MOVEMENTS).await?;
        let caught_up = self
            .log
            .wait_through(ProjectionKind::LEDGER, &end, LEDGER_WAIT)
            .await;
        Ok(caught_up.then_some(end.ends))
    }

    /// Decides the window of `confirmation`; `None` when the ledger did not catch up with the log
    /// in time (the window stays PENDING; a replay of the confirmation or the watcher decides it).
    pub async fn decide(
        &self,
        confirmation: &ConfirmationRecorded,
    ) -> Result<Option<WindowDecision>, AppError> {
        let Some(through) = self.ledger_at_log_end().await? else {
            tracing::warn!(window = %confirmation.window().id(), "ledger behind the log; window left PENDING");
            return Ok(None);
        };
        let confirmed = confirmation.totals()?;
        let tolerance = self.settings.reconcile_tolerance;
        let window = confirmation.window();
        let comparison = match confirmation.confirmation_kind()? {
            ConfirmationKind::ShiftSummary => {
                let realtime = self.reads.realtime_totals(&window, &through).await?;
                compare(&confirmed, &realtime, tolerance)
            }
            ConfirmationKind::CycleCount | ConfirmationKind::InventorySnapshot => {
                let as_of = UtcMillis(confirmation.as_of.unwrap_or(confirmation.window_end));
                let ledger = self
                    .reads
                    .stock_at(&window.warehouse_id, as_of, &through)
                    .await?;
                compare_stock(&confirmed, &ledger, confirmation.count_scope()?, tolerance)
            }
        };
        let decision = WindowDecision::of(
            confirmation,
            &comparison,
            tolerance,
            positions(&through),
            self.clock.now(),
        );
        let event = if decision.reconciled() {
            Event::WindowReconciled(decision.clone())
        } else {
            Event::WindowDiscrepancy(decision.clone())
        };
        self.append_visible(event).await?;
        Ok(Some(decision))
    }
}
