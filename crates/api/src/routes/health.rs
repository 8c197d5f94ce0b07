//! Liveness and readiness: `/healthz` says the process is up, `/readyz` says whether
//! Postgres and Redis answer, naming the one that does not with a generic reason (the error
//! itself, which may carry host names, users or database names, is logged, not answered).

use actix_web::{HttpResponse, get, web};
use limiter::RedisLimiter;
use serde::Serialize;
use sqlx::PgPool;
use std::future::Future;
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
    /// Each dependency and `ok`, or why it failed: `unavailable` or `timed out`.
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
    let select = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(db);
    probe("postgres", async { select.await.map(|_| ()) }).await
}

async fn probe_redis(limiter: &RedisLimiter) -> String {
    probe("redis", limiter.ping()).await
}

/// `ok`, or a generic reason; what went wrong is logged at warn.
async fn probe<E: Into<anyhow::Error>>(
    dependency: &'static str,
    check: impl Future<Output = Result<(), E>>,
) -> String {
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(Ok(())) => "ok".into(),
        Ok(Err(err)) => {
            let err = err.into();
            tracing::warn!(dependency, error = %format!("{err:#}"), "readiness probe failed");
            "unavailable".into()
        }
        Err(_) => {
            tracing::warn!(
                dependency,
                timeout_ms = PROBE_TIMEOUT.as_millis() as u64,
                "readiness probe timed out"
            );
            "timed out".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::probe;

    #[tokio::test]
    async fn a_failed_probe_answers_a_generic_reason_not_the_error() {
        let failed = probe("postgres", async {
            Err::<(), _>(anyhow::anyhow!(
                "password authentication failed for user \"gateway\" at db.internal:5432"
            ))
        })
        .await;
        assert_eq!(failed, "unavailable");
        assert_eq!(
            probe("redis", async { Ok::<(), anyhow::Error>(()) }).await,
            "ok"
        );
    }
}
