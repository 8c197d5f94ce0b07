//! The alphabet of ids a caller chooses (`X-Request-ID`, `Idempotency-Key`). They are stored
//! in the ledger and come back in its CSV exports, so they may not hold anything a
//! spreadsheet reads as a separator, a quote or the start of a formula (`;`, `,`, `=`, `+`,
//! `@`, spaces, ...).

/// The characters a caller-chosen id may use, as the error message names them.
pub const SAFE_ID_CHARACTERS: &str = "letters, digits and . _ : / -";

/// True when every byte of `text` is in `[A-Za-z0-9._:/-]` (true for the empty text too:
/// lengths are each id's own rule).
pub fn is_safe_caller_id(text: &str) -> bool {
    text.bytes().all(|byte| {
        byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'/' | b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::is_safe_caller_id;

    #[test]
    fn only_letters_digits_and_five_punctuation_marks_are_safe() {
        assert!(is_safe_caller_id("AZaz09._:/-"));
        assert!(is_safe_caller_id("0190e0c2-7b7a-7cc0-8000-000000000000"));
        for unsafe_id in [
            "a;=cmd|x", "a,b", "=1", "+1", "@a", "a b", "a\tb", "a\"b", "a'b", "a|b", "a#b", "é",
        ] {
            assert!(!is_safe_caller_id(unsafe_id), "{unsafe_id:?}");
        }
    }
}
