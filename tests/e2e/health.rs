//! `/healthz` and `/readyz`, including readiness naming the dependency that is down.

use e2e_tests::TestApp;

#[tokio::test]
async fn healthz_answers_ok() {
    let app = TestApp::spawn().await.unwrap();
    let response = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn readyz_is_ready_when_postgres_and_redis_answer() {
    let app = TestApp::spawn().await.unwrap();
    let response = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["postgres"], "ok");
    assert_eq!(body["checks"]["redis"], "ok");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn readyz_names_redis_when_it_does_not_answer() {
    // A port nothing listens on: the pool is lazy, so start-up succeeds and readyz fails.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let app = TestApp::builder()
        .settings(move |s| {
            s.redis.url =
                cloro_gateway::secret::Secret::new(format!("redis://127.0.0.1:{dead_port}"));
        })
        .spawn()
        .await
        .unwrap();
    let response = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["postgres"], "ok");
    assert!(
        body["checks"]["redis"]
            .as_str()
            .unwrap()
            .starts_with("error")
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn caller_request_id_is_echoed() {
    let app = TestApp::spawn().await.unwrap();
    let response = app
        .http
        .get(app.url("/healthz"))
        .header("X-Request-ID", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-42");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_route_gets_cloro_404_envelope() {
    let app = TestApp::spawn().await.unwrap();
    let response = app.http.get(app.url("/v1/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "RESOURCE_NOT_FOUND");
    assert!(body["error"]["timestamp"].is_string());
    app.shutdown().await.unwrap();
}
