//! Whether a team may currently use the gateway.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// `active` teams may call the gateway; `suspended` ones are refused until resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeamStatus {
    Active,
    Suspended,
}

impl TeamStatus {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        match text {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            other => Err(InvalidValue::new(
                "team status",
                format!("expected 'active' or 'suspended', got {other:?}"),
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }
}

impl FromStr for TeamStatus {
    type Err = InvalidValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for TeamStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
