//! Settling a ledger entry from the upstream's answer: POSTED with `X-Credits-Charged` on a
//! 2xx, VOIDED when cloro answered anything else or provably never saw the request, and
//! booked but flagged `outcome_unknown` when cloro may have run the call without the gateway
//! learning how it ended. Settlements are group-committed; one that cannot reach Postgres is
//! retried in the background (a tracked task) until it lands (the sweeper is the last resort).

use crate::tasks::{BackgroundTasks, retry_after_failure};
use crate::upstream::envelope::{credits_charged, credits_remaining};
use crate::upstream::{UpstreamFailure, UpstreamReply};
use accounting::Credits;
use accounting::ledger::{SettleRequest, Settled, Settlement, SettlementWriter};
use reqwest::header::HeaderMap;
use std::time::Duration;
use tracing::Instrument;
use uuid::Uuid;

/// The settlement an upstream outcome calls for. A 2xx without a readable
/// `X-Credits-Charged` is booked at the estimate (and logged), never at zero; so is an
/// unknown outcome whose headers never arrived.
pub fn decide(
    id: Uuid,
    outcome: &Result<UpstreamReply, UpstreamFailure>,
    estimate: Credits,
) -> SettleRequest {
    let (settlement, balance_observed) = match outcome {
        Ok(reply) if reply.status.is_success() => (
            Settlement::Post {
                charged: charged_or_estimate(&reply.headers, estimate),
                upstream_status: i32::from(reply.status.as_u16()),
            },
            credits_remaining(&reply.headers),
        ),
        Ok(reply) => (
            Settlement::Void {
                upstream_status: Some(i32::from(reply.status.as_u16())),
                reason: format!("upstream answered {}", reply.status.as_u16()),
            },
            None,
        ),
        Err(UpstreamFailure::NotSent(reason)) => (
            Settlement::Void {
                upstream_status: None,
                reason: format!("not sent: {reason}"),
            },
            None,
        ),
        Err(UpstreamFailure::Unknown { answer, reason, .. }) => {
            tracing::warn!(%reason, "upstream outcome unknown; booking it flagged outcome_unknown");
            let headers = answer.as_ref().map(|(_, headers)| headers);
            (
                Settlement::Unknown {
                    charged: headers.map_or(estimate, |h| charged_or_estimate(h, estimate)),
                    upstream_status: answer
                        .as_ref()
                        .map(|(status, _)| i32::from(status.as_u16())),
                },
                headers.and_then(credits_remaining),
            )
        }
    };
    SettleRequest {
        id,
        settlement,
        balance_observed,
    }
}

fn charged_or_estimate(headers: &HeaderMap, estimate: Credits) -> Credits {
    credits_charged(headers).unwrap_or_else(|| {
        tracing::warn!(
            estimate = estimate.get(),
            "upstream success without X-Credits-Charged; booking the estimate"
        );
        estimate
    })
}

/// Applies the settlement once; on failure keeps retrying in a tracked background task (so
/// shutdown waits for it) and returns.
#[tracing::instrument(level = "debug", name = "settle", skip_all, fields(entry = %request.id))]
pub async fn apply(writer: &SettlementWriter, tasks: &BackgroundTasks, request: SettleRequest) {
    if try_apply(writer, &request).await {
        return;
    }
    let writer = writer.clone();
    tasks.spawn(
        async move {
            let first = Duration::from_millis(200);
            let cap = Duration::from_secs(10);
            retry_after_failure(usize::MAX, first, cap, || try_apply(&writer, &request)).await;
        }
        .in_current_span(),
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::HeaderValue;

    fn id() -> Uuid {
        Uuid::now_v7()
    }

    #[test]
    fn a_timeout_is_booked_at_the_estimate_not_voided() {
        let outcome = Err(UpstreamFailure::Unknown {
            reason: "deadline".into(),
            timed_out: true,
            answer: None,
        });
        let decided = decide(id(), &outcome, Credits::new(7).unwrap());
        assert_eq!(
            decided.settlement,
            Settlement::Unknown {
                charged: Credits::new(7).unwrap(),
                upstream_status: None
            }
        );
    }

    #[test]
    fn a_broken_body_is_booked_at_the_charge_its_headers_announced() {
        let mut headers = HeaderMap::new();
        headers.insert("x-credits-charged", HeaderValue::from_static("5"));
        headers.insert("x-credits-remaining", HeaderValue::from_static("900"));
        let outcome = Err(UpstreamFailure::Unknown {
            reason: "body".into(),
            timed_out: false,
            answer: Some((StatusCode::OK, headers)),
        });
        let decided = decide(id(), &outcome, Credits::new(7).unwrap());
        assert_eq!(
            decided.settlement,
            Settlement::Unknown {
                charged: Credits::new(5).unwrap(),
                upstream_status: Some(200)
            }
        );
        assert_eq!(decided.balance_observed, Some(900));
    }

    #[test]
    fn only_a_request_never_sent_is_voided() {
        let outcome = Err(UpstreamFailure::NotSent("connect refused".into()));
        let decided = decide(id(), &outcome, Credits::new(7).unwrap());
        assert!(
            matches!(decided.settlement, Settlement::Void { upstream_status: None, ref reason } if reason.starts_with("not sent"))
        );
    }
}
