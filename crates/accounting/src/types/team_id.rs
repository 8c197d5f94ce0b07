//! The identifier of a team (tenant); every team-scoped query takes one first.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::InvalidValue;
use super::column::scalar_column;

/// A team's id. Any UUID is a valid team id; new ones are UUIDv7 so they sort by creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TeamId(Uuid);

impl TeamId {
    /// Mints a fresh, time-ordered team id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// Parses the hyphenated or simple textual form of a UUID.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        Uuid::parse_str(text)
            .map(Self)
            .map_err(|error| InvalidValue::new("team id", error.to_string()))
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for TeamId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl From<TeamId> for Uuid {
    fn from(id: TeamId) -> Self {
        id.0
    }
}

scalar_column!(TeamId => Uuid);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_uuid_and_prints_it_back() {
        let text = "0190a5d2-7c1e-7b3a-9f00-123456789abc";
        let id = TeamId::parse(text).unwrap();
        assert_eq!(id.to_string(), text);
    }

    #[test]
    fn refuses_text_that_is_not_a_uuid() {
        let error = TeamId::parse("team-a").unwrap_err();
        assert_eq!(error.type_name(), "team id");
    }

    #[test]
    fn generated_ids_are_version_7() {
        assert_eq!(TeamId::generate().as_uuid().get_version_num(), 7);
    }
}
