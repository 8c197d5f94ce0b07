//! The gathering half of group commit, shared by the PENDING writer and the settlement
//! writer: wait for one request, then take whatever else arrives within `max_wait` (with
//! `max_wait` zero: whatever is already queued), up to `max_batch`.

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::group_commit::GroupCommitConfig;

/// Fills `batch` with the next group of requests. `false` once every sender is gone.
pub(super) async fn gather<T>(
    queue: &mut mpsc::Receiver<T>,
    batch: &mut Vec<T>,
    config: GroupCommitConfig,
) -> bool {
    let Some(first) = queue.recv().await else {
        return false;
    };
    batch.push(first);
    let deadline = Instant::now() + config.max_wait;
    while batch.len() < config.max_batch {
        let room = config.max_batch - batch.len();
        // An elapsed deadline still polls once: what is queued already joins the batch.
        match tokio::time::timeout_at(deadline, queue.recv_many(batch, room)).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    true
}
