//! Settling a ledger entry from the upstream's answer: POSTED with `X-Credits-Charged` on a
//! 2xx, VOIDED on anything else. A settlement that cannot reach Postgres is retried in the
//! background until it lands; the sweeper is the last resort.

use crate::proxy::upstream::{UpstreamFailure, UpstreamReply};
use accounting::Credits;
use accounting::ledger::{self, Settled};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// How the entry should end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    Post {
        charged: i64,
        upstream_status: i32,
    },
    Void {
        upstream_status: Option<i32>,
        reason: String,
    },
}

/// The settlement an upstream outcome calls for. A 2xx without a readable
/// `X-Credits-Charged` is booked at the estimate (and logged), never at zero.
pub fn decide(outcome: &Result<UpstreamReply, UpstreamFailure>, estimate: i64) -> Settlement {
    match outcome {
        Ok(reply) if reply.status.is_success() => {
            let charged = header_i64(reply, "x-credits-charged").filter(|c| *c >= 0);
            if charged.is_none() {
                tracing::warn!("upstream success without X-Credits-Charged; booking the estimate");
            }
            Settlement::Post {
                charged: charged.unwrap_or(estimate),
                upstream_status: i32::from(reply.status.as_u16()),
            }
        }
        Ok(reply) => Settlement::Void {
            upstream_status: Some(i32::from(reply.status.as_u16())),
            reason: format!("upstream answered {}", reply.status.as_u16()),
        },
        Err(failure) => Settlement::Void {
            upstream_status: None,
            reason: failure.to_string(),
        },
    }
}

pub fn header_i64(reply: &UpstreamReply, name: &str) -> Option<i64> {
    reply.headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Applies the settlement once; on failure keeps retrying in the background and returns.
pub async fn apply(db: &PgPool, id: Uuid, settlement: Settlement) {
    if try_apply(db, id, &settlement).await {
        return;
    }
    let db = db.clone();
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(200);
        loop {
            tokio::time::sleep(wait).await;
            if try_apply(&db, id, &settlement).await {
                return;
            }
            wait = (wait * 2).min(Duration::from_secs(10));
        }
    });
}

async fn try_apply(db: &PgPool, id: Uuid, settlement: &Settlement) -> bool {
    let result = match settlement {
        Settlement::Post {
            charged,
            upstream_status,
        } => match Credits::new(*charged) {
            Ok(credits) => ledger::post(db, id, credits, *upstream_status).await,
            Err(_) => return true,
        },
        Settlement::Void {
            upstream_status,
            reason,
        } => ledger::void(db, id, *upstream_status, reason).await,
    };
    match result {
        Ok(Settled::Applied) => true,
        Ok(other) => {
            tracing::warn!(entry = %id, outcome = ?other, "ledger entry was already settled");
            true
        }
        Err(err) => {
            tracing::error!(entry = %id, error = %err, "settlement failed; will retry");
            false
        }
    }
}
