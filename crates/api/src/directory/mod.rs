//! Who exists, who is refused and what each team may use, kept in memory: teams (with their
//! status), their quotas, revoked tokens, subjects' cut-offs and the account's setting
//! overrides. Re-read
//! from Postgres at once when an admin change is announced on the directory channel (see
//! `push`), and every `directory_refresh_ms` in case a notification was missed. A
//! suspension, quota change or revocation made on any replica is therefore enforced on every
//! replica within milliseconds, without a database round trip on each request; finance reads
//! take team names from here too.

pub mod account_settings;
mod push;
mod team_names;

pub use account_settings::AccountSettings;
pub use team_names::TeamNames;

use crate::period::{Period, PeriodKind};
use crate::tasks::BackgroundTasks;
use accounting::quotas::QuotaValues;
use accounting::{TeamId, TeamSlug, TeamStatus};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Notify;

/// A team as the request path needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamEntry {
    pub id: TeamId,
    pub slug: TeamSlug,
    pub status: TeamStatus,
}

/// Revocations are re-read from this far before the last one seen (see `revoked_since`).
const REVOCATION_MARGIN_SECS: i64 = 10;

/// Per issuer, so a request looks a token up by `&str` without allocating.
type ByIssuer<T> = HashMap<String, T>;

pub struct Directory {
    db: PgPool,
    teams: RwLock<HashMap<String, TeamEntry>>,
    quotas: RwLock<HashMap<TeamId, QuotaValues>>,
    /// Revoked tokens: issuer → jtis.
    revoked: RwLock<ByIssuer<HashSet<String>>>,
    /// Subjects' cut-offs: issuer → subject → not before; their tokens issued before are
    /// refused.
    cutoffs: RwLock<ByIssuer<HashMap<String, DateTime<Utc>>>>,
    /// The issuer of the gateway's own tokens (revocations of minted tokens are under it).
    own_issuer: String,
    /// The revocation cursor; held for a whole refresh so refreshes never interleave (an
    /// older snapshot can then never overwrite a newer one).
    revocation_cursor: tokio::sync::Mutex<DateTime<Utc>>,
    account: Arc<AccountSettings>,
    /// The quota of a team without one of its own (`limits.team_default`).
    default_quota: QuotaValues,
    /// The length of a budget period (`limits.budget_period`).
    budget_period: PeriodKind,
}

