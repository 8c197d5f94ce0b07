//! The state of a ledger entry: PENDING until settled exactly once into a final state.

use serde::{Deserialize, Serialize};

use super::text_column;

/// PENDING -> POSTED | VOIDED | EXPIRED. Final states never change again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EntryStatus {
    /// Recorded before the upstream call; not settled yet.
    Pending,
    /// Settled with the upstream's charge.
    Posted,
    /// The upstream refused the call; nothing was charged.
    Voided,
    /// Outlived its deadline; the sweeper charged the estimate and flagged it.
    Expired,
}

text_column! {
    enum EntryStatus: "ledger entry status", expecting "PENDING, POSTED, VOIDED or EXPIRED" {
        Pending => "PENDING",
        Posted => "POSTED",
        Voided => "VOIDED",
        Expired => "EXPIRED",
    }
}

impl EntryStatus {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Posted, Self::Voided, Self::Expired];

    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        for status in EntryStatus::ALL {
            assert_eq!(EntryStatus::parse(status.as_str()).unwrap(), status);
        }
    }

    #[test]
    fn only_pending_is_not_final() {
        assert!(!EntryStatus::Pending.is_final());
        assert!(EntryStatus::Posted.is_final());
        assert!(EntryStatus::Voided.is_final());
        assert!(EntryStatus::Expired.is_final());
    }

    #[test]
    fn refuses_unknown_text() {
        assert!(EntryStatus::parse("posted").is_err());
        assert!(EntryStatus::parse("SETTLED").is_err());
    }
}
