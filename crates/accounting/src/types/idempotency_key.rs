//! The caller's `Idempotency-Key`: retries with the same key are answered, not re-charged.

use serde::{Deserialize, Serialize};

use super::{InvalidValue, text_column};

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

text_column!(newtype IdempotencyKey);

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
