//! A string that never prints: the company key and signing secrets live in this type so
//! that neither `Debug` nor `Display` can leak them into a log line or a response.

use serde::Deserialize;
use std::fmt;

/// A secret string. Read it on purpose with [`Secret::expose`]; every formatter prints `***`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn never_formats_its_value() {
        let secret = Secret::new("sk_live_0123456789abcdef0123456789abcdef");
        assert_eq!(format!("{secret}"), "***");
        assert!(!format!("{secret:?}").contains("sk_live"));
        assert_eq!(secret.expose(), "sk_live_0123456789abcdef0123456789abcdef");
    }
}
