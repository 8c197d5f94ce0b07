//! The served spec and docs UI, and the committed spec matching the code.

use e2e_tests::TestApp;

#[tokio::test]
async fn spec_is_served_and_matches_the_committed_file() {
    let app = TestApp::spawn().await.unwrap();
    let served: serde_json::Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../openapi/openapi.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(served, committed, "openapi/openapi.json is stale");
    assert!(served["paths"]["/readyz"].is_object());
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn docs_ui_is_served_offline() {
    let app = TestApp::spawn().await.unwrap();
    let response = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger"), "docs page should be swagger-ui");
    // Assets come from the binary itself, not a CDN.
    let css = app
        .http
        .get(app.url("/docs/swagger-ui.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(!html.contains("cdn."));
    app.shutdown().await.unwrap();
}
