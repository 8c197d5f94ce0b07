//! Sorts Redis failures into `Unavailable` (the Redis-down policy applies: connection, timeout,
//! failover, out of memory) and `Script` (Redis answered, but the call is wrong; retrying won't help).

use deadpool_redis::PoolError;
use redis::{ErrorKind, RedisError, ServerErrorKind};

use crate::error::LimiterError;

/// Server error codes that mean "this Redis cannot serve now", not "this call is wrong".
const UNAVAILABLE_CODES: [&str; 3] = ["BUSY", "OOM", "NOREPLICAS"];

pub(crate) fn from_redis(err: RedisError) -> LimiterError {
    if is_unavailable(&err) {
        LimiterError::Unavailable(Box::new(err))
    } else {
        LimiterError::Script(err.to_string())
    }
}

pub(crate) fn from_pool(err: PoolError) -> LimiterError {
    match err {
        PoolError::Backend(err) => from_redis(err),
        other => LimiterError::Unavailable(Box::new(other)),
    }
}

pub(crate) fn timed_out(err: tokio::time::error::Elapsed) -> LimiterError {
    LimiterError::Unavailable(Box::new(err))
}

fn is_unavailable(err: &RedisError) -> bool {
    if err.is_io_error() || err.is_timeout() || err.is_connection_dropped() {
        return true;
    }
    match err.kind() {
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly,
        )
        | ErrorKind::ClusterConnectionNotFound
        | ErrorKind::AuthenticationFailed => true,
        ErrorKind::Extension => err.code().is_some_and(|c| UNAVAILABLE_CODES.contains(&c)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn connection_failures_are_unavailable() {
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::TimedOut,
            io::ErrorKind::UnexpectedEof,
        ] {
            let err = RedisError::from(io::Error::from(kind));
            assert!(from_redis(err).is_unavailable(), "{kind:?}");
        }
    }

    #[test]
    fn failover_states_are_unavailable() {
        for kind in [
            ServerErrorKind::BusyLoading,
            ServerErrorKind::MasterDown,
            ServerErrorKind::ReadOnly,
            ServerErrorKind::ClusterDown,
        ] {
            let err = RedisError::from((ErrorKind::Server(kind), "failover"));
            assert!(from_redis(err).is_unavailable(), "{kind:?}");
        }
    }

    #[test]
    fn wrong_calls_are_script_errors() {
        for kind in [
            ErrorKind::Server(ServerErrorKind::ResponseError),
            ErrorKind::Server(ServerErrorKind::CrossSlot),
            ErrorKind::UnexpectedReturnType,
            ErrorKind::Parse,
        ] {
            let err = RedisError::from((kind, "bad call"));
            assert!(
                matches!(from_redis(err), LimiterError::Script(_)),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn pool_timeouts_are_unavailable() {
        let err = PoolError::Timeout(deadpool_redis::TimeoutType::Wait);
        assert!(from_pool(err).is_unavailable());
        assert!(from_pool(PoolError::Closed).is_unavailable());
    }
}
