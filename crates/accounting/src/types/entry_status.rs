//! The state of a ledger entry: PENDING until settled exactly once into a final state.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::InvalidValue;

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

impl EntryStatus {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Posted, Self::Voided, Self::Expired];

    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        match text {
            "PENDING" => Ok(Self::Pending),
            "POSTED" => Ok(Self::Posted),
            "VOIDED" => Ok(Self::Voided),
            "EXPIRED" => Ok(Self::Expired),
            other => Err(InvalidValue::new(
                "ledger entry status",
                format!("expected PENDING, POSTED, VOIDED or EXPIRED, got {other:?}"),
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Posted => "POSTED",
            Self::Voided => "VOIDED",
            Self::Expired => "EXPIRED",
        }
    }

    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Pending)
    }
}

impl FromStr for EntryStatus {
    type Err = InvalidValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for EntryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
