//! The daily rollups the database keeps as entries settle agree with the raw ledger, for every
//! grouping; usage and period usage answer from them and respect the caller's scope.

use std::collections::BTreeMap;

use std::time::Duration;

use accounting::ledger::{
    self, GroupCommitConfig, Scope, SettleRequest, Settlement, SettlementWriter, UsageDimension,
    UsageQuery, UsageRow, ensure_partitions,
};
use accounting::{AccountingError, TeamId};
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use sqlx::PgPool;

use crate::fixtures::{create_team, credits, new_entry_at, record};
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
    created_at: DateTime<Utc>,
    status: String,
    flagged: bool,
    estimate: i64,
    charged: Option<i64>,
}

type Key = (
    Option<TeamId>,
    Option<String>,
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
            by(UsageDimension::Day).then_some(day),
            by(UsageDimension::Month).then(|| day.with_day(1).unwrap()),
        );
        let row = groups.entry(key.clone()).or_insert(UsageRow {
            team_id: key.0,
            endpoint: key.1,
            day: key.2,
            month: key.3,
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

fn sorted(mut rows: Vec<UsageRow>) -> Vec<UsageRow> {
    rows.sort_by(|a, b| {
        (a.team_id, &a.endpoint, a.day, a.month).cmp(&(b.team_id, &b.endpoint, b.day, b.month))
    });
    rows
}

async fn raw_entries(pool: &PgPool) -> Vec<RawEntry> {
    sqlx::query_as(
        "SELECT team_id, endpoint, created_at, status, flagged, estimate, charged FROM ledger_entries",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// 600 entries over the last 70 days across three teams and three endpoints: some posted,
/// some voided, some flagged from the start; the stale ones left PENDING are then expired,
/// and the recent ones stay PENDING.
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
        record(pool, entry).await;
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
            for time in [None, Some(UsageDimension::Day), Some(UsageDimension::Month)] {
                let mut group_by = Vec::new();
                if team {
                    group_by.push(UsageDimension::Team);
                }
                if endpoint {
                    group_by.push(UsageDimension::Endpoint);
                }
                group_by.extend(time);
                all.push(group_by);
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

    let today = Utc::now().date_naive();
    let query = |group_by: Vec<UsageDimension>| UsageQuery {
        from: today - TimeDelta::days(80),
        to: today + TimeDelta::days(1),
        group_by,
        team: None,
        endpoint: None,
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

    // Filters: one endpoint, over a narrower range.
    let narrow = UsageQuery {
        from: today - TimeDelta::days(30),
        to: today - TimeDelta::days(10),
        group_by: vec![UsageDimension::Month],
        team: Some(teams[2]),
        endpoint: Some(ENDPOINTS[1].to_owned()),
    };
    let matching: Vec<RawEntry> = raw_entries(&db.pool)
        .await
        .into_iter()
        .filter(|entry| {
            let day = entry.created_at.date_naive();
            entry.team_id == teams[2]
                && entry.endpoint == ENDPOINTS[1]
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
    };
    let rows = ledger::usage(&db.pool, Scope::All, &query).await.unwrap();
    assert_eq!(rows.iter().map(|row| row.entries).sum::<i64>(), 400);
    assert_eq!(
        sorted(rows),
        expected(&raw_entries(&db.pool).await, &group_by)
    );
    db.drop().await;
}
