//! `RedisLimiter`: the limits shared by every gateway replica, each operation one Lua script
//! (EVALSHA) on multiplexed connections to one Redis, or on a deadpool-redis pool for a Redis
//! Cluster (every key shares one hash slot, so each script runs on the one node that owns
//! it), bounded by a short timeout.

mod keys;
mod multiplexed;
mod redis_errors;
mod reply;
mod scripts;
mod settings;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::{PoolConfig, Runtime, Timeouts};
use redis::{Script, ScriptInvocation, Value};

use crate::admission::{Admission, AdmissionFacts};
use crate::budget_state::{BudgetState, BudgetTotals, CorrectCharged};
use crate::error::LimiterError;
use crate::fair_queue::{self, FairQueueBackend, QueueMode, QueueState};
use crate::lease::{Lease, Renewal};
use crate::lease_settlement::LeaseSettlement;
use crate::limiter::Limiter;
use crate::reclaim_stats::{ReclaimCounters, ReclaimStats};
use crate::request::{AdmissionRequest, BudgetPeriod, validate_credits, validate_team_period};
use keys::KeyLayout;
use multiplexed::MultiplexedConnections;
use redis_errors::{from_pool, from_redis, timed_out};
use reply::AdmitReply;
use scripts::Scripts;

pub use keys::cluster_hash_slot;
pub use settings::{
    DEFAULT_BUCKET_MARGIN, DEFAULT_BUDGET_GRACE, DEFAULT_COMMAND_TIMEOUT, DEFAULT_LEASE_SET_MARGIN,
    DEFAULT_WAITER_TTL, RedisLimiterSettings,
};

/// The state marker outlives the last `state_marker` call by this much.
const STATE_MARKER_TTL: Duration = Duration::from_secs(24 * 3600);

/// Where the scripts run: one Redis (or a Sentinel-managed primary), or a Redis Cluster.
enum Connections {
    Single(MultiplexedConnections),
    Cluster(deadpool_redis::cluster::Pool),
}

pub struct RedisLimiter {
    pool: Connections,
    keys: KeyLayout,
    settings: RedisLimiterSettings,
    scripts: Scripts,
    reclaims: ReclaimCounters,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    fn with_connections(
        pool: Connections,
        settings: RedisLimiterSettings,
    ) -> Result<Self, LimiterError> {
        let keys = KeyLayout::new(&settings.key_prefix, &settings.account)
            .map_err(|e| LimiterError::Config(e.to_string()))?;
        Ok(Self {
            pool,
            keys,
            settings,
            scripts: Scripts::load(),
            reclaims: ReclaimCounters::default(),
        })
    }

    /// `settings.connections` multiplexed connections to `redis_url`, whose connects and
    /// replies are bounded by the command timeout. Connects lazily: an unreachable Redis shows
    /// up as `Unavailable` on first use. Call within a Tokio runtime.
    pub fn connect(redis_url: &str, settings: RedisLimiterSettings) -> Result<Self, LimiterError> {
        let connections = MultiplexedConnections::open(
            redis_url,
            settings.connections,
            settings.command_timeout,
        )?;
        Self::with_connections(Connections::Single(connections), settings)
    }

