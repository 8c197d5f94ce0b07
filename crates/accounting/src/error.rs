//! The accounting crate's one error type; each variant maps to one API error code.

use std::sync::Arc;

use crate::types::InvalidValue;

#[derive(Debug, thiserror::Error)]
pub enum AccountingError {
    /// A query failed (connection, constraint, timeout...).
    #[error("database error")]
    Database(#[from] sqlx::Error),

    /// The group commit that carried this ledger entry failed: nothing was recorded, so the
    /// request must not be sent upstream. Every waiter of the batch shares the same cause.
    #[error("the ledger write failed; the entry was not recorded")]
    LedgerWrite(#[source] Arc<sqlx::Error>),

    /// Another team already uses this slug.
    #[error("a team with this slug already exists")]
    DuplicateSlug,

    #[error("not found")]
    NotFound,

    /// Input that breaks a domain rule; the message says which.
    #[error("invalid input: {0}")]
    Invalid(String),

    /// The pool is closed or the ledger writer has stopped.
    #[error("accounting is unavailable")]
    Unavailable,
}

impl AccountingError {
    /// Whether the failure is about reaching Postgres rather than about the request, so the
    /// caller should answer 503 (and may retry a settlement later).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable | Self::LedgerWrite(_) => true,
            Self::Database(error) => is_connectivity_error(error),
            Self::DuplicateSlug | Self::NotFound | Self::Invalid(_) => false,
        }
    }
}

impl From<InvalidValue> for AccountingError {
    fn from(error: InvalidValue) -> Self {
        Self::Invalid(error.to_string())
    }
}

fn is_connectivity_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exception; 57P0x: the server is shutting down or restarting.
        sqlx::Error::Database(error) => error
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connectivity_failures_are_unavailable() {
        assert!(AccountingError::Unavailable.is_unavailable());
        assert!(AccountingError::Database(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(AccountingError::LedgerWrite(Arc::new(sqlx::Error::PoolClosed)).is_unavailable());
    }

    #[test]
    fn request_problems_are_not_unavailable() {
        assert!(!AccountingError::DuplicateSlug.is_unavailable());
        assert!(!AccountingError::Invalid("x".into()).is_unavailable());
        assert!(!AccountingError::Database(sqlx::Error::RowNotFound).is_unavailable());
    }
}
