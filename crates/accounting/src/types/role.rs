//! What a token's holder may do: call the API for a team, administer, or read the ledger.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// The role carried by a JWT; spelled in lower case on the wire and in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Team,
    Admin,
    Finance,
}

impl Role {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        match text {
            "team" => Ok(Self::Team),
            "admin" => Ok(Self::Admin),
            "finance" => Ok(Self::Finance),
            other => Err(InvalidValue::new(
                "role",
                format!("expected 'team', 'admin' or 'finance', got {other:?}"),
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Team => "team",
            Self::Admin => "admin",
            Self::Finance => "finance",
        }
    }

    /// Only team tokens belong to a team; admin and finance tokens are company-wide.
    pub fn is_team_scoped(&self) -> bool {
        matches!(self, Self::Team)
    }
}

impl FromStr for Role {
    type Err = InvalidValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        for role in [Role::Team, Role::Admin, Role::Finance] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
    }

    #[test]
    fn refuses_unknown_roles() {
        for text in ["", "root", "Admin", "team "] {
            assert!(Role::parse(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn only_team_tokens_are_team_scoped() {
        assert!(Role::Team.is_team_scoped());
        assert!(!Role::Admin.is_team_scoped());
        assert!(!Role::Finance.is_team_scoped());
    }
}
