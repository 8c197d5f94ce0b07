//! Monthly partitions: created ahead, idempotently; rows land in their month; the DEFAULT
//! partition catches what has no month yet and hands it over once the month is created.

use accounting::ledger::{self, ensure_partitions, partition_name};
use accounting::{AccountingError, EntryStatus};
use chrono::{DateTime, Datelike, Months, TimeZone, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{create_team, new_entry_at, record};
use crate::test_database::{TestDatabase, sqlstate};

async fn partitions(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'ledger_entries'::regclass ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn partition_holding(pool: &PgPool, id: Uuid) -> String {
    sqlx::query_scalar(
        "SELECT tableoid::regclass::text FROM ledger_entries WHERE id = $1 AND created_at = $2",
    )
    .bind(id)
    .bind(ledger::created_at_of(id))
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Noon on the first day of the month `months` after the current one.
fn month_from_now(months: u32) -> DateTime<Utc> {
    let now = Utc::now();
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 12, 0, 0)
        .unwrap()
        .checked_add_months(Months::new(months))
        .unwrap()
}

#[tokio::test]
async fn migration_creates_this_month_the_next_three_and_a_default() {
    let db = TestDatabase::new().await;
    let existing = partitions(&db.pool).await;
    for months in 0..=3 {
        let name = partition_name(month_from_now(months));
        assert!(existing.contains(&name), "{name} missing from {existing:?}");
    }
    assert!(existing.contains(&"ledger_entries_default".to_owned()));
    db.drop().await;
}

#[tokio::test]
async fn ensure_creates_months_ahead_once() {
    let db = TestDatabase::new().await;
    let created = ensure_partitions(&db.pool, Utc::now(), 12).await.unwrap();
    assert_eq!(created, 9, "months 4 to 12 are new");
    assert_eq!(
        ensure_partitions(&db.pool, Utc::now(), 12).await.unwrap(),
        0
    );

    let existing = partitions(&db.pool).await;
    for months in 0..=12 {
        assert!(existing.contains(&partition_name(month_from_now(months))));
    }
    assert_eq!(existing.len(), 13 + 1);
    db.drop().await;
}

#[tokio::test]
async fn concurrent_ensures_do_not_collide() {
    let db = TestDatabase::new().await;
    let now = Utc::now();
    let runs = (0..4).map(|_| ensure_partitions(&db.pool, now, 24));
    let created: u32 = futures::future::try_join_all(runs)
        .await
        .unwrap()
        .into_iter()
        .sum();
    assert_eq!(created, 21);
    db.drop().await;
}

#[tokio::test]
async fn an_entry_lands_in_the_partition_of_its_month() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    ensure_partitions(&db.pool, Utc::now(), 6).await.unwrap();

    let this_month = record(&db.pool, new_entry_at(team, Utc::now(), 5)).await;
    let in_two_months_at = month_from_now(2);
    let in_two_months = record(&db.pool, new_entry_at(team, in_two_months_at, 5)).await;

    assert_eq!(
        partition_holding(&db.pool, this_month).await,
        partition_name(Utc::now())
    );
    assert_eq!(
        partition_holding(&db.pool, in_two_months).await,
        partition_name(in_two_months_at)
    );
    db.drop().await;
}

#[tokio::test]
async fn the_default_partition_catches_far_future_rows_until_their_month_exists() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let far_future = Utc.with_ymd_and_hms(2100, 6, 15, 8, 30, 0).unwrap();
    let id = record(&db.pool, new_entry_at(team, far_future, 9)).await;
    assert_eq!(
        partition_holding(&db.pool, id).await,
        "ledger_entries_default"
    );

    let created = ensure_partitions(&db.pool, far_future, 0).await.unwrap();
    assert_eq!(created, 1);
    assert_eq!(
        partition_holding(&db.pool, id).await,
        "ledger_entries_y2100m06"
    );

    // The moved row is intact and still guarded by the append-only trigger.
    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(entry.status, EntryStatus::Pending);
    assert_eq!(entry.estimate.get(), 9);
    let delete = sqlx::query("DELETE FROM ledger_entries WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&delete).as_deref(), Some("23001"));

    // The DEFAULT partition is back and still catches rows.
    let later = record(
        &db.pool,
        new_entry_at(team, Utc.with_ymd_and_hms(2101, 1, 1, 0, 0, 0).unwrap(), 1),
    )
    .await;
    assert_eq!(
        partition_holding(&db.pool, later).await,
        "ledger_entries_default"
    );
    db.drop().await;
}

#[tokio::test]
async fn ensure_refuses_absurd_horizons() {
    let db = TestDatabase::new().await;
    let error = ensure_partitions(&db.pool, Utc::now(), 121)
        .await
        .unwrap_err();
    assert!(matches!(error, AccountingError::Invalid(_)));
    db.drop().await;
}
