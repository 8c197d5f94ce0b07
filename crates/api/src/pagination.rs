//! Keyset pagination for the admin and finance lists: a page size checked against a ceiling
//! and an opaque cursor (URL-safe base64 of the last row's sort key), so pages stay stable
//! while rows are being added and a client cannot forge offsets into other rows.

use crate::error::{ApiError, FieldError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Rows per page when the client names no `limit`.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: u32 = 1000;

/// The page size to use: `DEFAULT_LIMIT` when absent, a 400 outside `1..=MAX_LIMIT`.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::validation(vec![FieldError {
            field: "limit".into(),
            message: format!("must be from 1 to {MAX_LIMIT}"),
        }])),
    }
}

/// Encodes a sort key as a cursor.
pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    // Serializing plain keys (numbers, strings, timestamps) cannot fail.
    let json = serde_json::to_vec(key).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Cuts `rows` (fetched with `limit + 1`, see [`fetch_size`]) to `limit` and returns the
/// cursor for the next page: the key of the last row kept, or `None` on the last page.
pub fn trim_page<T, K: Serialize>(
    rows: &mut Vec<T>,
    limit: u32,
    key_of: impl Fn(&T) -> K,
) -> Option<String> {
    let limit = limit as usize;
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(|last| encode_cursor(&key_of(last)))
}

/// Rows to fetch for a page of `limit`: one more says whether another page follows.
pub fn fetch_size(limit: u32) -> u32 {
    limit + 1
}

/// Decodes a cursor made by [`encode_cursor`]; anything else is a 400 naming `cursor`.
pub fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Result<K, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            ApiError::validation(vec![FieldError {
                field: "cursor".into(),
                message: "is not a cursor this gateway issued".into(),
            }])
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        let key = ("2026-11-28T20:00:00Z".to_owned(), 42_i64);
        let cursor = encode_cursor(&key);
        assert_eq!(decode_cursor::<(String, i64)>(&cursor).unwrap(), key);
        let err = decode_cursor::<(String, i64)>("not-a-cursor!").unwrap_err();
        assert_eq!(err.code(), ErrorCode::ValidationError);
        let wrong_shape = encode_cursor(&"just a string");
        assert!(decode_cursor::<(String, i64)>(&wrong_shape).is_err());
    }

    #[test]
    fn pages_are_trimmed_and_only_a_full_page_has_a_cursor() {
        let mut rows = vec![1, 2, 3, 4];
        let cursor = trim_page(&mut rows, 3, |r| *r).unwrap();
        assert_eq!(rows, [1, 2, 3]);
        assert_eq!(decode_cursor::<i32>(&cursor).unwrap(), 3);
        let mut last = vec![1, 2, 3];
        assert_eq!(trim_page(&mut last, 3, |r| *r), None);
        assert_eq!(last, [1, 2, 3]);
    }

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(page_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(page_limit(Some(1)).unwrap(), 1);
        assert_eq!(page_limit(Some(MAX_LIMIT)).unwrap(), MAX_LIMIT);
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(MAX_LIMIT + 1)).is_err());
    }
}
