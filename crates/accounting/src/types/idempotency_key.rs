//! The caller's `Idempotency-Key`: retries with the same key are answered, not re-charged.

use serde::{Deserialize, Serialize};

use super::caller_id::{SAFE_ID_CHARACTERS, is_safe_caller_id};
use super::{InvalidValue, text_column};

/// 1 to 255 characters from `[A-Za-z0-9._:/-]` (see [`super::caller_id`]: the key comes
/// back in the ledger's CSV exports).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

text_column!(newtype IdempotencyKey, read back by parse_stored);

impl IdempotencyKey {
    const MAX_LEN: usize = 255;

    /// A new key, as a caller sends it.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        Self::check_length(text)?;
        if !is_safe_caller_id(text) {
            return Err(Self::invalid(format!(
                "may contain only {SAFE_ID_CHARACTERS}"
            )));
        }
        Ok(Self(text.to_owned()))
    }

    /// A key read back from the ledger. Entries recorded before keys were limited to the
    /// safe alphabet may hold any printable ASCII (space through `~`); they still read, and
    /// the CSV export defuses them.
    fn parse_stored(text: &str) -> Result<Self, InvalidValue> {
        Self::check_length(text)?;
        if !text.bytes().all(|byte| (b' '..=b'~').contains(&byte)) {
            return Err(Self::invalid("may contain only printable ASCII characters"));
        }
        Ok(Self(text.to_owned()))
    }

    fn check_length(text: &str) -> Result<(), InvalidValue> {
        if text.is_empty() || text.len() > Self::MAX_LEN {
            return Err(Self::invalid("must be 1 to 255 characters long"));
        }
        Ok(())
    }

    fn invalid(reason: impl Into<String>) -> InvalidValue {
        InvalidValue::new("idempotency key", reason)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_safe_alphabet_up_to_255_characters() {
        for key in [
            "a",
            "order-42/retry.1",
            "urn:uuid:0190e0c2-7b7a-7cc0-8000-000000000000",
            "snake_case_KEY_9",
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
    fn refuses_separators_formula_starters_and_other_characters() {
        for key in [
            "a;=cmd|x",
            "a,=1+1",
            "=HYPERLINK(1)",
            "+1",
            "@sum",
            "with space",
            "retry#1",
            "quote\"d",
            "tab\there",
            "new\nline",
            "nul\0",
            "clé",
            "\u{7f}",
        ] {
            let refused = IdempotencyKey::parse(key).unwrap_err();
            assert_eq!(
                refused.reason(),
                "may contain only letters, digits and . _ : / -",
                "{key:?}"
            );
        }
    }

    #[test]
    fn keys_stored_under_the_older_printable_ascii_rule_still_read_back() {
        for key in ["with space", "a;=cmd|x", "~!@#$%^&*()"] {
            assert_eq!(IdempotencyKey::parse_stored(key).unwrap().as_str(), key);
        }
        assert!(IdempotencyKey::parse_stored("new\nline").is_err());
        assert!(IdempotencyKey::parse_stored("").is_err());
    }
}
