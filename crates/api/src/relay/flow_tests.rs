//! The relay end to end against a real Postgres (`DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, one fresh database per test) and a local
//! receiver: retried until acknowledged, relayed once per task, signed with the team's
//! secret, and resumed after a restart.

use super::*;
use accounting::{TeamSlug, teams};
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct FreshDatabase {
    pool: PgPool,
    name: String,
    admin_url: String,
}

impl FreshDatabase {
    async fn new() -> Self {
        let admin_url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("relay_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap();
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let options = PgConnectOptions::from_str(&admin_url)
            .unwrap()
            .database(&name);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap();
        accounting::migrate(&pool).await.unwrap();
        Self {
            pool,
            name,
            admin_url,
        }
    }

    async fn drop(self) {
        self.pool.close().await;
        let mut admin = PgConnection::connect(&self.admin_url).await.unwrap();
        admin
            .execute(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            )))
            .await
            .unwrap();
    }
}

/// A request the receiver got: its headers (lower-cased names) and body.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .unwrap_or_default()
    }
}

/// Answers the n-th request with `statuses[n]` (the last one from then on).
async fn receiver(statuses: Vec<u16>) -> (SocketAddr, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut raw = Vec::new();
            let mut buf = [0_u8; 4096];
            let request = loop {
                let n = socket.read(&mut buf).await.unwrap_or(0);
                raw.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&raw).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let headers: Vec<(String, String)> = text[..end]
                        .lines()
                        .skip(1)
                        .filter_map(|line| line.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let length = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .and_then(|(_, v)| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if raw.len() >= end + 4 + length {
                        break Received {
                            headers,
                            body: raw[end + 4..end + 4 + length].to_vec(),
                        };
                    }
                }
                if n == 0 {
                    return;
                }
            };
            let count = {
                let mut log = log.lock().unwrap();
                log.push(request);
                log.len()
            };
            let status = statuses[(count - 1).min(statuses.len() - 1)];
            let head =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (addr, received)
}

fn options(resume_every: Duration) -> RelayOptions {
    RelayOptions {
        allowed_hosts: vec!["127.0.0.1".to_owned()],
        retry_schedule: vec![Duration::from_millis(200); 4],
        resume_every,
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            total: Duration::from_secs(5),
        },
    }
}

async fn deliveries(pool: &PgPool, team: TeamId) -> Vec<store::DeliveryRecord> {
    store::list_for_team(pool, team, None, None, 10)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_completion_is_retried_until_acknowledged_and_relayed_once() {
    let db = FreshDatabase::new().await;
    let slug = TeamSlug::parse("relay-flow").unwrap();
    let team = teams::create(&db.pool, &slug, "Relay flow")
        .await
        .unwrap()
        .id;
    let (addr, received) = receiver(vec![500, 204]).await;
    let tasks = BackgroundTasks::new().unwrap();
    let relay = Relay::new(
        db.pool.clone(),
        options(Duration::from_millis(100)),
        tasks.clone(),
    )
    .unwrap();
    relay.spawn_resumer();

    let (entry, task) = (Uuid::now_v7(), Uuid::new_v4());
    let url = format!("http://{addr}/hooks/cloro");
    let body = json!({
        "task": {"id": task, "status": "COMPLETED", "idempotencyKey": "job-1"},
        "credits": {"creditsToCharge": 5, "creditsCharged": 5},
        "webhook": {"url": "https://gateway.example.com/webhooks/cloro"},
    });
    assert!(
        relay
            .relay(entry, team, Some(task), &url, body.clone())
            .await
            .unwrap()
    );
    assert!(
        !relay
            .relay(entry, team, Some(task), &url, body)
            .await
            .unwrap(),
        "a second settlement path relays nothing more"
    );

    let mut listed = deliveries(&db.pool, team).await;
    for _ in 0..100 {
        if listed[0].state == store::DeliveryState::Delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        listed = deliveries(&db.pool, team).await;
    }
    assert_eq!(listed.len(), 1);
    let delivery = &listed[0];
    assert_eq!(delivery.state, store::DeliveryState::Delivered);
    let statuses: Vec<Option<i32>> = delivery.attempt_log.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(204)]);

    let secret = store::secret_for(&db.pool, team).await.unwrap().secret;
    let requests = received.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    for (index, request) in requests.iter().enumerate() {
        assert_eq!(
            request.header(WEBHOOK_ID_HEADER),
            format!("{task}-{}", index + 1)
        );
        let timestamp: i64 = request.header(TIMESTAMP_HEADER).parse().unwrap();
        assert_eq!(
            request.header(SIGNATURE_HEADER),
            sign::signature(&secret, timestamp, &request.body)
        );
        let sent: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(sent["task"]["idempotencyKey"], "job-1");
        assert!(
            sent.get("webhook").is_none(),
            "the gateway's webhook stays hidden"
        );
    }
    tasks.drain(Duration::from_secs(5)).await;
    db.drop().await;
}

#[tokio::test]
async fn a_delivery_left_pending_by_a_stopped_replica_is_resumed() {
    let db = FreshDatabase::new().await;
    let slug = TeamSlug::parse("relay-resume").unwrap();
    let team = teams::create(&db.pool, &slug, "Relay resume")
        .await
        .unwrap()
        .id;
    let (addr, received) = receiver(vec![200]).await;
    let id = store::enqueue(
        &db.pool,
        &NewDelivery {
            entry_id: Uuid::now_v7(),
            team_id: team,
            task_id: None,
            url: format!("http://{addr}/hook"),
            body: json!({"task": {"status": "FAILED"}}),
        },
    )
    .await
    .unwrap()
    .unwrap();

    let tasks = BackgroundTasks::new().unwrap();
    let relay = Relay::new(db.pool.clone(), options(RESUME_EVERY), tasks.clone()).unwrap();
    assert_eq!(relay.resume_once().await.unwrap(), 1);
    assert_eq!(
        relay.resume_once().await.unwrap(),
        0,
        "claimed: not attempted twice"
    );
    assert_eq!(tasks.drain(Duration::from_secs(10)).await, 0);

    let listed = deliveries(&db.pool, team).await;
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].state, store::DeliveryState::Delivered);
    assert_eq!(listed[0].attempts, 1);
    assert_eq!(received.lock().unwrap().len(), 1);
    db.drop().await;
}
