//! `/healthz` and `/readyz`, including readiness naming the dependency that is down (with a
//! generic reason, never the error's text), and `server.admin_listen` moving the operator
//! routes off the public listener.

use e2e_tests::TestApp;
use std::time::Duration;

/// What `/readyz` may say of a dependency that failed: the error itself is only logged.
const GENERIC_REASONS: [&str; 2] = ["unavailable", "timed out"];

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
    let text = response.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["postgres"], "ok");
    let reason = body["checks"]["redis"].as_str().unwrap();
    assert!(GENERIC_REASONS.contains(&reason), "{text}");
    for detail in [
        dead_port.to_string().as_str(),
        "127.0.0.1",
        "error",
        "limiter",
    ] {
        assert!(!text.contains(detail), "{detail:?} leaked: {text}");
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_postgres_when_it_is_down_without_its_error_text() {
    let app = TestApp::builder().private_postgres().spawn().await.unwrap();
    app.stop_postgres().await;
    let response = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let text = response.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["checks"]["redis"], "ok");
    let reason = body["checks"]["postgres"].as_str().unwrap();
    assert!(GENERIC_REASONS.contains(&reason), "{text}");
    assert!(!text.contains("error"), "{text}");
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_listen_serves_metrics_readyz_and_docs_on_its_address_only() {
    let app = TestApp::builder().admin_listener().spawn().await.unwrap();
    let get = |url: String| {
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    for path in ["/metrics", "/readyz", "/openapi.json", "/docs/"] {
        let public = get(app.url(path)).await;
        assert_eq!(public.status(), 404, "public {path}");
        let body: serde_json::Value = public.json().await.unwrap();
        assert_eq!(body["error"]["code"], "RESOURCE_NOT_FOUND");
        assert_eq!(get(app.admin_url(path)).await.status(), 200, "admin {path}");
    }
    for url in [app.url("/healthz"), app.admin_url("/healthz")] {
        assert_eq!(get(url.clone()).await.status(), 200, "{url}");
    }
    let metrics = get(app.admin_url("/metrics")).await.text().await.unwrap();
    assert!(metrics.contains("cloro_gateway_account_concurrency_limit"));
    let spec: serde_json::Value = get(app.admin_url("/openapi.json"))
        .await
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]["/v1/monitor/chatgpt"].is_object());
    let traced = app
        .http
        .get(app.admin_url("/readyz"))
        .header("X-Request-ID", "probe-1")
        .send()
        .await
        .unwrap();
    assert_eq!(traced.headers()["x-request-id"], "probe-1");

    // The API stays on the public listener only.
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let body = serde_json::json!({"prompt": "p", "country": "US"});
    let call = app.post_json("/v1/monitor/chatgpt", &token, &body);
    assert_eq!(call.send().await.unwrap().status(), 200);
    let on_admin = app
        .http
        .post(app.admin_url("/v1/monitor/chatgpt"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(on_admin.status(), 404);

    // Stopping the gateway stops both listeners.
    app.stop_gateway().await;
    let admin_health = app.admin_url("/healthz");
    let mut stopped = false;
    for _ in 0..50 {
        if app.http.get(&admin_health).send().await.is_err() {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stopped, "the admin listener outlived the gateway");
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

/// An unknown route is a 404 in cloro's envelope: anywhere for anyone, and inside a guarded
/// family (`/v1/...`) for a caller its guard admits (see `path_variants` for the others).
#[tokio::test]
async fn unknown_route_gets_cloro_404_envelope() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    for (path, token) in [("/nope", None), ("/v1/nope", Some(&token))] {
        let mut request = app.http.get(app.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "RESOURCE_NOT_FOUND");
        assert!(body["error"]["timestamp"].is_string());
    }
    app.shutdown().await.unwrap();
}
