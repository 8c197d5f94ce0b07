//! What a key's signature is worth: a partner key or a JWKS key signs team tokens only
//! unless its policy says more, speaks for the teams its policy lists (or maps from a claim),
//! under its own issuer; reserved subjects belong to the gateway's own key; every token
//! carries a `jti`; admin and finance tokens live at most `auth.max_admin_token_ttl_secs`.

use cloro_gateway::config::{KeyPolicySettings, KeySettings, Settings};
use e2e_tests::TestApp;
use e2e_tests::assert_error;
use e2e_tests::tokens::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The HS256 secret of the partner keys below.
const PARTNER_SECRET: &str = "partner-secret-partner-secret-partner-secret";

fn partner_key(kid: &str, policy: KeyPolicySettings) -> KeySettings {
    KeySettings {
        kid: kid.into(),
        algorithm: "HS256".into(),
        public_key_pem: None,
        secret: Some(cloro_gateway::secret::Secret::new(PARTNER_SECRET)),
        policy,
    }
}

fn partner(claims: &Value, kid: &str) -> String {
    sign_hs256(claims, PARTNER_SECRET.as_bytes(), Some(kid))
}

fn admin_claims(subject: &str) -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "role": "admin",
        "jti": uuid::Uuid::now_v7().to_string(), "iat": now(), "exp": now() + 600,
    })
}

/// GET `path` with `token`: (status, error code or "").
async fn get(app: &TestApp, path: &str, token: &str) -> (u16, String) {
    let (status, body) = app.admin_get(path, token).await;
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

fn with_keys(keys: Vec<KeySettings>) -> impl FnOnce(&mut Settings) + Send + 'static {
    move |s: &mut Settings| s.auth.keys = keys
}

#[tokio::test]
async fn a_partner_key_signs_team_tokens_only_unless_its_policy_grants_more() {
    let admin_policy = KeyPolicySettings {
        roles: vec!["team".into(), "admin".into()],
        ..KeyPolicySettings::default()
    };
    let app = TestApp::builder()
        .settings(with_keys(vec![
            partner_key("partner", KeyPolicySettings::default()),
            partner_key("trusted", admin_policy),
        ]))
        .spawn()
        .await
        .unwrap();
    app.create_team("alpha").await;

    let team = partner(&team_claims("alpha"), "partner");
    assert_eq!(get(&app, "/team/position", &team).await.0, 200);

    let admin = partner(&admin_claims("partner:ops"), "partner");
    assert_eq!(
        get(&app, "/admin/teams", &admin).await,
        (401, "TOKEN_NOT_PERMITTED".into())
    );
    let mut finance = admin_claims("partner:fin");
    finance["role"] = json!("finance");
    assert_eq!(
        get(&app, "/finance/positions", &partner(&finance, "partner")).await,
        (401, "TOKEN_NOT_PERMITTED".into())
    );
    // A key whose policy lists `admin` may sign admin tokens.
    let trusted = partner(&admin_claims("partner:ops"), "trusted");
    assert_eq!(get(&app, "/admin/teams", &trusted).await.0, 200);
    // ... but never with a subject reserved for the gateway's own tooling.
    for reserved in ["cli", "cli:admin", "admin:root"] {
        let token = partner(&admin_claims(reserved), "trusted");
        assert_eq!(
            get(&app, "/admin/teams", &token).await,
            (401, "TOKEN_NOT_PERMITTED".into()),
            "{reserved}"
        );
    }
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_partner_key_speaks_for_its_teams_under_its_own_issuer() {
    let listed = KeyPolicySettings {
        teams: vec!["alpha".into()],
        issuer: Some("partner-idp".into()),
        ..KeyPolicySettings::default()
    };
    let mapped = KeyPolicySettings {
        team_claim: Some("org".into()),
        team_map: Some(BTreeMap::from([("org-42".to_owned(), "beta".to_owned())])),
        ..KeyPolicySettings::default()
    };
    let app = TestApp::builder()
        .settings(with_keys(vec![
            partner_key("listed", listed),
            partner_key("mapped", mapped),
        ]))
        .spawn()
        .await
        .unwrap();
    app.create_team("alpha").await;
    app.create_team("beta").await;

    let mut alpha = team_claims("alpha");
    alpha["iss"] = json!("partner-idp");
    assert_eq!(
        get(&app, "/team/position", &partner(&alpha, "listed"))
            .await
            .0,
        200
    );
    let mut beta = team_claims("beta");
    beta["iss"] = json!("partner-idp");
    assert_eq!(
        get(&app, "/team/position", &partner(&beta, "listed")).await,
        (401, "TOKEN_NOT_PERMITTED".into())
    );
    // The gateway's issuer is not this key's.
    assert_eq!(
        get(
            &app,
            "/team/position",
            &partner(&team_claims("alpha"), "listed")
        )
        .await,
        (401, "TOKEN_ISSUER_INVALID".into())
    );

    // A mapped key: the `org` claim names the team through the map, nothing else does.
    let mut org = team_claims("ignored");
    org["org"] = json!("org-42");
    let (status, body) = app
        .admin_get("/team/position", &partner(&org, "mapped"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["team"], "beta");
    org["org"] = json!("beta");
    assert_eq!(
        get(&app, "/team/position", &partner(&org, "mapped")).await,
        (401, "TOKEN_NOT_PERMITTED".into())
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_token_needs_a_jti_and_admin_tokens_a_short_life() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let own = TEST_SIGNING_SECRET.as_bytes();

    let mut no_jti = team_claims("alpha");
    no_jti.as_object_mut().unwrap().remove("jti");
    assert_eq!(
        get(&app, "/team/position", &sign_hs256(&no_jti, own, None)).await,
        (401, "TOKEN_CLAIMS_INVALID".into())
    );

    let week = 7 * 24 * 3600;
    let mut long = admin_claims("ops");
    long["exp"] = json!(now() + week + 3600);
    assert_eq!(
        get(&app, "/admin/teams", &sign_hs256(&long, own, None)).await,
        (401, "TOKEN_NOT_PERMITTED".into())
    );
    let mut week_long = admin_claims("ops");
    week_long["exp"] = json!(now() + week);
    assert_eq!(
        get(&app, "/admin/teams", &sign_hs256(&week_long, own, None))
            .await
            .0,
        200
    );
    // A team token may live longer.
    let mut team_year = team_claims("alpha");
    team_year["exp"] = json!(now() + 300 * 24 * 3600);
    assert_eq!(
        get(&app, "/team/position", &sign_hs256(&team_year, own, None))
            .await
            .0,
        200
    );

    // Minting follows the same caps, and refuses reserved subjects.
    let admin = app.admin_token().await;
    let mint = |body: Value| app.admin_post("/admin/tokens", &admin, body);
    let refused = mint(json!({"role": "admin", "ttl": "8d"})).await;
    assert_error(&refused, 400, "VALIDATION_ERROR", Some("ttl"));
    let refused = mint(json!({"role": "finance", "ttl": "30d"})).await;
    assert_error(&refused, 400, "VALIDATION_ERROR", Some("ttl"));
    assert_eq!(mint(json!({"role": "finance", "ttl": "7d"})).await.0, 201);
    assert_eq!(
        mint(json!({"role": "team", "team": "alpha", "ttl": "90d"}))
            .await
            .0,
        201
    );
    for reserved in ["cli", "cli:x", "admin:mallory"] {
        let refused = mint(json!({"role": "admin", "ttl": "1h", "subject": reserved})).await;
        assert_error(&refused, 400, "VALIDATION_ERROR", Some("subject"));
    }
    app.shutdown().await.unwrap();
}
