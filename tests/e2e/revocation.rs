//! Revocation that always works: any token by (issuer, jti), whoever signed it; a subject's
//! cut-off that refuses everything it held; revoking a token revokes the tokens it minted;
//! and every audit row names the token the change was made with.

use cloro_gateway::config::{KeyPolicySettings, KeySettings};
use e2e_tests::TestApp;
use e2e_tests::tokens::*;
use serde_json::{Value, json};

const PARTNER_SECRET: &str = "partner-secret-partner-secret-partner-secret";

fn partner(claims: &Value) -> String {
    sign_hs256(claims, PARTNER_SECRET.as_bytes(), Some("partner"))
}

/// A gateway that also accepts team tokens from a partner key under the issuer `partner-idp`.
async fn app_with_partner() -> TestApp {
    TestApp::builder()
        .settings(|s| {
            s.auth.keys = vec![KeySettings {
                kid: "partner".into(),
                algorithm: "HS256".into(),
                public_key_pem: None,
                secret: Some(cloro_gateway::secret::Secret::new(PARTNER_SECRET)),
                policy: KeyPolicySettings {
                    issuer: Some("partner-idp".into()),
                    ..KeyPolicySettings::default()
                },
            }];
        })
        .spawn()
        .await
        .unwrap()
}

fn partner_claims(subject: &str, jti: &str, issued_at: i64) -> Value {
    let mut claims = team_claims("alpha");
    claims["iss"] = json!("partner-idp");
    claims["sub"] = json!(subject);
    claims["jti"] = json!(jti);
    claims["iat"] = json!(issued_at);
    claims["nbf"] = json!(issued_at);
    claims
}

