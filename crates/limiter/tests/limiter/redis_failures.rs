//! Redis-only: failures are classified so the gateway can apply its Redis-down policy:
//! unreachable or silent Redis is `Unavailable`, a broken call is `Script`.

use std::time::{Duration, Instant};

use limiter::{Lease, Limiter, LimiterError, RedisLimiter, RedisLimiterSettings};

use crate::support::{ACCOUNT, TestLimiter, connection, request};

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let limiter = RedisLimiter::connect(
        "redis://127.0.0.1:1",
        RedisLimiterSettings::new("x:", ACCOUNT),
    )
    .unwrap();
    let r = request("team-a");
    let admitted = limiter.admit(&r).await;
    assert!(
        matches!(admitted, Err(LimiterError::Unavailable(_))),
        "{admitted:?}"
    );
    let released = limiter.release(&Lease::for_request(&r)).await;
    assert!(released.unwrap_err().is_unavailable());
}

#[tokio::test]
async fn a_silent_redis_times_out_as_unavailable() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut settings = RedisLimiterSettings::new("x:", ACCOUNT);
    settings.command_timeout = Duration::from_millis(200);
    let limiter = RedisLimiter::connect(&format!("redis://127.0.0.1:{port}"), settings).unwrap();
    let started = Instant::now();
    let admitted = limiter.admit(&request("team-a")).await;
    assert!(
        matches!(admitted, Err(LimiterError::Unavailable(_))),
        "{admitted:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    silent.abort();
}

#[tokio::test]
async fn a_broken_call_is_a_script_error() {
    let limiter = TestLimiter::redis();
    let prefix = limiter.redis_prefix.clone().unwrap();
    // Someone wrote a string where the team's bucket hash belongs.
    let mut connection = connection().await;
    redis::cmd("SET")
        .arg(format!("{prefix}{{{ACCOUNT}}}:team:team-a:bucket"))
        .arg("not a hash")
        .arg("PX")
        .arg(60_000)
        .query_async::<()>(&mut connection)
        .await
        .unwrap();
    let admitted = limiter.admit(&request("team-a")).await;
    assert!(
        matches!(admitted, Err(LimiterError::Script(_))),
        "{admitted:?}"
    );
    limiter.cleanup().await;
}

/// A private `redis-server` on a free port, killed on drop.
struct PrivateRedis {
    port: u16,
    server: std::process::Child,
}

impl PrivateRedis {
    fn start_on(port: u16) -> Self {
        let server = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        let redis = Self { port, server };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// After Redis restarts (here: killed and started again, empty), no call fails on a
/// connection the old server closed: each connection learned of the close and reconnected.
/// Every connection of the limiter is used before and after the restart.
#[tokio::test]
async fn a_restarted_redis_is_used_again_without_failed_calls() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let redis = PrivateRedis::start_on(port);
    let mut settings = RedisLimiterSettings::new("restart:", ACCOUNT);
    settings.connections = 4;
    let limiter = RedisLimiter::connect(&redis.url(), settings).unwrap();
    for _ in 0..8 {
        limiter.ping().await.unwrap();
    }

    drop(redis);
    let redis = PrivateRedis::start_on(port);
    // Reconnecting takes a few milliseconds once the server listens again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for call in 0..8 {
        let pinged = limiter.ping().await;
        assert!(pinged.is_ok(), "call {call} after the restart: {pinged:?}");
    }
    let admitted = limiter.admit(&request("team-a")).await.unwrap();
    assert!(admitted.is_admitted(), "{admitted:?}");
    drop(redis);
}
