//! An open-loop load generator for the fixed-rate runs of `hot_path.sh`: requests leave at
//! evenly spaced instants whatever the answers do (hey's workers each wait for their answer,
//! and their tickers start together, so its "1,000 req/s" are bursts of ten every 10 ms).
//! Prints `p50_ms p99_ms non_2xx achieved_req_s`.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::time::Instant;

#[derive(Debug, Parser)]
#[command(about = "POST at a steady rate, open loop; print p50/p99 latency")]
struct Args {
    /// The URL to POST to.
    url: String,
    /// Requests a second.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The bearer token.
    #[arg(long)]
    bearer: String,
    /// The JSON body.
    #[arg(long)]
    body: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.rate > 0 && args.seconds > 0,
        "rate and seconds must be > 0"
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .context("building the client")?;
    let total = args.rate.saturating_mul(u32::try_from(args.seconds)?);
    let gap = Duration::from_secs(1) / args.rate;
    let started = Instant::now();
    let mut calls = Vec::new();
    for n in 0..total {
        // Each request leaves at its own instant, start + n × gap, answered or not.
        tokio::time::sleep_until(started + gap * n).await;
        let request = client
            .post(&args.url)
            .bearer_auth(&args.bearer)
            .header("content-type", "application/json")
            .body(args.body.clone());
        calls.push(tokio::spawn(async move {
            let sent = Instant::now();
            let ok = match request.send().await {
                Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                Err(_) => false,
            };
            (sent.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(calls.len());
    let mut failures = 0;
    for call in calls {
        let (took, ok) = call.await?;
        latencies.push(took);
        failures += u32::from(!ok);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let quantile = |q: f64| {
        let index = ((latencies.len().saturating_sub(1)) as f64 * q).round() as usize;
        latencies
            .get(index)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{:.2} {:.2} {failures} {:.0}",
        quantile(0.50),
        quantile(0.99),
        latencies.len() as f64 / elapsed
    );
    Ok(())
}
