//! The one public table of error codes and the API error that writes cloro's envelope.
//! Every failure the gateway answers with goes through [`ApiError`], so teams always get
//! `{"success": false, "error": {"code", "message", "details"?, "timestamp"}}` as from cloro.

use accounting::AccountingError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use limiter::LimiterError;
use serde::Serialize;
use std::fmt;

macro_rules! error_codes {
    ($($variant:ident => ($status:expr, $wire:literal)),+ $(,)?) => {
        /// Every code the gateway can answer with, its HTTP status and wire name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => $status),+ }
            }

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $wire),+ }
            }
        }
    };
}

error_codes! {
    ValidationError => (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
    MissingApiKey => (StatusCode::UNAUTHORIZED, "MISSING_API_KEY"),
    InvalidApiKeyFormat => (StatusCode::UNAUTHORIZED, "INVALID_API_KEY_FORMAT"),
    InvalidOrExpiredApiKey => (StatusCode::UNAUTHORIZED, "INVALID_OR_EXPIRED_API_KEY"),
    TokenAlgorithmNotAllowed => (StatusCode::UNAUTHORIZED, "TOKEN_ALGORITHM_NOT_ALLOWED"),
    TokenSignatureInvalid => (StatusCode::UNAUTHORIZED, "TOKEN_SIGNATURE_INVALID"),
    TokenExpired => (StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED"),
    TokenNotYetValid => (StatusCode::UNAUTHORIZED, "TOKEN_NOT_YET_VALID"),
    TokenIssuerInvalid => (StatusCode::UNAUTHORIZED, "TOKEN_ISSUER_INVALID"),
    TokenAudienceInvalid => (StatusCode::UNAUTHORIZED, "TOKEN_AUDIENCE_INVALID"),
    TokenRevoked => (StatusCode::UNAUTHORIZED, "TOKEN_REVOKED"),
    TokenClaimsInvalid => (StatusCode::UNAUTHORIZED, "TOKEN_CLAIMS_INVALID"),
    TokenNotPermitted => (StatusCode::UNAUTHORIZED, "TOKEN_NOT_PERMITTED"),
    UnknownTeam => (StatusCode::UNAUTHORIZED, "UNKNOWN_TEAM"),
    TeamSuspended => (StatusCode::FORBIDDEN, "TEAM_SUSPENDED"),
    Forbidden => (StatusCode::FORBIDDEN, "FORBIDDEN"),
    InsufficientCredits => (StatusCode::FORBIDDEN, "INSUFFICIENT_CREDITS"),
    ResourceNotFound => (StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND"),
    RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT"),
    ResourceAlreadyExists => (StatusCode::CONFLICT, "RESOURCE_ALREADY_EXISTS"),
    TokenAlreadyRevoked => (StatusCode::CONFLICT, "TOKEN_ALREADY_REVOKED"),
    IdempotencyKeyInUse => (StatusCode::CONFLICT, "IDEMPOTENCY_KEY_IN_USE"),
    IdempotencyKeyReused => (StatusCode::CONFLICT, "IDEMPOTENCY_KEY_REUSED"),
    IdempotencyReplyTooLarge => (StatusCode::CONFLICT, "IDEMPOTENCY_REPLY_TOO_LARGE"),
    PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
    RateLimitExceeded => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT_EXCEEDED"),
    QueueLimitExceeded => (StatusCode::TOO_MANY_REQUESTS, "QUEUE_LIMIT_EXCEEDED"),
    ConcurrentLimitExceeded => (StatusCode::TOO_MANY_REQUESTS, "CONCURRENT_LIMIT_EXCEEDED"),
    InternalServerError => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR"),
    UpstreamUnreachable => (StatusCode::BAD_GATEWAY, "UPSTREAM_UNREACHABLE"),
    ServiceUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
    LedgerUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "LEDGER_UNAVAILABLE"),
    LimiterUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "LIMITER_UNAVAILABLE"),
    UpstreamTimeout => (StatusCode::GATEWAY_TIMEOUT, "UPSTREAM_TIMEOUT"),
}

/// One `{field, message}` item of a VALIDATION_ERROR's details.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// An error answered to a caller in cloro's envelope.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    details: Option<serde_json::Value>,
    retry_after_secs: Option<u64>,
    /// Extra response headers (e.g. the team's limit headers on a 429).
    headers: Vec<(&'static str, String)>,
    /// The cause, logged once at the edge and never sent on 5xx.
    cause: Option<anyhow::Error>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            retry_after_secs: None,
            headers: Vec::new(),
            cause: None,
        }
    }

    pub fn validation(fields: Vec<FieldError>) -> Self {
        let message = match fields.first() {
            Some(first) => format!("Validation failed: {}: {}", first.field, first.message),
            None => "Validation failed".to_owned(),
        };
        Self::new(ErrorCode::ValidationError, message).with_details(serde_json::json!(fields))
    }

    /// A 500 whose cause is logged but never shown.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::new(ErrorCode::InternalServerError, "Internal server error").with_cause(cause)
    }

    /// 503 `LEDGER_UNAVAILABLE` with Retry-After: Postgres could not read or record in time.
    pub fn ledger_unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::LedgerUnavailable, message)
            .with_retry_after(UNAVAILABLE_RETRY_AFTER_SECS)
    }

    /// 503 `LIMITER_UNAVAILABLE` with Retry-After: Redis could not decide in time.
    pub fn limiter_unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::LimiterUnavailable, message)
            .with_retry_after(UNAVAILABLE_RETRY_AFTER_SECS)
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn with_headers(mut self, headers: Vec<(&'static str, String)>) -> Self {
        self.headers.extend(headers);
        self
    }

    pub fn with_cause(mut self, cause: impl Into<anyhow::Error>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn details(&self) -> Option<&serde_json::Value> {
        self.details.as_ref()
    }

    /// A validation error about a part of a larger body, renamed into it: `body` becomes
    /// `outer`, any other field `outer.field`. Other errors are returned as they are.
    pub fn within(self, outer: &str) -> Self {
        if self.code != ErrorCode::ValidationError {
            return self;
        }
        let Some(fields) = self
            .details
            .clone()
            .and_then(|d| serde_json::from_value::<Vec<FieldError>>(d).ok())
        else {
            return self;
        };
        ApiError::validation(
            fields
                .into_iter()
                .map(|f| FieldError {
                    field: if f.field == "body" {
                        outer.to_owned()
                    } else {
                        format!("{outer}.{}", f.field)
                    },
                    message: f.message,
                })
                .collect(),
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    success: bool,
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a serde_json::Value>,
    timestamp: String,
}

impl ApiError {
    fn envelope(&self) -> Envelope<'_> {
        Envelope {
            success: false,
            error: Body {
                code: self.code.as_str(),
                message: &self.message,
                details: self.details.as_ref(),
                timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            },
        }
    }

    /// The answer as stored for Idempotency-Key replays: status, headers and envelope.
    pub fn stored(&self) -> accounting::idempotency::StoredResponse {
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        if let Some(secs) = self.retry_after_secs {
            headers.push(("retry-after".to_owned(), secs.to_string()));
        }
        accounting::idempotency::StoredResponse {
            status: self.code.status().as_u16(),
            headers,
            body: serde_json::to_vec(&self.envelope()).unwrap_or_default(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.code.status();
        if let Some(cause) = &self.cause {
            tracing::error!(code = self.code.as_str(), error = %format!("{cause:#}"), "request failed");
        } else if status.is_server_error() {
            tracing::warn!(code = self.code.as_str(), message = %self.message, "request failed");
        }
        let envelope = self.envelope();
        let mut response = HttpResponse::build(status);
        for (name, value) in &self.headers {
            response.insert_header((*name, value.as_str()));
        }
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(envelope)
    }
}

/// How long a caller is told to wait after a store (Postgres, Redis) was unreachable.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

/// Postgres errors, mapped once: unreachable is 503 `LEDGER_UNAVAILABLE` with Retry-After;
/// a refused input or a missing row keeps its meaning; anything else is a 500.
impl From<AccountingError> for ApiError {
    fn from(error: AccountingError) -> Self {
        if error.is_unavailable() {
            return ApiError::ledger_unavailable(
                "The ledger is unavailable right now; retry shortly",
            )
            .with_cause(error);
        }
        match error {
            AccountingError::DuplicateSlug => ApiError::new(
                ErrorCode::ResourceAlreadyExists,
                "A team with this slug already exists",
            ),
            AccountingError::NotFound => ApiError::new(ErrorCode::ResourceNotFound, "Not found"),
            AccountingError::Invalid(message) => ApiError::validation(vec![FieldError {
                field: "body".to_owned(),
                message,
            }]),
            other => ApiError::internal(other),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        AccountingError::Database(error).into()
    }
}

/// Redis errors, mapped once: unreachable is 503 `LIMITER_UNAVAILABLE` with Retry-After
/// (where the fail-open policy applies, admission decides before this mapping is reached).
impl From<LimiterError> for ApiError {
    fn from(error: LimiterError) -> Self {
        if error.is_unavailable() {
            return ApiError::limiter_unavailable(
                "Limits cannot be checked right now; retry shortly",
            )
            .with_cause(error);
        }
        ApiError::internal(error)
    }
}

/// cloro's error envelope, used for every error the gateway or cloro answers.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorEnvelope {
    success: bool,
    error: ErrorBody,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// e.g. VALIDATION_ERROR, TOKEN_EXPIRED, INSUFFICIENT_CREDITS.
    code: String,
    message: String,
    details: Option<serde_json::Value>,
    timestamp: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn wire_names_are_unique_and_upper_snake() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_')
            );
        }
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = ApiError::internal(anyhow::anyhow!("password=hunter2"));
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!format!("{err}").contains("hunter2"));
    }

    #[test]
    fn an_unreachable_ledger_is_a_503_with_retry_after() {
        let err = ApiError::from(AccountingError::Database(sqlx::Error::PoolTimedOut));
        assert_eq!(err.code(), ErrorCode::LedgerUnavailable);
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        let err = ApiError::from(AccountingError::Database(sqlx::Error::RowNotFound));
        assert_eq!(err.code(), ErrorCode::InternalServerError);
        assert_eq!(
            ApiError::from(AccountingError::NotFound).code(),
            ErrorCode::ResourceNotFound
        );
    }

    #[test]
    fn an_unreachable_limiter_is_a_503_with_retry_after() {
        let err = ApiError::from(LimiterError::Unavailable("down".into()));
        assert_eq!(err.code(), ErrorCode::LimiterUnavailable);
        assert!(
            err.error_response()
                .headers()
                .contains_key(header::RETRY_AFTER)
        );
        let err = ApiError::from(LimiterError::Script("bad reply".into()));
        assert_eq!(err.code(), ErrorCode::InternalServerError);
    }

    #[test]
    fn retry_after_is_sent() {
        let err = ApiError::new(ErrorCode::ServiceUnavailable, "busy").with_retry_after(3);
        let response = err.error_response();
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "3");
    }
}
