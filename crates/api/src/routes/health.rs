//! Liveness and readiness: `/healthz` says the process is up, `/readyz` says whether
//! Postgres and Redis answer, naming the one that does not.

use actix_web::{HttpResponse, get, web};
use limiter::RedisLimiter;
use serde::Serialize;
use sqlx::PgPool;
use std::time::Duration;
use utoipa::ToSchema;

/// Longest time a readiness probe waits for one dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// Each dependency and `ok` or the reason it failed.
    pub checks: Checks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    pub postgres: String,
    pub redis: String,
}

/// The process is up.
#[utoipa::path(tag = "health", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Postgres and Redis both answer.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Both dependencies answer", body = Readiness),
        (status = 503, description = "At least one dependency failed; `checks` names it", body = Readiness),
    )
)]
#[get("/readyz")]
pub async fn readyz(db: web::Data<PgPool>, limiter: web::Data<RedisLimiter>) -> HttpResponse {
    let (postgres, redis) = tokio::join!(probe_postgres(&db), probe_redis(&limiter));
    let ready = postgres == "ok" && redis == "ok";
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        checks: Checks { postgres, redis },
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn probe_postgres(db: &PgPool) -> String {
    let probe = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(db);
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(_)) => "ok".into(),
        Ok(Err(err)) => format!("error: {err}"),
        Err(_) => "error: timed out".into(),
    }
}

async fn probe_redis(limiter: &RedisLimiter) -> String {
    match tokio::time::timeout(PROBE_TIMEOUT, limiter.ping()).await {
        Ok(Ok(())) => "ok".into(),
        Ok(Err(err)) => format!("error: {err}"),
        Err(_) => "error: timed out".into(),
    }
}
