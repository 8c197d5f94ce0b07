//! The binary's JSON logs from the detached part of a request (the upstream call and its
//! settlement run in a task of their own): every line there still carries the request's
//! `request_id` and `team` on the `request` span of its span list (`spans`; the JSON format
//! also writes the innermost span as `span`, which may be a narrower one such as `upstream`),
//! and no span of the line names another request or team. Two such lines are provoked: an
//! upstream 503 retried ("retrying upstream", debug) and a body that breaks off after a
//! charged success ("upstream outcome unknown", warn).

use crate::support::{Deployment, signal, wait_exit};
use serde_json::{Value, json};
use std::time::Duration;

const TEAM: &str = "acme";

/// The first log line whose message is `message`.
fn line_with<'a>(lines: &'a [Value], message: &str) -> &'a Value {
    lines
        .iter()
        .find(|line| line["message"] == message)
        .unwrap_or_else(|| panic!("no {message:?} line among {} JSON lines", lines.len()))
}

/// What is wrong with `line`'s `request_id` and `team` (empty when the `request` span of its
/// span list carries both and no span of the line carries other values).
fn missing_request_fields(line: &Value, request_id: &str) -> Vec<String> {
    let message = line["message"].as_str().unwrap_or_default();
    let expected = [("request_id", request_id), ("team", TEAM)];
    let mut missing = Vec::new();
    let spans = line["spans"].as_array().cloned().unwrap_or_default();
    match spans.iter().find(|span| span["name"] == "request") {
        Some(span) => {
            for (field, value) in expected {
                if span[field] != value {
                    missing.push(format!(
                        "{message:?}: the `request` span of `spans` has {field} = {}, \
                         expected {value:?}",
                        span[field]
                    ));
                }
            }
        }
        None => missing.push(format!("{message:?}: no `request` span in `spans`")),
    }
    for span in spans.iter().chain(std::iter::once(&line["span"])) {
        for (field, value) in expected {
            if !span[field].is_null() && span[field] != value {
                missing.push(format!(
                    "{message:?}: span {} has {field} = {}, expected {value:?}",
                    span["name"], span[field]
                ));
            }
        }
    }
    missing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_of_the_detached_request_path_carry_its_request_id_and_team() {
    let sim = cloro_sim::SimConfig {
        faults: cloro_sim::FaultRates {
            service_unavailable: 1.0,
            ..cloro_sim::FaultRates::default()
        },
        retry_after_secs: 1,
        ..cloro_sim::SimConfig::default()
    };
    let deployment = Deployment::new(sim, &[("CLORO_GATEWAY__UPSTREAM__MAX_RETRIES", "1")]).await;
    deployment.run("migrate", &["migrate"]);
    let (token, _) = deployment.team_with_token(TEAM);
    let (mut gateway, url) = deployment.serve("logged").await;
    let http = reqwest::Client::new();
    let call = |request_id: &'static str| {
        http.post(format!("{url}/v1/monitor/chatgpt"))
            .bearer_auth(&token)
            .header("x-request-id", request_id)
            .json(&json!({"prompt": "p", "country": "US"}))
            .send()
    };

    // cloro answers 503 with Retry-After: 1; the gateway retries once, then relays it.
    let retried = call("log-probe-retried").await.unwrap();
    println!("the retried call answered {}", retried.status());
    // A charged success whose body breaks off: booked, flagged outcome_unknown.
    let patched = http
        .put(format!("{}/_sim/config", deployment.sim.base_url()))
        .json(&json!({"faults": {"service_unavailable": 0.0, "broken_body": 1.0}}))
        .send()
        .await
        .unwrap();
    assert!(
        patched.status().is_success(),
        "the simulator took the faults"
    );
    let unknown = call("log-probe-unknown").await.unwrap();
    println!("the cut-off call answered {}", unknown.status());

    signal(&gateway, "-TERM");
    wait_exit(&mut gateway, Duration::from_secs(20)).await;
    let lines = deployment.log_lines("logged");
    let mut missing =
        missing_request_fields(line_with(&lines, "retrying upstream"), "log-probe-retried");
    missing.extend(missing_request_fields(
        line_with(
            &lines,
            "upstream outcome unknown; booking it flagged outcome_unknown",
        ),
        "log-probe-unknown",
    ));
    assert!(
        missing.is_empty(),
        "log lines without the request's fields:\n{}",
        missing.join("\n")
    );
    deployment.teardown().await;
}
