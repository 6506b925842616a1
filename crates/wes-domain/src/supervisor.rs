//! The supervisor queue: entries that need a person (an executor's exception today), each moving
//! OPEN → ACKNOWLEDGED → CLOSED with who and when. The rules here decide which steps are allowed.

use crate::words::word_enum;

word_enum!(
    /// Where an entry stands; ordered, and an entry only ever moves forward.
    EntryStatus {
        Open = "OPEN",
        Acknowledged = "ACKNOWLEDGED",
        Closed = "CLOSED",
    }

    /// What opened a supervisor-queue entry.
    QueueSource {
        Exception = "EXCEPTION",
        WindowDiscrepancy = "WINDOW_DISCREPANCY",
        LateMovement = "LATE_MOVEMENT",
        DispatchDeadLetter = "DISPATCH_DEAD_LETTER",
    }

    /// What a supervisor does to an entry.
    SupervisorAction {
        Acknowledge = "ACKNOWLEDGE",
        Close = "CLOSE",
    }
);

impl SupervisorAction {
    /// The status the action leads to.
    pub fn target(self) -> EntryStatus {
        match self {
            SupervisorAction::Acknowledge => EntryStatus::Acknowledged,
            SupervisorAction::Close => EntryStatus::Closed,
        }
    }
}

/// Why an action was refused (HTTP 409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepConflict {
    pub current: EntryStatus,
    pub action: SupervisorAction,
}

impl std::fmt::Display for StepConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the entry is {} and cannot be {}",
            self.current.as_str(),
            match self.action {
                SupervisorAction::Acknowledge => "acknowledged again",
                SupervisorAction::Close => "closed again",
            }
        )
    }
}

/// Acknowledging needs an OPEN entry; closing needs one not yet CLOSED (closing an OPEN entry
/// acknowledges it implicitly).
pub fn decide(current: EntryStatus, action: SupervisorAction) -> Result<EntryStatus, StepConflict> {
    if current < action.target() {
        Ok(action.target())
    } else {
        Err(StepConflict { current, action })
    }
}

/// The status after a recorded step, whatever order the projection reads steps in: the furthest
/// status wins, so replaying the log in any interleaving gives the same queue.
pub fn merge(current: EntryStatus, recorded: EntryStatus) -> EntryStatus {
    current.max(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use EntryStatus::*;
    use SupervisorAction::*;

    #[test]
    fn entries_move_forward_only() {
        assert_eq!(decide(Open, Acknowledge), Ok(Acknowledged));
        assert_eq!(decide(Open, Close), Ok(Closed));
        assert_eq!(decide(Acknowledged, Close), Ok(Closed));
        assert!(decide(Acknowledged, Acknowledge).is_err());
        assert!(decide(Closed, Acknowledge).is_err());
        assert!(decide(Closed, Close).is_err());
    }

    #[test]
    fn merging_steps_is_order_independent() {
        for a in EntryStatus::ALL {
            for b in EntryStatus::ALL {
                assert_eq!(merge(merge(Open, *a), *b), merge(merge(Open, *b), *a));
            }
        }
    }
}
