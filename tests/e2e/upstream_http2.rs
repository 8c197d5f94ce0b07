//! `upstream.http2_prior_knowledge`: the gateway speaks HTTP/2 to a plain-http upstream, so
//! concurrent calls are streams on one connection, and the ledger books them as ever.

use cloro_sim::SimConfig;
use e2e_tests::TestApp;
use futures::future::join_all;
use serde_json::json;

#[tokio::test]
async fn concurrent_calls_over_http2_are_answered_and_booked() {
    let app = TestApp::builder()
        .sim(SimConfig {
            latency: "fixed:300ms".parse().unwrap(),
            concurrency_limit: 100,
            ..SimConfig::default()
        })
        .settings(|s| {
            s.upstream.http2_prior_knowledge = true;
            s.limits.account_concurrency = 100;
        })
        .spawn()
        .await
        .unwrap();
    app.create_team_with_quota(
        "streams",
        json!({"rps": 1000, "burst": 1000, "concurrency": 100}),
    )
    .await;
    let token = app.team_token("streams").await;
    let calls = (0..40).map(|_| {
        app.http
            .post(app.url("/v1/monitor/chatgpt"))
            .bearer_auth(&token)
            .json(&json!({"prompt": "What do you know about Acme Corp?", "country": "US"}))
            .send()
    });
    let answers = join_all(calls).await;
    let mut charged = 0;
    for answer in answers {
        let answer = answer.unwrap();
        assert_eq!(answer.status(), 200);
        charged += answer.headers()["x-credits-charged"]
            .to_str()
            .unwrap()
            .parse::<i64>()
            .unwrap();
    }
    let finance = app.finance_token().await;
    let (status, page) = app
        .get_json("/finance/entries?team=streams&limit=100", &finance)
        .await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 40);
    let booked: i64 = items.iter().map(|e| e["charged"].as_i64().unwrap()).sum();
    assert_eq!(booked, charged, "the ledger books what cloro charged");
    assert!(items.iter().all(|e| e["status"] == "POSTED"));
    app.shutdown().await.unwrap();
}
