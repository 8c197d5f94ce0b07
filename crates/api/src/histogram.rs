//! A latency histogram for `/metrics`: fixed buckets of atomic counters, so observing on the
//! request path is a few relaxed adds, rendered in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds (the last bucket is `+Inf`): 50 µs to 5 min,
/// so both a Redis round trip and a long cloro call land in a bucket of their own scale.
pub const BUCKET_BOUNDS_US: [u64; 20] = [
    50,
    100,
    200,
    300,
    500,
    750,
    1_000,
    1_500,
    2_000,
    3_000,
    5_000,
    10_000,
    20_000,
    50_000,
    200_000,
    1_000_000,
    5_000_000,
    20_000_000,
    60_000_000,
    300_000_000,
];

#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket (not cumulative); the last one counts what exceeds every bound.
    buckets: [AtomicU64; BUCKET_BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKET_BOUNDS_US
            .iter()
            .position(|bound| micros <= *bound)
            .unwrap_or(BUCKET_BOUNDS_US.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// The `_bucket`, `_sum` and `_count` lines of series `name{labels}`; `labels` is
    /// `key="value",...` (already escaped) or empty.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, bound) in BUCKET_BOUNDS_US.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let le = *bound as f64 / 1e6;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[BUCKET_BOUNDS_US.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let braced = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braced} {sum}");
        let _ = writeln!(out, "{name}_count{braced} {cumulative}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_render_cumulatively_with_and_without_labels() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(40));
        histogram.observe(Duration::from_micros(900));
        histogram.observe(Duration::from_secs(400));
        let mut labelled = String::new();
        histogram.render(&mut labelled, "t_seconds", "stage=\"x\"");
        for line in [
            "t_seconds_bucket{stage=\"x\",le=\"0.00005\"} 1",
            "t_seconds_bucket{stage=\"x\",le=\"0.001\"} 2",
            "t_seconds_bucket{stage=\"x\",le=\"300\"} 2",
            "t_seconds_bucket{stage=\"x\",le=\"+Inf\"} 3",
            "t_seconds_sum{stage=\"x\"} 400.00094",
            "t_seconds_count{stage=\"x\"} 3",
        ] {
            assert!(labelled.contains(line), "missing {line} in\n{labelled}");
        }
        let mut bare = String::new();
        histogram.render(&mut bare, "t_seconds", "");
        assert!(bare.contains("t_seconds_bucket{le=\"+Inf\"} 3"), "{bare}");
        assert!(bare.contains("t_seconds_count 3"), "{bare}");
    }
}
