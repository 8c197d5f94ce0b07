//! Webhook delivery to a local receiver: signed body, retries on non-2xx, the delivered flag.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use cloro_sim::{FaultRates, SimConfig};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TestSim, chatgpt};

const SECRET: &str = "whsec_test_secret_for_the_simulator";

/// One delivery as the receiver saw it.
#[derive(Clone, Debug)]
struct Delivery {
    at: Instant,
    timestamp: Option<String>,
    signature: Option<String>,
    webhook_id: Option<String>,
    body: Vec<u8>,
}

/// A local receiver that answers the first `failures` deliveries with 500.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Delivery>>>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    fn start(failures: usize) -> Self {
        let seen: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let shared = web::Data::new(Arc::clone(&seen));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            App::new().app_data(shared.clone()).route(
                "/hook",
                web::post().to(
                    move |request: HttpRequest,
                          body: web::Bytes,
                          seen: web::Data<Arc<Mutex<Vec<Delivery>>>>| async move {
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned)
                        };
                        let mut seen = seen.lock().unwrap();
                        seen.push(Delivery {
                            at: Instant::now(),
                            timestamp: header("x-cloro-timestamp"),
                            signature: header("x-cloro-signature"),
                            webhook_id: header("x-cloro-webhook-id"),
                            body: body.to_vec(),
                        });
                        if seen.len() <= failures {
                            HttpResponse::InternalServerError().finish()
                        } else {
                            HttpResponse::Ok().finish()
                        }
                    },
                ),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            seen,
            server: handle,
        }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.seen.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize, within: Duration) -> Vec<Delivery> {
        let deadline = Instant::now() + within;
        loop {
            let deliveries = self.deliveries();
            if deliveries.len() >= count || Instant::now() > deadline {
                return deliveries;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(self) {
        self.server.stop(false).await;
    }
}

fn expected_signature(timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn signed(time_scale: f64) -> SimConfig {
    SimConfig {
        webhook_secret: Some(SECRET.into()),
        time_scale,
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn a_finished_task_is_posted_signed_to_its_webhook() {
    let receiver = Receiver::start(0);
    let t = TestSim::start(signed(1000.0)).await;
    let body = json!({"taskType": "CHATGPT", "payload": chatgpt("hook me"), "webhook": {"url": receiver.url}});
    let submitted = t.post("/v1/async/task", &body).await;
    let id = submitted.body["task"]["id"].as_str().unwrap().to_owned();

    let deliveries = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    let timestamp = delivery.timestamp.clone().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((now - timestamp.parse::<i64>().unwrap()).abs() < 10);
    assert_eq!(
        delivery.signature.as_deref(),
        Some(expected_signature(&timestamp, &delivery.body).as_str())
    );
    assert_eq!(
        delivery.webhook_id.as_deref(),
        Some(format!("{id}-1").as_str())
    );

    let payload: Value = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(payload["task"]["id"], id);
    assert_eq!(payload["task"]["status"], "COMPLETED");
    assert_eq!(payload["credits"]["creditsCharged"], 5);
    assert!(payload["response"]["text"].is_string());
    assert!(
        payload.get("webhook").is_none(),
        "the webhook body has no webhook block: {payload}"
    );

    tokio::time::sleep(Duration::from_millis(50)).await;
    let status = t.get(&format!("/v1/async/task/{id}")).await;
    assert_eq!(status.body["webhook"]["delivered"], true);
    assert!(status.body["webhook"]["deliveredAt"].is_string());
    let stats = t.stats().await;
    assert_eq!((stats.webhook_attempts, stats.webhooks_delivered), (1, 1));
    t.stop().await;
    receiver.stop().await;
}

#[tokio::test]
async fn non_2xx_replies_are_retried_with_scaled_backoff() {
    // time_scale 1000: gaps of 120, 240, 480 ms.
    let receiver = Receiver::start(2);
    let t = TestSim::start(signed(1000.0)).await;
    let body = json!({"taskType": "GEMINI", "payload": chatgpt("retry me"), "webhook": {"url": receiver.url}});
    let id = t.post("/v1/async/task", &body).await.body["task"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deliveries = receiver.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(deliveries.len(), 3);
    let ids: Vec<String> = deliveries
        .iter()
        .filter_map(|d| d.webhook_id.clone())
        .collect();
    assert_eq!(
        ids,
        [format!("{id}-1"), format!("{id}-2"), format!("{id}-3")]
    );
    let first_gap = deliveries[1].at - deliveries[0].at;
    let second_gap = deliveries[2].at - deliveries[1].at;
    assert!(first_gap >= Duration::from_millis(110), "{first_gap:?}");
    assert!(
        second_gap >= Duration::from_millis(230) && second_gap > first_gap,
        "{second_gap:?}"
    );
    for delivery in &deliveries {
        let timestamp = delivery.timestamp.clone().unwrap();
        assert_eq!(
            delivery.signature.clone().unwrap(),
            expected_signature(&timestamp, &delivery.body)
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        t.get(&format!("/v1/async/task/{id}")).await.body["webhook"]["delivered"],
        true
    );
    t.stop().await;
    receiver.stop().await;
}

#[tokio::test]
async fn delivery_stops_after_five_attempts_and_failed_tasks_are_delivered_too() {
    let receiver = Receiver::start(usize::MAX);
    let t = TestSim::start(SimConfig {
        faults: FaultRates {
            internal_error: 1.0,
            ..FaultRates::default()
        },
        ..signed(10_000.0)
    })
    .await;
    let body =
        json!({"taskType": "GROK", "payload": chatgpt("doomed"), "webhook": {"url": receiver.url}});
    let id = t.post("/v1/async/task", &body).await.body["task"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Gaps at 1/10 000: 12 + 24 + 48 + 96 ms.
    let deliveries = receiver.wait_for(6, Duration::from_millis(1500)).await;
    assert_eq!(deliveries.len(), 5, "exactly five attempts");
    let payload: Value = serde_json::from_slice(&deliveries[0].body).unwrap();
    assert_eq!(payload["task"]["status"], "FAILED");
    assert_eq!(payload["credits"]["creditsCharged"], 0);
    assert!(payload.get("webhook").is_none(), "{payload}");
    let status = t.get(&format!("/v1/async/task/{id}")).await;
    assert_eq!(status.body["webhook"]["delivered"], false);
    assert!(status.body["webhook"]["deliveredAt"].is_null());
    let stats = t.stats().await;
    assert_eq!((stats.webhook_attempts, stats.webhooks_delivered), (5, 0));
    t.stop().await;
    receiver.stop().await;
}

#[tokio::test]
async fn without_a_secret_deliveries_are_unsigned() {
    let receiver = Receiver::start(0);
    let t = TestSim::default().await;
    let body = json!({"taskType": "PERPLEXITY", "payload": chatgpt("plain"), "webhook": {"url": receiver.url}});
    t.post("/v1/async/task", &body).await;
    let deliveries = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(deliveries.len(), 1);
    assert!(deliveries[0].signature.is_none() && deliveries[0].timestamp.is_none());
    t.stop().await;
    receiver.stop().await;
}
