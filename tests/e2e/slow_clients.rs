//! Slow clients: a connection that does not send its request head within
//! `server.request_head_timeout_secs` gets 408 and is closed, and a body that does not arrive
//! in full within `server.body_read_timeout_secs` is refused with 408 `REQUEST_TIMEOUT` in
//! cloro's envelope before anything is admitted, claimed, recorded or sent.

use e2e_tests::TestApp;
use e2e_tests::ledger::entries_for;
use serde_json::{Value, json};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a raw client got back, and when.
struct RawAnswer {
    /// The status code, if a response came at all.
    status: Option<u16>,
    /// The whole response as text.
    text: String,
    /// Time from connecting to the complete response (or to giving up).
    after: Duration,
}

impl RawAnswer {
    /// The body parsed as JSON (null if it is not JSON).
    fn json(&self) -> Value {
        let body = self
            .text
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body);
        serde_json::from_str(body).unwrap_or(Value::Null)
    }
}

/// Connects to the gateway, sends `head`, then `body` one byte every `every` (until the
/// server answers or closes), and reads until a complete response arrives, the server
/// closes, or `wait` passes. Blocking I/O on its own threads, like a real slow client.
async fn trickle(
    port: u16,
    head: String,
    body: Vec<u8>,
    every: Duration,
    wait: Duration,
) -> RawAnswer {
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let answered = Arc::new(AtomicBool::new(false));
        let stop = answered.clone();
        let sender = std::thread::spawn(move || {
            if writer.write_all(head.as_bytes()).is_err() {
                return;
            }
            for byte in body {
                std::thread::sleep(every);
                if stop.load(Ordering::Relaxed) || writer.write_all(&[byte]).is_err() {
                    return;
                }
            }
        });
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        while started.elapsed() < wait && !complete(&received) {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        let after = started.elapsed();
        answered.store(true, Ordering::Relaxed);
        let _ = stream.shutdown(std::net::Shutdown::Both);
        let _ = sender.join();
        let text = String::from_utf8_lossy(&received).into_owned();
        let status = text
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok());
        RawAnswer {
            status,
            text,
            after,
        }
    })
    .await
    .unwrap()
}

/// Whether `received` holds a whole response: its head and `Content-Length` bytes of body.
/// Sends `request_line` and one header, then nothing (the head never ends), and asserts the
/// listener answers 408 within 3 s (waiting up to `wait` for it).
async fn unfinished_head_gets_408(port: u16, request_line: &str, wait: Duration) {
    let head = format!("{request_line} HTTP/1.1\r\nHost: localhost\r\n");
    let answer = trickle(port, head, Vec::new(), Duration::ZERO, wait).await;
    assert_eq!(answer.status, Some(408), "{}", answer.text);
    assert!(
        answer.after < Duration::from_secs(3),
        "answered after {:?}",
        answer.after
    );
}

fn complete(received: &[u8]) -> bool {
    let text = String::from_utf8_lossy(received);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok());
    length.is_some_and(|length| body.len() >= length)
}

#[tokio::test]
async fn a_request_head_that_does_not_arrive_in_time_gets_408_and_the_connection_closes() {
    let app = TestApp::builder()
        .settings(|s| s.server.request_head_timeout_secs = 1)
        .spawn()
        .await
        .unwrap();
    unfinished_head_gets_408(app.port, "POST /v1/monitor/chatgpt", Duration::from_secs(5)).await;
    assert!(app.sim.requests().is_empty());
    app.shutdown().await.unwrap();
}

/// A sync call whose body trickles in (a byte every 200 ms of 200 announced) past the 1 s
/// deadline: 408 in cloro's envelope, and nothing admitted, claimed, recorded or sent. The
/// same for cloro's (unauthenticated) webhook receiver.
#[tokio::test]
async fn a_body_that_trickles_in_past_the_deadline_is_refused_with_408_before_anything_runs() {
    let app = TestApp::builder()
        .settings(|s| s.server.body_read_timeout_secs = 1)
        .spawn()
        .await
        .unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let body = serde_json::to_vec(&json!({"prompt": "p".repeat(150), "country": "US"})).unwrap();
    let head = format!(
        "POST /v1/monitor/chatgpt HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nIdempotency-Key: slow-body-1\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let answer = trickle(
        app.port,
        head,
        body.clone(),
        Duration::from_millis(200),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(answer.status, Some(408), "{}", answer.text);
    assert_eq!(answer.json()["error"]["code"], "REQUEST_TIMEOUT");
    assert_eq!(answer.json()["success"], false);
    assert!(
        answer.after < Duration::from_secs(3),
        "answered after {:?}",
        answer.after
    );
    assert!(app.sim.requests().is_empty(), "nothing sent upstream");
    assert!(
        entries_for(&app, "alpha").await.is_empty(),
        "nothing booked"
    );
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(keys, 0, "the Idempotency-Key was not claimed");

    // The same call sent at normal speed runs, with the same key.
    let response = app
        .http
        .post(app.url("/v1/monitor/chatgpt"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("Idempotency-Key", "slow-body-1")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.sim.requests().len(), 1);

    let head = format!(
        "POST /webhooks/cloro HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let answer = trickle(
        app.port,
        head,
        body,
        Duration::from_millis(200),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(answer.status, Some(408), "{}", answer.text);
    assert_eq!(answer.json()["error"]["code"], "REQUEST_TIMEOUT");
    app.shutdown().await.unwrap();
}

/// The admin listener (metrics, readiness, docs) keeps the same head deadline.
#[tokio::test]
async fn the_admin_listener_also_answers_a_late_request_head_with_408() {
    let app = TestApp::builder()
        .admin_listener()
        .settings(|s| s.server.request_head_timeout_secs = 1)
        .spawn()
        .await
        .unwrap();
    let port: u16 = app
        .admin_address
        .as_deref()
        .and_then(|address| address.rsplit(':').next())
        .and_then(|port| port.parse().ok())
        .unwrap();
    unfinished_head_gets_408(port, "GET /metrics", Duration::from_secs(10)).await;
    app.shutdown().await.unwrap();
}
