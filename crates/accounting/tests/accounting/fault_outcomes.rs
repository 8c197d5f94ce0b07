//! What the ledger books when the gateway cannot know how a call ended: an unknown outcome is
//! POSTED and flagged; an entry whose PENDING write failed ends VOIDED whichever lands first;
//! a VOID after the sweeper expired the entry makes its effective charge 0 (late charges and
//! rollups); the budget read the limiter is seeded from; Idempotency-Keys whose holder died.

use std::time::Duration;

use accounting::idempotency::{self, Begin, hash_body};
use accounting::ledger::{
    self, EntryFilter, GroupCommitConfig, LedgerWriter, Scope, SettleRequest, Settled, Settlement,
    SettlementWriter,
};
use accounting::{EntryStatus, IdempotencyKey};
use chrono::{TimeDelta, Utc};
use uuid::Uuid;

use crate::fixtures::{create_team, credits, new_entry, new_entry_at, record};
use crate::test_database::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_outcome_is_posted_and_flagged_keeping_earlier_flags() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let plain = record(&db.pool, new_entry(team, 7)).await;
    let mut over = new_entry(team, 7);
    over.flag_reason = Some("soft_budget_exceeded".to_owned());
    let over = record(&db.pool, over).await;
    let writer = SettlementWriter::spawn(db.pool.clone(), GroupCommitConfig::default());
    for (id, status) in [(plain, None), (over, Some(200))] {
        let settled = writer
            .settle(SettleRequest {
                id,
                settlement: Settlement::Unknown {
                    charged: credits(7),
                    upstream_status: status,
                },
                balance_observed: None,
            })
            .await
            .unwrap();
        assert_eq!(settled, Settled::Applied);
    }
    let plain = ledger::get(&db.pool, team, plain).await.unwrap().unwrap();
    assert_eq!(plain.status, EntryStatus::Posted);
    assert_eq!(plain.charged, Some(credits(7)));
    assert_eq!(plain.upstream_status, None);
    assert_eq!(plain.flag_reason.as_deref(), Some("outcome_unknown"));
    let over = ledger::get(&db.pool, team, over).await.unwrap().unwrap();
    assert_eq!(
        over.flag_reason.as_deref(),
        Some("soft_budget_exceeded,outcome_unknown")
    );

    // Both carry the flag for finance's filter.
    let filter = EntryFilter {
        flag: Some("outcome_unknown".to_owned()),
        ..EntryFilter::default()
    };
    let listed = ledger::list_entries(&db.pool, Scope::All, &filter, None, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrecorded_entry_ends_voided_whichever_write_lands_first() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let writer = LedgerWriter::spawn(db.pool.clone(), GroupCommitConfig::default());

    // The void first: a PENDING insert landing late changes nothing.
    let late_insert = new_entry(team, 7);
    let reason = "not sent: the PENDING write failed";
    assert_eq!(
        ledger::void_unsent(&db.pool, &late_insert, reason)
            .await
            .unwrap(),
        Settled::Applied
    );
    writer.record_pending(late_insert.clone()).await.unwrap();
    let entry = ledger::get(&db.pool, team, late_insert.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.status, EntryStatus::Voided);
    assert_eq!(entry.void_reason.as_deref(), Some(reason));

    // The insert first: the void settles it.
    let landed = new_entry(team, 7);
    writer.record_pending(landed.clone()).await.unwrap();
    assert_eq!(
        ledger::void_unsent(&db.pool, &landed, reason)
            .await
            .unwrap(),
        Settled::Applied
    );
    // Again: idempotent.
    assert_eq!(
        ledger::void_unsent(&db.pool, &landed, reason)
            .await
            .unwrap(),
        Settled::AlreadySettled(EntryStatus::Voided)
    );
    assert_eq!(
        ledger::expire_stale(&db.pool, Utc::now() + TimeDelta::minutes(1))
            .await
            .unwrap(),
        0,
        "the sweeper finds nothing to book"
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_void_after_expiry_makes_the_effective_charge_zero() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = record(
        &db.pool,
        new_entry_at(team, Utc::now() - TimeDelta::minutes(30), 7),
    )
    .await;
    ledger::expire_stale(&db.pool, Utc::now() - TimeDelta::minutes(10))
        .await
        .unwrap();
    let writer = SettlementWriter::spawn(db.pool.clone(), GroupCommitConfig::default());
    let settled = writer
        .settle(SettleRequest {
            id,
            settlement: Settlement::Void {
                upstream_status: Some(502),
                reason: "upstream answered 502".to_owned(),
            },
            balance_observed: None,
        })
        .await
        .unwrap();
    assert_eq!(settled, Settled::AlreadySettled(EntryStatus::Expired));
    let (charged, reason): (i64, Option<String>) =
        sqlx::query_as("SELECT charged, void_reason FROM ledger_late_charges WHERE entry_id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        (charged, reason.as_deref()),
        (0, Some("upstream answered 502"))
    );

    // The rollup carries it: charged 7 as expired, late delta -7, effective 0.
    let (rolled_charged, late_delta): (i64, i64) =
        sqlx::query_as("SELECT charged, late_delta FROM ledger_daily_rollups WHERE team_id = $1")
            .bind(team)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((rolled_charged, late_delta), (7, -7));

    // So does the budget the limiter is seeded from.
    let month_ago = Utc::now() - TimeDelta::days(40);
    let budget = ledger::budget_ledger(&db.pool, team, month_ago, Utc::now() + TimeDelta::days(1))
        .await
        .unwrap();
    assert_eq!(budget.settled, 0);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_read_counts_settled_charges_and_lists_open_entries() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let other = create_team(&db.pool, "team-b").await;
    let posted = record(&db.pool, new_entry(team, 7)).await;
    let voided = record(&db.pool, new_entry(team, 7)).await;
    let open = record(&db.pool, new_entry(team, 9)).await;
    record(&db.pool, new_entry(other, 100)).await;
    ledger::post(&db.pool, posted, credits(5), 200)
        .await
        .unwrap();
    ledger::void(&db.pool, voided, Some(500), "upstream answered 500")
        .await
        .unwrap();
    let from = Utc::now() - TimeDelta::hours(1);
    let budget = ledger::budget_ledger(&db.pool, team, from, Utc::now() + TimeDelta::hours(1))
        .await
        .unwrap();
    assert_eq!(budget.settled, 5);
    assert_eq!(budget.pending, vec![(open, 9)]);
    assert_eq!(budget.used(), 14);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_whose_holder_died_is_resolved_from_its_ledger_entry() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let day = Duration::from_secs(86_400);
    let expired_lease = Duration::ZERO;
    let body = hash_body(b"{}");
    let begin = |key: &'static str, holder: Uuid, lease: Duration| {
        let pool = db.pool.clone();
        let body = body.clone();
        async move {
            let key = IdempotencyKey::parse(key).unwrap();
            idempotency::begin(&pool, team, &key, &body, holder, day, lease)
                .await
                .unwrap()
        }
    };

    // The holder died before recording anything: the key is free again.
    assert_eq!(
        begin("never-recorded", Uuid::now_v7(), expired_lease).await,
        Begin::Started
    );
    assert_eq!(
        begin("never-recorded", Uuid::now_v7(), day).await,
        Begin::Started
    );
    assert_eq!(
        begin("never-recorded", Uuid::now_v7(), day).await,
        Begin::InProgress
    );

    // Its entry is still PENDING: the call may be running somewhere; wait.
    let pending = record(&db.pool, new_entry(team, 7)).await;
    assert_eq!(
        begin("pending", pending, expired_lease).await,
        Begin::Started
    );
    assert_eq!(
        begin("pending", Uuid::now_v7(), day).await,
        Begin::InProgress
    );

    // Its entry was charged: the answer is lost, the call never runs again.
    let charged = record(&db.pool, new_entry(team, 7)).await;
    assert_eq!(
        begin("charged", charged, expired_lease).await,
        Begin::Started
    );
    ledger::post(&db.pool, charged, credits(7), 200)
        .await
        .unwrap();
    assert_eq!(
        begin("charged", Uuid::now_v7(), day).await,
        Begin::AnswerLost
    );

    // Its entry was voided: nothing was charged, the retry runs.
    let voided = record(&db.pool, new_entry(team, 7)).await;
    assert_eq!(begin("voided", voided, expired_lease).await, Begin::Started);
    ledger::void(&db.pool, voided, Some(500), "upstream answered 500")
        .await
        .unwrap();
    assert_eq!(begin("voided", Uuid::now_v7(), day).await, Begin::Started);
    db.drop().await;
}
