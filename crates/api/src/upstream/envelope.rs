//! cloro's reply bodies and headers the gateway reads, parsed once, here: the error envelope
//! in each shape cloro's documents give (`{"success": false, "error": {code, message, ..}}`,
//! the same without `success`, and `{"error": "<message>"}`), the concurrency refusal in
//! both spellings, the charge and balance headers of a monitor answer, and the balance of
//! `GET /v1/credits`.

use accounting::Credits;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;

/// A refusal cloro answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    /// The error code; absent in the plain-string envelope.
    pub code: Option<String>,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorWire {
    Structured { error: ErrorObject },
    Plain { error: String },
}

#[derive(Deserialize)]
struct ErrorObject {
    code: String,
    #[serde(default)]
    message: String,
}

/// The codes cloro refuses a call over the plan's concurrency with (docs differ).
const CONCURRENCY_CODES: [&str; 2] = ["CONCURRENT_LIMIT_EXCEEDED", "CONCURRENCY_LIMIT_EXCEEDED"];

/// The remaining-slots header in both spellings.
const CONCURRENCY_REMAINING_HEADERS: [&str; 2] =
    ["x-concurrent-remaining", "x-concurrency-remaining"];

impl UpstreamError {
    /// The error in a reply body, whichever envelope shape it has.
    pub fn parse(body: &[u8]) -> Option<Self> {
        match serde_json::from_slice::<ErrorWire>(body).ok()? {
            ErrorWire::Structured { error } => Some(Self {
                code: Some(error.code),
                message: error.message,
            }),
            ErrorWire::Plain { error } => Some(Self {
                code: None,
                message: error,
            }),
        }
    }
}

/// Whether a reply is cloro refusing the call because the plan's slots are all busy: a 429
/// whose code says so, or (the plain-string envelope carries no code) whose concurrency
/// headers show no slot left.
pub fn is_concurrency_refusal(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> bool {
    if status != StatusCode::TOO_MANY_REQUESTS {
        return false;
    }
    match UpstreamError::parse(body).and_then(|error| error.code) {
        Some(code) => CONCURRENCY_CODES.contains(&code.as_str()),
        None => CONCURRENCY_REMAINING_HEADERS
            .iter()
            .any(|name| header_i64(headers, name) == Some(0)),
    }
}

/// What a successful monitor answer says it charged (`X-Credits-Charged`), if it says so
/// in a form the ledger can book.
pub fn credits_charged(headers: &HeaderMap) -> Option<Credits> {
    header_i64(headers, "x-credits-charged").and_then(|charged| Credits::new(charged).ok())
}

/// The account balance a monitor answer reports (`X-Credits-Remaining`).
pub fn credits_remaining(headers: &HeaderMap) -> Option<i64> {
    header_i64(headers, "x-credits-remaining")
}

fn header_i64(headers: &HeaderMap, name: &str) -> Option<i64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `GET /v1/credits`: `{remaining, perCycle, cycleResetsAt}`, bare (as documented) or inside
/// cloro's success envelope `{"success": true, "result": {..}}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AccountCredits {
    pub remaining: i64,
    pub per_cycle: Option<i64>,
    pub cycle_resets_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CreditsWire {
    Enveloped { result: AccountCredits },
    Bare(AccountCredits),
}

impl AccountCredits {
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        Ok(match serde_json::from_slice::<CreditsWire>(body)? {
            CreditsWire::Enveloped { result } => result,
            CreditsWire::Bare(credits) => credits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn every_envelope_shape_parses() {
        let with_success = br#"{"success":false,"error":{"code":"RATE_LIMIT_EXCEEDED","message":"slow down","timestamp":"t"}}"#;
        let without_success = br#"{"error":{"code":"RATE_LIMIT_EXCEEDED","message":"slow down"}}"#;
        for body in [&with_success[..], &without_success[..]] {
            let error = UpstreamError::parse(body).unwrap();
            assert_eq!(error.code.as_deref(), Some("RATE_LIMIT_EXCEEDED"));
            assert_eq!(error.message, "slow down");
        }
        let plain = UpstreamError::parse(br#"{"error":"Concurrent limit exceeded"}"#).unwrap();
        assert_eq!(plain.code, None);
        assert_eq!(plain.message, "Concurrent limit exceeded");
        assert_eq!(UpstreamError::parse(b"<html>bad gateway</html>"), None);
    }

    #[test]
    fn concurrency_refusals_in_both_spellings_and_the_plain_envelope() {
        let none = HeaderMap::new();
        let too_many = StatusCode::TOO_MANY_REQUESTS;
        for code in CONCURRENCY_CODES {
            let body = format!(r#"{{"error":{{"code":"{code}","message":"busy"}}}}"#);
            assert!(is_concurrency_refusal(too_many, &none, body.as_bytes()));
        }
        let rate = br#"{"error":{"code":"RATE_LIMIT_EXCEEDED","message":"CONCURRENT in text"}}"#;
        assert!(!is_concurrency_refusal(too_many, &none, rate));
        let plain = br#"{"error":"Concurrent limit exceeded"}"#;
        assert!(!is_concurrency_refusal(too_many, &none, plain));
        let mut full = HeaderMap::new();
        full.insert("x-concurrency-remaining", HeaderValue::from_static("0"));
        assert!(is_concurrency_refusal(too_many, &full, plain));
        assert!(!is_concurrency_refusal(StatusCode::OK, &full, plain));
    }

    #[test]
    fn charge_headers_are_typed() {
        let mut headers = HeaderMap::new();
        assert_eq!(credits_charged(&headers), None);
        headers.insert("x-credits-charged", HeaderValue::from_static(" 7 "));
        headers.insert("x-credits-remaining", HeaderValue::from_static("993"));
        assert_eq!(credits_charged(&headers), Credits::new(7).ok());
        assert_eq!(credits_remaining(&headers), Some(993));
        headers.insert("x-credits-charged", HeaderValue::from_static("-1"));
        assert_eq!(credits_charged(&headers), None);
    }

    #[test]
    fn the_balance_reads_bare_or_enveloped() {
        let bare = br#"{"remaining":120,"perCycle":1000,"cycleResetsAt":"2026-12-01T00:00:00Z"}"#;
        assert_eq!(AccountCredits::parse(bare).unwrap().remaining, 120);
        let enveloped = br#"{"success":true,"result":{"remaining":5}}"#;
        assert_eq!(AccountCredits::parse(enveloped).unwrap().remaining, 5);
        assert!(AccountCredits::parse(br#"{"data":{"remaining":5}}"#).is_err());
    }
}
