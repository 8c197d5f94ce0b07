//! A team's short, URL-safe name, used by admins to address it.

use serde::{Deserialize, Serialize};

use super::{InvalidValue, text_column};

/// Lower-case letters, digits and hyphens, 2 to 63 characters, not starting with a hyphen
/// (the same rule as the `teams.slug` check constraint: `^[a-z0-9][a-z0-9-]{1,62}$`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TeamSlug(String);

impl TeamSlug {
    const MIN_LEN: usize = 2;
    const MAX_LEN: usize = 63;

    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let invalid = |reason: &str| InvalidValue::new("team slug", reason);
        if text.len() < Self::MIN_LEN || text.len() > Self::MAX_LEN {
            return Err(invalid("must be 2 to 63 characters long"));
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if !text.chars().all(allowed) {
            return Err(invalid("may contain only a-z, 0-9 and '-'"));
        }
        if text.starts_with('-') {
            return Err(invalid("must start with a letter or a digit"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_column!(newtype TeamSlug);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lower_case_letters_digits_and_hyphens() {
        for slug in ["ab", "search-team", "team-42", "0a", &"a".repeat(63)] {
            assert_eq!(TeamSlug::parse(slug).unwrap().as_str(), slug);
        }
    }

    #[test]
    fn refuses_bad_lengths() {
        assert!(TeamSlug::parse("").is_err());
        assert!(TeamSlug::parse("a").is_err());
        assert!(TeamSlug::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn refuses_other_characters_and_a_leading_hyphen() {
        for slug in ["Search", "team_a", "team a", "-team", "équipe", "team.a"] {
            assert!(TeamSlug::parse(slug).is_err(), "{slug} should be refused");
        }
    }

    #[test]
    fn deserializes_through_parse() {
        let slug: TeamSlug = serde_json::from_str("\"team-a\"").unwrap();
        assert_eq!(slug.as_str(), "team-a");
        assert!(serde_json::from_str::<TeamSlug>("\"Team A\"").is_err());
    }
}