async fn status(app: &TestApp, path: &str, token: &str) -> (u16, String) {
    let (status, body) = app.admin_get(path, token).await;
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn a_partner_token_is_revoked_by_issuer_and_jti() {
    let app = app_with_partner().await;
    app.create_team("alpha").await;
    let admin = app.admin_token().await;
    let token = partner(&partner_claims("partner:bob", "bob-1", now()));
    // The same jti under the gateway's own issuer is another token.
    let own_same_jti = {
        let mut claims = team_claims("alpha");
        claims["jti"] = json!("bob-1");
        sign_hs256(&claims, TEST_SIGNING_SECRET.as_bytes(), None)
    };
    assert_eq!(status(&app, "/team/position", &token).await.0, 200);

    let (code, body) = app
        .admin_post(
            "/admin/revocations",
            &admin,
            json!({"issuer": "partner-idp", "jti": "bob-1", "reason": "laptop stolen"}),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["revocation"]["revokedBy"], "cli:admin");
    assert_eq!(
        status(&app, "/team/position", &token).await,
        (401, "TOKEN_REVOKED".into())
    );
    assert_eq!(status(&app, "/team/position", &own_same_jti).await.0, 200);

    let (code, body) = app
        .admin_post(
            "/admin/revocations",
            &admin,
            json!({"issuer": "partner-idp", "jti": "bob-1"}),
        )
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (409, Some("TOKEN_ALREADY_REVOKED"))
    );
    let (code, page) = app.admin_get("/admin/revocations?limit=10", &admin).await;
    assert_eq!(code, 200);
    assert_eq!(page["items"][0]["jti"], "bob-1");
    assert_eq!(page["items"][0]["reason"], "laptop stolen");

    // Another replica learns it from Postgres, not from this one's memory.
    let replica = app.replica().await.unwrap();
    let answer = app
        .http
        .get(format!("{}/team/position", replica.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    replica.stop().await;
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_subject_cutoff_refuses_everything_it_held_and_nothing_newer() {
    let app = app_with_partner().await;
    app.create_team("alpha").await;
    let admin = app.admin_token().await;
    let old = partner(&partner_claims("partner:carol", "c-1", now() - 60));
    let older = partner(&partner_claims("partner:carol", "c-2", now() - 120));
    let mut no_iat = partner_claims("partner:carol", "c-3", now());
    no_iat.as_object_mut().unwrap().remove("iat");
    let no_iat = partner(&no_iat);
    let someone_else = partner(&partner_claims("partner:dave", "d-1", now() - 60));
    for token in [&old, &older, &no_iat, &someone_else] {
        assert_eq!(status(&app, "/team/position", token).await.0, 200);
    }

    let cutoff = chrono::Utc::now() - chrono::Duration::seconds(10);
    let (code, body) = app
        .admin_post(
            "/admin/subject-cutoffs",
            &admin,
            json!({"issuer": "partner-idp", "subject": "partner:carol", "notBefore": cutoff.to_rfc3339()}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    for token in [&old, &older, &no_iat] {
        assert_eq!(
            status(&app, "/team/position", token).await,
            (401, "TOKEN_REVOKED".into())
        );
    }
    assert_eq!(status(&app, "/team/position", &someone_else).await.0, 200);
    let fresh = partner(&partner_claims("partner:carol", "c-4", now()));
    assert_eq!(status(&app, "/team/position", &fresh).await.0, 200);

    let (_, list) = app.admin_get("/admin/subject-cutoffs", &admin).await;
    assert_eq!(list["items"][0]["subject"], "partner:carol");
    let bad = app
        .admin_post(
            "/admin/subject-cutoffs",
            &admin,
            json!({"subject": "x", "notBefore": "yesterday"}),
        )
        .await;
    e2e_tests::assert_error(&bad, 400, "VALIDATION_ERROR", Some("notBefore"));
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn revoking_a_token_revokes_what_it_minted_and_audit_rows_name_the_acting_token() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let root = app.admin_token().await;
    let (_, root_row) = app
        .admin_get("/admin/tokens?role=admin&limit=1", &root)
        .await;
    let root_jti = root_row["items"][0]["jti"].as_str().unwrap().to_owned();

    // root mints a delegate admin token; the delegate mints a team token.
    let (code, delegate) = app
        .admin_post(
            "/admin/tokens",
            &root,
            json!({"role": "admin", "ttl": "1h"}),
        )
        .await;
    assert_eq!(code, 201, "{delegate}");
    let delegate_token = delegate["token"].as_str().unwrap().to_owned();
    let delegate_jti = delegate["jti"].as_str().unwrap().to_owned();
    let (code, team) = app
        .admin_post(
            "/admin/tokens",
            &delegate_token,
            json!({"role": "team", "team": "alpha", "ttl": "1h"}),
        )
        .await;
    assert_eq!(code, 201, "{team}");
    let team_token = team["token"].as_str().unwrap().to_owned();
    let team_jti = team["jti"].as_str().unwrap().to_owned();
    assert_eq!(status(&app, "/team/position", &team_token).await.0, 200);

    // Each mint's audit row names the token it was made with.
    let (_, audit) = app
        .admin_get(&format!("/admin/audit?targetId={team_jti}"), &root)
        .await;
    assert_eq!(audit["items"][0]["actorJti"], delegate_jti.as_str());
    assert_eq!(audit["items"][0]["actorIssuer"], ISSUER);
    let (_, by_root) = app
        .admin_get(&format!("/admin/audit?actorJti={root_jti}"), &root)
        .await;
    assert_eq!(by_root["items"][0]["targetId"], delegate_jti.as_str());

    // A second admin revokes root: the delegate and the team token go with it.
    let other_admin = app.admin_token().await;
    let (code, body) = app
        .admin_delete(&format!("/admin/tokens/{root_jti}"), &other_admin)
        .await;
    assert_eq!(code, 200, "{body}");
    for token in [&root, &delegate_token] {
        assert_eq!(
            status(&app, "/admin/teams", token).await,
            (401, "TOKEN_REVOKED".into())
        );
    }
    assert_eq!(
        status(&app, "/team/position", &team_token).await,
        (401, "TOKEN_REVOKED".into())
    );
    let (_, listed) = app
        .admin_get("/admin/tokens?includeRevoked=true&limit=100", &other_admin)
        .await;
    let revoked: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "revoked")
        .filter_map(|t| t["jti"].as_str())
        .collect();
    for jti in [&root_jti, &delegate_jti, &team_jti] {
        assert!(revoked.contains(&jti.as_str()), "{jti} listed as revoked");
    }
    app.shutdown().await.unwrap();
}
