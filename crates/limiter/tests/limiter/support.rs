//! Shared test helpers: a limiter per backend with its own key space, request builders, and
//! the macro that runs one behaviour test against both backends.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::join_all;
use limiter::{
    AccountLimits, Admission, AdmissionRequest, BudgetPeriod, Limiter, MemoryLimiter, RedisLimiter,
    RedisLimiterSettings, TeamQuota,
};

pub const ACCOUNT: &str = "acct";

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A limiter under test. For Redis, its keys live under a prefix only this test uses, and
/// are deleted when the test ends (they also expire by themselves within the hour).
pub struct TestLimiter {
    pub limiter: Arc<dyn Limiter>,
    pub redis_prefix: Option<String>,
}

impl TestLimiter {
    pub fn memory() -> Self {
        Self {
            limiter: Arc::new(MemoryLimiter::with_budget_grace(Duration::from_secs(60))),
            redis_prefix: None,
        }
    }

    pub fn redis() -> Self {
        let prefix = format!("test:{}:", uuid::Uuid::new_v4());
        Self {
            limiter: Arc::new(redis_limiter(&prefix)),
            redis_prefix: Some(prefix),
        }
    }

    /// Deletes every key under this test's prefix (and nothing else).
    pub async fn cleanup(&self) {
        if let Some(prefix) = &self.redis_prefix {
            delete_keys_under(prefix).await;
        }
    }
}

impl std::ops::Deref for TestLimiter {
    type Target = dyn Limiter;

    fn deref(&self) -> &Self::Target {
        self.limiter.as_ref()
    }
}

/// A second `RedisLimiter` on the same key space: another gateway replica.
pub fn redis_limiter(prefix: &str) -> RedisLimiter {
    let mut settings = RedisLimiterSettings::new(prefix, ACCOUNT);
    settings.command_timeout = Duration::from_secs(5);
    settings.budget_grace = Duration::from_secs(60);
    RedisLimiter::connect(&redis_url(), settings).unwrap()
}

pub async fn connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

pub async fn keys_under(prefix: &str) -> Vec<String> {
    let mut connection = connection().await;
    let mut iter: redis::AsyncIter<'_, String> =
        redis::AsyncCommands::scan_match(&mut connection, format!("{prefix}*"))
            .await
            .unwrap();
    let mut keys = Vec::new();
    while let Some(key) = iter.next_item().await {
        keys.push(key.unwrap());
    }
    keys
}

pub fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// The test period: ends within the hour, so test keys never outlive it by much.
pub fn period() -> BudgetPeriod {
    BudgetPeriod::new("2026-11", now_ms() + 3_600_000)
}

/// A request no limit refuses unless the test tightens one.
pub fn request(team: &str) -> AdmissionRequest {
    AdmissionRequest {
        team_id: team.to_owned(),
        endpoint: "chatgpt".to_owned(),
        lease_id: uuid::Uuid::new_v4().to_string(),
        estimate: 5,
        team: TeamQuota {
            rps: 1_000_000.0,
            burst: 1_000_000,
            concurrency: 10_000,
            budget: None,
            hard_budget: true,
        },
        account: AccountLimits {
            rps_per_endpoint: 1_000_000.0,
            burst: 1_000_000,
            concurrency: 10_000,
        },
        takes_account_slot: true,
        takes_team_slot: true,
        period: period(),
        lease_ttl_ms: 30_000,
    }
}

/// The same request with a fresh lease id (the next request of the same client).
pub fn again(request: &AdmissionRequest) -> AdmissionRequest {
    AdmissionRequest {
        lease_id: uuid::Uuid::new_v4().to_string(),
        ..request.clone()
    }
}

pub async fn admit(limiter: &dyn Limiter, request: &AdmissionRequest) -> Admission {
    limiter.admit(request).await.unwrap()
}

/// Seeds the request's team and period with nothing charged yet, as the gateway does from the
/// ledger: an admission with a budget is refused as `BudgetUnseeded` until then.
pub async fn seed(limiter: &dyn Limiter, request: &AdmissionRequest) {
    limiter
        .seed_charged(&request.team_id, &request.period, 0)
        .await
        .unwrap();
}

/// Deletes every key under `prefix`, as FLUSHDB (or a restart without persistence) would.
pub async fn delete_keys_under(prefix: &str) {
    let keys = keys_under(prefix).await;
    if !keys.is_empty() {
        let mut connection = connection().await;
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut connection)
            .await
            .unwrap();
    }
}

/// Admits all requests at once, each from its own task.
pub async fn admit_concurrently(
    limiters: &[Arc<dyn Limiter>],
    requests: Vec<AdmissionRequest>,
) -> Vec<Admission> {
    let tasks = requests.into_iter().enumerate().map(|(i, request)| {
        let limiter = limiters[i % limiters.len()].clone();
        tokio::spawn(async move { limiter.admit(&request).await.unwrap() })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

/// Runs each named `async fn(&TestLimiter)` once per backend, as `redis_backend::name` and
/// `memory_backend::name`.
macro_rules! behaviour_tests {
    ($($name:ident),* $(,)?) => {
        mod redis_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let limiter = crate::support::TestLimiter::redis();
                    super::$name(&limiter).await;
                    limiter.cleanup().await;
                }
            )*
        }
        mod memory_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(&crate::support::TestLimiter::memory()).await;
                }
            )*
        }
    };
}
