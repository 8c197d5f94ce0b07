//! Push for the directory: one connection per replica LISTENs on the directory channel and
//! wakes the directory's refresh loop on every notification (admin changes NOTIFY in the
//! transaction that makes them, so the notification arrives once the change is visible). A
//! lost connection is re-established, with a log, and followed by a refresh since
//! notifications sent meanwhile are lost; the periodic refresh covers any other gap.

use accounting::directory_channel::CHANNEL;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::Notify;

/// Pause before reconnecting after the listener failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Runs until the pool is closed or the directory (the owner of `wake`) is gone.
pub async fn listen_for_changes(db: PgPool, wake: Weak<Notify>) {
    loop {
        if db.is_closed() {
            return;
        }
        match listen(&db, &wake).await {
            Ok(()) | Err(sqlx::Error::PoolClosed) => return,
            Err(err) => {
                tracing::warn!(
                    error = %err,
                    "directory listener failed; reconnecting (the periodic refresh still runs)"
                );
                tokio::time::sleep(RECONNECT_AFTER).await;
            }
        }
    }
}

/// Wakes the refresh loop; `false` once the directory is gone.
fn wake_up(wake: &Weak<Notify>) -> bool {
    match wake.upgrade() {
        Some(notify) => {
            notify.notify_one();
            true
        }
        None => false,
    }
}

async fn listen(db: &PgPool, wake: &Weak<Notify>) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(db).await?;
    listener.listen(CHANNEL).await?;
    tracing::debug!(channel = CHANNEL, "directory listener connected");
    // Anything announced before LISTEN took effect was missed: refresh once now.
    if !wake_up(wake) {
        return Ok(());
    }
    loop {
        // `None`: the connection was lost and re-established; notifications may be lost.
        let notification = listener.try_recv().await?;
        if notification.is_none() {
            tracing::warn!("directory listener reconnected; refreshing");
        }
        if !wake_up(wake) {
            return Ok(());
        }
    }
}
