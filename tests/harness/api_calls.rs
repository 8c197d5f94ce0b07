//! JSON calls to the gateway's management routes (admin, finance, team): one request with a
//! bearer token, the status and JSON body back; the assertion on cloro's error envelope; and
//! the set-ups many admin tests share (an admin with a name, a team with a quota, audit rows).

use crate::TestApp;
use accounting::Role;
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

impl TestApp {
    /// Sends `method path` with an optional bearer token and JSON body; returns the status
    /// and the JSON body (null if not JSON).
    pub async fn call_json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request to the gateway");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn admin_get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call_json(Method::GET, path, Some(token), None).await
    }

    pub async fn admin_post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call_json(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn admin_put(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call_json(Method::PUT, path, Some(token), Some(body))
            .await
    }

    pub async fn admin_patch(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call_json(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn admin_delete(&self, path: &str, token: &str) -> (u16, Value) {
        self.call_json(Method::DELETE, path, Some(token), None)
            .await
    }

    /// An admin token whose `sub` (the audit actor) is `subject`.
    pub async fn admin_token_as(&self, subject: &str) -> String {
        cloro_gateway::cli::mint_for(
            &self.db,
            &self.settings,
            Role::Admin,
            None,
            Some(subject.to_owned()),
            Duration::from_secs(3600),
        )
        .await
        .expect("mint admin token")
        .token
    }

    /// Creates an active team and sets its quota through `PUT /admin/teams/{slug}/quota`
    /// (applied by the gateway before the call answers); `quota` is that route's body.
    pub async fn create_team_with_quota(
        &self,
        slug: &str,
        quota: Value,
    ) -> accounting::teams::Team {
        let team = self.create_team(slug).await;
        let admin = self.admin_token().await;
        let (status, body) = self
            .admin_put(&format!("/admin/teams/{slug}/quota"), &admin, quota)
            .await;
        assert_eq!(status, 200, "setting the quota of {slug}: {body}");
        team
    }

    /// The audit rows for one target, oldest first.
    pub async fn audit_of(&self, admin: &str, target_type: &str, target_id: &str) -> Vec<Value> {
        let path = format!("/admin/audit?targetType={target_type}&targetId={target_id}");
        let (status, body) = self.admin_get(&path, admin).await;
        assert_eq!(status, 200, "{body}");
        let mut items = body["items"].as_array().expect("audit items").clone();
        items.reverse();
        items
    }
}

/// Asserts a cloro error envelope with `code` (and, for 400s, the field named) on a
/// `(status, body)` answer.
pub fn assert_error(answer: &(u16, Value), status: u16, code: &str, field: Option<&str>) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["success"], false, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
    if let Some(field) = field {
        let fields: Vec<&str> = answer.1["error"]["details"]
            .as_array()
            .map(|d| d.iter().filter_map(|f| f["field"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            fields.contains(&field),
            "expected field {field}: {}",
            answer.1
        );
    }
}
