//! Shared test plumbing: a simulator on port 0 with a typed HTTP client around it.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use cloro_sim::{DEFAULT_API_KEY, RequestRecord, RunningSim, SimConfig, SimStats};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// A reply with its body decoded as JSON (Null when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub fn header_u64(&self, name: &str) -> u64 {
        self.header(name)
            .unwrap_or_else(|| panic!("missing header {name}: {self:?}"))
            .parse()
            .unwrap_or_else(|_| panic!("header {name} is not a number"))
    }

    /// The error code, whatever the envelope.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// The field names in a VALIDATION_ERROR's details.
    pub fn fields(&self) -> Vec<String> {
        self.body["error"]["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub struct TestSim {
    pub sim: RunningSim,
    pub client: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl TestSim {
    pub async fn start(config: SimConfig) -> Self {
        let key = config.api_key.clone();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sim = cloro_sim::spawn(config, listener).await.unwrap();
        let base = sim.base_url();
        Self {
            sim,
            client: reqwest::Client::new(),
            base,
            key,
        }
    }

    pub async fn default() -> Self {
        Self::start(SimConfig::default()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(&self.key)
    }

    pub async fn send(request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// The request is built at once, so the future borrows neither `path` nor `body`.
    pub fn post(&self, path: &str, body: &Value) -> impl Future<Output = Reply> + use<> {
        Self::send(self.authed(self.client.post(self.url(path))).json(body))
    }

    pub async fn post_raw(&self, path: &str, body: &str) -> Reply {
        let request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json");
        Self::send(self.authed(request).body(body.to_owned())).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        Self::send(self.authed(self.client.get(self.url(path)))).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        Self::send(self.authed(self.client.delete(self.url(path)))).await
    }

    /// `PUT /_sim/config` (no key needed); panics unless 200.
    pub async fn configure(&self, patch: Value) -> Value {
        let reply = Self::send(self.client.put(self.url("/_sim/config")).json(&patch)).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body
    }

    pub async fn stats(&self) -> SimStats {
        let reply = Self::send(self.client.get(self.url("/_sim/stats"))).await;
        serde_json::from_value(reply.body).unwrap()
    }

    pub async fn records(&self) -> Vec<RequestRecord> {
        let reply = Self::send(self.client.get(self.url("/_sim/requests"))).await;
        serde_json::from_value(reply.body).unwrap()
    }

    /// Polls a task until COMPLETED or FAILED.
    pub async fn wait_task(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let reply = self.get(&format!("/v1/async/task/{id}")).await;
            assert_eq!(reply.status, 200, "{reply:?}");
            let status = reply.body["task"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if status == "COMPLETED" || status == "FAILED" {
                return reply.body;
            }
            assert!(Instant::now() < deadline, "task {id} stuck in {status}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the queue holds no QUEUED or PROCESSING task.
    pub async fn wait_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stats = self.stats().await;
            if stats.tasks_queued == 0 && stats.tasks_processing == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "queue never drained: {stats:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn stop(self) {
        self.sim.stop().await;
    }
}

pub fn chatgpt(prompt: &str) -> Value {
    serde_json::json!({ "prompt": prompt, "country": "US" })
}

pub fn task(task_type: &str, payload: Value) -> Value {
    serde_json::json!({ "taskType": task_type, "payload": payload })
}

pub const WRONG_KEY: &str = "sk_live_ffffffffffffffffffffffffffffffff";

#[allow(dead_code)]
pub const KEY: &str = DEFAULT_API_KEY;
