//! Per-team and per-endpoint series for `/metrics`, so an operator can see which team is
//! burning the account: requests by status class, credits charged, admission refusals by
//! reason and admission wait (fair queue included) per team, upstream latency per endpoint.
//! Series are keyed by team id and static labels (no allocation on the request path) and
//! named by the team's slug when rendered; each family holds at most [`MAX_SERIES`] series.

use crate::directory::TeamNames;
use crate::histogram::Histogram;
use crate::pricing::Endpoint;
use accounting::TeamId;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{Error, web};
use std::collections::HashMap;
use std::fmt::Write;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

/// The most series one family keeps (teams are a few hundred; routes and reasons a few
/// dozen); an observation that would add one more is dropped and counted instead.
pub const MAX_SERIES: usize = 20_000;

/// The `/v1` routes besides the monitor calls (whose patterns are their `Endpoint` paths, the
/// ledger's `endpoint`), as their path patterns; any other route is counted as `other`.
const OTHER_V1_ROUTES: [&str; 8] = [
    "/v1/countries",
    "/v1/states",
    "/v1/credits",
    "/v1/async/task",
    "/v1/async/task/batch",
    "/v1/async/task/{id}",
    "/v1/async/status",
    "/v1/async/queue",
];

/// The label of a `/v1` route pattern.
pub fn route_label(pattern: &str) -> &'static str {
    match endpoint_label(pattern) {
        "other" => OTHER_V1_ROUTES
            .iter()
            .find(|route| **route == pattern)
            .copied()
            .unwrap_or("other"),
        monitor => monitor,
    }
}

/// The label of a ledger endpoint path (an async task's stored endpoint, say).
pub fn endpoint_label(path: &str) -> &'static str {
    Endpoint::ALL
        .iter()
        .map(|endpoint| endpoint.path())
        .find(|known| *known == path)
        .unwrap_or("other")
}

/// One metric family: a value per label key, created on first use, at most [`MAX_SERIES`].
struct Family<K, V> {
    series: RwLock<HashMap<K, V>>,
    dropped: AtomicU64,
}

impl<K: Copy + Eq + Hash, V: Default> Default for Family<K, V> {
    fn default() -> Self {
        Self {
            series: RwLock::new(HashMap::new()),
            dropped: AtomicU64::new(0),
        }
    }
}

