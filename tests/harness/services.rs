//! Where the tests find Postgres and Redis: `DATABASE_URL`/`REDIS_URL` when set, containers
//! started by testcontainers when a Docker socket exists, else the local default ports.

use anyhow::Context;
use std::path::Path;
use testcontainers::ContainerAsync;
use testcontainers::runners::AsyncRunner;
use testcontainers_modules::{postgres::Postgres, redis::Redis};
use tokio::sync::OnceCell;

const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const LOCAL_REDIS: &str = "redis://127.0.0.1:6379";

/// Connection URLs of the services shared by every test in this process.
#[derive(Debug, Clone)]
pub struct Services {
    /// A URL to a database the tests may create other databases from.
    pub postgres_admin_url: String,
    pub redis_url: String,
}

struct Containers {
    _postgres: ContainerAsync<Postgres>,
    _redis: ContainerAsync<Redis>,
}

static SERVICES: OnceCell<(Services, Option<Containers>)> = OnceCell::const_new();

/// The services, resolved once per test process.
pub async fn services() -> anyhow::Result<Services> {
    let (services, _) = SERVICES.get_or_try_init(resolve).await?;
    Ok(services.clone())
}

async fn resolve() -> anyhow::Result<(Services, Option<Containers>)> {
    let env_db = std::env::var("DATABASE_URL").ok();
    let env_redis = std::env::var("REDIS_URL").ok();
    if env_db.is_none() && env_redis.is_none() && docker_socket_exists() {
        return start_containers().await;
    }
    Ok((
        Services {
            postgres_admin_url: env_db.unwrap_or_else(|| LOCAL_POSTGRES.to_owned()),
            redis_url: env_redis.unwrap_or_else(|| LOCAL_REDIS.to_owned()),
        },
        None,
    ))
}

fn docker_socket_exists() -> bool {
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        return !host.is_empty();
    }
    Path::new("/var/run/docker.sock").exists()
}

async fn start_containers() -> anyhow::Result<(Services, Option<Containers>)> {
    let postgres = Postgres::default()
        .start()
        .await
        .context("starting a Postgres container")?;
    let redis = Redis::default()
        .start()
        .await
        .context("starting a Redis container")?;
    let pg_port = postgres.get_host_port_ipv4(5432).await?;
    let redis_port = redis.get_host_port_ipv4(6379).await?;
    Ok((
        Services {
            postgres_admin_url: format!(
                "postgres://postgres:postgres@127.0.0.1:{pg_port}/postgres"
            ),
            redis_url: format!("redis://127.0.0.1:{redis_port}"),
        },
        Some(Containers {
            _postgres: postgres,
            _redis: redis,
        }),
    ))
}

/// `admin_url` with its database name replaced by `database`.
pub fn database_url(admin_url: &str, database: &str) -> anyhow::Result<String> {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let scheme_end = base.find("://").context("database URL without a scheme")? + 3;
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut url = format!("{}/{}", &base[..path_start], database);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    Ok(url)
}
