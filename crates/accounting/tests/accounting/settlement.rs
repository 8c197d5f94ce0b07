//! Settlement: POST and VOID apply once, are idempotent, respect the caller's transaction,
//! and race with the sweeper to exactly one final state per entry.

use std::sync::Arc;

use accounting::EntryStatus;
use accounting::ledger::{self, LedgerWriter, Settled};
use chrono::{TimeDelta, Utc};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::fixtures::{create_team, credits, new_entry, new_entry_at, record};
use crate::test_database::TestDatabase;

#[tokio::test]
async fn post_applies_once_and_records_the_upstream_charge() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = record(&db.pool, new_entry(team, 7)).await;

    assert_eq!(
        ledger::post(&db.pool, id, credits(9), 200).await.unwrap(),
        Settled::Applied
    );
    assert_eq!(
        ledger::post(&db.pool, id, credits(9), 200).await.unwrap(),
        Settled::AlreadySettled(EntryStatus::Posted)
    );

    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(entry.status, EntryStatus::Posted);
    assert_eq!(entry.charged, Some(credits(9)));
    assert_eq!(entry.estimate, credits(7));
    assert_eq!(entry.upstream_status, Some(200));
    assert!(entry.settled_at.is_some());
    assert!(!entry.flagged);
    db.drop().await;
}

#[tokio::test]
async fn void_charges_nothing_and_keeps_its_reason() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = record(&db.pool, new_entry(team, 7)).await;

    assert_eq!(
        ledger::void(&db.pool, id, Some(400), "upstream 400 INVALID_REQUEST")
            .await
            .unwrap(),
        Settled::Applied
    );
    assert_eq!(
        ledger::post(&db.pool, id, credits(7), 200).await.unwrap(),
        Settled::AlreadySettled(EntryStatus::Voided)
    );
    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(entry.status, EntryStatus::Voided);
    assert_eq!(entry.charged, Some(credits(0)));
    assert_eq!(entry.upstream_status, Some(400));
    assert_eq!(
        entry.void_reason.as_deref(),
        Some("upstream 400 INVALID_REQUEST")
    );

    let not_sent = record(&db.pool, new_entry(team, 7)).await;
    assert_eq!(
        ledger::void(&db.pool, not_sent, None, "not sent: upstream unreachable")
            .await
            .unwrap(),
        Settled::Applied
    );
    db.drop().await;
}

#[tokio::test]
async fn settling_an_unknown_entry_finds_nothing() {
    let db = TestDatabase::new().await;
    assert_eq!(
        ledger::post(&db.pool, Uuid::now_v7(), credits(1), 200)
            .await
            .unwrap(),
        Settled::NotFound
    );
    assert_eq!(
        ledger::void(&db.pool, Uuid::new_v4(), None, "never recorded")
            .await
            .unwrap(),
        Settled::NotFound
    );
    db.drop().await;
}

#[tokio::test]
async fn settlement_joins_the_callers_transaction() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = record(&db.pool, new_entry(team, 7)).await;

    let mut tx = db.pool.begin().await.unwrap();
    assert_eq!(
        ledger::post(&mut *tx, id, credits(3), 200).await.unwrap(),
        Settled::Applied
    );
    tx.rollback().await.unwrap();
    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(entry.status, EntryStatus::Pending);

    let mut tx = db.pool.begin().await.unwrap();
    assert_eq!(
        ledger::post(&mut tx, id, credits(3), 200).await.unwrap(),
        Settled::Applied
    );
    tx.commit().await.unwrap();
    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(entry.status, EntryStatus::Posted);
    db.drop().await;
}

#[tokio::test]
async fn post_after_the_sweeper_reports_the_expiry() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = record(
        &db.pool,
        new_entry_at(team, Utc::now() - TimeDelta::minutes(30), 7),
    )
    .await;
    assert_eq!(ledger::expire_stale(&db.pool, Utc::now()).await.unwrap(), 1);

    assert_eq!(
        ledger::post(&db.pool, id, credits(5), 200).await.unwrap(),
        Settled::AlreadySettled(EntryStatus::Expired)
    );
    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(entry.status, EntryStatus::Expired);
    assert_eq!(entry.charged, Some(credits(7)));
    assert!(entry.flagged);
    assert_eq!(entry.flag_reason.as_deref(), Some("expired"));
    db.drop().await;
}

/// Round after round, a handful of stale entries are settled by POST or VOID while a sweeper
/// expires everything stale, all released at once: every entry ends in exactly one final
/// state, and the winners' counts add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlement_racing_the_sweeper_has_exactly_one_winner() {
    const ROUNDS: usize = 40;
    const ENTRIES_PER_ROUND: usize = 10;
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let writer = LedgerWriter::spawn(db.pool.clone(), Default::default());

    let mut applied = 0_u64;
    let mut lost_to_sweeper = 0_u64;
    let mut expired_by_sweeper = 0_u64;
    for round in 0..ROUNDS {
        let old = Utc::now() - TimeDelta::minutes(10);
        let mut ids = Vec::with_capacity(ENTRIES_PER_ROUND);
        for _ in 0..ENTRIES_PER_ROUND {
            let entry = new_entry_at(team, old, 7);
            ids.push(entry.id);
            writer.record_pending(entry).await.unwrap();
        }

        let start = Arc::new(Barrier::new(ENTRIES_PER_ROUND + 1));
        let sweeper = {
            let pool = db.pool.clone();
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                ledger::expire_stale(&pool, Utc::now()).await.unwrap()
            })
        };
        let settlers: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(n, id)| {
                let pool = db.pool.clone();
                let start = Arc::clone(&start);
                let (id, voids) = (*id, (round + n) % 3 == 0);
                tokio::spawn(async move {
                    start.wait().await;
                    if voids {
                        let outcome = ledger::void(&pool, id, Some(503), "upstream 503").await;
                        (id, EntryStatus::Voided, outcome)
                    } else {
                        let outcome = ledger::post(&pool, id, credits(5), 200).await;
                        (id, EntryStatus::Posted, outcome)
                    }
                })
            })
            .collect();

        for settler in settlers {
            let (id, wanted, outcome) = settler.await.unwrap();
            let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
            match outcome.unwrap() {
                Settled::Applied => {
                    applied += 1;
                    assert_eq!(entry.status, wanted);
                    let charge = if wanted == EntryStatus::Posted { 5 } else { 0 };
                    assert_eq!(entry.charged, Some(credits(charge)));
                    assert!(!entry.flagged);
                }
                Settled::AlreadySettled(EntryStatus::Expired) => {
                    lost_to_sweeper += 1;
                    assert_eq!(entry.status, EntryStatus::Expired);
                    assert_eq!(entry.charged, Some(credits(7)));
                    assert!(entry.flagged);
                }
                other => panic!("entry {id}: unexpected {other:?}"),
            }
        }
        expired_by_sweeper += sweeper.await.unwrap();
        assert_eq!(ledger::count_pending(&db.pool).await.unwrap(), 0);
    }

    println!(
        "settlement race: {applied} settled by the gateway, {lost_to_sweeper} expired by the sweeper"
    );
    assert_eq!(
        applied + lost_to_sweeper,
        (ROUNDS * ENTRIES_PER_ROUND) as u64
    );
    assert_eq!(expired_by_sweeper, lost_to_sweeper);
    assert!(
        applied > 0 && lost_to_sweeper > 0,
        "the race was never close: no contention exercised"
    );
    db.drop().await;
}
