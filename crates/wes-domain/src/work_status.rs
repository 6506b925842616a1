//! Work-status (contract §3): task lifecycle transitions. No ledger effect. The lifecycle rules are
//! pure: `evolve` decides what a status event does to a task's current state.

use crate::UtcMillis;
use crate::ids::*;
use crate::masterdata::MasterData;
use crate::movement::DocumentRef;
use crate::rejection::Rejection;
use crate::words::word_enum;
use serde::{Deserialize, Serialize};

word_enum!(
    TaskStatus {
        Assigned = "ASSIGNED",
        InProgress = "IN_PROGRESS",
        Paused = "PAUSED",
        Completed = "COMPLETED",
        Cancelled = "CANCELLED",
        Failed = "FAILED",
    }
);

impl TaskStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Cancelled | TaskStatus::Failed
        )
    }

    /// Whether `self -> next` is a legal lifecycle step.
    pub fn may_become(self, next: TaskStatus) -> bool {
        use TaskStatus::*;
        match self {
            Assigned => matches!(next, Assigned | InProgress | Cancelled | Failed),
            InProgress => matches!(next, Paused | Completed | Cancelled | Failed),
            Paused => matches!(next, InProgress | Cancelled | Failed),
            Completed | Cancelled | Failed => false,
        }
    }
}

/// A validated work-status record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkStatus {
    pub correlation_id: CorrelationId,
    pub warehouse_id: WarehouseId,
    pub task_id: String,
    pub document_ref: DocumentRef,
    pub status: TaskStatus,
    pub worker_id: Option<String>,
    pub robot_id: Option<String>,
    pub occurred_at: UtcMillis,
    pub reason: Option<String>,
}

/// The current state of a task, as the lifecycle projection keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskState {
    pub status: TaskStatus,
    pub occurred_at: UtcMillis,
}

word_enum!(
    /// What one status event does to a task.
    Transition {
        /// The task moves to the event's status.
        Applied = "APPLIED",
        /// Older (by `occurred_at`) than the current status: kept in history, status unchanged.
        Stale = "STALE",
        /// Not a legal step from the current status: kept in history and flagged, status unchanged.
        Illegal = "ILLEGAL",
        /// The task already ended: kept in history and flagged, status unchanged.
        AfterTerminal = "AFTER_TERMINAL",
    }
);

impl Transition {
    pub fn flagged(self) -> bool {
        matches!(self, Transition::Illegal | Transition::AfterTerminal)
    }
}

/// The lifecycle rule: terminal states stay terminal; an older event never moves the status back;
/// illegal steps are recorded, not applied. A task's first event may have any status.
pub fn evolve(
    current: Option<TaskState>,
    status: TaskStatus,
    occurred_at: UtcMillis,
) -> Transition {
    match current {
        None => Transition::Applied,
        Some(c) if c.status.is_terminal() => Transition::AfterTerminal,
        Some(c) if occurred_at < c.occurred_at => Transition::Stale,
        Some(c) if c.status.may_become(status) => Transition::Applied,
        Some(_) => Transition::Illegal,
    }
}

/// The rules a work-status report obeys: a known warehouse.
pub fn check_work_status(w: &WorkStatus, md: &MasterData) -> Result<(), Rejection> {
    let warehouse_id = &w.warehouse_id;
    if !md.warehouses.contains_key(warehouse_id) {
        return Err(Rejection::unprocessable(
            "/warehouse_id",
            format!("unknown warehouse {warehouse_id}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskStatus::*;

    fn at(status: TaskStatus, t: i64) -> Option<TaskState> {
        Some(TaskState {
            status,
            occurred_at: UtcMillis(t),
        })
    }

    #[test]
    fn given_a_task_in_progress_when_it_completes_then_the_step_applies() {
        assert_eq!(evolve(None, Assigned, UtcMillis(1)), Transition::Applied);
        assert_eq!(
            evolve(at(Assigned, 1), InProgress, UtcMillis(2)),
            Transition::Applied
        );
        assert_eq!(
            evolve(at(InProgress, 2), Paused, UtcMillis(3)),
            Transition::Applied
        );
        assert_eq!(
            evolve(at(Paused, 3), InProgress, UtcMillis(4)),
            Transition::Applied
        );
        assert_eq!(
            evolve(at(InProgress, 4), Completed, UtcMillis(5)),
            Transition::Applied
        );
    }

    #[test]
    fn terminal_states_stay_terminal_and_old_events_do_not_move_status_back() {
        for terminal in [Completed, Cancelled, Failed] {
            for &next in TaskStatus::ALL {
                assert_eq!(
                    evolve(at(terminal, 5), next, UtcMillis(9)),
                    Transition::AfterTerminal
                );
            }
        }
        assert_eq!(
            evolve(at(InProgress, 5), Assigned, UtcMillis(4)),
            Transition::Stale
        );
        assert_eq!(
            evolve(at(Assigned, 5), Completed, UtcMillis(6)),
            Transition::Illegal
        );
        assert_eq!(
            evolve(at(Paused, 5), Completed, UtcMillis(6)),
            Transition::Illegal
        );
    }

    proptest::proptest! {
        #[test]
        fn no_sequence_of_events_leaves_a_terminal_state(events in proptest::collection::vec((0usize..6, 0i64..100), 1..40)) {
            let mut state: Option<TaskState> = None;
            for (i, t) in events {
                let status = TaskStatus::ALL[i];
                let was_terminal = state.is_some_and(|s| s.status.is_terminal());
                if evolve(state, status, UtcMillis(t)) == Transition::Applied {
                    proptest::prop_assert!(!was_terminal);
                    proptest::prop_assert!(state.is_none_or(|s| UtcMillis(t) >= s.occurred_at));
                    state = Some(TaskState { status, occurred_at: UtcMillis(t) });
                }
            }
        }
    }
}
