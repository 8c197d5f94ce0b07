//! `cloro-gateway dev`: the gateway with a cloro simulator in the same process as its
//! upstream and the local Postgres and Redis, a demo team and ready team, admin and finance
//! tokens, so one command gives a working gateway to try. It is for a developer's machine:
//! it refuses a database that is not local and a configured `auth.signing_secret` (it mints a
//! throwaway secret per run, so the admin token it prints is never valid anywhere else), and
//! it creates the demo team through the audited action, like `team create`.

use crate::Application;
use crate::admin::actions::{self, Actor};
use crate::cli::admin::mint_for;
use crate::config::Settings;
use crate::connections;
use crate::secret::Secret;
use accounting::{Role, TeamSlug};
use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

const DEMO_TEAM: &str = "demo";

pub async fn run(mut settings: Settings, sim_latency: &str) -> anyhow::Result<()> {
    refuse_unsafe_settings(&settings)?;
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
    // A fresh secret per run: tokens printed below are valid until the gateway stops.
    let bytes: [u8; 32] = rand::random();
    settings.auth.signing_secret = Secret::new(hex::encode(bytes));

    let db = connections::connect_postgres(&settings.database).await?;
    connections::migrate(&db).await?;
    let slug = TeamSlug::parse(DEMO_TEAM).map_err(|e| anyhow::anyhow!("{e}"))?;
    if accounting::teams::by_slug(&db, &slug).await?.is_none() {
        actions::teams::create(&db, &Actor::cli(), DEMO_TEAM, Some("Demo team")).await?;
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

/// Refuses settings that point `dev` at something real: a configured signing secret (the
/// admin token `dev` prints would be valid against the deployment that shares it), a
/// database that is not on this machine (`dev` creates a team and mints tokens in it) or a
/// Redis that is not (its admissions would share the real account's slots and budgets).
fn refuse_unsafe_settings(settings: &Settings) -> anyhow::Result<()> {
    if !settings.auth.signing_secret.is_empty() {
        anyhow::bail!(
            "`dev` refuses to run with auth.signing_secret configured: it mints a throwaway \
             secret per run and prints admin tokens signed with it. Unset \
             CLORO_GATEWAY__AUTH__SIGNING_SECRET (or the setting in the config file), or use \
             `serve` for a real deployment"
        );
    }
    // The error names the host only: the URL may carry a password.
    let options = PgConnectOptions::from_str(settings.database.url.expose())
        .map_err(|_| anyhow::anyhow!("database.url (DATABASE_URL) is not a Postgres URL"))?;
    if !is_local(&options) {
        anyhow::bail!(
            "`dev` runs only against a local database (127.0.0.1, localhost, ::1 or a unix \
             socket), and database.url (DATABASE_URL) names host `{}`: it creates a demo team \
             and mints admin tokens there. Point DATABASE_URL at a local Postgres, or use \
             `serve` for a real deployment",
            options.get_host()
        );
    }
    if !settings.redis.cluster_nodes.is_empty() {
        anyhow::bail!(
            "`dev` runs only against a local Redis, and redis.cluster_nodes is set: its \
             admissions would take the real account's slots. Unset it, or use `serve`"
        );
    }
    if let Some(host) = remote_redis_host(settings.redis.url.expose()) {
        anyhow::bail!(
            "`dev` runs only against a local Redis (127.0.0.1, localhost, ::1 or a unix \
             socket), and redis.url (REDIS_URL) names host `{host}`: its admissions would take \
             the real account's slots and budgets. Point REDIS_URL at a local Redis, or use \
             `serve` for a real deployment"
        );
    }
    Ok(())
}

/// The host of a Redis URL that is not on this machine (`None` when local); an unreadable
/// URL is left to the connection to refuse.
fn remote_redis_host(url: &str) -> Option<String> {
    use redis::{ConnectionAddr, IntoConnectionInfo};
    let info = url.into_connection_info().ok()?;
    let host = match info.addr() {
        ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } => host,
        _ => return None,
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let local = host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    (!local).then(|| host.clone())
}

/// True when the connection goes to a unix socket or a loopback address.
fn is_local(options: &PgConnectOptions) -> bool {
    let host = options.get_host();
    if options.get_socket().is_some() || host.starts_with('/') {
        return true;
    }
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(url: &str) -> bool {
        is_local(&PgConnectOptions::from_str(url).unwrap())
    }

    #[test]
    fn loopback_hosts_and_unix_sockets_are_local() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/cloro_gateway",
            "postgres://postgres@localhost/cloro_gateway",
            "postgres://postgres@LOCALHOST:5433/x",
            "postgres://postgres@[::1]:5432/x",
            "postgres://postgres@127.0.0.2/x",
            "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/x",
            "postgres:///x?host=/var/run/postgresql",
            "postgres://postgres@db.example.com/x?hostaddr=127.0.0.1",
        ] {
            assert!(local(url), "{url}");
        }
    }

    #[test]
    fn other_hosts_are_not_local() {
        for url in [
            "postgres://gw:pw@db.internal.example:5432/prod",
            "postgres://gw@10.0.0.5/prod",
            "postgres://gw@[2001:db8::1]/prod",
            "postgres://gw@localhost.attacker.example/prod",
            "postgres://gw@127.0.0.1.nip.io/prod",
            "postgres://postgres@localhost/x?hostaddr=10.1.2.3",
        ] {
            assert!(!local(url), "{url}");
        }
    }

    fn settings(database_url: &str, signing_secret: &str) -> Settings {
        let mut settings = Settings::from_sources(None, Vec::new()).unwrap();
        settings.database.url = Secret::new(database_url);
        settings.auth.signing_secret = Secret::new(signing_secret);
        settings
    }

    #[test]
    fn a_remote_database_is_refused_naming_the_host_not_the_url() {
        let err = refuse_unsafe_settings(&settings(
            "postgres://gw:hunter2-password@db.internal.example:5432/prod",
            "",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("local database"), "{err}");
        assert!(err.contains("db.internal.example"), "{err}");
        assert!(!err.contains("hunter2-password"), "{err}");
    }

    #[test]
    fn a_remote_redis_is_refused_naming_the_host_not_the_url() {
        let local_db = "postgres://postgres@127.0.0.1:5432/cloro_gateway";
        let mut remote = settings(local_db, "");
        remote.redis.url = Secret::new("redis://:hunter2@cache.internal.example:6379/0");
        let err = refuse_unsafe_settings(&remote).unwrap_err().to_string();
        assert!(err.contains("cache.internal.example"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        for local in [
            "redis://127.0.0.1:6379",
            "redis://localhost:6380/2",
            "redis://[::1]:6379",
            "redis+unix:///tmp/redis.sock",
        ] {
            let mut ok = settings(local_db, "");
            ok.redis.url = Secret::new(local);
            refuse_unsafe_settings(&ok).unwrap_or_else(|e| panic!("{local}: {e}"));
        }
        let mut cluster = settings(local_db, "");
        cluster.redis.cluster_nodes = vec![Secret::new("redis://127.0.0.1:7000")];
        assert!(refuse_unsafe_settings(&cluster).is_err());
    }

    #[test]
    fn a_configured_signing_secret_is_refused() {
        let err = refuse_unsafe_settings(&settings(
            "postgres://postgres@127.0.0.1:5432/cloro_gateway",
            "a-real-deployment-secret-0123456789abcdef",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("auth.signing_secret"), "{err}");
        assert!(!err.contains("a-real-deployment-secret"), "{err}");
        refuse_unsafe_settings(&settings(
            "postgres://postgres@127.0.0.1:5432/cloro_gateway",
            "",
        ))
        .unwrap();
    }
}