impl<K: Copy + Eq + Hash + Ord, V: Default> Family<K, V> {
    fn with(&self, key: K, update: impl FnOnce(&V)) {
        {
            let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(value) = series.get(&key) {
                update(value);
                return;
            }
        }
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        if !series.contains_key(&key) && series.len() >= MAX_SERIES {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        update(series.entry(key).or_default());
    }

    /// Every series, in key order (stable output).
    fn each(&self, mut visit: impl FnMut(&K, &V)) {
        let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
        let mut keys: Vec<&K> = series.keys().collect();
        keys.sort();
        for key in keys {
            if let Some(value) = series.get(key) {
                visit(key, value);
            }
        }
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The status class label of an answer.
fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The per-team and per-endpoint series of this replica.
#[derive(Default)]
pub struct TeamMetrics {
    requests: Family<(TeamId, &'static str, &'static str), AtomicU64>,
    credits: Family<(TeamId, &'static str), AtomicU64>,
    refusals: Family<(TeamId, &'static str), AtomicU64>,
    admission_wait: Family<TeamId, Histogram>,
    upstream: Family<&'static str, Histogram>,
    /// Admissions the limiter could not decide (Redis unreachable or timing out).
    limiter_unavailable: AtomicU64,
}

impl TeamMetrics {
    /// A team's request on `route` (a [`route_label`]) answered with `status`.
    pub fn request(&self, team: TeamId, route: &'static str, status: StatusCode) {
        self.requests
            .with((team, route, status_class(status)), |c| {
                c.fetch_add(1, Ordering::Relaxed);
            });
    }

    /// Credits booked for a team's call on `endpoint` (a ledger endpoint path).
    pub fn charged(&self, team: TeamId, endpoint: &'static str, credits: i64) {
        let Ok(credits) = u64::try_from(credits) else {
            return;
        };
        self.credits.with((team, endpoint), |c| {
            c.fetch_add(credits, Ordering::Relaxed);
        });
    }

    /// A team's request refused at admission, by the limit that refused it.
    pub fn refused(&self, team: TeamId, reason: &'static str) {
        self.refusals.with((team, reason), |c| {
            c.fetch_add(1, Ordering::Relaxed);
        });
    }

    /// How long a team's admission took to decide (a wait in the fair queue included).
    pub fn admission_waited(&self, team: TeamId, waited: Duration) {
        self.admission_wait.with(team, |h| h.observe(waited));
    }

    /// One upstream call on `endpoint` (retries included).
    pub fn upstream_took(&self, endpoint: &'static str, took: Duration) {
        self.upstream.with(endpoint, |h| h.observe(took));
    }

    pub fn limiter_unavailable(&self) {
        self.limiter_unavailable.fetch_add(1, Ordering::Relaxed);
    }

    /// Every family in the Prometheus text format, teams named by their slug.
    pub fn render(&self, out: &mut String, names: &TeamNames) {
        let team = |id: &TeamId| {
            let slug = names.slug(*id);
            if slug.is_empty() {
                id.as_uuid().to_string()
            } else {
                slug
            }
        };
        counters(
            out,
            (
                "cloro_gateway_team_requests_total",
                "A team's requests on cloro's routes, by route and status class",
            ),
            &self.requests,
            |(id, route, class)| {
                format!(
                    "team=\"{}\",endpoint=\"{}\",class=\"{class}\"",
                    escape(&team(id)),
                    escape(route)
                )
            },
        );
        counters(
            out,
            (
                "cloro_gateway_team_credits_charged_total",
                "Credits booked for a team's calls, by endpoint",
            ),
            &self.credits,
            |(id, endpoint)| {
                format!(
                    "team=\"{}\",endpoint=\"{}\"",
                    escape(&team(id)),
                    escape(endpoint)
                )
            },
        );
        counters(
            out,
            (
                "cloro_gateway_team_admission_refusals_total",
                "A team's requests refused at admission, by the limit that refused them",
            ),
            &self.refusals,
            |(id, reason)| format!("team=\"{}\",reason=\"{reason}\"", escape(&team(id))),
        );
        let wait = "cloro_gateway_team_admission_wait_seconds";
        header(
            out,
            wait,
            "histogram",
            "Time to decide a team's admission, a wait in the account's fair queue included",
        );
        self.admission_wait.each(|id, histogram| {
            histogram.render(out, wait, &format!("team=\"{}\"", escape(&team(id))));
        });
        let upstream = "cloro_gateway_upstream_seconds";
        header(
            out,
            upstream,
            "histogram",
            "Time of a call to cloro by endpoint, retries included",
        );
        self.upstream.each(|endpoint, histogram| {
            histogram.render(out, upstream, &format!("endpoint=\"{}\"", escape(endpoint)));
        });
        let dropped = self.requests.dropped()
            + self.credits.dropped()
            + self.refusals.dropped()
            + self.admission_wait.dropped()
            + self.upstream.dropped();
        for (name, kind, help, value) in [
            (
                "cloro_gateway_limiter_unavailable_total",
                "counter",
                "Admissions the limiter could not decide (Redis unreachable)",
                self.limiter_unavailable.load(Ordering::Relaxed),
            ),
            (
                "cloro_gateway_metric_series_dropped_total",
                "counter",
                "Observations not recorded because their family already held its most series",
                dropped,
            ),
        ] {
            header(out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
    }
}

/// A counter family: its header, then a line per series, `labels` giving each key's labels.
fn counters<K: Copy + Eq + Hash + Ord>(
    out: &mut String,
    (name, help): (&str, &str),
    family: &Family<K, AtomicU64>,
    labels: impl Fn(&K) -> String,
) {
    header(out, name, "counter", help);
    family.each(|key, count| {
        let _ = writeln!(
            out,
            "{name}{{{}}} {}",
            labels(key),
            count.load(Ordering::Relaxed)
        );
    });
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value in the text format: backslash, quote and newline escaped.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Counts each team request under `/v1` by route and status class (requests without a
/// verified team token are not a team's and are not counted).
pub async fn count_team_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let team = crate::auth::verified_team(req.request());
    let metrics = req.app_data::<web::Data<TeamMetrics>>().cloned();
    let response = next.call(req).await?;
    if let (Some(team), Some(metrics)) = (team, metrics) {
        let route = response
            .request()
            .match_pattern()
            .map_or("other", |pattern| route_label(&pattern));
        metrics.request(team, route, response.status());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use accounting::TeamSlug;

    #[test]
    fn series_render_by_slug_in_a_stable_order() {
        let metrics = TeamMetrics::default();
        let (alpha, beta) = (TeamId::generate(), TeamId::generate());
        let names = TeamNames::new([(alpha, TeamSlug::parse("alpha").unwrap())]);
        metrics.request(alpha, "/v1/monitor/chatgpt", StatusCode::OK);
        metrics.request(alpha, "/v1/monitor/chatgpt", StatusCode::OK);
        metrics.request(alpha, "/v1/monitor/chatgpt", StatusCode::TOO_MANY_REQUESTS);
        metrics.charged(alpha, "/v1/monitor/chatgpt", 7);
        metrics.charged(alpha, "/v1/monitor/chatgpt", 5);
        metrics.charged(beta, "/v1/monitor/gemini", -3);
        metrics.refused(alpha, "team_rate");
        metrics.admission_waited(alpha, Duration::from_millis(2));
        metrics.upstream_took("/v1/monitor/chatgpt", Duration::from_millis(30));
        let mut text = String::new();
        metrics.render(&mut text, &names);
        for line in [
            "cloro_gateway_team_requests_total{team=\"alpha\",endpoint=\"/v1/monitor/chatgpt\",class=\"2xx\"} 2",
            "cloro_gateway_team_requests_total{team=\"alpha\",endpoint=\"/v1/monitor/chatgpt\",class=\"4xx\"} 1",
            "cloro_gateway_team_credits_charged_total{team=\"alpha\",endpoint=\"/v1/monitor/chatgpt\"} 12",
            "cloro_gateway_team_admission_refusals_total{team=\"alpha\",reason=\"team_rate\"} 1",
            "cloro_gateway_team_admission_wait_seconds_count{team=\"alpha\"} 1",
            "cloro_gateway_upstream_seconds_count{endpoint=\"/v1/monitor/chatgpt\"} 1",
            "cloro_gateway_limiter_unavailable_total 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        // A negative charge is not a counter's to record; an unknown team is named by its id.
        assert!(!text.contains("gemini"), "{text}");
    }

    #[test]
    fn a_family_stops_growing_at_its_cap_and_counts_what_it_dropped() {
        let family: Family<u32, AtomicU64> = Family::default();
        for key in 0..(MAX_SERIES as u32 + 5) {
            family.with(key, |c| {
                c.fetch_add(1, Ordering::Relaxed);
            });
        }
        family.with(0, |c| {
            c.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(family.dropped(), 5);
        let mut total = 0;
        family.each(|_, c| total += c.load(Ordering::Relaxed));
        assert_eq!(total, MAX_SERIES as u64 + 1);
    }

    #[test]
    fn unknown_routes_and_endpoints_fold_into_other() {
        assert_eq!(route_label("/v1/async/task/{id}"), "/v1/async/task/{id}");
        assert_eq!(route_label("/v1/elsewhere"), "other");
        assert_eq!(
            endpoint_label("/v1/monitor/google/news"),
            "/v1/monitor/google/news"
        );
        assert_eq!(endpoint_label("/v1/async/task"), "other");
    }

    #[test]
    fn every_v1_route_of_the_openapi_document_has_its_own_label() {
        let document = crate::openapi::document();
        let v1: Vec<&String> = document
            .paths
            .paths
            .keys()
            .filter(|path| path.starts_with("/v1/"))
            .collect();
        assert!(!v1.is_empty());
        for path in v1 {
            assert_eq!(route_label(path), path.as_str(), "{path} has no label");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
