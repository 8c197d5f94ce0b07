//! Where a sync call's time goes: one latency histogram per stage of the request path
//! (verifying the token, admission, the Idempotency-Key claim, the PENDING commit, the
//! upstream call, the settlement, the lease's release, and the whole call), exported in
//! `/metrics` so the proxy benchmark can print the breakdown and each change to the hot path
//! shows its effect.

use crate::histogram::Histogram;
use std::fmt::Write;
use std::time::{Duration, Instant};

/// A stage of a sync call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Verifying the bearer token and looking up its team (every authenticated request).
    Auth,
    /// The team's and the account's limits in Redis.
    Admission,
    /// Claiming the Idempotency-Key (only calls that send one).
    IdempotencyClaim,
    /// The durable PENDING entry.
    PendingCommit,
    /// The call to cloro, retries included.
    Upstream,
    /// The durable settlement of the entry.
    Settlement,
    /// Giving the lease back in Redis (its slots, and the hold settled at the charge).
    Release,
    /// From the body read to the answer, every stage above but `auth` included.
    Call,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Auth,
        Stage::Admission,
        Stage::IdempotencyClaim,
        Stage::PendingCommit,
        Stage::Upstream,
        Stage::Settlement,
        Stage::Release,
        Stage::Call,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Auth => "auth",
            Stage::Admission => "admission",
            Stage::IdempotencyClaim => "idempotency_claim",
            Stage::PendingCommit => "pending_commit",
            Stage::Upstream => "upstream",
            Stage::Settlement => "settlement",
            Stage::Release => "release",
            Stage::Call => "call",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One histogram per [`Stage`]; observing is a few relaxed atomic adds.
#[derive(Default)]
pub struct StageTimings {
    stages: [Histogram; Stage::ALL.len()],
}

impl StageTimings {
    pub fn observe(&self, stage: Stage, elapsed: Duration) {
        self.stages[stage.index()].observe(elapsed);
    }

    /// Times `work` as `stage`.
    pub async fn time<T>(&self, stage: Stage, work: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let output = work.await;
        self.observe(stage, started.elapsed());
        output
    }

    /// The histograms in the Prometheus text format, as `cloro_gateway_stage_seconds`.
    pub fn render(&self, out: &mut String) {
        let name = "cloro_gateway_stage_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time spent in each stage of a sync call (see docs/benchmarks.md)"
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for stage in Stage::ALL {
            let labels = format!("stage=\"{}\"", stage.name());
            self.stages[stage.index()].render(out, name, &labels);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_bucket_and_render_cumulatively() {
        let timings = StageTimings::default();
        timings.observe(Stage::Upstream, Duration::from_micros(40));
        timings.observe(Stage::Upstream, Duration::from_micros(900));
        timings.observe(Stage::Upstream, Duration::from_secs(3));
        let mut text = String::new();
        timings.render(&mut text);
        for line in [
            "cloro_gateway_stage_seconds_bucket{stage=\"upstream\",le=\"0.00005\"} 1",
            "cloro_gateway_stage_seconds_bucket{stage=\"upstream\",le=\"0.00075\"} 1",
            "cloro_gateway_stage_seconds_bucket{stage=\"upstream\",le=\"0.001\"} 2",
            "cloro_gateway_stage_seconds_bucket{stage=\"upstream\",le=\"1\"} 2",
            "cloro_gateway_stage_seconds_bucket{stage=\"upstream\",le=\"+Inf\"} 3",
            "cloro_gateway_stage_seconds_count{stage=\"upstream\"} 3",
            "cloro_gateway_stage_seconds_sum{stage=\"upstream\"} 3.00094",
            "cloro_gateway_stage_seconds_count{stage=\"auth\"} 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
