//! Group-committed settlement: concurrent POST/VOID updates share transactions, each caller
//! learns its own outcome, a settled entry is never changed again, and balances are kept.

use accounting::EntryStatus;
use accounting::ledger::{
    GroupCommitConfig, SettleRequest, Settled, Settlement, SettlementWriter, expire_stale,
};
use chrono::{TimeDelta, Utc};
use std::time::Duration;
use uuid::Uuid;

use crate::fixtures::{create_team, credits, new_entry, new_entry_at, record, status_of};
use crate::test_database::TestDatabase;

fn writer(db: &TestDatabase) -> SettlementWriter {
    SettlementWriter::spawn(
        db.pool.clone(),
        GroupCommitConfig {
            max_batch: 256,
            max_wait: Duration::ZERO,
        },
    )
}

fn post(id: Uuid, charged: i64, balance: Option<i64>) -> SettleRequest {
    SettleRequest {
        id,
        settlement: Settlement::Post {
            charged: credits(charged),
            upstream_status: 200,
        },
        balance_observed: balance,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_settlements_share_few_transactions() {
    const ENTRIES: usize = 1_000;
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let mut ids = Vec::with_capacity(ENTRIES);
    for _ in 0..ENTRIES {
        ids.push(record(&db.pool, new_entry(team, 7)).await);
    }
    let writer = writer(&db);
    let tasks: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let writer = writer.clone();
            let request = if n % 2 == 0 {
                post(*id, 5, Some(1_000_000 - n as i64))
            } else {
                SettleRequest {
                    id: *id,
                    settlement: Settlement::Void {
                        upstream_status: Some(503),
                        reason: "upstream answered 503".into(),
                    },
                    balance_observed: None,
                }
            };
            tokio::spawn(async move { writer.settle(request).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), Settled::Applied);
    }
    let (posted, voided, charged): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'POSTED'), count(*) FILTER (WHERE status = 'VOIDED'), \
         COALESCE(sum(charged), 0)::bigint FROM ledger_entries",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((posted, voided, charged), (500, 500, 2_500));
    let balances: i64 = sqlx::query_scalar("SELECT count(*) FROM account_balance_observations")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(balances, 500);
    let stats = writer.stats();
    println!(
        "settlement: {ENTRIES} entries in {} transactions",
        stats.batches_committed
    );
    assert_eq!(stats.entries_settled, ENTRIES as u64);
    assert!(
        stats.batches_committed < 200,
        "not grouped: {}",
        stats.batches_committed
    );
    db.drop().await;
}

#[tokio::test]
async fn a_settled_entry_is_never_changed_again() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let writer = writer(&db);
    let id = record(&db.pool, new_entry(team, 7)).await;
    assert_eq!(
        writer.settle(post(id, 7, None)).await.unwrap(),
        Settled::Applied
    );
    assert_eq!(
        writer.settle(post(id, 9, None)).await.unwrap(),
        Settled::AlreadySettled(EntryStatus::Posted)
    );
    let charged: i64 = sqlx::query_scalar("SELECT charged FROM ledger_entries WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(charged, 7);

    // The sweeper got there first: the late settlement leaves the EXPIRED entry alone.
    let old = record(
        &db.pool,
        new_entry_at(team, Utc::now() - TimeDelta::hours(2), 12),
    )
    .await;
    expire_stale(&db.pool, Utc::now() - TimeDelta::hours(1))
        .await
        .unwrap();
    assert_eq!(
        writer.settle(post(old, 5, None)).await.unwrap(),
        Settled::AlreadySettled(EntryStatus::Expired)
    );
    assert_eq!(status_of(&db.pool, old).await, "EXPIRED");

    assert_eq!(
        writer.settle(post(Uuid::now_v7(), 5, None)).await.unwrap(),
        Settled::NotFound
    );
    let blank_reason = SettleRequest {
        id,
        settlement: Settlement::Void {
            upstream_status: None,
            reason: " ".into(),
        },
        balance_observed: None,
    };
    assert!(writer.settle(blank_reason).await.is_err());
    db.drop().await;
}
