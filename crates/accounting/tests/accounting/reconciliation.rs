//! Reconciliation against hand-made balance observations and entries: every figure comes out
//! exactly, and the flagged entries (with their late charges) explain the difference.

use accounting::EntryStatus;
use accounting::ledger::{self, ensure_partitions};
use accounting::reconciliation::{latest_balance, reconcile};
use accounting::{AccountingError, TeamId};
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{create_team, credits, new_entry_at, record};
use crate::test_database::TestDatabase;

async fn observe(pool: &PgPool, at: DateTime<Utc>, credits_remaining: i64) {
    sqlx::query(
        "INSERT INTO account_balance_observations (observed_at, credits_remaining) VALUES ($1, $2)",
    )
    .bind(at)
    .bind(credits_remaining)
    .execute(pool)
    .await
    .unwrap();
}

async fn entry(pool: &PgPool, team: TeamId, at: DateTime<Utc>, estimate: i64, flag: bool) -> Uuid {
    let mut entry = new_entry_at(team, at, estimate);
    if flag {
        entry.flag_reason = Some("soft budget exceeded".to_owned());
    }
    record(pool, entry).await
}

#[tokio::test]
async fn the_numbers_come_out_exactly() {
    let db = TestDatabase::new().await;
    let start = Utc::now().trunc_subsecs(6);
    ensure_partitions(&db.pool, start - TimeDelta::days(2), 2)
        .await
        .unwrap();
    let team = create_team(&db.pool, "team-a").await;
    let minutes = |m: i64| start + TimeDelta::minutes(m);
    let (from, to) = (minutes(-30), minutes(30));

    observe(&db.pool, minutes(-50), 5_000).await; // before the window: ignored
    observe(&db.pool, minutes(-20), 1_000).await; // opening
    observe(&db.pool, minutes(-10), 990).await; // -10
    observe(&db.pool, minutes(-5), 1_090).await; // +100 top-up
    observe(&db.pool, minutes(20), 976).await; // closing: -114 (100 + 9 + 5)
    observe(&db.pool, minutes(40), 1).await; // after the window: ignored

    let before_window = entry(&db.pool, team, minutes(-40), 100, false).await;
    let expired = entry(&db.pool, team, minutes(-28), 7, false).await;
    let posted = entry(&db.pool, team, minutes(-26), 12, false).await;
    let soft_budget = entry(&db.pool, team, minutes(-24), 5, true).await;
    let voided = entry(&db.pool, team, minutes(-22), 4, false).await;
    let pending = entry(&db.pool, team, minutes(-21), 6, false).await;
    let _after_window = entry(&db.pool, team, minutes(31), 3, false).await;

    ledger::post(&db.pool, before_window, credits(100), 200)
        .await
        .unwrap();
    assert_eq!(
        ledger::expire_stale(&db.pool, minutes(-27)).await.unwrap(),
        1
    );
    ledger::post(&db.pool, expired, credits(9), 200)
        .await
        .unwrap(); // late: 9 for an estimate of 7
    ledger::post(&db.pool, posted, credits(10), 200)
        .await
        .unwrap();
    ledger::post(&db.pool, soft_budget, credits(5), 200)
        .await
        .unwrap();
    ledger::void(&db.pool, voided, Some(400), "upstream 400")
        .await
        .unwrap();

    let report = reconcile(&db.pool, from, to, 10).await.unwrap();
    let opening = report.opening.clone().unwrap();
    let closing = report.closing.clone().unwrap();
    assert_eq!(
        (opening.observed_at, opening.credits_remaining),
        (minutes(-20), 1_000)
    );
    assert_eq!(
        (closing.observed_at, closing.credits_remaining),
        (minutes(20), 976)
    );
    assert_eq!(report.upstream_consumed, Some(124));
    assert_eq!(report.top_ups, 100);
    // Settled between the opening and the closing: 100 + 7 (expired) + 10 + 5 + 0.
    assert_eq!(report.ledger_charged, 122);
    // Created in the window: 7 + 10 + 5 + 0 (the 100 was created before it).
    assert_eq!(report.ledger_charged_in_period, 22);
    assert_eq!(report.difference, Some(-2));
    assert_eq!(report.late_charges_delta, 2);
    assert_eq!(
        report.difference.unwrap() + report.late_charges_delta,
        0,
        "the late charge explains the whole difference"
    );
    assert_eq!(report.pending_at_close, 1);
    let explaining: Vec<(Uuid, EntryStatus, Option<i64>)> = report
        .explaining
        .iter()
        .map(|e| (e.id, e.status, e.late_charge))
        .collect();
    assert_eq!(
        explaining,
        vec![
            (soft_budget, EntryStatus::Posted, None),
            (expired, EntryStatus::Expired, Some(9)),
        ]
    );
    assert_eq!(report.explaining[1].flag_reason.as_deref(), Some("expired"));
    assert!(!report.explaining_truncated);

    let truncated = reconcile(&db.pool, from, to, 1).await.unwrap();
    assert_eq!(truncated.explaining.len(), 1);
    assert_eq!(truncated.explaining[0].id, soft_budget);
    assert!(truncated.explaining_truncated);

    assert_eq!(
        pending,
        ledger::get(&db.pool, team, pending)
            .await
            .unwrap()
            .unwrap()
            .id
    );
    let latest = latest_balance(&db.pool).await.unwrap().unwrap();
    assert_eq!(
        (latest.observed_at, latest.credits_remaining),
        (minutes(40), 1)
    );
    db.drop().await;
}

#[tokio::test]
async fn charged_in_period_mixes_rollup_days_and_partial_edges_exactly() {
    let db = TestDatabase::new().await;
    let now = Utc::now();
    ensure_partitions(&db.pool, now - TimeDelta::days(10), 1)
        .await
        .unwrap();
    let team = create_team(&db.pool, "team-a").await;
    for hours in (1..200).step_by(7) {
        let id = entry(&db.pool, team, now - TimeDelta::hours(hours), 5, false).await;
        ledger::post(&db.pool, id, credits(hours % 11), 200)
            .await
            .unwrap();
    }
    let raw = |from: DateTime<Utc>, to: DateTime<Utc>| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COALESCE(sum(charged), 0)::bigint FROM ledger_entries \
                 WHERE created_at >= $1 AND created_at < $2",
            )
            .bind(from)
            .bind(to)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let midnight = now.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    for (from, to) in [
        (now - TimeDelta::hours(150), now), // partial, whole days, partial
        (midnight - TimeDelta::days(5), midnight), // whole days only
        (now - TimeDelta::hours(20), now - TimeDelta::hours(3)), // within a day or two
        (
            midnight - TimeDelta::days(3) + TimeDelta::hours(2),
            midnight - TimeDelta::days(2),
        ),
    ] {
        let report = reconcile(&db.pool, from, to, 0).await.unwrap();
        assert_eq!(
            report.ledger_charged_in_period,
            raw(from, to).await,
            "{from}..{to}"
        );
        assert!(report.explaining.is_empty());
        assert_eq!(report.upstream_consumed, None);
        assert_eq!(report.ledger_charged, 0);
    }
    assert!(matches!(
        reconcile(&db.pool, now, now, 10).await,
        Err(AccountingError::Invalid(_))
    ));
    assert!(matches!(
        reconcile(&db.pool, now - TimeDelta::hours(1), now, 10_001).await,
        Err(AccountingError::Invalid(_))
    ));
    assert_eq!(latest_balance(&db.pool).await.unwrap(), None);
    db.drop().await;
}
