//! A real upstream charge that arrives after the sweeper expired its entry is recorded once,
//! as a late charge, and the late-charge table is append-only like the ledger.

use std::time::Duration;

use accounting::EntryStatus;
use accounting::ledger::{
    self, GroupCommitConfig, SettleRequest, Settled, Settlement, SettlementWriter,
};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{create_team, credits, new_entry, new_entry_at, record};
use crate::test_database::{TestDatabase, sqlstate};

#[derive(Debug, PartialEq, Eq, sqlx::FromRow)]
struct LateCharge {
    entry_id: Uuid,
    entry_created_at: DateTime<Utc>,
    team_id: Uuid,
    endpoint: String,
    estimate: i64,
    charged: i64,
    upstream_status: Option<i32>,
}

async fn late_charges(pool: &PgPool) -> Vec<LateCharge> {
    sqlx::query_as(
        "SELECT entry_id, entry_created_at, team_id, endpoint, estimate, charged, upstream_status \
         FROM ledger_late_charges ORDER BY entry_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn expired_entry(pool: &PgPool, team: accounting::TeamId, estimate: i64) -> Uuid {
    let id = record(
        pool,
        new_entry_at(team, Utc::now() - TimeDelta::minutes(30), estimate),
    )
    .await;
    assert_eq!(
        ledger::expire_stale(pool, Utc::now() - TimeDelta::minutes(10))
            .await
            .unwrap(),
        1
    );
    id
}

#[tokio::test]
async fn a_post_after_expiry_records_the_real_charge_once() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = expired_entry(&db.pool, team, 7).await;

    assert_eq!(
        ledger::post(&db.pool, id, credits(5), 200).await.unwrap(),
        Settled::AlreadySettled(EntryStatus::Expired)
    );
    // A retry (even with another figure) changes nothing.
    assert_eq!(
        ledger::post(&db.pool, id, credits(6), 200).await.unwrap(),
        Settled::AlreadySettled(EntryStatus::Expired)
    );
    assert_eq!(
        late_charges(&db.pool).await,
        vec![LateCharge {
            entry_id: id,
            entry_created_at: ledger::created_at_of(id),
            team_id: team.as_uuid(),
            endpoint: "/v1/monitor/chatgpt".to_owned(),
            estimate: 7,
            charged: 5,
            upstream_status: Some(200),
        }]
    );
    // The entry itself keeps the estimate and its flag.
    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(entry.status, EntryStatus::Expired);
    assert_eq!(entry.charged, Some(credits(7)));
    db.drop().await;
}

#[tokio::test]
async fn only_expired_entries_get_late_charges() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let posted = record(&db.pool, new_entry(team, 7)).await;
    let voided = record(&db.pool, new_entry(team, 7)).await;
    ledger::post(&db.pool, posted, credits(5), 200)
        .await
        .unwrap();
    ledger::void(&db.pool, voided, Some(400), "upstream 400")
        .await
        .unwrap();
    for id in [posted, voided] {
        assert!(matches!(
            ledger::post(&db.pool, id, credits(5), 200).await.unwrap(),
            Settled::AlreadySettled(_)
        ));
    }
    assert_eq!(
        ledger::post(&db.pool, Uuid::now_v7(), credits(5), 200)
            .await
            .unwrap(),
        Settled::NotFound
    );
    assert!(late_charges(&db.pool).await.is_empty());
    db.drop().await;
}

#[tokio::test]
async fn the_late_charge_belongs_to_the_callers_transaction() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = expired_entry(&db.pool, team, 7).await;

    let mut tx = db.pool.begin().await.unwrap();
    ledger::post(&mut *tx, id, credits(5), 200).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(late_charges(&db.pool).await.is_empty());
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settlement_writer_records_late_charges_too() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let expired = expired_entry(&db.pool, team, 7).await;
    let pending = record(&db.pool, new_entry(team, 4)).await;
    let writer = SettlementWriter::spawn(
        db.pool.clone(),
        GroupCommitConfig {
            max_batch: 16,
            max_wait: Duration::from_millis(20),
        },
    );
    let post = |id, charged| SettleRequest {
        id,
        settlement: Settlement::Post {
            charged: credits(charged),
            upstream_status: 200,
        },
        balance_observed: Some(1_000),
    };
    let (late, fresh) = tokio::join!(
        writer.settle(post(expired, 9)),
        writer.settle(post(pending, 3))
    );
    assert_eq!(late.unwrap(), Settled::AlreadySettled(EntryStatus::Expired));
    assert_eq!(fresh.unwrap(), Settled::Applied);

    let recorded = late_charges(&db.pool).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (
            recorded[0].entry_id,
            recorded[0].estimate,
            recorded[0].charged
        ),
        (expired, 7, 9)
    );
    db.drop().await;
}

#[tokio::test]
async fn late_charges_are_append_only() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = expired_entry(&db.pool, team, 7).await;
    ledger::post(&db.pool, id, credits(5), 200).await.unwrap();

    for sql in [
        "UPDATE ledger_late_charges SET charged = 0",
        "DELETE FROM ledger_late_charges",
        "TRUNCATE ledger_late_charges",
    ] {
        let error = sqlx::query(sql).execute(&db.pool).await.unwrap_err();
        assert_eq!(sqlstate(&error).as_deref(), Some("23001"), "{sql}");
    }
    assert_eq!(late_charges(&db.pool).await.len(), 1);
    db.drop().await;
}
