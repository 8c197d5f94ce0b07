//! Reading the ledger: team-scoped lookups, team totals, the pending count, balance records.

use accounting::ledger::{self, Settled};
use accounting::{Credits, EntryStatus, IdempotencyKey};
use chrono::{TimeDelta, Utc};
use uuid::Uuid;

use crate::fixtures::{create_team, credits, new_entry, new_entry_at, record};
use crate::test_database::TestDatabase;

#[tokio::test]
async fn get_refuses_another_teams_entry() {
    let db = TestDatabase::new().await;
    let team_a = create_team(&db.pool, "team-a").await;
    let team_b = create_team(&db.pool, "team-b").await;
    let mut entry = new_entry(team_a, 7);
    entry.idempotency_key = Some(IdempotencyKey::parse("order-1").unwrap());
    let id = record(&db.pool, entry.clone()).await;

    let own = ledger::get(&db.pool, team_a, id).await.unwrap().unwrap();
    assert_eq!(own.id, id);
    assert_eq!(own.team_id, team_a);
    assert_eq!(own.endpoint, entry.endpoint);
    assert_eq!(own.client_request_id, entry.client_request_id);
    assert_eq!(own.idempotency_key, entry.idempotency_key);
    assert_eq!(own.created_at, ledger::created_at_of(id));
    assert_eq!(own.status, EntryStatus::Pending);
    assert_eq!(own.charged, None);

    assert_eq!(ledger::get(&db.pool, team_b, id).await.unwrap(), None);
    assert_eq!(
        ledger::get(&db.pool, team_a, Uuid::now_v7()).await.unwrap(),
        None
    );
    db.drop().await;
}

/// Keys recorded before they were limited to `[A-Za-z0-9._:/-]` (any printable ASCII) are
/// still read back: the ledger is append-only, so such rows stay.
#[tokio::test]
async fn an_entry_with_a_key_from_before_the_safe_alphabet_still_reads() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = record(&db.pool, new_entry(team, 7)).await;
    // A copy of it under another id, with a key as an older gateway recorded it.
    let legacy = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO ledger_entries (id, created_at, team_id, endpoint, client_request_id, \
             idempotency_key, estimate, status) \
         SELECT $1, $2, team_id, endpoint, client_request_id, 'order 1;=x', estimate, status \
         FROM ledger_entries WHERE id = $3",
    )
    .bind(legacy)
    .bind(ledger::created_at_of(legacy))
    .bind(id)
    .execute(&db.pool)
    .await
    .unwrap();
    let entry = ledger::get(&db.pool, team, legacy).await.unwrap().unwrap();
    assert_eq!(
        entry.idempotency_key.as_ref().map(IdempotencyKey::as_str),
        Some("order 1;=x")
    );
    assert!(
        IdempotencyKey::parse("order 1;=x").is_err(),
        "not as a new key"
    );
    db.drop().await;
}

#[tokio::test]
async fn team_totals_sum_each_status() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let other = create_team(&db.pool, "team-b").await;

    let posted = [
        record(&db.pool, new_entry(team, 7)).await,
        record(&db.pool, new_entry(team, 7)).await,
    ];
    let voided = record(&db.pool, new_entry(team, 4)).await;
    record(&db.pool, new_entry(team, 5)).await;
    record(&db.pool, new_entry(team, 6)).await;
    record(
        &db.pool,
        new_entry_at(team, Utc::now() - TimeDelta::hours(1), 9),
    )
    .await;
    record(&db.pool, new_entry(other, 100)).await;

    for (id, charge) in posted.iter().zip([8, 3]) {
        assert_eq!(
            ledger::post(&db.pool, *id, credits(charge), 200)
                .await
                .unwrap(),
            Settled::Applied
        );
    }
    ledger::void(&db.pool, voided, Some(429), "upstream 429")
        .await
        .unwrap();
    assert_eq!(
        ledger::expire_stale(&db.pool, Utc::now() - TimeDelta::minutes(30))
            .await
            .unwrap(),
        1
    );

    let totals = ledger::team_totals(&db.pool, team, None).await.unwrap();
    assert_eq!(totals.posted, credits(11));
    assert_eq!(totals.pending_estimate, credits(11));
    assert_eq!(totals.charged, credits(20));
    let counts: Vec<_> = totals.entries_by_status.into_iter().collect();
    assert_eq!(
        counts,
        [
            (EntryStatus::Pending, 2),
            (EntryStatus::Posted, 2),
            (EntryStatus::Voided, 1),
            (EntryStatus::Expired, 1),
        ]
    );

    // A window bounds the sum to entries created inside it.
    let now = Utc::now();
    let current = ledger::team_totals(
        &db.pool,
        team,
        Some((now - TimeDelta::days(1), now + TimeDelta::minutes(1))),
    )
    .await
    .unwrap();
    assert_eq!(current.charged, credits(20));
    let later = ledger::team_totals(
        &db.pool,
        team,
        Some((now + TimeDelta::hours(1), now + TimeDelta::hours(2))),
    )
    .await
    .unwrap();
    assert_eq!(later.charged, Credits::ZERO);
    assert_eq!(later.pending_estimate, Credits::ZERO);

    let empty = create_team(&db.pool, "team-c").await;
    let totals = ledger::team_totals(&db.pool, empty, None).await.unwrap();
    assert_eq!(totals.charged, Credits::ZERO);
    assert!(totals.entries_by_status.values().all(|count| *count == 0));

    assert_eq!(ledger::count_pending(&db.pool).await.unwrap(), 3);
    db.drop().await;
}

#[tokio::test]
async fn balance_observations_are_stored() {
    let db = TestDatabase::new().await;
    let request_id = Uuid::now_v7();
    ledger::record_balance(&db.pool, Some(request_id), 99_500)
        .await
        .unwrap();
    ledger::record_balance(&db.pool, None, 99_493)
        .await
        .unwrap();

    let rows: Vec<(Option<Uuid>, i64)> = sqlx::query_as(
        "SELECT request_id, credits_remaining FROM account_balance_observations ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows, [(Some(request_id), 99_500), (None, 99_493)]);
    db.drop().await;
}