    /// Builds a Redis Cluster pool from some of the cluster's node URLs (the rest are
    /// discovered). Connects lazily, like [`RedisLimiter::connect`].
    pub fn connect_cluster(
        node_urls: &[String],
        settings: RedisLimiterSettings,
    ) -> Result<Self, LimiterError> {
        let mut config = deadpool_redis::cluster::Config::from_urls(node_urls.to_vec());
        config.pool = Some(pool_config(&settings));
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| LimiterError::Config(format!("redis cluster pool: {e}")))?;
        Self::with_connections(Connections::Cluster(pool), settings)
    }

    /// Whether Redis answers (a PING, within the command timeout).
    pub async fn ping(&self) -> Result<(), LimiterError> {
        let ping = redis::cmd("PING");
        let work = async {
            match &self.pool {
                Connections::Single(connections) => {
                    let mut connection = connections.next();
                    ping.query_async::<String>(&mut connection)
                        .await
                        .map_err(from_redis)
                }
                Connections::Cluster(pool) => {
                    let mut connection = pool.get().await.map_err(from_pool)?;
                    ping.query_async::<String>(&mut connection)
                        .await
                        .map_err(from_redis)
                }
            }
        };
        tokio::time::timeout(self.settings.command_timeout, work)
            .await
            .map_err(timed_out)?
            .map(|_| ())
    }

    pub fn settings(&self) -> &RedisLimiterSettings {
        &self.settings
    }

    async fn call(&self, invocation: &ScriptInvocation<'_>) -> Result<Value, LimiterError> {
        let work = async {
            match &self.pool {
                Connections::Single(connections) => {
                    let mut connection = connections.next();
                    invocation
                        .invoke_async::<Value>(&mut connection)
                        .await
                        .map_err(from_redis)
                }
                Connections::Cluster(pool) => {
                    let mut connection = pool.get().await.map_err(from_pool)?;
                    invocation
                        .invoke_async::<Value>(&mut connection)
                        .await
                        .map_err(from_redis)
                }
            }
        };
        tokio::time::timeout(self.settings.command_timeout, work)
            .await
            .map_err(timed_out)?
    }

    fn millis(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }

    /// The last ARGV of every script that writes a period's budget key: the period end, the
    /// grace after it, and the key's minimum life (`budget_expiry` in prelude.lua).
    fn budget_key_life(&self, invocation: &mut ScriptInvocation<'_>, period: &BudgetPeriod) {
        invocation
            .arg(period.ends_at_ms)
            .arg(Self::millis(self.settings.budget_grace))
            .arg(Self::millis(self.settings.lease_set_margin));
    }

    /// seed_charged.lua or correct_charged.lua (`name`, for errors) on the period's budget
    /// key, with `values` as the first ARGV.
    async fn write_charged(
        &self,
        script: &Script,
        name: &str,
        team_id: &str,
        period: &BudgetPeriod,
        values: &[i64],
    ) -> Result<CorrectCharged, LimiterError> {
        let mut invocation = script.prepare_invoke();
        invocation.key(self.keys.team_budget(team_id, &period.id));
        for value in values {
            invocation.arg(*value);
        }
        self.budget_key_life(&mut invocation, period);
        reply::charged_reply(self.call(&invocation).await?, name)
    }
}

/// A cluster pool whose waits, connects and recycles are all bounded by the command timeout.
fn pool_config(settings: &RedisLimiterSettings) -> PoolConfig {
    let timeout = Some(settings.command_timeout);
    let mut config = PoolConfig::new(settings.pool_size.max(1));
    config.timeouts = Timeouts {
        wait: timeout,
        create: timeout,
        recycle: timeout,
    };
    config
}

#[async_trait]
impl Limiter for RedisLimiter {
    async fn admit(&self, request: &AdmissionRequest) -> Result<Admission, LimiterError> {
        fair_queue::admit(self, request).await
    }

    async fn admit_or_wait(
        &self,
        request: &AdmissionRequest,
        weight: u32,
        max_wait: Duration,
    ) -> Result<Admission, LimiterError> {
        fair_queue::admit_or_wait(self, request, weight, max_wait).await
    }

    async fn renew(&self, lease: &Lease) -> Result<Renewal, LimiterError> {
        lease.validate()?;
        let mut invocation = self.scripts.renew.prepare_invoke();
        invocation
            .key(self.keys.team_leases(lease.team_id()))
            .key(self.keys.account_leases())
            .key(self.keys.slot_teams())
            .key(self.keys.team_budget(lease.team_id(), &lease.period().id))
            .key(self.keys.team_async_leases(lease.team_id()))
            .arg(lease.lease_id())
            .arg(lease.lease_ttl_ms())
            .arg(u8::from(lease.holds_account_slot()))
            .arg(Self::millis(self.settings.lease_set_margin))
            .arg(lease.estimate())
            .arg(lease.period().ends_at_ms)
            .arg(Self::millis(self.settings.budget_grace))
            .arg(lease.team_id())
            .arg(u8::from(lease.holds_team_slot()));
        reply::renew_reply(self.call(&invocation).await?)
    }

    async fn settle(
        &self,
        lease: &Lease,
        actual_charge: i64,
    ) -> Result<LeaseSettlement, LimiterError> {
        lease.validate()?;
        validate_credits("actual charge", actual_charge)?;
        let mut invocation = self.scripts.settle.prepare_invoke();
        invocation
            .key(self.keys.team_leases(lease.team_id()))
            .key(self.keys.account_leases())
            .key(self.keys.team_budget(lease.team_id(), &lease.period().id))
            .key(self.keys.slot_teams())
            .key(self.keys.team_async_leases(lease.team_id()))
            .arg(lease.lease_id())
            .arg(actual_charge);
        self.budget_key_life(&mut invocation, lease.period());
        let facts = reply::settle_reply(self.call(&invocation).await?)?;
        self.reclaims.record_settlement(facts.outcome);
        Ok(facts.into_settlement(actual_charge, lease.budget()))
    }

