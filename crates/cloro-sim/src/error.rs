//! cloro's public error codes, the HTTP status and wire name of each, and the envelope they travel in.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::profile::{ConcurrencySpelling, ConflictCode, EnvelopeStyle, Profile};

/// Every error code the simulator can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    ValidationError,
    MissingApiKey,
    InvalidApiKeyFormat,
    InvalidOrExpiredApiKey,
    InsufficientCredits,
    ResourceNotFound,
    ResourceAlreadyExists,
    ConcurrentLimitExceeded,
    RateLimitExceeded,
    QueueLimitExceeded,
    InternalServerError,
    ExternalServiceError,
    ServiceUnavailable,
}

/// Where an error is sent from: some statuses differ between sync and async routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteFamily {
    Async,
    Other,
}

impl RouteFamily {
    pub fn of_path(path: &str) -> Self {
        if path.starts_with("/v1/async/") {
            Self::Async
        } else {
            Self::Other
        }
    }
}

impl ErrorCode {
    pub fn status(self, profile: &Profile, family: RouteFamily) -> StatusCode {
        match self {
            Self::ValidationError => match family {
                RouteFamily::Async => StatusCode::from_u16(profile.async_validation_status)
                    .unwrap_or(StatusCode::BAD_REQUEST),
                RouteFamily::Other => StatusCode::BAD_REQUEST,
            },
            Self::MissingApiKey | Self::InvalidApiKeyFormat | Self::InvalidOrExpiredApiKey => {
                StatusCode::UNAUTHORIZED
            }
            Self::InsufficientCredits => StatusCode::FORBIDDEN,
            Self::ResourceNotFound => StatusCode::NOT_FOUND,
            Self::ResourceAlreadyExists => StatusCode::CONFLICT,
            Self::ConcurrentLimitExceeded | Self::RateLimitExceeded | Self::QueueLimitExceeded => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ExternalServiceError => StatusCode::BAD_GATEWAY,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn wire_name(self, profile: &Profile) -> &'static str {
        match self {
            Self::ValidationError => "VALIDATION_ERROR",
            Self::MissingApiKey => "MISSING_API_KEY",
            Self::InvalidApiKeyFormat => "INVALID_API_KEY_FORMAT",
            Self::InvalidOrExpiredApiKey => "INVALID_OR_EXPIRED_API_KEY",
            Self::InsufficientCredits => "INSUFFICIENT_CREDITS",
            Self::ResourceNotFound => "RESOURCE_NOT_FOUND",
            Self::ResourceAlreadyExists => match profile.conflict_code {
                ConflictCode::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
                ConflictCode::ResourceConflict => "RESOURCE_CONFLICT",
            },
            Self::ConcurrentLimitExceeded => match profile.concurrency_spelling {
                ConcurrencySpelling::Concurrent => "CONCURRENT_LIMIT_EXCEEDED",
                ConcurrencySpelling::Concurrency => "CONCURRENCY_LIMIT_EXCEEDED",
            },
            Self::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            Self::QueueLimitExceeded => "QUEUE_LIMIT_EXCEEDED",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
            Self::ExternalServiceError => "EXTERNAL_SERVICE_ERROR",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
        }
    }
}

/// One invalid field of a request body or query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An error reply: code, message, optional details and headers.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
    pub retry_after_secs: Option<u64>,
    /// Extra headers (concurrency, latency) that belong on this reply.
    pub headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            retry_after_secs: None,
            headers: Vec::new(),
        }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self::new(ErrorCode::ValidationError, "Request validation failed")
            .with_details(json!(errors))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceNotFound, message)
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_secs = Some(seconds);
        self
    }

    pub fn with_headers(mut self, headers: impl IntoIterator<Item = (HeaderName, String)>) -> Self {
        self.headers.extend(headers);
        self
    }

    /// The `error` object (as used inside batch results and failed tasks).
    pub fn error_object(&self, profile: &Profile) -> Value {
        let mut error = json!({
            "code": self.code.wire_name(profile),
            "message": self.message,
        });
        if let (Some(details), Some(map)) = (&self.details, error.as_object_mut()) {
            map.insert("details".into(), details.clone());
        }
        error
    }

    /// The full envelope in the profile's style.
    pub fn envelope(&self, profile: &Profile) -> Value {
        let timestamp = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        match profile.envelope {
            EnvelopeStyle::PlainString => json!({ "error": self.message }),
            style => {
                let mut error = self.error_object(profile);
                if let Some(map) = error.as_object_mut() {
                    map.insert("timestamp".into(), Value::String(timestamp));
                }
                if style == EnvelopeStyle::WithSuccess {
                    json!({ "success": false, "error": error })
                } else {
                    json!({ "error": error })
                }
            }
        }
    }

    /// Renders the reply for the active profile.
    pub fn render(&self, profile: &Profile, family: RouteFamily) -> HttpResponse {
        let mut response =
            HttpResponse::build(self.code.status(profile, family)).json(self.envelope(profile));
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after_secs {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        for (name, value) in &self.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name.clone(), value);
            }
        }
        response
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status(&Profile::default(), RouteFamily::Other)
    }

    /// The edge middleware re-renders with the live profile; this is the fallback.
    fn error_response(&self) -> HttpResponse {
        self.render(&Profile::default(), RouteFamily::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_envelope_has_success_code_message_details_and_timestamp() {
        let error = ApiError::new(
            ErrorCode::ConcurrentLimitExceeded,
            "Concurrent limit exceeded",
        )
        .with_details(json!({"limit": 3}));
        let body = error.envelope(&Profile::docs());
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "CONCURRENT_LIMIT_EXCEEDED");
        assert_eq!(body["error"]["details"]["limit"], 3);
        assert!(body["error"]["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn profiles_switch_codes_statuses_and_shapes() {
        let conflict = ApiError::new(ErrorCode::ResourceAlreadyExists, "dup");
        assert_eq!(
            conflict.envelope(&Profile::legacy())["error"]["code"],
            "RESOURCE_CONFLICT"
        );
        assert!(
            conflict
                .envelope(&Profile::legacy())
                .get("success")
                .is_none()
        );
        assert_eq!(conflict.envelope(&Profile::legacy_plain())["error"], "dup");
        let limit = ApiError::new(ErrorCode::ConcurrentLimitExceeded, "x");
        assert_eq!(
            limit.envelope(&Profile::newest())["error"]["code"],
            "CONCURRENCY_LIMIT_EXCEEDED"
        );
        let invalid = ErrorCode::ValidationError;
        assert_eq!(
            invalid
                .status(&Profile::legacy(), RouteFamily::Async)
                .as_u16(),
            422
        );
        assert_eq!(
            invalid
                .status(&Profile::legacy(), RouteFamily::Other)
                .as_u16(),
            400
        );
        assert_eq!(
            invalid
                .status(&Profile::docs(), RouteFamily::Async)
                .as_u16(),
            400
        );
    }
}
