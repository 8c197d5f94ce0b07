//! Live probes after the run: slots still leased in the private Redis, and each replica's
//! `/readyz`.

use super::gateway::{ACCOUNT_NAME, KEY_PREFIX};
use std::time::{Duration, Instant};

/// Lease members whose expiry (unix ms) is still ahead, in the account's lease set and in
/// every team's.
pub async fn live_leases(redis_url: &str) -> anyhow::Result<(u64, u64)> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await?;
    let now_ms = secs * 1000 + micros / 1000;
    let base = format!("{KEY_PREFIX}{{{ACCOUNT_NAME}}}:");
    let live = format!("({now_ms}");
    let account: u64 = redis::cmd("ZCOUNT")
        .arg(format!("{base}acct:leases"))
        .arg(&live)
        .arg("+inf")
        .query_async(&mut conn)
        .await?;
    let team_keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{base}team:*:leases"))
        .query_async(&mut conn)
        .await?;
    let mut team = 0;
    for key in team_keys {
        let count: u64 = redis::cmd("ZCOUNT")
            .arg(&key)
            .arg(&live)
            .arg("+inf")
            .query_async(&mut conn)
            .await?;
        team += count;
    }
    Ok((account, team))
}

/// `GET /readyz` on every replica, retried for a few seconds; the last status seen.
pub async fn readiness(
    http: &reqwest::Client,
    replicas: &[(String, String)],
) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    for (name, url) in replicas {
        let started = Instant::now();
        let status = loop {
            let status = match http
                .get(format!("{url}/readyz"))
                .timeout(Duration::from_secs(3))
                .send()
                .await
            {
                Ok(response) => response.status().as_u16().to_string(),
                Err(err) => format!("error: {err}"),
            };
            if status == "200" || started.elapsed() > Duration::from_secs(10) {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        seen.push((name.clone(), status));
    }
    seen
}