    async fn budget_totals(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
    ) -> Result<BudgetTotals, LimiterError> {
        validate_team_period(team_id, period)?;
        let mut invocation = self.scripts.budget_totals.prepare_invoke();
        invocation
            .key(self.keys.team_leases(team_id))
            .key(self.keys.team_budget(team_id, &period.id))
            .key(self.keys.team_async_leases(team_id));
        reply::budget_totals_reply(self.call(&invocation).await?)
    }

    async fn seed_charged(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
        charged: i64,
    ) -> Result<bool, LimiterError> {
        validate_team_period(team_id, period)?;
        validate_credits("charged", charged)?;
        let script = &self.scripts.seed_charged;
        let seeded = self
            .write_charged(script, "seed_charged", team_id, period, &[charged])
            .await?;
        Ok(seeded.applied)
    }

    async fn correct_charged(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
        expected: i64,
        charged: i64,
    ) -> Result<CorrectCharged, LimiterError> {
        validate_team_period(team_id, period)?;
        validate_credits("expected charged", expected)?;
        validate_credits("charged", charged)?;
        let script = &self.scripts.correct_charged;
        self.write_charged(
            script,
            "correct_charged",
            team_id,
            period,
            &[expected, charged],
        )
        .await
    }

    async fn budget_state(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
    ) -> Result<BudgetState, LimiterError> {
        validate_team_period(team_id, period)?;
        let mut invocation = self.scripts.budget_state.prepare_invoke();
        invocation.key(self.keys.team_budget(team_id, &period.id));
        reply::budget_state_reply(self.call(&invocation).await?)
    }

    async fn state_marker(&self) -> Result<bool, LimiterError> {
        let mut invocation = self.scripts.state_marker.prepare_invoke();
        invocation
            .key(self.keys.state_marker())
            .arg(Self::millis(STATE_MARKER_TTL));
        reply::state_marker_reply(self.call(&invocation).await?)
    }

    fn reclaim_stats(&self) -> ReclaimStats {
        self.reclaims.snapshot()
    }
}

#[async_trait]
impl FairQueueBackend for RedisLimiter {
    async fn decide(
        &self,
        request: &AdmissionRequest,
        weight: u32,
        mode: QueueMode,
    ) -> Result<Option<(AdmissionFacts, QueueState)>, LimiterError> {
        let r = request;
        let (budget_mode, budget) = match r.team.budget {
            None => (0, 0),
            Some(b) if r.team.hard_budget => (2, b),
            Some(b) => (1, b),
        };
        let mut invocation = self.scripts.admit.prepare_invoke();
        invocation
            .key(self.keys.team_bucket(&r.team_id))
            .key(self.keys.account_bucket(&r.endpoint))
            .key(self.keys.team_leases(&r.team_id))
            .key(self.keys.account_leases())
            .key(self.keys.team_budget(&r.team_id, &r.period.id))
            .key(self.keys.slot_teams())
            .key(self.keys.fair_queue())
            .key(self.keys.fair_queue_alive())
            .key(self.keys.fair_queue_info())
            .key(self.keys.team_async_leases(&r.team_id))
            .arg(&r.lease_id)
            .arg(r.team.rps.to_string())
            .arg(r.team.burst)
            .arg(r.team.concurrency)
            .arg(r.account.rps_per_endpoint.to_string())
            .arg(r.account.burst)
            .arg(r.account.concurrency)
            .arg(u8::from(r.takes_account_lease()))
            .arg(r.estimate)
            .arg(budget_mode)
            .arg(budget)
            .arg(r.lease_ttl_ms)
            .arg(r.period.ends_at_ms)
            .arg(Self::millis(self.settings.budget_grace))
            .arg(Self::millis(self.settings.lease_set_margin))
            .arg(Self::millis(self.settings.bucket_margin))
            .arg(weight)
            .arg(mode.code())
            .arg(mode.max_wait_ms())
            .arg(Self::millis(self.settings.waiter_ttl).max(1))
            .arg(&r.team_id)
            .arg(u8::from(r.takes_team_slot));
        Ok(match reply::admit_reply(self.call(&invocation).await?)? {
            AdmitReply::DuplicateLease => None,
            AdmitReply::Decided(facts, queue_state) => Some((facts, queue_state)),
        })
    }

    async fn leave_fair_queue(&self, request: &AdmissionRequest) -> Result<(), LimiterError> {
        let mut invocation = self.scripts.leave_fair_queue.prepare_invoke();
        invocation
            .key(self.keys.fair_queue())
            .key(self.keys.fair_queue_alive())
            .key(self.keys.fair_queue_info())
            .arg(&request.lease_id);
        reply::leave_fair_queue_reply(self.call(&invocation).await?)?;
        Ok(())
    }

    fn reclaim_counters(&self) -> &ReclaimCounters {
        &self.reclaims
    }
}
