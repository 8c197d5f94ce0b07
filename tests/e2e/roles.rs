//! Roles on every admin, finance and team route, taken from the OpenAPI document itself so a
//! new route is covered the day it is added: each route is called with no token, a team
//! token, a finance token and an admin token, and only the roles its security scheme names
//! get past authorization.

use e2e_tests::TestApp;
use reqwest::Method;
use serde_json::Value;

/// Which roles a security scheme admits.
fn admitted(scheme: &str) -> &'static [&'static str] {
    match scheme {
        "admin_jwt" => &["admin"],
        "finance_jwt" => &["finance", "admin"],
        "team_jwt" => &["team"],
        other => panic!("route with unknown security scheme {other}"),
    }
}

/// The path with every `{parameter}` filled in with something plausible.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|part| match part {
            "{slug}" => "alpha".to_owned(),
            p if p.starts_with('{') => uuid::Uuid::now_v7().to_string(),
            p => p.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_finance_and_team_route_admits_only_its_roles() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let tokens = [
        ("team", app.team_token("alpha").await),
        ("finance", app.finance_token().await),
        ("admin", app.admin_token().await),
    ];
    let document = serde_json::to_value(cloro_gateway::openapi::document()).unwrap();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        if !["/admin", "/finance", "/team"]
            .iter()
            .any(|prefix| path.starts_with(prefix))
        {
            continue;
        }
        for (method, operation) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let scheme = operation["security"][0]
                .as_object()
                .and_then(|s| s.keys().next().cloned())
                .unwrap_or_else(|| panic!("{method} {path} declares no security"));
            let allowed = admitted(&scheme);
            let url = app.url(&concrete(path));
            let request = |token: Option<&str>| {
                let mut request = app.http.request(method.clone(), &url);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                if method != Method::GET && method != Method::DELETE {
                    request = request.json(&serde_json::json!({}));
                }
                request
            };
            let anonymous = request(None).send().await.unwrap();
            assert_eq!(anonymous.status(), 401, "{method} {path} without a token");
            for (role, token) in &tokens {
                let response = request(Some(token)).send().await.unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if allowed.contains(role) {
                    assert!(
                        status != 401 && status != 403,
                        "{method} {path} refused a {role} token: {status} {body}"
                    );
                } else {
                    assert_eq!(
                        status, 403,
                        "{method} {path} let a {role} token through: {body}"
                    );
                    assert_eq!(body["error"]["code"], "FORBIDDEN");
                }
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 13,
        "only {checked} routes found in the OpenAPI document"
    );
    app.shutdown().await.unwrap();
}
