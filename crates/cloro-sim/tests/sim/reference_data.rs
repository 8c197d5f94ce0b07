//! Free reference endpoints: countries, states, credits.

use serde_json::Value;

use crate::helpers::TestSim;

#[tokio::test]
async fn countries_list_iso_codes_and_filter_by_model() {
    let t = TestSim::default().await;
    let all = t.get("/v1/countries").await;
    assert_eq!(all.status, 200);
    let countries = all.body["countries"].as_array().unwrap();
    assert!(countries.len() > 200);
    assert!(
        countries
            .iter()
            .any(|c| c["code"] == "US" && c["name"].is_string())
    );
    let chatgpt = t.get("/v1/countries?model=chatgpt").await;
    assert_eq!(
        (chatgpt.status, chatgpt.body["model"].as_str()),
        (200, Some("CHATGPT"))
    );
    let unknown = t.get("/v1/countries?model=bing").await;
    assert_eq!(
        (unknown.status, unknown.fields()),
        (400, vec!["model".to_owned()])
    );
    let extra = t.get("/v1/countries?foo=1").await;
    assert_eq!(extra.status, 400);
    assert_eq!(
        t.get("/v1/countries").await.body["countries"],
        all.body["countries"],
        "free and stable"
    );
    t.stop().await;
}

#[tokio::test]
async fn states_default_to_the_us() {
    let t = TestSim::default().await;
    let default = t.get("/v1/states").await;
    assert_eq!(default.status, 200);
    let states = default.body["states"].as_array().unwrap();
    assert_eq!(states.len(), 51);
    assert!(
        states
            .iter()
            .any(|s| s["code"] == "CA" && s["name"] == "California")
    );
    assert_eq!(
        t.get("/v1/states?country=US").await.body["states"],
        default.body["states"]
    );
    assert_eq!(
        t.get("/v1/states?country=DE").await.body["states"],
        Value::Array(Vec::new())
    );
    assert_eq!(t.get("/v1/states?country=us").await.status, 400);
    t.stop().await;
}

#[tokio::test]
async fn credits_report_remaining_per_cycle_and_reset() {
    let t = TestSim::default().await;
    let credits = t.get("/v1/credits").await;
    assert_eq!(credits.body["remaining"], 1_000_000);
    assert_eq!(credits.body["perCycle"], 1_000_000);
    let reset = credits.body["cycleResetsAt"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(reset).is_ok());
    assert_eq!(t.stats().await.credits_charged, 0, "reference data is free");
    t.stop().await;
}
