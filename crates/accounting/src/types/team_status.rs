//! Whether a team may currently use the gateway.

use serde::{Deserialize, Serialize};

use super::text_column;

/// `active` teams may call the gateway; `suspended` ones are refused until resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeamStatus {
    Active,
    Suspended,
}

text_column! {
    enum TeamStatus: "team status", expecting "'active' or 'suspended'" {
        Active => "active",
        Suspended => "suspended",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        for status in [TeamStatus::Active, TeamStatus::Suspended] {
            assert_eq!(TeamStatus::parse(status.as_str()).unwrap(), status);
        }
    }

    #[test]
    fn refuses_unknown_and_differently_cased_text() {
        assert!(TeamStatus::parse("Active").is_err());
        assert!(TeamStatus::parse("deleted").is_err());
    }
}
