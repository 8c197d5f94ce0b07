//! The daily rollups the database keeps as entries settle agree with the raw ledger, for every
//! grouping (sync calls and async tasks apart); usage and period usage answer from them and
//! respect the caller's scope.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use accounting::async_tasks::{self, NewAsyncTask, TaskState};
use accounting::ledger::{
    self, EntryMode, GroupCommitConfig, NewEntry, Scope, SettleRequest, Settled, Settlement,
    SettlementWriter, UsageDimension, UsageQuery, UsageRow, ensure_partitions,
};
use accounting::{AccountingError, EntryStatus, MIGRATOR, TeamId};
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};

use crate::fixtures::{create_team, credits, new_entry, new_entry_at, record, request_id_at};
use crate::test_database::TestDatabase;

const ENDPOINTS: [&str; 3] = ["/v1/monitor/chatgpt", "/v1/monitor/gemini", "/v1/search"];

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

#[derive(sqlx::FromRow)]
struct RawEntry {
    team_id: TeamId,
    endpoint: String,
    mode: EntryMode,
    created_at: DateTime<Utc>,
    status: String,
    flagged: bool,
    estimate: i64,
    charged: Option<i64>,
}

type Key = (
    Option<TeamId>,
    Option<String>,
    Option<&'static str>,
    Option<NaiveDate>,
    Option<NaiveDate>,
);

/// The same sums as the rollups, computed here from every settled ledger row.
fn expected(entries: &[RawEntry], group_by: &[UsageDimension]) -> Vec<UsageRow> {
    let by = |dimension| group_by.contains(&dimension);
    let mut groups: BTreeMap<Key, UsageRow> = BTreeMap::new();
    for entry in entries.iter().filter(|entry| entry.status != "PENDING") {
        let day = entry.created_at.date_naive();
        let key = (
            by(UsageDimension::Team).then_some(entry.team_id),
            by(UsageDimension::Endpoint).then(|| entry.endpoint.clone()),
            by(UsageDimension::Mode).then_some(entry.mode.as_str()),
            by(UsageDimension::Day).then_some(day),
            by(UsageDimension::Month).then(|| day.with_day(1).unwrap()),
        );
        let row = groups.entry(key.clone()).or_insert(UsageRow {
            team_id: key.0,
            endpoint: key.1,
            mode: key.2.map(|mode| EntryMode::parse(mode).unwrap()),
            day: key.3,
            month: key.4,
            entries: 0,
            posted: 0,
            voided: 0,
            expired: 0,
            flagged: 0,
            estimate: 0,
            charged: 0,
        });
        row.entries += 1;
        row.posted += i64::from(entry.status == "POSTED");
        row.voided += i64::from(entry.status == "VOIDED");
        row.expired += i64::from(entry.status == "EXPIRED");
        row.flagged += i64::from(entry.flagged);
        row.estimate += entry.estimate;
        row.charged += entry.charged.unwrap_or(0);
    }
    groups.into_values().collect()
}

/// In the order usage answers: team, endpoint, mode (as text: async before sync), day, month.
fn sorted(mut rows: Vec<UsageRow>) -> Vec<UsageRow> {
    let key = |row: &UsageRow| {
        (
            row.team_id,
            row.endpoint.clone(),
            row.mode.map(|mode| mode.as_str()),
            row.day,
            row.month,
        )
    };
    rows.sort_by_key(key);
    rows
}

