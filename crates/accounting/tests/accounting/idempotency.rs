//! The Idempotency-Key store: one winner per key, replays, body mismatches, expiry, release.

use std::time::Duration;

use accounting::idempotency::{self, Begin, StoredResponse, hash_body};
use accounting::{IdempotencyKey, TeamId};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::create_team;
use crate::test_database::TestDatabase;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).unwrap()
}

fn response() -> StoredResponse {
    StoredResponse {
        status: 200,
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-credits-charged".to_owned(), "7".to_owned()),
        ],
        body: br#"{"success":true,"result":{}}"#.to_vec(),
    }
}

async fn begin(
    pool: &PgPool,
    team: TeamId,
    key: &IdempotencyKey,
    body: &[u8],
    ttl: Duration,
) -> Begin {
    idempotency::begin(pool, team, key, &hash_body(body), Uuid::now_v7(), ttl, ttl)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_fifty_concurrent_begins_exactly_one_starts() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let key = key("order-42");

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let pool = db.pool.clone();
            let key = key.clone();
            tokio::spawn(async move { begin(&pool, team, &key, b"{\"prompt\":\"hi\"}", DAY).await })
        })
        .collect();
    let mut started = 0;
    for task in tasks {
        match task.await.unwrap() {
            Begin::Started => started += 1,
            Begin::InProgress => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(started, 1);
    db.drop().await;
}

#[tokio::test]
async fn a_completed_key_replays_the_same_body_and_refuses_another() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let key = key("order-42");
    let body = b"{\"prompt\":\"hi\"}";

    assert_eq!(begin(&db.pool, team, &key, body, DAY).await, Begin::Started);
    assert_eq!(
        begin(&db.pool, team, &key, body, DAY).await,
        Begin::InProgress
    );
    assert_eq!(
        begin(&db.pool, team, &key, b"{\"prompt\":\"bye\"}", DAY).await,
        Begin::BodyMismatch
    );

    assert!(
        idempotency::complete(&db.pool, team, &key, &response())
            .await
            .unwrap()
    );
    assert_eq!(
        begin(&db.pool, team, &key, body, DAY).await,
        Begin::Replay(response())
    );
    assert_eq!(
        begin(&db.pool, team, &key, b"{\"prompt\":\"bye\"}", DAY).await,
        Begin::BodyMismatch
    );
    // Completing twice does nothing; a completed key cannot be released.
    assert!(
        !idempotency::complete(&db.pool, team, &key, &response())
            .await
            .unwrap()
    );
    assert!(!idempotency::release(&db.pool, team, &key).await.unwrap());
    db.drop().await;
}

#[tokio::test]
async fn keys_belong_to_their_team() {
    let db = TestDatabase::new().await;
    let team_a = create_team(&db.pool, "team-a").await;
    let team_b = create_team(&db.pool, "team-b").await;
    let key = key("shared-name");

    assert_eq!(
        begin(&db.pool, team_a, &key, b"a", DAY).await,
        Begin::Started
    );
    assert_eq!(
        begin(&db.pool, team_b, &key, b"b", DAY).await,
        Begin::Started
    );
    assert!(
        idempotency::complete(&db.pool, team_a, &key, &response())
            .await
            .unwrap()
    );
    assert_eq!(
        begin(&db.pool, team_b, &key, b"b", DAY).await,
        Begin::InProgress
    );
    db.drop().await;
}

#[tokio::test]
async fn an_expired_key_counts_as_absent() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let key = key("short-lived");

    assert_eq!(
        begin(&db.pool, team, &key, b"first", Duration::from_millis(1)).await,
        Begin::Started
    );
    assert!(
        idempotency::complete(&db.pool, team, &key, &response())
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;

    // A different body is no mismatch once the key expired: the key starts afresh.
    assert_eq!(
        begin(&db.pool, team, &key, b"second", DAY).await,
        Begin::Started
    );
    assert_eq!(
        begin(&db.pool, team, &key, b"second", DAY).await,
        Begin::InProgress
    );
    assert_eq!(idempotency::purge_expired(&db.pool, 100).await.unwrap(), 0);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_begins_on_an_expired_key_start_once() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let key = key("expires-then-races");
    assert_eq!(
        begin(&db.pool, team, &key, b"old", Duration::from_millis(1)).await,
        Begin::Started
    );
    tokio::time::sleep(Duration::from_millis(20)).await;

    let outcomes =
        futures::future::join_all((0..20).map(|_| begin(&db.pool, team, &key, b"new", DAY))).await;
    let started = outcomes
        .iter()
        .filter(|outcome| **outcome == Begin::Started)
        .count();
    assert_eq!(started, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|outcome| matches!(outcome, Begin::Started | Begin::InProgress))
    );
    db.drop().await;
}

