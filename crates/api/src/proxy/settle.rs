//! Settling a ledger entry from the upstream's answer: POSTED with `X-Credits-Charged` on a
//! 2xx, VOIDED on anything else, with the account balance the reply reported. Settlements
//! are group-committed; one that cannot reach Postgres is retried in the background until it
//! lands (the sweeper is the last resort).

use crate::proxy::upstream::{UpstreamFailure, UpstreamReply};
use accounting::Credits;
use accounting::ledger::{SettleRequest, Settled, Settlement, SettlementWriter};
use std::time::Duration;
use uuid::Uuid;

/// The settlement an upstream outcome calls for. A 2xx without a readable
/// `X-Credits-Charged` is booked at the estimate (and logged), never at zero.
pub fn decide(
    id: Uuid,
    outcome: &Result<UpstreamReply, UpstreamFailure>,
    estimate: i64,
) -> SettleRequest {
    let (settlement, balance_observed) = match outcome {
        Ok(reply) if reply.status.is_success() => {
            let charged = header_i64(reply, "x-credits-charged")
                .filter(|c| *c >= 0)
                .unwrap_or_else(|| {
                    tracing::warn!(
                        "upstream success without X-Credits-Charged; booking the estimate"
                    );
                    estimate
                });
            (
                Settlement::Post {
                    charged: Credits::new(charged).unwrap_or(Credits::ZERO),
                    upstream_status: i32::from(reply.status.as_u16()),
                },
                header_i64(reply, "x-credits-remaining"),
            )
        }
        Ok(reply) => (
            Settlement::Void {
                upstream_status: Some(i32::from(reply.status.as_u16())),
                reason: format!("upstream answered {}", reply.status.as_u16()),
            },
            None,
        ),
        Err(failure) => (
            Settlement::Void {
                upstream_status: None,
                reason: failure.to_string(),
            },
            None,
        ),
    };
    SettleRequest {
        id,
        settlement,
        balance_observed,
    }
}

fn header_i64(reply: &UpstreamReply, name: &str) -> Option<i64> {
    reply.headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Applies the settlement once; on failure keeps retrying in the background and returns.
pub async fn apply(writer: &SettlementWriter, request: SettleRequest) {
    if try_apply(writer, &request).await {
        return;
    }
    let writer = writer.clone();
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(200);
        loop {
            tokio::time::sleep(wait).await;
            if try_apply(&writer, &request).await {
                return;
            }
            wait = (wait * 2).min(Duration::from_secs(10));
        }
    });
}

async fn try_apply(writer: &SettlementWriter, request: &SettleRequest) -> bool {
    match writer.settle(request.clone()).await {
        Ok(Settled::Applied) => true,
        Ok(other) => {
            tracing::warn!(entry = %request.id, outcome = ?other, "ledger entry was already settled");
            true
        }
        Err(err) => {
            tracing::error!(entry = %request.id, error = %err, "settlement failed; will retry");
            false
        }
    }
}
