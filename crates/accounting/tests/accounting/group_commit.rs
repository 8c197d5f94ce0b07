//! Group commit: concurrent PENDING records share transactions, every one is durable when
//! answered, a retry of the same id is harmless, one bad row does not sink its batch, and a
//! writer keeps one connection while busy (given back when idle, replaced when it died).

use std::time::{Duration, Instant};

use accounting::AccountingError;
use accounting::ledger::{GroupCommitConfig, LedgerWriter, Recorded};
use uuid::Uuid;

use crate::fixtures::{create_team, new_entry, new_entry_with_id};
use crate::test_database::TestDatabase;

async fn count_entries(db: &TestDatabase) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM ledger_entries")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_records_are_durable_in_few_transactions() {
    const REQUESTS: usize = 2_000;
    let db = TestDatabase::new().await;
    let teams = [
        create_team(&db.pool, "team-a").await,
        create_team(&db.pool, "team-b").await,
    ];
    let writer = LedgerWriter::spawn(
        db.pool.clone(),
        GroupCommitConfig {
            max_batch: 256,
            max_wait: Duration::from_millis(2),
        },
    );

    let started = Instant::now();
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|n| {
            let writer = writer.clone();
            let entry = new_entry(teams[n % 2], 7);
            tokio::spawn(async move { (entry.id, writer.record_pending(entry).await) })
        })
        .collect();
    let mut ids = Vec::with_capacity(REQUESTS);
    for task in tasks {
        let (id, outcome) = task.await.unwrap();
        assert_eq!(outcome.unwrap(), Recorded::Inserted);
        ids.push(id);
    }
    let elapsed = started.elapsed();

    let durable: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ledger_entries WHERE id = ANY($1) AND status = 'PENDING'",
    )
    .bind(&ids)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(durable, 2_000);

    let stats = writer.stats();
    println!(
        "group commit: {REQUESTS} record_pending in {elapsed:?} = {:.0}/s, {} transactions \
         (mean batch {:.1}), {} failed",
        REQUESTS as f64 / elapsed.as_secs_f64(),
        stats.batches_committed,
        REQUESTS as f64 / stats.batches_committed as f64,
        stats.batches_failed,
    );
    assert_eq!(stats.entries_inserted, 2_000);
    assert_eq!(stats.batches_failed, 0);
    assert!(
        stats.batches_committed <= 200,
        "{} transactions for {REQUESTS} entries: not grouped",
        stats.batches_committed
    );
    db.drop().await;
}

#[tokio::test]
async fn recording_the_same_id_again_is_harmless() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let writer = LedgerWriter::spawn(db.pool.clone(), GroupCommitConfig::default());

    let entry = new_entry(team, 5);
    assert_eq!(
        writer.record_pending(entry.clone()).await.unwrap(),
        Recorded::Inserted
    );
    assert_eq!(
        writer.record_pending(entry).await.unwrap(),
        Recorded::AlreadyExisted
    );

    // Twice in the same batch: one insert, one "already there".
    let twin = new_entry(team, 5);
    let (first, second) = tokio::join!(
        writer.record_pending(twin.clone()),
        writer.record_pending(twin)
    );
    let mut outcomes = [first.unwrap(), second.unwrap()];
    outcomes.sort_by_key(|outcome| *outcome == Recorded::AlreadyExisted);
    assert_eq!(outcomes, [Recorded::Inserted, Recorded::AlreadyExisted]);

    assert_eq!(count_entries(&db).await, 2);
    db.drop().await;
}

