//! The ledger's one writer: PENDING records and settlements queued together share one
//! statement and one transaction, a bad row among them fails only its own request, and a
//! caller who stopped waiting loses its record but never its settlement.

use std::time::Duration;

use accounting::AccountingError;
use accounting::ledger::{
    GroupCommitConfig, LedgerWriter, Recorded, SettleRequest, Settled, Settlement,
};
use accounting::{Credits, TeamId};
use uuid::Uuid;

use crate::fixtures::{create_team, new_entry, status_of};
use crate::test_database::TestDatabase;

/// A writer that gathers for `max_wait`, so requests sent together share a batch.
fn gathering_writer(db: &TestDatabase, max_wait: Duration) -> LedgerWriter {
    LedgerWriter::spawn(
        db.pool.clone(),
        GroupCommitConfig {
            max_batch: 256,
            max_wait,
        },
    )
}

fn post(id: Uuid, charged: i64) -> SettleRequest {
    SettleRequest {
        id,
        settlement: Settlement::Post {
            charged: Credits::new(charged).unwrap(),
            upstream_status: 200,
        },
        balance_observed: Some(1_000),
    }
}

/// The id of the transaction that wrote the entry's current row version.
async fn writing_transaction(db: &TestDatabase, id: Uuid) -> String {
    sqlx::query_scalar("SELECT xmin::text FROM ledger_entries WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

async fn recorded(writer: &LedgerWriter, team: TeamId) -> Uuid {
    let entry = new_entry(team, 7);
    let id = entry.id;
    assert_eq!(
        writer.record_pending(entry).await.unwrap(),
        Recorded::Inserted
    );
    id
}

#[tokio::test]
async fn a_record_and_a_settlement_sent_together_commit_in_one_transaction() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let writer = gathering_writer(&db, Duration::from_millis(50));
    let settlements = writer.settlement_writer();
    let finished = recorded(&writer, team).await;

    let starting = new_entry(team, 9);
    let starting_id = starting.id;
    let (settled, started) = tokio::join!(
        settlements.settle(post(finished, 5)),
        writer.record_pending(starting),
    );
    assert_eq!(settled.unwrap(), Settled::Applied);
    assert_eq!(started.unwrap(), Recorded::Inserted);

    assert_eq!(
        writing_transaction(&db, finished).await,
        writing_transaction(&db, starting_id).await,
        "the settlement and the new entry were written by one transaction"
    );
    let pending = writer.stats();
    let settled = settlements.stats();
    assert_eq!(
        (pending.batches_committed, pending.entries_inserted),
        (2, 2)
    );
    assert_eq!((settled.batches_committed, settled.entries_settled), (1, 1));
    assert_eq!(writer.transactions_committed(), 2);
    let (charged, rollup_charged): (Option<i64>, i64) = sqlx::query_as(
        "SELECT (SELECT charged FROM ledger_entries WHERE id = $1), \
                (SELECT COALESCE(sum(charged), 0)::bigint FROM ledger_daily_rollups)",
    )
    .bind(finished)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((charged, rollup_charged), (Some(5), 5));
}

#[tokio::test]
async fn a_bad_record_fails_alone_and_the_settlement_beside_it_is_applied() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let writer = gathering_writer(&db, Duration::from_millis(50));
    let settlements = writer.settlement_writer();
    let finished = recorded(&writer, team).await;

    let unknown_team = new_entry(TeamId::from(Uuid::now_v7()), 9);
    let good = new_entry(team, 3);
    let good_id = good.id;
    let (settled, refused, accepted) = tokio::join!(
        settlements.settle(post(finished, 5)),
        writer.record_pending(unknown_team),
        writer.record_pending(good),
    );
    assert_eq!(settled.unwrap(), Settled::Applied);
    assert!(matches!(refused, Err(AccountingError::Database(_))));
    assert_eq!(accepted.unwrap(), Recorded::Inserted);
    assert_eq!(status_of(&db.pool, finished).await, "POSTED");
    assert_eq!(status_of(&db.pool, good_id).await, "PENDING");
    assert_eq!(settlements.stats().entries_settled, 1);
}

#[tokio::test]
async fn a_caller_who_stopped_waiting_loses_its_record_but_not_its_settlement() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let finished = recorded(&gathering_writer(&db, Duration::ZERO), team).await;
    // The batch gathers for 300 ms; both callers give up after 20 ms, before it commits.
    let writer = gathering_writer(&db, Duration::from_millis(300));
    let settlements = writer.settlement_writer();
    let never_sent = new_entry(team, 9);
    let never_sent_id = never_sent.id;
    let give_up = Duration::from_millis(20);
    let (settled, started) = tokio::join!(
        tokio::time::timeout(give_up, settlements.settle(post(finished, 5))),
        tokio::time::timeout(give_up, writer.record_pending(never_sent)),
    );
    assert!(settled.is_err() && started.is_err(), "both callers gave up");

    // A request sent after them joins their batch: once it is answered, the batch is done.
    recorded(&writer, team).await;
    assert_eq!(status_of(&db.pool, finished).await, "POSTED");
    let never_sent_rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ledger_entries WHERE id = $1")
            .bind(never_sent_id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(never_sent_rows, 0);
}
