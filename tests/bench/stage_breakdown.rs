//! The gateway's per-stage latency histograms (`cloro_gateway_stage_seconds` in /metrics),
//! read before and after a run, so a benchmark can print where the run's time went.

use std::collections::BTreeMap;

/// Cumulative bucket counts by upper bound (seconds, `f64::INFINITY` last), and the sum.
#[derive(Debug, Clone, Default)]
pub struct StageHistogram {
    buckets: Vec<(f64, u64)>,
    sum: f64,
}

impl StageHistogram {
    fn count(&self) -> u64 {
        self.buckets.last().map(|(_, c)| *c).unwrap_or(0)
    }

    /// This histogram minus an earlier reading of it.
    fn since(&self, earlier: Option<&StageHistogram>) -> StageHistogram {
        let Some(earlier) = earlier else {
            return self.clone();
        };
        let buckets = self
            .buckets
            .iter()
            .zip(&earlier.buckets)
            .map(|((le, now), (_, before))| (*le, now.saturating_sub(*before)))
            .collect();
        StageHistogram {
            buckets,
            sum: self.sum - earlier.sum,
        }
    }

    /// The `q` quantile, interpolated linearly inside its bucket (as Prometheus does).
    fn quantile(&self, q: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        let rank = q * total as f64;
        let mut lower = (0.0, 0u64);
        for (le, cumulative) in &self.buckets {
            if *cumulative as f64 >= rank {
                if le.is_infinite() {
                    return lower.0;
                }
                let in_bucket = (*cumulative - lower.1) as f64;
                let into = if in_bucket == 0.0 {
                    0.0
                } else {
                    (rank - lower.1 as f64) / in_bucket
                };
                return lower.0 + (le - lower.0) * into;
            }
            lower = (*le, *cumulative);
        }
        lower.0
    }
}

/// Every stage's histogram from a /metrics text.
pub fn parse(metrics: &str) -> BTreeMap<String, StageHistogram> {
    let mut stages: BTreeMap<String, StageHistogram> = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("cloro_gateway_stage_seconds_") else {
            continue;
        };
        let Some((series, value)) = rest.rsplit_once(' ') else {
            continue;
        };
        let Some(stage) = label(series, "stage") else {
            continue;
        };
        let entry = stages.entry(stage.to_owned()).or_default();
        if series.starts_with("bucket") {
            let le = match label(series, "le") {
                Some("+Inf") => f64::INFINITY,
                Some(le) => le.parse().unwrap_or(f64::INFINITY),
                None => continue,
            };
            entry.buckets.push((le, value.parse().unwrap_or(0)));
        } else if series.starts_with("sum") {
            entry.sum = value.parse().unwrap_or(0.0);
        }
    }
    stages
}

fn label<'a>(series: &'a str, name: &str) -> Option<&'a str> {
    let start = series.find(&format!("{name}=\""))? + name.len() + 2;
    let end = series[start..].find('"')? + start;
    Some(&series[start..end])
}

/// Prints, per stage, what happened between `before` and `after`: calls, mean, p50, p99.
pub fn print(before: &str, after: &str) {
    let before = parse(before);
    println!(
        "{:<20} {:>8} {:>10} {:>10} {:>10}",
        "stage", "count", "mean ms", "p50 ms", "p99 ms"
    );
    for (stage, now) in parse(after) {
        let run = now.since(before.get(&stage));
        let count = run.count();
        if count == 0 {
            continue;
        }
        println!(
            "{:<20} {:>8} {:>10.3} {:>10.3} {:>10.3}",
            stage,
            count,
            run.sum / count as f64 * 1000.0,
            run.quantile(0.50) * 1000.0,
            run.quantile(0.99) * 1000.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_buckets_of_the_difference() {
        let before = "cloro_gateway_stage_seconds_bucket{stage=\"upstream\",le=\"0.001\"} 10\n\
                      cloro_gateway_stage_seconds_bucket{stage=\"upstream\",le=\"0.002\"} 10\n\
                      cloro_gateway_stage_seconds_bucket{stage=\"upstream\",le=\"+Inf\"} 10\n\
                      cloro_gateway_stage_seconds_sum{stage=\"upstream\"} 0.005\n";
        let after = "cloro_gateway_stage_seconds_bucket{stage=\"upstream\",le=\"0.001\"} 10\n\
                     cloro_gateway_stage_seconds_bucket{stage=\"upstream\",le=\"0.002\"} 110\n\
                     cloro_gateway_stage_seconds_bucket{stage=\"upstream\",le=\"+Inf\"} 110\n\
                     cloro_gateway_stage_seconds_sum{stage=\"upstream\"} 0.155\n";
        let run = parse(after)["upstream"].since(parse(before).get("upstream"));
        assert_eq!(run.count(), 100);
        assert!((run.quantile(0.5) - 0.0015).abs() < 1e-9);
        assert!((run.sum - 0.15).abs() < 1e-9);
    }
}
