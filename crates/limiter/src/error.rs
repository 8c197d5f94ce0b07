//! The limiter's error type, split so the gateway can apply its Redis-down policy
//! (fail-closed or fail-open) to `Unavailable` only.

/// A boxed cause kept for the error chain logged at the edge.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    /// The backend could not be reached in time (connection refused or dropped, pool or
    /// command timeout, cluster failover). The request's fate is unknown: it may have been
    /// admitted; `Lease::for_request` + `release` undoes that if it happened.
    #[error("limiter backend unavailable")]
    Unavailable(#[source] BoxError),
    /// The backend answered, but not as the scripts promise (script error, bad reply shape).
    /// Retrying will not help; this is a bug or a misconfigured server.
    #[error("limiter script failed: {0}")]
    Script(String),
    /// The limiter cannot be built as configured (bad Redis URL, key prefix or account name).
    #[error("invalid limiter configuration: {0}")]
    Config(String),
    /// The request itself is unusable (empty id, non-positive rate, out-of-range credits,
    /// a lease id that is already in use).
    #[error("invalid limiter request: {0}")]
    InvalidRequest(String),
}

impl LimiterError {
    /// True when the gateway's Redis-down policy (fail-closed or fail-open) applies.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest(message.into())
    }
}
