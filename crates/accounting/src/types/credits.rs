//! An amount of cloro credits: the unit the account is billed in, never negative.

use serde::{Deserialize, Serialize};

use super::InvalidValue;
use super::column::scalar_column;

/// A non-negative number of credits (estimates, charges, totals).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct Credits(i64);

impl Credits {
    pub const ZERO: Self = Self(0);

    pub fn new(amount: i64) -> Result<Self, InvalidValue> {
        if amount < 0 {
            return Err(InvalidValue::new(
                "credits",
                format!("must not be negative, got {amount}"),
            ));
        }
        Ok(Self(amount))
    }

    /// Parses a decimal amount, e.g. the upstream's `X-Credits-Charged` header.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let amount = text
            .trim()
            .parse::<i64>()
            .map_err(|error| InvalidValue::new("credits", format!("{text:?}: {error}")))?;
        Self::new(amount)
    }

    pub fn get(&self) -> i64 {
        self.0
    }

    /// `None` on overflow, which no real balance reaches.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }
}

impl TryFrom<i64> for Credits {
    type Error = InvalidValue;

    fn try_from(amount: i64) -> Result<Self, Self::Error> {
        Self::new(amount)
    }
}

impl From<Credits> for i64 {
    fn from(credits: Credits) -> Self {
        credits.0
    }
}

scalar_column!(Credits => i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_zero_and_positive_amounts() {
        assert_eq!(Credits::new(0).unwrap(), Credits::ZERO);
        assert_eq!(Credits::new(7).unwrap().get(), 7);
        assert_eq!(Credits::try_from(i64::MAX).unwrap().get(), i64::MAX);
    }

    #[test]
    fn refuses_negative_amounts() {
        assert!(Credits::new(-1).is_err());
        assert!(Credits::try_from(i64::MIN).is_err());
    }

    #[test]
    fn parses_header_values() {
        assert_eq!(Credits::parse("12").unwrap().get(), 12);
        assert_eq!(Credits::parse(" 3 ").unwrap().get(), 3);
        assert!(Credits::parse("-3").is_err());
        assert!(Credits::parse("3.5").is_err());
        assert!(Credits::parse("").is_err());
    }

    #[test]
    fn adds_without_overflowing() {
        let seven = Credits::new(7).unwrap();
        assert_eq!(seven.checked_add(seven).unwrap().get(), 14);
        assert!(Credits::new(i64::MAX).unwrap().checked_add(seven).is_none());
    }

    #[test]
    fn deserializes_through_new() {
        assert_eq!(serde_json::from_str::<Credits>("5").unwrap().get(), 5);
        assert!(serde_json::from_str::<Credits>("-5").is_err());
    }
}
