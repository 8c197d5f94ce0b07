//! The database itself keeps the ledger append-only: no DELETE, no TRUNCATE, a settled entry
//! never changes, and settling never rewrites what identifies an entry.

use accounting::EntryStatus;
use accounting::ledger::{self, Settled};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{create_team, credits, new_entry, record, status_of};
use crate::test_database::{TestDatabase, sqlstate};

const APPEND_ONLY_VIOLATION: &str = "23001";

async fn run(pool: &PgPool, sql: &'static str, id: Uuid) -> Result<u64, sqlx::Error> {
    sqlx::query(sql)
        .bind(id)
        .bind(ledger::created_at_of(id))
        .execute(pool)
        .await
        .map(|result| result.rows_affected())
}

#[tokio::test]
async fn delete_and_truncate_are_refused() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = record(&db.pool, new_entry(team, 5)).await;

    let error = run(
        &db.pool,
        "DELETE FROM ledger_entries WHERE id = $1 AND created_at = $2",
        id,
    )
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some(APPEND_ONLY_VIOLATION));

    let error = sqlx::query("TRUNCATE ledger_entries")
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some(APPEND_ONLY_VIOLATION));
    assert_eq!(status_of(&db.pool, id).await, "PENDING");
    db.drop().await;
}

#[tokio::test]
async fn a_settled_entry_cannot_be_settled_again() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = record(&db.pool, new_entry(team, 5)).await;
    assert_eq!(
        ledger::post(&db.pool, id, credits(4), 200).await.unwrap(),
        Settled::Applied
    );

    // Through SQL, bypassing the guarded UPDATE: the trigger refuses.
    let error = run(
        &db.pool,
        "UPDATE ledger_entries SET status = 'VOIDED', charged = 0, void_reason = 'x' \
         WHERE id = $1 AND created_at = $2",
        id,
    )
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some(APPEND_ONLY_VIOLATION));
    let error = run(
        &db.pool,
        "UPDATE ledger_entries SET charged = 40 WHERE id = $1 AND created_at = $2",
        id,
    )
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some(APPEND_ONLY_VIOLATION));

    // Through the API: reported, not applied.
    assert_eq!(
        ledger::void(&db.pool, id, Some(500), "late failure")
            .await
            .unwrap(),
        Settled::AlreadySettled(EntryStatus::Posted)
    );
    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(entry.status, EntryStatus::Posted);
    assert_eq!(entry.charged, Some(credits(4)));
    db.drop().await;
}

#[tokio::test]
async fn settling_cannot_rewrite_identity_or_stay_pending() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = record(&db.pool, new_entry(team, 5)).await;

    for sql in [
        "UPDATE ledger_entries SET status = 'POSTED', charged = 1, settled_at = now(), estimate = 1 \
         WHERE id = $1 AND created_at = $2",
        "UPDATE ledger_entries SET status = 'POSTED', charged = 1, settled_at = now(), endpoint = '/x' \
         WHERE id = $1 AND created_at = $2",
        "UPDATE ledger_entries SET flagged = true, flag_reason = 'no' WHERE id = $1 AND created_at = $2",
    ] {
        let error = run(&db.pool, sql, id).await.unwrap_err();
        assert_eq!(
            sqlstate(&error).as_deref(),
            Some(APPEND_ONLY_VIOLATION),
            "{sql}"
        );
    }
    let other_team = create_team(&db.pool, "team-b").await;
    let error = sqlx::query(
        "UPDATE ledger_entries SET status = 'VOIDED', charged = 0, void_reason = 'x', \
         settled_at = now(), team_id = $3 WHERE id = $1 AND created_at = $2",
    )
    .bind(id)
    .bind(ledger::created_at_of(id))
    .bind(other_team.as_uuid())
    .execute(&db.pool)
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some(APPEND_ONLY_VIOLATION));
    assert_eq!(status_of(&db.pool, id).await, "PENDING");
    db.drop().await;
}

#[tokio::test]
async fn each_final_status_must_carry_its_charge() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = record(&db.pool, new_entry(team, 5)).await;

    for sql in [
        "UPDATE ledger_entries SET status = 'POSTED', settled_at = now() WHERE id = $1 AND created_at = $2",
        "UPDATE ledger_entries SET status = 'VOIDED', charged = 3, void_reason = 'x', settled_at = now() \
         WHERE id = $1 AND created_at = $2",
        "UPDATE ledger_entries SET status = 'EXPIRED', charged = 1, flagged = true, flag_reason = 'x', \
         settled_at = now() WHERE id = $1 AND created_at = $2",
    ] {
        let error = run(&db.pool, sql, id).await.unwrap_err();
        assert_eq!(sqlstate(&error).as_deref(), Some("23514"), "{sql}");
    }
    db.drop().await;
}