/// What the directory is built from besides Postgres.
pub struct DirectoryConfig {
    pub refresh_every: Duration,
    pub default_quota: QuotaValues,
    pub budget_period: PeriodKind,
    /// `auth.issuer`.
    pub own_issuer: String,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Directory {
    /// Loads everything once, then keeps refreshing in the background: on every
    /// notification of the directory channel, and every `refresh_every` regardless.
    pub async fn start(
        db: PgPool,
        config: DirectoryConfig,
        account: Arc<AccountSettings>,
        tasks: &BackgroundTasks,
    ) -> anyhow::Result<Arc<Self>> {
        let directory = Arc::new(Self {
            db: db.clone(),
            teams: RwLock::new(HashMap::new()),
            quotas: RwLock::new(HashMap::new()),
            revoked: RwLock::new(HashMap::new()),
            cutoffs: RwLock::new(HashMap::new()),
            own_issuer: config.own_issuer,
            revocation_cursor: tokio::sync::Mutex::new(DateTime::<Utc>::UNIX_EPOCH),
            account,
            default_quota: config.default_quota,
            budget_period: config.budget_period,
        });
        directory.refresh().await?;
        let wake = Arc::new(Notify::new());
        tasks.spawn_loop(
            tracing::info_span!("directory_listener"),
            push::listen_for_changes(db, Arc::downgrade(&wake)),
        );
        let weak = Arc::downgrade(&directory);
        let every = config.refresh_every;
        tasks.spawn_loop(tracing::info_span!("directory_refresh"), async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = wake.notified() => {}
                }
                let Some(directory) = weak.upgrade() else {
                    break;
                };
                if let Err(err) = directory.refresh().await {
                    tracing::warn!(error = %format!("{err:#}"), "directory refresh failed");
                }
            }
        });
        Ok(directory)
    }

    /// Re-reads all teams, quotas and account overrides, and the revocations since the last
    /// refresh. Also called by the replica that made an admin change, before it answers.
    #[tracing::instrument(level = "debug", name = "directory_refresh", skip_all)]
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let mut cursor = self.revocation_cursor.lock().await;
        let teams = accounting::teams::list(&self.db).await?;
        let fresh: HashMap<String, TeamEntry> = teams
            .into_iter()
            .map(|t| {
                (
                    t.slug.as_str().to_owned(),
                    TeamEntry {
                        id: t.id,
                        slug: t.slug,
                        status: t.status,
                    },
                )
            })
            .collect();
        *write(&self.teams) = fresh;
        let quotas = accounting::quotas::list(&self.db).await?;
        *write(&self.quotas) = quotas.into_iter().map(|q| (q.team_id, q.values)).collect();
        let overrides = accounting::account_settings::get(&self.db).await?;
        self.account.apply(&overrides);

        let since = if *cursor == DateTime::<Utc>::UNIX_EPOCH {
            *cursor
        } else {
            *cursor - ChronoDuration::seconds(REVOCATION_MARGIN_SECS)
        };
        let revoked =
            accounting::revocations::revoked_since(&self.db, &self.own_issuer, since).await?;
        if let Some((_, _, last)) = revoked.last() {
            *cursor = (*cursor).max(*last);
        }
        {
            let mut known = write(&self.revoked);
            for (issuer, jti, _) in revoked {
                known.entry(issuer).or_default().insert(jti);
            }
        }
        let mut cutoffs: ByIssuer<HashMap<String, DateTime<Utc>>> = HashMap::new();
        for c in accounting::revocations::cutoffs(&self.db).await? {
            cutoffs
                .entry(c.issuer)
                .or_default()
                .insert(c.subject, c.not_before);
        }
        *write(&self.cutoffs) = cutoffs;
        Ok(())
    }

    /// The team by slug; a slug not yet cached is looked up in Postgres once.
    pub async fn team(&self, slug: &str) -> anyhow::Result<Option<TeamEntry>> {
        if let Some(entry) = read(&self.teams).get(slug) {
            return Ok(Some(entry.clone()));
        }
        let Ok(parsed) = TeamSlug::parse(slug) else {
            return Ok(None);
        };
        let Some(team) = accounting::teams::by_slug(&self.db, &parsed).await? else {
            return Ok(None);
        };
        let entry = TeamEntry {
            id: team.id,
            slug: team.slug,
            status: team.status,
        };
        write(&self.teams).insert(slug.to_owned(), entry.clone());
        Ok(Some(entry))
    }

    /// Every active team's id (suspended teams send nothing).
    pub fn active_team_ids(&self) -> Vec<TeamId> {
        read(&self.teams)
            .values()
            .filter(|t| t.status == TeamStatus::Active)
            .map(|t| t.id)
            .collect()
    }

    /// The team's own quota, if one was set (else the configured default applies).
    pub fn own_quota(&self, team: TeamId) -> Option<QuotaValues> {
        read(&self.quotas).get(&team).cloned()
    }

    /// The quota in force for the team: its own, or the configured default.
    pub fn quota_of(&self, team: TeamId) -> QuotaValues {
        self.own_quota(team)
            .unwrap_or_else(|| self.default_quota.clone())
    }

    /// The quota of a team without one of its own.
    pub fn default_quota(&self) -> &QuotaValues {
        &self.default_quota
    }

    /// The budget period containing now.
    pub fn current_period(&self) -> Period {
        crate::period::current(self.budget_period, Utc::now())
    }

    /// Every known team, by slug.
    pub fn teams(&self) -> Vec<TeamEntry> {
        let mut teams: Vec<TeamEntry> = read(&self.teams).values().cloned().collect();
        teams.sort_by(|a, b| a.slug.as_str().cmp(b.slug.as_str()));
        teams
    }

    /// Team ids and slugs as finance views name them.
    pub fn team_names(&self) -> TeamNames {
        TeamNames::new(read(&self.teams).values().map(|t| (t.id, t.slug.clone())))
    }

    /// Whether the token (issuer, jti) is revoked, or was issued (`iat`) before its
    /// subject's cut-off (a token without `iat` counts as issued before any cut-off).
    pub fn is_revoked(
        &self,
        issuer: &str,
        jti: &str,
        subject: &str,
        issued_at: Option<i64>,
    ) -> bool {
        if read(&self.revoked)
            .get(issuer)
            .is_some_and(|jtis| jtis.contains(jti))
        {
            return true;
        }
        let cutoffs = read(&self.cutoffs);
        match cutoffs
            .get(issuer)
            .and_then(|subjects| subjects.get(subject))
        {
            None => false,
            // `iat` has whole seconds: a token of the cut-off's own second is refused too.
            Some(not_before) => {
                let ceiling =
                    not_before.timestamp() + i64::from(not_before.timestamp_subsec_nanos() > 0);
                issued_at.is_none_or(|iat| iat < ceiling)
            }
        }
    }

    /// Applies a revocation made by this replica at once, before the next refresh.
    pub fn note_revoked(&self, issuer: &str, jti: &str) {
        write(&self.revoked)
            .entry(issuer.to_owned())
            .or_default()
            .insert(jti.to_owned());
    }

    /// Applies a cut-off made by this replica at once, before the next refresh.
    pub fn note_cutoff(&self, issuer: &str, subject: &str, not_before: DateTime<Utc>) {
        write(&self.cutoffs)
            .entry(issuer.to_owned())
            .or_default()
            .insert(subject.to_owned(), not_before);
    }

    /// The issuer of the gateway's own tokens.
    pub fn own_issuer(&self) -> &str {
        &self.own_issuer
    }

    /// The account's effective settings this directory keeps up to date.
    pub fn account(&self) -> &Arc<AccountSettings> {
        &self.account
    }

    pub fn note_team(&self, entry: TeamEntry) {
        write(&self.teams).insert(entry.slug.as_str().to_owned(), entry);
    }
}
