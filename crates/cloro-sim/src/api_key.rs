//! The account's API key: parsed once, compared without leaking timing, and never printed whole.

use std::fmt;

/// Why a presented key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRejection {
    #[error("no bearer API key was sent")]
    Missing,
    #[error("the API key is not `sk_live_` followed by 32 hex characters")]
    BadFormat,
    #[error("the API key is not valid or has expired")]
    Unknown,
}

/// A well-formed cloro API key: `sk_live_` followed by 32 hex characters.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    const PREFIX: &'static str = "sk_live_";

    /// Accepts only the documented shape.
    pub fn parse(text: &str) -> Result<Self, KeyRejection> {
        let hex = text
            .strip_prefix(Self::PREFIX)
            .ok_or(KeyRejection::BadFormat)?;
        if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(KeyRejection::BadFormat)
        }
    }

    /// Checks an `Authorization` header value against this key.
    pub fn check_header(&self, header: Option<&str>) -> Result<(), KeyRejection> {
        let header = header
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(KeyRejection::Missing)?;
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(KeyRejection::Missing),
        };
        if token.is_empty() {
            return Err(KeyRejection::Missing);
        }
        let presented = Self::parse(token)?;
        if constant_time_eq(presented.0.as_bytes(), self.0.as_bytes()) {
            Ok(())
        } else {
            Err(KeyRejection::Unknown)
        }
    }

    /// The key itself, for callers that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `****` and the last four characters: enough to tell keys apart in logs.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks any secret-ish string down to its last four characters.
pub fn mask(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("****{tail}")
}

/// The bearer token of an `Authorization` header, if any, masked for records.
pub fn masked_bearer(header: Option<&str>) -> Option<String> {
    let header = header?.trim();
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| mask(token))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk_live_0123456789abcdef0123456789ABCDEF";

    #[test]
    fn parse_accepts_only_the_documented_shape() {
        assert!(ApiKey::parse(KEY).is_ok());
        for bad in [
            "sk_test_0123456789abcdef0123456789abcdef",
            "sk_live_0123456789abcdef0123456789abcde",
            "sk_live_0123456789abcdef0123456789abcdeg",
            "0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(ApiKey::parse(bad), Err(KeyRejection::BadFormat), "{bad}");
        }
    }

    #[test]
    fn header_check_distinguishes_missing_malformed_and_wrong() {
        let key = ApiKey::parse(KEY).unwrap();
        assert_eq!(key.check_header(None), Err(KeyRejection::Missing));
        assert_eq!(
            key.check_header(Some("Basic abc")),
            Err(KeyRejection::Missing)
        );
        assert_eq!(
            key.check_header(Some("Bearer nope")),
            Err(KeyRejection::BadFormat)
        );
        assert_eq!(
            key.check_header(Some("Bearer sk_live_ffffffffffffffffffffffffffffffff")),
            Err(KeyRejection::Unknown)
        );
        assert_eq!(key.check_header(Some(&format!("Bearer {KEY}"))), Ok(()));
    }

    #[test]
    fn debug_and_mask_hide_all_but_four_characters() {
        let key = ApiKey::parse(KEY).unwrap();
        assert_eq!(format!("{key:?}"), "ApiKey(****CDEF)");
        assert_eq!(
            masked_bearer(Some(&format!("Bearer {KEY}"))).as_deref(),
            Some("****CDEF")
        );
        assert_eq!(masked_bearer(None), None);
    }
}
