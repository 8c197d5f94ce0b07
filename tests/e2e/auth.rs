//! Every way a bearer token can be refused, each with its own code in cloro's envelope and
//! none of them reaching the upstream; and the accepted kinds of keys (HS256, RS256 by kid,
//! ES256 from a JWKS).

use accounting::{TeamSlug, TeamStatus};
use cloro_gateway::config::KeySettings;
use e2e_tests::TestApp;
use e2e_tests::tokens::*;
use serde_json::{Value, json};

const CHATGPT: &str = "/v1/monitor/chatgpt";

fn body() -> Value {
    json!({"prompt": "What do you know about Acme Corp?", "country": "US"})
}

/// Calls chatgpt with an Authorization header value; returns (status, error code).
async fn call(app: &TestApp, authorization: Option<&str>) -> (u16, String) {
    let mut request = app.http.post(app.url(CHATGPT)).json(&body());
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status != 200 {
        assert_eq!(body["success"], false, "cloro envelope expected: {body}");
        assert!(body["error"]["timestamp"].is_string());
    }
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

async fn bearer(app: &TestApp, token: &str) -> (u16, String) {
    call(app, Some(&format!("Bearer {token}"))).await
}

#[tokio::test]
async fn every_bad_token_is_refused_with_a_precise_code_and_costs_nothing() {
    let app = TestApp::builder()
        .settings(|s| {
            s.auth.keys = vec![KeySettings {
                kid: "partner-rsa".into(),
                algorithm: "RS256".into(),
                public_key_pem: Some(RSA_PUBLIC_PEM.into()),
                secret: None,
                policy: Default::default(),
            }];
        })
        .spawn()
        .await
        .unwrap();
    app.create_team("alpha").await;
    let secret = TEST_SIGNING_SECRET.as_bytes();
    let good = team_claims("alpha");

    assert_eq!(call(&app, None).await, (401, "MISSING_API_KEY".into()));
    assert_eq!(
        call(&app, Some("Basic abc")).await,
        (401, "INVALID_API_KEY_FORMAT".into())
    );
    assert_eq!(
        bearer(&app, "not-a-jwt").await,
        (401, "INVALID_API_KEY_FORMAT".into())
    );
    assert_eq!(
        bearer(&app, &unsigned(&good)).await,
        (401, "TOKEN_ALGORITHM_NOT_ALLOWED".into())
    );
    // HMAC "signed" with the RSA public key, naming the RSA key: algorithm confusion.
    let confused = sign_hs256(&good, RSA_PUBLIC_PEM.as_bytes(), Some("partner-rsa"));
    assert_eq!(
        bearer(&app, &confused).await,
        (401, "TOKEN_ALGORITHM_NOT_ALLOWED".into())
    );
    let other_secret = sign_hs256(&good, b"another-secret-another-secret-another", None);
    assert_eq!(
        bearer(&app, &other_secret).await,
        (401, "TOKEN_SIGNATURE_INVALID".into())
    );
    let unknown_kid = sign_hs256(&good, secret, Some("who"));
    assert_eq!(
        bearer(&app, &unknown_kid).await,
        (401, "TOKEN_SIGNATURE_INVALID".into())
    );

    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("someone-else");
    assert_eq!(
        bearer(&app, &sign_hs256(&wrong_iss, secret, None)).await,
        (401, "TOKEN_ISSUER_INVALID".into())
    );
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("another-api");
    assert_eq!(
        bearer(&app, &sign_hs256(&wrong_aud, secret, None)).await,
        (401, "TOKEN_AUDIENCE_INVALID".into())
    );
    let mut expired = good.clone();
    expired["exp"] = json!(now() - 3600);
    assert_eq!(
        bearer(&app, &sign_hs256(&expired, secret, None)).await,
        (401, "TOKEN_EXPIRED".into())
    );
    // Within the leeway an expiry just past is still accepted.
    let mut just_expired = good.clone();
    just_expired["exp"] = json!(now() - 5);
    assert_eq!(
        bearer(&app, &sign_hs256(&just_expired, secret, None))
            .await
            .0,
        200
    );
    let mut early = good.clone();
    early["nbf"] = json!(now() + 3600);
    assert_eq!(
        bearer(&app, &sign_hs256(&early, secret, None)).await,
        (401, "TOKEN_NOT_YET_VALID".into())
    );
    let mut no_exp = good.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        bearer(&app, &sign_hs256(&no_exp, secret, None)).await,
        (401, "TOKEN_CLAIMS_INVALID".into())
    );
    let mut bad_role = good.clone();
    bad_role["role"] = json!("owner");
    assert_eq!(
        bearer(&app, &sign_hs256(&bad_role, secret, None)).await,
        (401, "TOKEN_CLAIMS_INVALID".into())
    );
    let ghost = team_claims("ghost-team");
    assert_eq!(
        bearer(&app, &sign_hs256(&ghost, secret, None)).await,
        (401, "UNKNOWN_TEAM".into())
    );

    // The one good call above reached the upstream; none of the refusals did.
    assert_eq!(app.sim.requests().len(), 1);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn revoked_tokens_and_suspended_teams_are_refused() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let minted = app.mint(accounting::Role::Team, Some("alpha")).await;
    assert_eq!(bearer(&app, &minted.token).await.0, 200);

    assert!(
        accounting::tokens::revoke(&app.db, minted.jti)
            .await
            .unwrap()
    );
    // Another replica's revocation reaches this one within the directory refresh (100 ms here).
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        bearer(&app, &minted.token).await,
        (401, "TOKEN_REVOKED".into())
    );

    let token = app.team_token("alpha").await;
    let slug = TeamSlug::parse("alpha").unwrap();
    accounting::teams::set_status(&app.db, &slug, TeamStatus::Suspended)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(bearer(&app, &token).await, (403, "TEAM_SUSPENDED".into()));
    accounting::teams::set_status(&app.db, &slug, TeamStatus::Active)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(bearer(&app, &token).await.0, 200);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn admin_and_finance_tokens_cannot_call_cloro_for_a_team() {
    let app = TestApp::spawn().await.unwrap();
    for role in [accounting::Role::Admin, accounting::Role::Finance] {
        let minted = app.mint(role, None).await;
        assert_eq!(bearer(&app, &minted.token).await, (403, "FORBIDDEN".into()));
    }
    assert!(app.sim.requests().is_empty());
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn rs256_by_kid_and_es256_from_a_jwks_are_accepted() {
    let jwks = json!(ec_jwks("partner-ec"));
    let jwks_server = actix_web::HttpServer::new(move || {
        let jwks = jwks.clone();
        actix_web::App::new().route(
            "/jwks.json",
            actix_web::web::get().to(move || {
                let jwks = jwks.clone();
                async move { actix_web::HttpResponse::Ok().json(jwks) }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let jwks_url = format!("http://{}/jwks.json", jwks_server.addrs()[0]);
    let jwks_server = jwks_server.run();
    let jwks_handle = jwks_server.handle();
    tokio::spawn(jwks_server);

    let app = TestApp::builder()
        .settings(move |s| {
            s.auth.jwks_url = jwks_url;
            s.auth.keys = vec![KeySettings {
                kid: "partner-rsa".into(),
                algorithm: "RS256".into(),
                public_key_pem: Some(RSA_PUBLIC_PEM.into()),
                secret: None,
                policy: Default::default(),
            }];
        })
        .spawn()
        .await
        .unwrap();
    app.create_team("alpha").await;
    let claims = team_claims("alpha");
    assert_eq!(
        bearer(&app, &sign_rs256(&claims, "partner-rsa")).await.0,
        200
    );
    assert_eq!(
        bearer(&app, &sign_es256(&claims, "partner-ec")).await.0,
        200
    );
    // A JWKS key signs team tokens only (auth.jwks_policy's default).
    let mut admin = claims.clone();
    admin["role"] = json!("admin");
    admin["sub"] = json!("idp:user");
    let refused = app
        .http
        .get(app.url("/admin/teams"))
        .bearer_auth(sign_es256(&admin, "partner-ec"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "TOKEN_NOT_PERMITTED");
    // The EC key under the RSA kid is refused: each kid verifies one algorithm only.
    assert_eq!(
        bearer(&app, &sign_es256(&claims, "partner-rsa")).await,
        (401, "TOKEN_ALGORITHM_NOT_ALLOWED".into())
    );
    app.shutdown().await.unwrap();
    jwks_handle.stop(true).await;
}
