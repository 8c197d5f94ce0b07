//! The sweeper expires only PENDING entries older than the deadline, runs by itself, and stops.

use std::time::Duration;

use accounting::EntryStatus;
use accounting::ledger::{self, Sweeper};
use chrono::{TimeDelta, Utc};

use crate::fixtures::{create_team, credits, new_entry, new_entry_at, record, record_now};
use crate::test_database::TestDatabase;

#[tokio::test]
async fn expire_stale_touches_only_old_pending_entries() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let ten_minutes_ago = Utc::now() - TimeDelta::minutes(10);
    let old_pending = record(&db.pool, new_entry_at(team, ten_minutes_ago, 7)).await;
    let old_posted = record(&db.pool, new_entry_at(team, ten_minutes_ago, 7)).await;
    let old_voided = record(&db.pool, new_entry_at(team, ten_minutes_ago, 7)).await;
    let fresh_pending = record(&db.pool, new_entry(team, 7)).await;
    ledger::post(&db.pool, old_posted, credits(6), 200)
        .await
        .unwrap();
    ledger::void(&db.pool, old_voided, Some(500), "upstream 500")
        .await
        .unwrap();

    let cutoff = Utc::now() - TimeDelta::minutes(5);
    assert_eq!(ledger::expire_stale(&db.pool, cutoff).await.unwrap(), 1);
    assert_eq!(ledger::expire_stale(&db.pool, cutoff).await.unwrap(), 0);

    let expired = ledger::get(&db.pool, team, old_pending)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(expired.status, EntryStatus::Expired);
    assert_eq!(expired.charged, Some(credits(7)));
    assert!(expired.flagged);
    assert_eq!(expired.flag_reason.as_deref(), Some("expired"));
    assert!(expired.settled_at.is_some());

    let get = |id| ledger::get(&db.pool, team, id);
    assert_eq!(
        get(old_posted).await.unwrap().unwrap().status,
        EntryStatus::Posted
    );
    assert_eq!(
        get(old_voided).await.unwrap().unwrap().status,
        EntryStatus::Voided
    );
    assert_eq!(
        get(fresh_pending).await.unwrap().unwrap().status,
        EntryStatus::Pending
    );
    db.drop().await;
}

#[tokio::test]
async fn the_deadline_counts_from_the_pending_write_not_the_request_arrival() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    // Arrived ten minutes ago (it waited), recorded just now: its call may still run.
    let waited = record_now(
        &db.pool,
        new_entry_at(team, Utc::now() - TimeDelta::minutes(10), 7),
    )
    .await;
    let cutoff = Utc::now() - TimeDelta::minutes(5);
    assert_eq!(ledger::expire_stale(&db.pool, cutoff).await.unwrap(), 0);
    let entry = ledger::get(&db.pool, team, waited).await.unwrap().unwrap();
    assert_eq!(entry.status, EntryStatus::Pending);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_runs_periodically_until_stopped() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let fresh = record(&db.pool, new_entry(team, 3)).await;
    let stale = record(
        &db.pool,
        new_entry_at(team, Utc::now() - TimeDelta::minutes(10), 3),
    )
    .await;

    let sweeper = Sweeper::spawn(
        db.pool.clone(),
        Duration::from_millis(20),
        Duration::from_secs(300),
    );
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while sweeper.expired() < 1 || sweeper.passes() < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the sweeper did not run");
    assert_eq!(sweeper.expired(), 1);
    sweeper.stop().await;

    let get = |id| ledger::get(&db.pool, team, id);
    assert_eq!(
        get(stale).await.unwrap().unwrap().status,
        EntryStatus::Expired
    );
    assert_eq!(
        get(fresh).await.unwrap().unwrap().status,
        EntryStatus::Pending
    );

    // Stopped: a new stale entry stays PENDING.
    let stale_after_stop = record(
        &db.pool,
        new_entry_at(team, Utc::now() - TimeDelta::minutes(10), 3),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        get(stale_after_stop).await.unwrap().unwrap().status,
        EntryStatus::Pending
    );
    db.drop().await;
}
