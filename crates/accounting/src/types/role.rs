//! What a token's holder may do: call the API for a team, administer, or read the ledger.

use serde::{Deserialize, Serialize};

use super::text_column;

/// The role carried by a JWT; spelled in lower case on the wire and in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Team,
    Admin,
    Finance,
}

text_column! {
    enum Role: "role", expecting "'team', 'admin' or 'finance'" {
        Team => "team",
        Admin => "admin",
        Finance => "finance",
    }
}

impl Role {
    /// Only team tokens belong to a team; admin and finance tokens are company-wide.
    pub fn is_team_scoped(&self) -> bool {
        matches!(self, Self::Team)
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
