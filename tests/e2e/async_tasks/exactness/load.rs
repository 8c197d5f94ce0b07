//! The load the exactness tests send: per team, a mix of sync calls, single async tasks
//! (some read back at once) and batches with refused items, and what each job was given.

use e2e_tests::TestApp;
use serde_json::{Value, json};
use uuid::Uuid;

/// What one job sent, as the team saw it.
pub(super) struct Sent {
    pub(super) team: usize,
    /// The X-Request-ID of a sync call.
    pub(super) request_ids: Vec<String>,
    /// The task ids the gateway answered with.
    pub(super) task_ids: Vec<String>,
    pub(super) status: u16,
}

/// A task body: one of five engines, some with the team's own key (the same keys in every
/// team: the gateway namespaces them), priority 1-3.
fn task(i: usize, k: usize, key: Option<String>) -> Value {
    let prompt = format!("What do you know about Acme Corp? ({i}/{k})");
    let (task_type, payload) = match (i + k) % 5 {
        0 => ("CHATGPT", json!({"prompt": prompt, "country": "US"})),
        1 => (
            "AIMODE",
            json!({"prompt": prompt, "country": "US", "include": {"expandProducts": true}}),
        ),
        2 => (
            "GOOGLE",
            json!({"query": prompt, "country": "US", "pages": 2}),
        ),
        3 => ("GEMINI", json!({"prompt": prompt, "country": "DE"})),
        _ => (
            "PERPLEXITY",
            json!({"prompt": prompt, "country": "US", "state": "CA"}),
        ),
    };
    let mut body = json!({"taskType": task_type, "payload": payload, "priority": (i + k) % 3 + 1});
    if let Some(key) = key {
        body["idempotencyKey"] = json!(key);
    }
    body
}

/// A sync call: the bodies of the sync exactness test.
fn sync_call(i: usize) -> (&'static str, Value) {
    match i % 4 {
        0 => (
            "/v1/monitor/chatgpt",
            json!({"prompt": "p", "country": "US", "include": {"ads": true}}),
        ),
        1 => (
            "/v1/monitor/google",
            json!({"query": "q", "country": "US", "pages": 3}),
        ),
        2 => (
            "/v1/monitor/aimode",
            json!({"prompt": "p", "country": "US", "include": {"expandProducts": true}}),
        ),
        _ => (
            "/v1/monitor/perplexity",
            json!({"prompt": "p", "country": "US", "state": "CA"}),
        ),
    }
}

/// Job `i` of a team: a sync call, a single task (every third one read back at once by the
/// team), or a batch of four tasks plus, every third batch, a task the gateway refuses and
/// one reusing the team's key `job-5` (refused too: neither costs anything).
pub(super) async fn send(app: &TestApp, team: usize, token: &str, i: usize) -> Sent {
    let mut sent = Sent {
        team,
        request_ids: Vec::new(),
        task_ids: Vec::new(),
        status: 0,
    };
    match i % 8 {
        0..=4 => {
            let (path, body) = sync_call(i);
            let request_id = Uuid::new_v4().to_string();
            sent.status = app
                .post_json(path, token, &body)
                .header("x-request-id", &request_id)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            sent.request_ids.push(request_id);
        }
        5 | 6 => {
            let key = (i % 2 == 1).then(|| format!("job-{i}"));
            let (status, answer) = post(app, "/v1/async/task", token, &task(i, 0, key)).await;
            sent.status = status;
            if let Some(id) = answer.pointer("/task/id").and_then(Value::as_str) {
                sent.task_ids.push(id.to_owned());
                if i % 3 == 0 {
                    let (read, view) = app.get_json(&format!("/v1/async/task/{id}"), token).await;
                    assert_eq!(read, 200, "the team reads its own task: {view}");
                }
            }
        }
        _ => {
            let mut items: Vec<Value> = (0..4)
                .map(|k| task(i, k, (k % 2 == 0).then(|| format!("batch-{i}-{k}"))))
                .collect();
            if i % 3 == 0 {
                items.push(
                    json!({"taskType": "GOOGLE_GOTO", "payload": {"url": "https://example.com"}}),
                );
                items.push(task(i, 9, Some("job-5".into())));
            }
            let (status, answer) = post(app, "/v1/async/task/batch", token, &json!(items)).await;
            sent.status = status;
            assert_eq!(status, 200, "{answer}");
            let results = answer["results"].as_array().cloned().unwrap_or_default();
            assert_eq!(results.len(), items.len(), "every item answered: {answer}");
            for result in results {
                if let Some(id) = result.pointer("/task/id").and_then(Value::as_str) {
                    sent.task_ids.push(id.to_owned());
                }
            }
        }
    }
    sent
}

async fn post(app: &TestApp, path: &str, token: &str, body: &Value) -> (u16, Value) {
    match app.post_json(path, token, body).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}
