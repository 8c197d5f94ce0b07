//! Where an async task is in its life, as the gateway knows it.

use serde::{Deserialize, Serialize};

use crate::types::text_column;

/// SUBMITTED (recorded, not yet accepted by cloro) -> QUEUED -> PROCESSING -> COMPLETED | FAILED;
/// REFUSED (cloro refused it, or it was never sent) and GONE (deleted from the queue, or
/// vanished upstream before its charge was learned) end it too. Terminal states never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TaskState {
    Submitted,
    Queued,
    Processing,
    Completed,
    Failed,
    Refused,
    Gone,
}

text_column! {
    enum TaskState: "async task state",
    expecting "SUBMITTED, QUEUED, PROCESSING, COMPLETED, FAILED, REFUSED or GONE" {
        Submitted => "SUBMITTED",
        Queued => "QUEUED",
        Processing => "PROCESSING",
        Completed => "COMPLETED",
        Failed => "FAILED",
        Refused => "REFUSED",
        Gone => "GONE",
    }
}

impl TaskState {
    pub const ALL: [Self; 7] = [
        Self::Submitted,
        Self::Queued,
        Self::Processing,
        Self::Completed,
        Self::Failed,
        Self::Refused,
        Self::Gone,
    ];

    /// Settled: the task's ledger entry is final and the task never changes again.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Refused | Self::Gone
        )
    }

    /// Waiting to run: what the team's queue cap counts (SUBMITTED is on its way to QUEUED).
    pub fn is_queued(&self) -> bool {
        matches!(self, Self::Submitted | Self::Queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        for state in TaskState::ALL {
            assert_eq!(TaskState::parse(state.as_str()).unwrap(), state);
        }
        assert!(TaskState::parse("queued").is_err());
    }

    #[test]
    fn terminal_and_queued_states() {
        let terminal: Vec<_> = TaskState::ALL
            .into_iter()
            .filter(TaskState::is_terminal)
            .collect();
        assert_eq!(
            terminal,
            [
                TaskState::Completed,
                TaskState::Failed,
                TaskState::Refused,
                TaskState::Gone
            ]
        );
        assert!(TaskState::Submitted.is_queued() && TaskState::Queued.is_queued());
        assert!(!TaskState::Processing.is_queued());
    }
}