async fn raw_entries(pool: &PgPool) -> Vec<RawEntry> {
    sqlx::query_as(
        "SELECT team_id, endpoint, mode, created_at, status, flagged, estimate, charged \
         FROM ledger_entries",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Records the entry PENDING as an async task's, as of its id's time (rollups only look at
/// the ledger, so no task row is needed here).
async fn record_async(pool: &PgPool, entry: NewEntry) -> uuid::Uuid {
    sqlx::query(
        "INSERT INTO ledger_entries \
             (id, created_at, pending_at, team_id, endpoint, estimate, flagged, flag_reason, mode) \
         VALUES ($1, $2, $2, $3, $4, $5, $6::text IS NOT NULL, $6, 'async')",
    )
    .bind(entry.id)
    .bind(ledger::created_at_of(entry.id))
    .bind(entry.team_id)
    .bind(&entry.endpoint)
    .bind(entry.estimate)
    .bind(entry.flag_reason.as_deref())
    .execute(pool)
    .await
    .unwrap();
    entry.id
}

/// 600 entries over the last 70 days across three teams and three endpoints, a third of them
/// async tasks: some posted, some voided, some flagged from the start; the stale ones left
/// PENDING are then expired, and the recent ones stay PENDING.
async fn random_ledger(pool: &PgPool) -> Vec<TeamId> {
    let now = Utc::now();
    ensure_partitions(pool, now - TimeDelta::days(75), 4)
        .await
        .unwrap();
    let mut teams = Vec::new();
    for slug in ["team-a", "team-b", "team-c"] {
        teams.push(create_team(pool, slug).await);
    }
    let mut dice = Dice(0x5eed_cafe_f00d);
    let mut settle = Vec::new();
    for _ in 0..600 {
        let team = teams[dice.roll(3) as usize];
        let at = now - TimeDelta::minutes(dice.roll(70 * 24 * 60) as i64 + 1);
        let mut entry = new_entry_at(team, at, dice.roll(20) as i64 + 1);
        entry.endpoint = ENDPOINTS[dice.roll(3) as usize].to_owned();
        if dice.roll(10) == 0 {
            entry.flag_reason = Some("soft budget exceeded".to_owned());
        }
        settle.push((entry.id, dice.roll(4)));
        // Recorded as of its arrival, so the old ones are stale for the sweeper.
        if dice.roll(3) == 0 {
            record_async(pool, entry).await;
        } else {
            record(pool, entry).await;
        }
    }
    for (id, outcome) in settle {
        match outcome {
            0 => {
                ledger::void(pool, id, Some(503), "upstream 503")
                    .await
                    .unwrap();
            }
            1 | 2 => {
                ledger::post(pool, id, credits(outcome as i64 * 3), 200)
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
    ledger::expire_stale(pool, now - TimeDelta::days(20))
        .await
        .unwrap();
    teams
}

fn groupings() -> Vec<Vec<UsageDimension>> {
    let mut all = Vec::new();
    for team in [false, true] {
        for endpoint in [false, true] {
            for mode in [false, true] {
                for time in [None, Some(UsageDimension::Day), Some(UsageDimension::Month)] {
                    let mut group_by = Vec::new();
                    if team {
                        group_by.push(UsageDimension::Team);
                    }
                    if endpoint {
                        group_by.push(UsageDimension::Endpoint);
                    }
                    if mode {
                        group_by.push(UsageDimension::Mode);
                    }
                    group_by.extend(time);
                    all.push(group_by);
                }
            }
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_match_the_raw_ledger_for_every_grouping() {
    let db = TestDatabase::new().await;
    let teams = random_ledger(&db.pool).await;
    let entries = raw_entries(&db.pool).await;
    let statuses: Vec<&str> = entries.iter().map(|entry| entry.status.as_str()).collect();
    for status in ["PENDING", "POSTED", "VOIDED", "EXPIRED"] {
        assert!(statuses.contains(&status), "no {status} entry generated");
    }
    for mode in [EntryMode::Sync, EntryMode::Async] {
        assert!(
            entries
                .iter()
                .any(|entry| entry.mode == mode && entry.status != "PENDING"),
            "no settled {mode} entry generated"
        );
    }

    let today = Utc::now().date_naive();
    let query = |group_by: Vec<UsageDimension>| UsageQuery {
        from: today - TimeDelta::days(80),
        to: today + TimeDelta::days(1),
        group_by,
        team: None,
        endpoint: None,
        mode: None,
    };
    for group_by in groupings() {
        let rows = ledger::usage(&db.pool, Scope::All, &query(group_by.clone()))
            .await
            .unwrap();
        assert_eq!(rows, sorted(rows.clone()), "{group_by:?}: not in order");
        assert_eq!(
            sorted(rows),
            expected(&entries, &group_by),
            "grouped by {group_by:?}"
        );
    }

    // A team scope sees its own team only, even when the query names another.
    let team_a = teams[0];
    let mut scoped = query(vec![UsageDimension::Team, UsageDimension::Day]);
    let rows = ledger::usage(&db.pool, Scope::Team(team_a), &scoped)
        .await
        .unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|row| row.team_id == Some(team_a)));
    let own: Vec<RawEntry> = raw_entries(&db.pool)
        .await
        .into_iter()
        .filter(|entry| entry.team_id == team_a)
        .collect();
    assert_eq!(sorted(rows), expected(&own, &scoped.group_by));
    scoped.team = Some(teams[1]);
    assert!(
        ledger::usage(&db.pool, Scope::Team(team_a), &scoped)
            .await
            .unwrap()
            .is_empty()
    );

    // Filters: one endpoint and one mode, over a narrower range.
    let narrow = UsageQuery {
        from: today - TimeDelta::days(30),
        to: today - TimeDelta::days(10),
        group_by: vec![UsageDimension::Month],
        team: Some(teams[2]),
        endpoint: Some(ENDPOINTS[1].to_owned()),
        mode: Some(EntryMode::Sync),
    };
    let matching: Vec<RawEntry> = raw_entries(&db.pool)
        .await
        .into_iter()
        .filter(|entry| {
            let day = entry.created_at.date_naive();
            entry.team_id == teams[2]
                && entry.endpoint == ENDPOINTS[1]
                && entry.mode == EntryMode::Sync
                && day >= narrow.from
                && day < narrow.to
        })
        .collect();
    assert_eq!(
        ledger::usage(&db.pool, Scope::All, &narrow).await.unwrap(),
        expected(&matching, &narrow.group_by)
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn period_usage_adds_the_pending_holds() {
    let db = TestDatabase::new().await;
    let teams = random_ledger(&db.pool).await;
    let entries = raw_entries(&db.pool).await;
    let today = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let (from, to) = (today - TimeDelta::days(30), today + TimeDelta::days(1));

    let mut expected: BTreeMap<TeamId, (i64, i64, i64, i64)> = BTreeMap::new();
    for entry in entries
        .iter()
        .filter(|entry| entry.created_at >= from && entry.created_at < to)
    {
        let team = expected.entry(entry.team_id).or_default();
        if entry.status == "PENDING" {
            team.1 += entry.estimate;
            team.3 += 1;
        } else {
            team.0 += entry.charged.unwrap_or(0);
            team.2 += 1;
        }
    }
    let usage = ledger::period_usage(&db.pool, Scope::All, from, to)
        .await
        .unwrap();
    let found: BTreeMap<TeamId, (i64, i64, i64, i64)> = usage
        .iter()
        .map(|row| {
            (
                row.team_id,
                (
                    row.charged,
                    row.held,
                    row.settled_entries,
                    row.pending_entries,
                ),
            )
        })
        .collect();
    assert_eq!(found, expected);
    assert!(found.values().any(|team| team.1 > 0), "no hold exercised");

    let own = ledger::period_usage(&db.pool, Scope::Team(teams[1]), from, to)
        .await
        .unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].team_id, teams[1]);

    let not_midnight = from + TimeDelta::hours(1);
    assert!(matches!(
        ledger::period_usage(&db.pool, Scope::All, not_midnight, to).await,
        Err(AccountingError::Invalid(_))
    ));
    db.drop().await;
}

#[tokio::test]
async fn usage_refuses_bad_queries() {
    let db = TestDatabase::new().await;
    let day = |text: &str| text.parse::<NaiveDate>().unwrap();
    let bad = [
        (
            day("2026-01-01"),
            day("2026-02-01"),
            vec![UsageDimension::Day, UsageDimension::Month],
        ),
        (day("2026-02-01"), day("2026-02-01"), vec![]),
        (day("2026-01-01"), day("2027-03-01"), vec![]),
    ];
    for (from, to, group_by) in bad {
        let query = UsageQuery {
            from,
            to,
            group_by,
            team: None,
            endpoint: None,
            mode: None,
        };
        assert!(matches!(
            ledger::usage(&db.pool, Scope::All, &query).await,
            Err(AccountingError::Invalid(_))
        ));
    }
    db.drop().await;
}

/// Rows inserted already settled (an import) count once; rows the partition maintenance moves
/// out of the DEFAULT partition are not counted again.
#[tokio::test]
async fn settled_inserts_count_once_even_when_moved_between_partitions() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    // Far enough ahead that no partition exists: the row lands in the DEFAULT partition.
    let at: DateTime<Utc> = Utc::now() + TimeDelta::days(400);
    let entry = new_entry_at(team, at, 8);
    sqlx::query(
        "INSERT INTO ledger_entries (id, created_at, team_id, endpoint, estimate, status, \
             charged, flagged, flag_reason, settled_at) \
         VALUES ($1, $2, $3, $4, 8, 'EXPIRED', 8, true, 'expired', now())",
    )
    .bind(entry.id)
    .bind(ledger::created_at_of(entry.id))
    .bind(team)
    .bind(&entry.endpoint)
    .execute(&db.pool)
    .await
    .unwrap();

    let query = UsageQuery {
        from: at.date_naive() - TimeDelta::days(1),
        to: at.date_naive() + TimeDelta::days(1),
        group_by: vec![UsageDimension::Day],
        team: None,
        endpoint: None,
        mode: None,
    };
    let before = ledger::usage(&db.pool, Scope::All, &query).await.unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(
        (
            before[0].entries,
            before[0].expired,
            before[0].flagged,
            before[0].charged
        ),
        (1, 1, 1, 8)
    );

    assert!(ensure_partitions(&db.pool, at, 0).await.unwrap() >= 1);
    let after = ledger::usage(&db.pool, Scope::All, &query).await.unwrap();
    assert_eq!(after, before);
    db.drop().await;
}

/// Settlement batches from several writers (as from several gateway replicas) and the sweeper
/// all update the same few rollup rows at once: none deadlocks, and the rollups stay exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_settlement_batches_keep_rollups_exact() {
    let db = TestDatabase::new().await;
    let now = Utc::now();
    ensure_partitions(&db.pool, now - TimeDelta::days(3), 1)
        .await
        .unwrap();
    let teams = [
        create_team(&db.pool, "team-a").await,
        create_team(&db.pool, "team-b").await,
    ];
    let mut ids = Vec::new();
    for n in 0..400_i64 {
        // Two days, two teams, two endpoints: eight rollup rows, all of them hot.
        let at = now - TimeDelta::minutes(10) - TimeDelta::days(n % 2);
        let mut entry = new_entry_at(teams[(n / 2 % 2) as usize], at, 7);
        entry.endpoint = ENDPOINTS[(n / 4 % 2) as usize].to_owned();
        ids.push(entry.id);
        record(&db.pool, entry).await;
    }
    let writers: Vec<SettlementWriter> = (0..4)
        .map(|_| {
            SettlementWriter::spawn(
                db.pool.clone(),
                GroupCommitConfig {
                    max_batch: 32,
                    max_wait: Duration::from_millis(1),
                },
            )
        })
        .collect();
    let sweeper = {
        let pool = db.pool.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                ledger::expire_stale(&pool, Utc::now() - TimeDelta::minutes(5))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let settlers: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let writer = writers[n % writers.len()].clone();
            let settlement = if n % 3 == 0 {
                Settlement::Void {
                    upstream_status: Some(503),
                    reason: "upstream 503".to_owned(),
                }
            } else {
                Settlement::Post {
                    charged: credits((n % 9) as i64),
                    upstream_status: 200,
                }
            };
            let id = *id;
            tokio::spawn(async move {
                writer
                    .settle(SettleRequest {
                        id,
                        settlement,
                        balance_observed: None,
                    })
                    .await
            })
        })
        .collect();
    for settler in settlers {
        settler.await.unwrap().unwrap();
    }
    sweeper.await.unwrap();
    ledger::expire_stale(&db.pool, Utc::now()).await.unwrap();

    let group_by = vec![
        UsageDimension::Team,
        UsageDimension::Endpoint,
        UsageDimension::Day,
    ];
    let query = UsageQuery {
        from: now.date_naive() - TimeDelta::days(3),
        to: now.date_naive() + TimeDelta::days(1),
        group_by: group_by.clone(),
        team: None,
        endpoint: None,
        mode: None,
    };
    let rows = ledger::usage(&db.pool, Scope::All, &query).await.unwrap();
    assert_eq!(rows.iter().map(|row| row.entries).sum::<i64>(), 400);
    assert_eq!(
        sorted(rows),
        expected(&raw_entries(&db.pool).await, &group_by)
    );
    db.drop().await;
}

/// An async task of `team` on the ChatGPT endpoint, as the gateway records it.
fn async_task(team: TeamId, estimate: i64, settle_by: DateTime<Utc>) -> NewAsyncTask {
    let entry_id = uuid::Uuid::now_v7();
    NewAsyncTask {
        entry_id,
        team_id: team,
        endpoint: ENDPOINTS[0].to_owned(),
        task_type: "CHATGPT".to_owned(),
        priority: 1,
        team_key: None,
        upstream_key: format!("gw-{entry_id}"),
        webhook_url: None,
        batch_id: None,
        batch_index: None,
        estimate: credits(estimate),
        client_request_id: None,
        flag_reason: None,
        settle_by,
        lease: None,
    }
}

async fn record_task(pool: &PgPool, task: NewAsyncTask) -> uuid::Uuid {
    let id = task.entry_id;
    assert_eq!(
        async_tasks::record(pool, &[task], None).await.unwrap(),
        [async_tasks::Recorded::Recorded]
    );
    id
}

fn usage_today(group_by: Vec<UsageDimension>, mode: Option<EntryMode>) -> UsageQuery {
    let today = Utc::now().date_naive();
    UsageQuery {
        from: today - TimeDelta::days(1),
        to: today + TimeDelta::days(1),
        group_by,
        team: None,
        endpoint: None,
        mode,
    }
}

/// (mode, entries, charged) of each usage row.
fn by_mode(rows: &[UsageRow]) -> Vec<(Option<EntryMode>, i64, i64)> {
    rows.iter()
        .map(|row| (row.mode, row.entries, row.charged))
        .collect()
}

/// One team's sync calls and async tasks (settled through the task lifecycle) on the same
/// endpoint and day: grouped by mode they are two rows that add up to the team's total, and
/// a mode filter keeps one of them.
#[tokio::test]
async fn sync_calls_and_async_tasks_grouped_by_mode_add_up_to_the_total() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    for (estimate, charged) in [(7, 7), (7, 4)] {
        let id = record(&db.pool, new_entry(team, estimate)).await;
        ledger::post(&db.pool, id, credits(charged), 200)
            .await
            .unwrap();
    }
    let voided = record(&db.pool, new_entry(team, 7)).await;
    ledger::void(&db.pool, voided, Some(503), "upstream 503")
        .await
        .unwrap();
    let retention = Utc::now() + TimeDelta::hours(24);
    for (charged, terminal) in [(5, TaskState::Completed), (0, TaskState::Failed)] {
        let id = record_task(&db.pool, async_task(team, 5, retention)).await;
        let settled = async_tasks::settle(&db.pool, id, credits(charged), 200, terminal)
            .await
            .unwrap();
        assert_eq!(settled, Settled::Applied);
    }
    // Still PENDING: in no rollup.
    record_task(&db.pool, async_task(team, 5, retention)).await;

    let total = ledger::usage(&db.pool, Scope::All, &usage_today(vec![], None))
        .await
        .unwrap();
    assert_eq!(by_mode(&total), [(None, 5, 16)]);

    let split = ledger::usage(
        &db.pool,
        Scope::All,
        &usage_today(vec![UsageDimension::Team, UsageDimension::Mode], None),
    )
    .await
    .unwrap();
    assert_eq!(
        by_mode(&split),
        [
            (Some(EntryMode::Async), 2, 5),
            (Some(EntryMode::Sync), 3, 11)
        ]
    );
    assert!(split.iter().all(|row| row.team_id == Some(team)));
    for counts in [
        |row: &UsageRow| row.entries,
        |row: &UsageRow| row.posted,
        |row: &UsageRow| row.voided,
        |row: &UsageRow| row.estimate,
        |row: &UsageRow| row.charged,
    ] {
        assert_eq!(
            split.iter().map(counts).sum::<i64>(),
            counts(&total[0]),
            "the modes do not add up to the total"
        );
    }

    let only_async = ledger::usage(
        &db.pool,
        Scope::Team(team),
        &usage_today(vec![UsageDimension::Endpoint], Some(EntryMode::Async)),
    )
    .await
    .unwrap();
    assert_eq!(by_mode(&only_async), [(None, 2, 5)]);
    assert_eq!(only_async[0].endpoint.as_deref(), Some(ENDPOINTS[0]));
    let only_sync = ledger::usage(
        &db.pool,
        Scope::All,
        &usage_today(vec![UsageDimension::Mode], Some(EntryMode::Sync)),
    )
    .await
    .unwrap();
    assert_eq!(by_mode(&only_sync), [(Some(EntryMode::Sync), 3, 11)]);
    db.drop().await;
}

/// (mode, charged, late_delta) of the team's rollup rows, async first.
async fn rollups_by_mode(pool: &PgPool, team: TeamId) -> Vec<(String, i64, i64)> {
    sqlx::query_as(
        "SELECT mode, sum(charged)::bigint, sum(late_delta)::bigint FROM ledger_daily_rollups \
         WHERE team_id = $1 GROUP BY mode ORDER BY mode",
    )
    .bind(team)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// An async task and a sync call that the sweeper expired at their estimates, then settled
/// late: each late charge's delta lands in the rollup row of its entry's mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_charges_land_in_the_rollup_of_their_mode() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let now = Utc::now();
    let task = record_task(&db.pool, async_task(team, 5, now - TimeDelta::minutes(20))).await;
    let call = record(
        &db.pool,
        new_entry_at(team, now - TimeDelta::minutes(30), 7),
    )
    .await;
    assert_eq!(
        ledger::expire_stale(&db.pool, now - TimeDelta::minutes(10))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        rollups_by_mode(&db.pool, team).await,
        [("async".to_owned(), 5, 0), ("sync".to_owned(), 7, 0)]
    );

    let late = async_tasks::settle(&db.pool, task, credits(3), 200, TaskState::Completed)
        .await
        .unwrap();
    assert_eq!(late, Settled::AlreadySettled(EntryStatus::Expired));
    let late = ledger::post(&db.pool, call, credits(9), 200).await.unwrap();
    assert_eq!(late, Settled::AlreadySettled(EntryStatus::Expired));
    assert_eq!(
        rollups_by_mode(&db.pool, team).await,
        [("async".to_owned(), 5, -2), ("sync".to_owned(), 7, 2)]
    );
    db.drop().await;
}

/// A database that has only the migrations up to and including `version`, dropped by
/// [`drop_database`].
async fn database_migrated_to(version: i64) -> (PgPool, String, String) {
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("accounting_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .unwrap();
    admin.close().await.unwrap();
    let options = PgConnectOptions::from_str(&admin_url)
        .unwrap()
        .database(&name);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .unwrap();
    MIGRATOR.run_to(version, &pool).await.unwrap();
    (pool, name, admin_url)
}

async fn drop_database(pool: PgPool, name: &str, admin_url: &str) {
    pool.close().await;
    let mut admin = PgConnection::connect(admin_url).await.unwrap();
    admin
        .execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .await
        .unwrap();
}

/// Rollups written before they had a mode counted async tasks with the sync calls. The
/// migration that adds the mode moves the tasks' share (late charges included) to async rows,
/// drops a sync row left empty, and its triggers keep counting by mode afterwards. Written
/// with plain SQL against the schema of that time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mode_migration_moves_async_tasks_out_of_existing_rollups() {
    let (pool, name, admin_url) = database_migrated_to(20261130000004).await;
    let team = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO teams (id, slug, name) VALUES ($1, 'team-a', 'Team A')")
        .bind(team)
        .execute(&pool)
        .await
        .unwrap();
    // One day for every entry: yesterday's noon, and a minute apart.
    let noon = (Utc::now().date_naive() - TimeDelta::days(1))
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    // (endpoint, mode, status, estimate, charged); chatgpt has both modes, gemini only async.
    let entries = [
        (ENDPOINTS[0], "sync", "POSTED", 7, 6),
        (ENDPOINTS[0], "sync", "VOIDED", 7, 0),
        (ENDPOINTS[0], "async", "POSTED", 5, 5),
        (ENDPOINTS[0], "async", "EXPIRED", 5, 5),
        (ENDPOINTS[1], "async", "POSTED", 4, 3),
        (ENDPOINTS[1], "async", "PENDING", 4, 0),
    ];
    let mut expired_task = None;
    for (n, (endpoint, mode, status, estimate, charged)) in entries.into_iter().enumerate() {
        let id = request_id_at(noon + TimeDelta::minutes(n as i64));
        let created_at = ledger::created_at_of(id);
        let pending = status == "PENDING";
        sqlx::query(
            "INSERT INTO ledger_entries (id, created_at, team_id, endpoint, estimate, status, \
                 charged, flagged, flag_reason, void_reason, settled_at, mode) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(id)
        .bind(created_at)
        .bind(team)
        .bind(endpoint)
        .bind(estimate)
        .bind(status)
        .bind((!pending).then_some(charged))
        .bind(status == "EXPIRED")
        .bind((status == "EXPIRED").then_some("expired"))
        .bind((status == "VOIDED").then_some("upstream 503"))
        .bind((!pending).then_some(noon + TimeDelta::hours(1)))
        .bind(mode)
        .execute(&pool)
        .await
        .unwrap();
        if mode == "async" {
            sqlx::query(
                "INSERT INTO async_tasks (entry_id, entry_created_at, team_id, endpoint, \
                     task_type, priority, upstream_key) \
                 VALUES ($1, $2, $3, $4, 'CHATGPT', 1, $5)",
            )
            .bind(id)
            .bind(created_at)
            .bind(team)
            .bind(endpoint)
            .bind(format!("gw-{id}"))
            .execute(&pool)
            .await
            .unwrap();
        }
        if status == "EXPIRED" {
            expired_task = Some((id, created_at, endpoint));
        }
    }
    // The expired task's real charge came late: 2 instead of its estimate 5.
    let (id, created_at, endpoint) = expired_task.unwrap();
    sqlx::query(
        "INSERT INTO ledger_late_charges \
             (entry_id, entry_created_at, team_id, endpoint, estimate, charged) \
         VALUES ($1, $2, $3, $4, 5, 2)",
    )
    .bind(id)
    .bind(created_at)
    .bind(team)
    .bind(endpoint)
    .execute(&pool)
    .await
    .unwrap();
    let rows_before: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger_daily_rollups")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows_before, 2);

    MIGRATOR.run(&pool).await.unwrap();

    type Rollup = (String, String, i64, i64, i64, i64, i64, i64, i64);
    let rollups = || async {
        sqlx::query_as::<_, Rollup>(
            "SELECT endpoint, mode, entries, posted, voided, expired, estimate, charged, \
                 late_delta \
             FROM ledger_daily_rollups ORDER BY endpoint, mode",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let row = |endpoint: &str, mode: &str, counts: [i64; 7]| -> Rollup {
        let [
            entries,
            posted,
            voided,
            expired,
            estimate,
            charged,
            late_delta,
        ] = counts;
        (
            endpoint.to_owned(),
            mode.to_owned(),
            entries,
            posted,
            voided,
            expired,
            estimate,
            charged,
            late_delta,
        )
    };
    assert_eq!(
        rollups().await,
        [
            row(ENDPOINTS[0], "async", [2, 1, 0, 1, 10, 10, -3]),
            row(ENDPOINTS[0], "sync", [2, 1, 1, 0, 14, 6, 0]),
            row(ENDPOINTS[1], "async", [1, 1, 0, 0, 4, 3, 0]),
        ]
    );

    // From now on the triggers count by mode: the pending task settles into the async row.
    sqlx::query(
        "UPDATE ledger_entries SET status = 'POSTED', charged = 4, settled_at = now() \
         WHERE team_id = $1 AND status = 'PENDING'",
    )
    .bind(team)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        rollups().await[2],
        row(ENDPOINTS[1], "async", [2, 2, 0, 0, 8, 7, 0])
    );
    drop_database(pool, &name, &admin_url).await;
}