#[tokio::test]
async fn a_released_key_can_run_again() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let key = key("retry-me");

    assert_eq!(
        begin(&db.pool, team, &key, b"body", DAY).await,
        Begin::Started
    );
    assert!(idempotency::release(&db.pool, team, &key).await.unwrap());
    assert!(!idempotency::release(&db.pool, team, &key).await.unwrap());
    assert!(
        !idempotency::complete(&db.pool, team, &key, &response())
            .await
            .unwrap()
    );
    assert_eq!(
        begin(&db.pool, team, &key, b"body", DAY).await,
        Begin::Started
    );
    db.drop().await;
}

#[tokio::test]
async fn purge_removes_only_expired_keys() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    begin(&db.pool, team, &key("gone"), b"x", Duration::from_millis(1)).await;
    begin(&db.pool, team, &key("kept"), b"x", DAY).await;
    tokio::time::sleep(Duration::from_millis(20)).await;

    assert_eq!(idempotency::purge_expired(&db.pool, 100).await.unwrap(), 1);
    assert_eq!(
        begin(&db.pool, team, &key("kept"), b"x", DAY).await,
        Begin::InProgress
    );
    db.drop().await;
}

/// A backlog of expired keys, inserted in one statement (expired an hour ago).
async fn expired_keys(pool: &PgPool, team: TeamId, count: i64) {
    sqlx::query(
        "INSERT INTO idempotency_keys \
             (team_id, key, body_hash, request_id, state, response_status, response_headers, \
              response_body, created_at, expires_at) \
         SELECT $1, 'old-' || n, $2, gen_random_uuid(), 'completed', 200, '[]'::jsonb, \
                ''::bytea, now() - interval '2 hours', now() - interval '1 hour' \
         FROM generate_series(1, $3) AS n",
    )
    .bind(team)
    .bind(hash_body(b"x"))
    .bind(count)
    .execute(pool)
    .await
    .unwrap();
}

async fn stored_keys(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn purge_deletes_at_most_one_batch_per_call() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    expired_keys(&db.pool, team, 25).await;
    begin(&db.pool, team, &key("live"), b"x", DAY).await;

    assert_eq!(idempotency::purge_expired(&db.pool, 10).await.unwrap(), 10);
    assert_eq!(stored_keys(&db.pool).await, 16);
    assert_eq!(idempotency::purge_expired(&db.pool, 10).await.unwrap(), 10);
    assert_eq!(idempotency::purge_expired(&db.pool, 10).await.unwrap(), 5);
    assert_eq!(idempotency::purge_expired(&db.pool, 10).await.unwrap(), 0);
    assert_eq!(stored_keys(&db.pool).await, 1, "the live key is kept");
    assert_eq!(
        begin(&db.pool, team, &key("live"), b"x", DAY).await,
        Begin::InProgress
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_purges_share_the_backlog_and_skip_locked_rows() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    expired_keys(&db.pool, team, 300).await;

    // A key held by another transaction (a `begin` taking it over, say) is skipped, not
    // waited for.
    let mut holder = db.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM idempotency_keys WHERE key = 'old-1' FOR UPDATE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let purges = (0..4).map(|_| async {
        let mut purged = 0;
        loop {
            let batch = idempotency::purge_expired(&db.pool, 50).await.unwrap();
            purged += batch;
            if batch < 50 {
                return purged;
            }
        }
    });
    let purged: u64 =
        tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(purges))
            .await
            .expect("a locked row is skipped, not waited for")
            .into_iter()
            .sum();
    assert_eq!(purged, 299, "every unlocked expired key, each once");
    holder.rollback().await.unwrap();
    assert_eq!(idempotency::purge_expired(&db.pool, 50).await.unwrap(), 1);
    assert_eq!(stored_keys(&db.pool).await, 0);
    db.drop().await;
}

#[tokio::test]
async fn a_malformed_body_hash_is_refused() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let error = idempotency::begin(
        &db.pool,
        team,
        &key("k"),
        "not-a-hash",
        Uuid::now_v7(),
        DAY,
        DAY,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, accounting::AccountingError::Invalid(_)));
    db.drop().await;
}
