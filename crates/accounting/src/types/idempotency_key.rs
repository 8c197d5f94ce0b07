//! The caller's `Idempotency-Key`: retries with the same key are answered, not re-charged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// 1 to 255 printable ASCII characters (space through `~`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    const MAX_LEN: usize = 255;

    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let invalid = |reason: &str| InvalidValue::new("idempotency key", reason);
        if text.is_empty() || text.len() > Self::MAX_LEN {
            return Err(invalid("must be 1 to 255 characters long"));
        }
        if !text.bytes().all(|byte| (b' '..=b'~').contains(&byte)) {
            return Err(invalid("may contain only printable ASCII characters"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = InvalidValue;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<IdempotencyKey> for String {
    fn from(key: IdempotencyKey) -> Self {
        key.0
    }
}

impl FromStr for IdempotencyKey {
    type Err = InvalidValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_printable_ascii_up_to_255_characters() {
        for key in [
            "a",
            "order-42/retry#1",
            "with space",
            "~!@#$%^&*()",
            &"k".repeat(255),
        ] {
            assert_eq!(IdempotencyKey::parse(key).unwrap().as_str(), key);
        }
    }

    #[test]
    fn refuses_empty_and_too_long_keys() {
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn refuses_control_and_non_ascii_characters() {
        for key in ["tab\there", "new\nline", "nul\0", "clé", "\u{7f}"] {
            assert!(
                IdempotencyKey::parse(key).is_err(),
                "{key:?} should be refused"
            );
        }
    }
}
