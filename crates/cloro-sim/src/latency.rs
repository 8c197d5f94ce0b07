//! How long a simulated engine takes to answer: a fixed delay or a log-normal spread, parsed from a short string.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, LogNormal};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// No simulated answer takes longer than this, whatever the distribution says.
const MAX_LATENCY: Duration = Duration::from_secs(600);

/// The z-score of the 99th percentile of a standard normal distribution.
const Z_P99: f64 = 2.326_347_874;

/// A latency model. Parse it from `0`, `fixed:200ms` or `lognormal:median=2s,p99=30s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LatencySpec {
    /// Every answer takes exactly this long.
    Fixed(Duration),
    /// Answers follow a log-normal distribution with this median and 99th percentile.
    LogNormal { median: Duration, p99: Duration },
}

impl Default for LatencySpec {
    fn default() -> Self {
        Self::Fixed(Duration::ZERO)
    }
}

impl LatencySpec {
    /// Draws one latency from the model.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match *self {
            Self::Fixed(duration) => duration,
            Self::LogNormal { median, p99 } => {
                let median_s = median.as_secs_f64().max(1e-6);
                let p99_s = p99.as_secs_f64().max(median_s);
                let sigma = (p99_s.ln() - median_s.ln()) / Z_P99;
                let seconds = match LogNormal::new(median_s.ln(), sigma) {
                    Ok(distribution) => distribution.sample(rng),
                    Err(_) => median_s,
                };
                Duration::from_secs_f64(seconds.clamp(0.0, MAX_LATENCY.as_secs_f64()))
            }
        }
    }
}

/// Why a latency string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid latency `{input}`: {reason} (expected `0`, `fixed:200ms` or `lognormal:median=2s,p99=30s`)"
)]
pub struct LatencyParseError {
    input: String,
    reason: String,
}

impl FromStr for LatencySpec {
    type Err = LatencyParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| LatencyParseError {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = input.trim();
        if trimmed == "0" {
            return Ok(Self::Fixed(Duration::ZERO));
        }
        if let Some(rest) = trimmed.strip_prefix("fixed:") {
            return parse_duration(rest).map(Self::Fixed).map_err(|e| fail(&e));
        }
        if let Some(rest) = trimmed.strip_prefix("lognormal:") {
            let mut median = None;
            let mut p99 = None;
            for part in rest.split(',') {
                let (name, value) = part
                    .split_once('=')
                    .ok_or_else(|| fail("expected name=value"))?;
                let value = parse_duration(value).map_err(|e| fail(&e))?;
                match name.trim() {
                    "median" => median = Some(value),
                    "p99" => p99 = Some(value),
                    other => return Err(fail(&format!("unknown parameter `{other}`"))),
                }
            }
            let median = median.ok_or_else(|| fail("median is missing"))?;
            let p99 = p99.ok_or_else(|| fail("p99 is missing"))?;
            if p99 < median {
                return Err(fail("p99 must not be below the median"));
            }
            return Ok(Self::LogNormal { median, p99 });
        }
        parse_duration(trimmed)
            .map(Self::Fixed)
            .map_err(|_| fail("unknown model"))
    }
}

/// Parses `250ms`, `2s`, `1.5s` or `3m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let (number, unit_seconds) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        return Err(format!("`{text}` needs a unit (ms, s or m)"));
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    let seconds = value * unit_seconds;
    if !seconds.is_finite() || seconds < 0.0 || seconds > MAX_LATENCY.as_secs_f64() {
        return Err(format!("`{text}` is out of range (0 to 10m)"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn format_duration(duration: Duration) -> String {
    let millis = duration.as_secs_f64() * 1000.0;
    if millis >= 1000.0 && (millis / 1000.0).fract() == 0.0 {
        format!("{}s", duration.as_secs())
    } else {
        let rounded = (millis * 1000.0).round() / 1000.0;
        format!("{rounded}ms")
    }
}

impl fmt::Display for LatencySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(d) => write!(f, "fixed:{}", format_duration(*d)),
            Self::LogNormal { median, p99 } => write!(
                f,
                "lognormal:median={},p99={}",
                format_duration(*median),
                format_duration(*p99)
            ),
        }
    }
}

impl Serialize for LatencySpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for LatencySpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(
            "0".parse::<LatencySpec>().unwrap(),
            LatencySpec::Fixed(Duration::ZERO)
        );
        assert_eq!(
            "fixed:200ms".parse::<LatencySpec>().unwrap(),
            LatencySpec::Fixed(Duration::from_millis(200))
        );
        assert_eq!(
            "lognormal:median=2s,p99=30s"
                .parse::<LatencySpec>()
                .unwrap(),
            LatencySpec::LogNormal {
                median: Duration::from_secs(2),
                p99: Duration::from_secs(30)
            }
        );
        assert_eq!(
            "1.5s".parse::<LatencySpec>().unwrap(),
            LatencySpec::Fixed(Duration::from_millis(1500))
        );
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "fast",
            "fixed:200",
            "lognormal:median=2s",
            "lognormal:median=3s,p99=1s",
            "fixed:-1s",
            "fixed:11m",
        ] {
            assert!(
                bad.parse::<LatencySpec>().is_err(),
                "{bad} should not parse"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "fixed:200ms",
            "lognormal:median=2s,p99=30s",
            "fixed:0ms",
            "fixed:1.5ms",
        ] {
            let spec: LatencySpec = text.parse().unwrap();
            assert_eq!(spec.to_string().parse::<LatencySpec>().unwrap(), spec);
        }
    }

    #[test]
    fn lognormal_has_roughly_the_requested_median_and_p99() {
        let spec: LatencySpec = "lognormal:median=2s,p99=30s".parse().unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let mut samples: Vec<f64> = (0..20_000)
            .map(|_| spec.sample(&mut rng).as_secs_f64())
            .collect();
        samples.sort_by(f64::total_cmp);
        let median = samples[samples.len() / 2];
        let p99 = samples[samples.len() * 99 / 100];
        assert!((1.8..2.2).contains(&median), "median {median}");
        assert!((24.0..37.0).contains(&p99), "p99 {p99}");
    }
}
