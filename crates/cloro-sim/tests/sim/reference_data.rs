//! Free reference endpoints: countries, states, credits.

use cloro_sim::{Profile, SimConfig};
use serde_json::{Value, json};

use crate::helpers::TestSim;

#[tokio::test]
async fn countries_are_a_flat_array_of_iso_codes_filtered_by_model() {
    let t = TestSim::default().await;
    let all = t.get("/v1/countries").await;
    assert_eq!(all.status, 200);
    let countries = all.body.as_array().unwrap();
    assert!(countries.len() > 200);
    assert!(countries.iter().all(|c| {
        c.as_str()
            .is_some_and(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
    }));
    assert!(countries.contains(&json!("US")) && countries.contains(&json!("GB")));
    let chatgpt = t.get("/v1/countries?model=chatgpt").await;
    assert_eq!(chatgpt.status, 200);
    assert!(chatgpt.body.as_array().unwrap().contains(&json!("US")));
    let unknown = t.get("/v1/countries?model=bing").await;
    assert_eq!(
        (unknown.status, unknown.fields()),
        (400, vec!["model".to_owned()])
    );
    let extra = t.get("/v1/countries?foo=1").await;
    assert_eq!(extra.status, 400);
    assert_eq!(
        t.get("/v1/countries").await.body,
        all.body,
        "free and stable"
    );
    t.stop().await;
}

#[tokio::test]
async fn states_need_a_country_and_are_a_flat_array_of_code_and_name() {
    let t = TestSim::default().await;
    let us = t.get("/v1/states?country=US").await;
    assert_eq!(us.status, 200);
    let states = us.body.as_array().unwrap();
    assert_eq!(states.len(), 51);
    assert!(states.contains(&json!({"code": "CA", "name": "California"})));
    assert!(states.iter().all(|s| s.as_object().unwrap().len() == 2));
    assert_eq!(
        t.get("/v1/states?country=DE").await.body,
        Value::Array(Vec::new())
    );
    assert_eq!(t.get("/v1/states?country=us").await.status, 400);

    let missing = t.get("/v1/states").await;
    assert_eq!(
        (missing.status, missing.code()),
        (400, "VALIDATION_ERROR"),
        "{missing:?}"
    );
    assert_eq!(missing.fields(), vec!["country".to_owned()]);
    assert_eq!(missing.body["success"], false);
    t.stop().await;
}

#[tokio::test]
async fn a_missing_state_country_uses_the_active_profile_envelope() {
    let t = TestSim::start(SimConfig {
        profile: Profile::legacy(),
        ..SimConfig::default()
    })
    .await;
    let legacy = t.get("/v1/states").await;
    assert_eq!((legacy.status, legacy.code()), (400, "VALIDATION_ERROR"));
    assert_eq!(legacy.fields(), vec!["country".to_owned()]);
    assert!(legacy.body.get("success").is_none(), "{:?}", legacy.body);

    t.configure(json!({"profile": "legacy-plain"})).await;
    let plain = t.get("/v1/states").await;
    assert_eq!(plain.status, 400);
    let message = plain.body["error"].as_str().unwrap();
    assert!(message.contains("country"), "{message}");
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
