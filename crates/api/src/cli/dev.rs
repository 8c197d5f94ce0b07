//! `cloro-gateway dev`: the gateway with a cloro simulator in the same process as its
//! upstream and the local Postgres and Redis, a demo team and ready team, admin and finance
//! tokens, so one command gives a working gateway to try.

use crate::Application;
use crate::cli::admin::mint_for;
use crate::config::Settings;
use crate::connections;
use crate::secret::Secret;
use accounting::{Role, TeamSlug};
use anyhow::Context;
use std::time::Duration;

const DEMO_TEAM: &str = "demo";

pub async fn run(mut settings: Settings, sim_latency: &str) -> anyhow::Result<()> {
    let sim_config = cloro_sim::SimConfig {
        latency: sim_latency
            .parse()
            .map_err(|e| anyhow::anyhow!("--sim-latency: {e}"))?,
        ..cloro_sim::SimConfig::default()
    };
    let api_key = sim_config.api_key.clone();
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("binding the simulator's port")?;
    let sim = cloro_sim::spawn(sim_config, listener).await?;
    settings.upstream.base_url = sim.base_url();
    settings.upstream.api_key = Secret::new(api_key);
    if settings.auth.signing_secret.is_empty() {
        // A fresh secret per run: tokens printed below are valid until the gateway stops.
        let bytes: [u8; 32] = rand::random();
        settings.auth.signing_secret = Secret::new(hex::encode(bytes));
    }

    let db = connections::connect_postgres(&settings.database).await?;
    connections::migrate(&db).await?;
    let slug = TeamSlug::parse(DEMO_TEAM).map_err(|e| anyhow::anyhow!("{e}"))?;
    if accounting::teams::by_slug(&db, &slug).await?.is_none() {
        accounting::teams::create(&db, &slug, "Demo team").await?;
    }
    let day = Duration::from_secs(86400);
    let token = mint_for(&db, &settings, Role::Team, Some(DEMO_TEAM), None, day).await?;
    let admin = mint_for(&db, &settings, Role::Admin, None, None, day).await?;
    let finance = mint_for(&db, &settings, Role::Finance, None, None, day).await?;
    db.close().await;

    let app = Application::build(settings).await?;
    let port = app.port();
    println!("cloro-gateway dev: http://127.0.0.1:{port}  (docs: http://127.0.0.1:{port}/docs/)");
    println!("upstream: in-process cloro simulator at {}", sim.base_url());
    println!("team `{DEMO_TEAM}` token (24 h):\n  {}", token.token);
    println!("admin token (24 h, /admin/...):\n  {}", admin.token);
    println!("finance token (24 h, /finance/...):\n  {}", finance.token);
    println!(
        "try:\n  curl -s http://127.0.0.1:{port}/v1/monitor/chatgpt \\\n    -H 'Authorization: Bearer {}' \\\n    -H 'Content-Type: application/json' \\\n    -d '{{\"prompt\": \"What do you know about Acme Corp?\", \"country\": \"US\"}}'",
        token.token
    );
    let result = app.run_until_stopped().await;
    sim.stop().await;
    result.context("serving")
}
