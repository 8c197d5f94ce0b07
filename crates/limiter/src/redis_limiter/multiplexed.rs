//! Connections to one Redis without a per-call checkout: a few multiplexed connections, taken
//! in turn. A pool's checkout would cost a round trip of its own (deadpool-redis sends
//! UNWATCH + PING to recycle a connection), as much as the admission script it precedes.
//!
//! The connections speak RESP3 (Redis 6 or later), so each learns at once that Redis closed
//! it (a restart, a failover) and reconnects in the background: the next call finds a fresh
//! connection instead of failing on the dead one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion};

use crate::error::LimiterError;

/// Reconnection attempts after an I/O error, before a call fails (each later call starts
/// over); the caller's command timeout bounds the whole call anyway.
const RECONNECT_RETRIES: usize = 2;
/// The first reconnection delay; later ones grow up to [`RECONNECT_MAX_DELAY`].
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(10);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(200);

pub(crate) struct MultiplexedConnections {
    connections: Vec<ConnectionManager>,
    next: AtomicUsize,
}

impl MultiplexedConnections {
    /// `count` connections to `redis_url`, each made on its first use; call within a Tokio
    /// runtime (each connection keeps a task on it).
    pub(crate) fn open(
        redis_url: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Self, LimiterError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(LimiterError::Config(
                "the Redis connections must be opened within a Tokio runtime".to_owned(),
            ));
        }
        let info = redis_url
            .into_connection_info()
            .map_err(|e| LimiterError::Config(format!("redis url: {e}")))?;
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(resp3))
            .map_err(|e| LimiterError::Config(format!("redis url: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY);
        let connections = (0..count.max(1))
            .map(|_| ConnectionManager::new_lazy_with_config(client.clone(), config.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LimiterError::Config(format!("redis connection: {e}")))?;
        Ok(Self {
            connections,
            next: AtomicUsize::new(0),
        })
    }

    /// The next connection in turn (a cheap handle on a shared connection).
    pub(crate) fn next(&self) -> ConnectionManager {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[turn].clone()
    }
}
