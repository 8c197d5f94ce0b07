//! The connection a group-commit writer keeps between its batches: a busy writer takes no
//! pool checkout per batch, and so none of the liveness round trips the pool makes on every
//! checkout and return. It goes back to the pool once the writer has been idle a moment (so a
//! small pool is not starved by idle writers) or the pool is closing, and is closed after a
//! batch failed on it.

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::sync::mpsc;

/// How long an idle writer keeps its connection. Longer than the gaps between batches of a
/// lightly loaded gateway; a connection back in the pool is checked before its next use.
const KEEP_WHILE_IDLE: Duration = Duration::from_millis(250);

pub(super) struct WriterConnection {
    pool: PgPool,
    held: Option<PoolConnection<Postgres>>,
}

impl WriterConnection {
    pub(super) fn new(pool: PgPool) -> Self {
        Self { pool, held: None }
    }

    /// The pool the connection comes from (for a writer's rare paths).
    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The writer's next request (`None` once every sender is gone). A connection held while
    /// waiting for it goes back to the pool after [`KEEP_WHILE_IDLE`], or at once when the
    /// pool is closing; a request already queued is taken without arming either.
    pub(super) async fn next_request<T>(&mut self, queue: &mut mpsc::Receiver<T>) -> Option<T> {
        if self.held.is_none() {
            return queue.recv().await;
        }
        if let Ok(next) = queue.try_recv() {
            return Some(next);
        }
        tokio::select! {
            biased;
            next = queue.recv() => return next,
            () = tokio::time::sleep(KEEP_WHILE_IDLE) => {}
            () = self.pool.close_event() => {}
        }
        self.held = None;
        queue.recv().await
    }

    /// The kept connection, or one from the pool (which checks it first).
    pub(super) async fn get(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        let connection = match self.held.take() {
            Some(connection) => connection,
            None => self.pool.acquire().await?,
        };
        Ok(&mut **self.held.insert(connection))
    }

    /// The connection may be broken: close it; the next batch takes another.
    pub(super) fn discard(&mut self) {
        if let Some(mut connection) = self.held.take() {
            connection.close_on_drop();
        }
    }
}