#[tokio::test]
async fn only_uuid_v7_ids_are_recorded() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let writer = LedgerWriter::spawn(db.pool.clone(), GroupCommitConfig::default());
    let error = writer
        .record_pending(new_entry_with_id(team, Uuid::new_v4(), 5))
        .await
        .unwrap_err();
    assert!(matches!(error, AccountingError::Invalid(_)));
    assert_eq!(count_entries(&db).await, 0);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_row_fails_alone() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let writer = LedgerWriter::spawn(
        db.pool.clone(),
        GroupCommitConfig {
            max_batch: 256,
            max_wait: Duration::from_millis(50),
        },
    );
    let unknown_team = accounting::TeamId::generate();

    let outcomes = futures::future::join_all((0..21).map(|n| {
        let team = if n == 10 { unknown_team } else { team };
        writer.record_pending(new_entry(team, 3))
    }))
    .await;

    for (n, outcome) in outcomes.iter().enumerate() {
        if n == 10 {
            let error = outcome.as_ref().unwrap_err();
            assert!(matches!(error, AccountingError::Database(_)), "{error:?}");
        } else {
            assert_eq!(outcome.as_ref().unwrap(), &Recorded::Inserted);
        }
    }
    assert_eq!(count_entries(&db).await, 20);
    assert!(writer.stats().batches_failed >= 1);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_writer_still_commits_what_it_was_given() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let writer = LedgerWriter::spawn(
        db.pool.clone(),
        GroupCommitConfig {
            max_batch: 16,
            max_wait: Duration::from_millis(20),
        },
    );
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.record_pending(new_entry(team, 1)).await })
        })
        .collect();
    drop(writer);
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), Recorded::Inserted);
    }
    assert_eq!(count_entries(&db).await, 100);
    db.drop().await;
}

#[tokio::test]
async fn a_closed_pool_makes_the_writer_unavailable() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let writer = LedgerWriter::spawn(db.pool.clone(), GroupCommitConfig::default());
    db.pool.close().await;

    let error = writer.record_pending(new_entry(team, 1)).await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
    assert!(matches!(error, AccountingError::LedgerWrite(_)));
    db.drop().await;
}

/// Connections of the pool checked out now.
fn checked_out(pool: &sqlx::PgPool) -> usize {
    usize::try_from(pool.size()).unwrap() - pool.num_idle()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_writer_keeps_its_connection_and_gives_it_back_when_idle() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let writer = LedgerWriter::spawn(db.pool.clone(), GroupCommitConfig::default());
    for _ in 0..10 {
        writer.record_pending(new_entry(team, 1)).await.unwrap();
        // Long enough for a returned connection to be back in the pool, well within the
        // writer's idle allowance.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(checked_out(&db.pool), 1, "the writer keeps its connection");
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(checked_out(&db.pool), 0, "an idle writer gives it back");
    writer.record_pending(new_entry(team, 1)).await.unwrap();
    assert_eq!(count_entries(&db).await, 11);
    db.drop().await;
}

#[tokio::test]
async fn closing_the_pool_does_not_wait_for_a_writer_holding_a_connection() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let writer = LedgerWriter::spawn(db.pool.clone(), GroupCommitConfig::default());
    writer.record_pending(new_entry(team, 1)).await.unwrap();
    tokio::time::timeout(Duration::from_millis(200), db.pool.close())
        .await
        .expect("the pool closed without waiting for the writer's idle allowance");
    drop(writer);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_replaces_a_connection_that_died() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let writer = LedgerWriter::spawn(db.pool.clone(), GroupCommitConfig::default());
    writer.record_pending(new_entry(team, 1)).await.unwrap();
    // End every other session on the database, the writer's kept connection among them.
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity, LATERAL pg_terminate_backend(pid) \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(ended >= 1, "the writer's connection was ended");

    // The batch sent on the dead connection may fail (unavailable, nothing recorded); the
    // writer then takes a new connection, and the next one is recorded.
    let entry = new_entry(team, 1);
    let id = entry.id;
    let first = writer.record_pending(entry).await;
    if let Err(error) = &first {
        assert!(error.is_unavailable(), "{error:?}");
    }
    assert_eq!(
        writer.record_pending(new_entry(team, 1)).await.unwrap(),
        Recorded::Inserted
    );
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger_entries WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        recorded,
        i64::from(first.is_ok()),
        "recorded exactly when answered so"
    );
    db.drop().await;
}
