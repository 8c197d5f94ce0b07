//! The Grafana dashboard and the Prometheus alert rules in `deploy/` are checked against the
//! gateway itself: every `cloro_gateway_*` series they name is one a running gateway's
//! `/metrics` declares, the dashboard is well formed, and promtool (from Debian's
//! `prometheus` package) parses the rules and passes their unit tests.

use e2e_tests::TestApp;
use e2e_tests::debian_package;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

const DASHBOARD: &str = "deploy/grafana/dashboards/cloro-gateway.json";
const RULES: &str = "deploy/prometheus/alerts.yml";
const RULE_TESTS: &str = "deploy/prometheus/alerts.test.yml";

/// Every family `/metrics` declares (`# TYPE name kind`), by name.
async fn declared_families(app: &TestApp) -> HashMap<String, String> {
    let text = app.metrics_text().await;
    text.lines()
        .filter_map(|line| {
            let mut words = line.strip_prefix("# TYPE ")?.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect()
}

/// The `cloro_gateway_*` identifiers in `text`.
fn series_named_in(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("cloro_gateway_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names.sort();
    names.dedup();
    names
}

/// Whether `name` is a declared family or one of a declared histogram's series.
fn is_exported(name: &str, families: &HashMap<String, String>) -> bool {
    if families.contains_key(name) {
        return true;
    }
    ["_bucket", "_sum", "_count"].iter().any(|suffix| {
        name.strip_suffix(suffix)
            .and_then(|base| families.get(base))
            .is_some_and(|kind| kind == "histogram")
    })
}

#[tokio::test]
async fn the_dashboard_and_the_alert_rules_name_only_exported_series() {
    let app = TestApp::spawn().await.unwrap();
    let families = declared_families(&app).await;
    assert!(families.contains_key("cloro_gateway_team_requests_total"));
    for file in [DASHBOARD, RULES, RULE_TESTS] {
        let text = std::fs::read_to_string(repo_file(file)).unwrap();
        let named = series_named_in(&text);
        assert!(!named.is_empty(), "{file} names no series");
        let unknown: Vec<&String> = named
            .iter()
            .filter(|name| !is_exported(name, &families))
            .collect();
        assert!(
            unknown.is_empty(),
            "{file} names series /metrics does not export: {unknown:?}"
        );
    }
    app.shutdown().await.unwrap();
}

#[test]
fn the_series_check_itself_refuses_an_unknown_name() {
    let families: HashMap<String, String> = [
        ("cloro_gateway_a_total", "counter"),
        ("cloro_gateway_b_seconds", "histogram"),
    ]
    .into_iter()
    .map(|(n, k)| (n.to_owned(), k.to_owned()))
    .collect();
    let named = series_named_in(
        "rate(cloro_gateway_a_total[5m]) + cloro_gateway_b_seconds_bucket{le=\"1\"} \
         / cloro_gateway_a_total_bucket + cloro_gateway_c",
    );
    let unknown: Vec<&String> = named
        .iter()
        .filter(|name| !is_exported(name, &families))
        .collect();
    assert_eq!(
        unknown,
        ["cloro_gateway_a_total_bucket", "cloro_gateway_c"],
        "a counter has no buckets; an undeclared family is unknown"
    );
}

#[test]
fn the_dashboard_is_well_formed() {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_file(DASHBOARD)).unwrap()).unwrap();
    assert_eq!(dashboard["uid"], "cloro-gateway");
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10, "{} panels", panels.len());
    let mut ids = Vec::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        ids.push(panel["id"].as_u64().unwrap());
        for key in ["x", "y", "w", "h"] {
            assert!(panel["gridPos"][key].is_u64(), "{title}: gridPos.{key}");
        }
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            assert!(expr.contains("cloro_gateway_"), "{title}: {expr}");
            assert_eq!(
                expr.matches('(').count(),
                expr.matches(')').count(),
                "{title}: unbalanced {expr}"
            );
        }
    }
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "panel ids are unique");
    // What the issue asks the dashboard to show, by the series it is drawn from.
    let all = serde_json::to_string(panels).unwrap();
    for series in [
        "cloro_gateway_team_requests_total",
        "cloro_gateway_team_credits_charged_total",
        "cloro_gateway_team_held_credits",
        "cloro_gateway_team_budget_left_credits",
        "cloro_gateway_team_admission_refusals_total",
        "cloro_gateway_team_admission_wait_seconds_bucket",
        "cloro_gateway_upstream_seconds_bucket",
        "cloro_gateway_stage_seconds_bucket",
    ] {
        assert!(all.contains(series), "no panel draws {series}");
    }
}

fn promtool() -> PathBuf {
    static PROMTOOL: OnceLock<PathBuf> = OnceLock::new();
    PROMTOOL
        .get_or_init(|| debian_package::ensure("/usr/bin/promtool", "prometheus"))
        .clone()
}

#[test]
fn promtool_parses_the_rules_and_passes_their_unit_tests() {
    let promtool = promtool();
    for args in [["check", "rules", RULES], ["test", "rules", RULE_TESTS]] {
        let output = Command::new(&promtool)
            .args(args)
            .current_dir(repo_file(""))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "promtool {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
