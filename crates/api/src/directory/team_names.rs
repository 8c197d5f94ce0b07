//! Team ids and their slugs, as the finance views name teams: taken from the directory on the
//! server (no read of every team per request), or loaded once by the command line.

use accounting::{TeamId, TeamSlug};
use std::collections::HashMap;

/// A snapshot of every known team's slug by id.
#[derive(Debug, Clone, Default)]
pub struct TeamNames(HashMap<TeamId, TeamSlug>);

impl TeamNames {
    pub fn new(teams: impl IntoIterator<Item = (TeamId, TeamSlug)>) -> Self {
        Self(teams.into_iter().collect())
    }

    /// Every team from Postgres (for the command line, which runs no directory).
    pub async fn load(db: &sqlx::PgPool) -> Result<Self, accounting::AccountingError> {
        let teams = accounting::teams::list(db).await?;
        Ok(Self::new(teams.into_iter().map(|t| (t.id, t.slug))))
    }

    /// The team's slug; empty for a team this snapshot does not know.
    pub fn slug(&self, id: TeamId) -> String {
        self.0
            .get(&id)
            .map(|slug| slug.as_str().to_owned())
            .unwrap_or_default()
    }

    pub fn id_of(&self, slug: &str) -> Option<TeamId> {
        self.0
            .iter()
            .find(|(_, s)| s.as_str() == slug)
            .map(|(id, _)| *id)
    }
}
