//! Free reference data is free in credits but not in the account's rate: each call is
//! admitted against the team's rate, and cloro's answers are cached.

use e2e_tests::TestApp;

#[tokio::test]
async fn reference_calls_count_against_the_teams_rate() {
    let app = TestApp::builder()
        .settings(|s| {
            s.limits.team_default.rps = 0.01;
            s.limits.team_default.burst = 1;
        })
        .spawn()
        .await
        .unwrap();
    app.create_team("looper").await;
    let token = app.team_token("looper").await;
    let (first, _) = app.get_json("/v1/countries", &token).await;
    assert_eq!(first, 200);
    let (second, refused) = app.get_json("/v1/states?country=US", &token).await;
    assert_eq!(second, 429, "{refused}");
    assert_eq!(refused["error"]["code"], "RATE_LIMIT_EXCEEDED");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn cloros_reference_answers_are_cached() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("reader").await;
    let token = app.team_token("reader").await;
    for _ in 0..3 {
        let (status, countries) = app.get_json("/v1/countries", &token).await;
        assert_eq!(status, 200);
        assert!(countries.is_array(), "{countries}");
    }
    let upstream_calls = app
        .sim
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/countries")
        .count();
    assert_eq!(upstream_calls, 1, "one upstream call, then the cache");
    app.shutdown().await.unwrap();
}
