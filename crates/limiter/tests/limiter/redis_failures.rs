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
