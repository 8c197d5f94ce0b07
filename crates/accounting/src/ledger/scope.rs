//! Whose rows a finance query may see, decided once by the caller's token and bound in SQL.

use crate::TeamId;

/// Whose rows a query may see: a team token's queries are bound to its team in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every team (admin and finance tokens).
    All,
    /// Only this team's rows (a team token).
    Team(TeamId),
}

impl Scope {
    /// The team the scope is bound to, if any.
    pub fn team(&self) -> Option<TeamId> {
        match self {
            Self::All => None,
            Self::Team(team) => Some(*team),
        }
    }
}
