//! Benchmark: the gateway in front of a zero-latency cloro simulator versus the simulator
//! alone. Prints requests/s and latency percentiles for both and the latency the gateway
//! adds, then where the gateway's time went, stage by stage (from its /metrics). Run with
//! `cargo run --release -p e2e-tests --bin proxy-bench -- [REQUESTS] [IN_FLIGHT]`.

mod stage_breakdown;

use cloro_sim::SimConfig;
use e2e_tests::TestApp;
use futures::StreamExt;
use serde_json::json;
use std::time::{Duration, Instant};

struct Run {
    label: &'static str,
    elapsed: Duration,
    latencies: Vec<Duration>,
    failures: usize,
}

impl Run {
    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(index).copied().unwrap_or_default()
    }

    fn print(&self) {
        let rps = self.latencies.len() as f64 / self.elapsed.as_secs_f64();
        println!(
            "{:<22} {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   failures {}",
            self.label,
            rps,
            ms(self.percentile(0.50)),
            ms(self.percentile(0.99)),
            self.failures
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn drive(
    label: &'static str,
    http: &reqwest::Client,
    url: &str,
    bearer: &str,
    requests: usize,
    in_flight: usize,
) -> Run {
    let body = json!({"prompt": "What do you know about Acme Corp?", "country": "US"});
    let started = Instant::now();
    let results: Vec<(Duration, bool)> = futures::stream::iter(0..requests)
        .map(|_| {
            let request = http.post(url).bearer_auth(bearer).json(&body);
            async move {
                let t = Instant::now();
                let ok = match request.send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                (t.elapsed(), ok)
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let failures = results.iter().filter(|(_, ok)| !ok).count();
    let mut latencies: Vec<Duration> = results.into_iter().map(|(d, _)| d).collect();
    latencies.sort();
    Run {
        label,
        elapsed,
        latencies,
        failures,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let requests: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let in_flight: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(32);
    let sim = SimConfig {
        concurrency_limit: 100_000,
        rate_limit: 1_000_000,
        credits: i64::MAX / 2,
        request_log_cap: 10,
        ..SimConfig::default()
    };
    let app = TestApp::builder()
        .sim(sim)
        .settings(|s| {
            s.server.workers = 1;
            // cloro's own 1,000 requests/s per endpoint would refuse most of the load; the
            // bench measures the gateway's overhead, not that limit.
            s.limits.account_rps_per_endpoint = 1_000_000.0;
            s.limits.account_burst = 1_000_000;
        })
        .spawn()
        .await?;
    app.create_team("bench").await;
    let token = app.team_token("bench").await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(in_flight)
        .build()?;
    let sim_url = format!("{}/v1/monitor/chatgpt", app.sim.base_url());
    let gateway_url = app.url("/v1/monitor/chatgpt");
    let key = app.settings.upstream.api_key.expose().to_owned();

    println!(
        "proxy benchmark: {requests} chatgpt calls, {in_flight} in flight, simulator latency 0"
    );
    // Warm both paths (connections, caches) before measuring.
    drive("warm-up", &http, &sim_url, &key, 500, in_flight).await;
    drive("warm-up", &http, &gateway_url, &token, 500, in_flight).await;
    let direct = drive(
        "simulator directly",
        &http,
        &sim_url,
        &key,
        requests,
        in_flight,
    )
    .await;
    let metrics_before = metrics_text(&http, &app).await?;
    let proxied = drive(
        "through the gateway",
        &http,
        &gateway_url,
        &token,
        requests,
        in_flight,
    )
    .await;
    direct.print();
    proxied.print();
    println!(
        "added latency          p50 {:>7.2} ms   p99 {:>7.2} ms",
        ms(proxied
            .percentile(0.50)
            .saturating_sub(direct.percentile(0.50))),
        ms(proxied
            .percentile(0.99)
            .saturating_sub(direct.percentile(0.99)))
    );
    println!("\nwhere the gateway's time went ({requests} calls through it):");
    stage_breakdown::print(&metrics_before, &metrics_text(&http, &app).await?);
    app.shutdown().await?;
    Ok(())
}

async fn metrics_text(http: &reqwest::Client, app: &TestApp) -> anyhow::Result<String> {
    Ok(http.get(app.url("/metrics")).send().await?.text().await?)
}
