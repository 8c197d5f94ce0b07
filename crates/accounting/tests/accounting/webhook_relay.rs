//! The webhook relay's storage: per-team secrets, one delivery per task, claims that keep two
//! replicas from attempting at once, recorded attempts, and a team's own deliveries listed.

use std::time::Duration;

use accounting::TeamId;
use accounting::webhook_relay::{
    self as relay, AttemptOutcome, DeliveryState, NewDelivery, NextStep, SECRET_PREFIX,
};
use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::create_team;
use crate::test_database::TestDatabase;

const LEASE: Duration = Duration::from_secs(60);

fn new_delivery(team_id: TeamId, task_id: Option<Uuid>) -> NewDelivery {
    NewDelivery {
        entry_id: Uuid::now_v7(),
        team_id,
        task_id,
        url: "https://hooks.example.com/cloro".to_owned(),
        body: json!({"task": {"id": task_id, "status": "COMPLETED"}, "credits": {"creditsCharged": 5}}),
    }
}

fn failed_with(status: u16) -> AttemptOutcome {
    AttemptOutcome {
        status: Some(status),
        error: Some(format!("the receiver answered {status}")),
    }
}

fn acknowledged() -> AttemptOutcome {
    AttemptOutcome {
        status: Some(204),
        error: None,
    }
}

async fn state_of(pool: &PgPool, id: i64) -> (String, i32, bool, bool) {
    sqlx::query_as(
        "SELECT state, attempts, next_attempt_at IS NOT NULL, delivered_at IS NOT NULL \
         FROM webhook_deliveries WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_secret_is_created_once_then_rotated() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "relay-secrets").await;
    let other = create_team(&db.pool, "relay-other").await;

    let firsts = futures::future::join_all((0..6).map(|_| relay::secret_for(&db.pool, team))).await;
    let first = firsts[0].as_ref().unwrap().clone();
    assert!(first.secret.starts_with(SECRET_PREFIX));
    assert_eq!(first.secret.len(), SECRET_PREFIX.len() + 64);
    assert!(first.rotated_at.is_none());
    for secret in &firsts {
        assert_eq!(
            secret.as_ref().unwrap(),
            &first,
            "concurrent first uses agree"
        );
    }
    assert_eq!(relay::secret_for(&db.pool, team).await.unwrap(), first);
    assert_ne!(
        relay::secret_for(&db.pool, other).await.unwrap().secret,
        first.secret,
        "each team has its own"
    );

    let rotated = relay::rotate_secret(&db.pool, team).await.unwrap();
    assert_ne!(rotated.secret, first.secret);
    assert!(rotated.rotated_at.is_some());
    assert_eq!(rotated.created_at, first.created_at);
    assert_eq!(relay::secret_for(&db.pool, team).await.unwrap(), rotated);

    let never_read = create_team(&db.pool, "relay-fresh").await;
    let rotated_first = relay::rotate_secret(&db.pool, never_read).await.unwrap();
    assert!(rotated_first.secret.starts_with(SECRET_PREFIX));
    db.drop().await;
}

#[tokio::test]
async fn a_task_is_relayed_once() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "relay-once").await;
    let delivery = new_delivery(team, Some(Uuid::new_v4()));

    let id = relay::enqueue(&db.pool, &delivery).await.unwrap().unwrap();
    assert_eq!(relay::enqueue(&db.pool, &delivery).await.unwrap(), None);
    let due = relay::due(&db.pool, Utc::now(), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].id, id);
    assert_eq!(due[0].attempts, 0);
    assert_eq!(due[0].body.0, delivery.body);
    assert_eq!(due[0].team_id, team);
    db.drop().await;
}

#[tokio::test]
async fn one_caller_claims_a_due_delivery_until_its_lease_ends() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "relay-claims").await;
    let id = relay::enqueue(&db.pool, &new_delivery(team, None))
        .await
        .unwrap()
        .unwrap();

    let claims = futures::future::join_all((0..8).map(|_| relay::claim(&db.pool, id, LEASE))).await;
    let won = claims
        .into_iter()
        .filter(|claim| claim.as_ref().unwrap().is_some())
        .count();
    assert_eq!(won, 1, "exactly one replica attempts it");
    assert!(
        relay::due(&db.pool, Utc::now(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        relay::claim(&db.pool, id, LEASE).await.unwrap().is_none(),
        "leased"
    );

    // The claimant died: once the lease has run out the delivery is due again.
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 second'")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(relay::due(&db.pool, Utc::now(), 10).await.unwrap().len(), 1);
    let again = relay::claim(&db.pool, id, LEASE).await.unwrap().unwrap();
    assert_eq!(again.attempts, 0);
    db.drop().await;
}

#[tokio::test]
async fn attempts_are_recorded_once_each_until_a_final_state() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "relay-attempts").await;
    let id = relay::enqueue(&db.pool, &new_delivery(team, None))
        .await
        .unwrap()
        .unwrap();

    let retry = NextStep::RetryAfter(Duration::from_secs(600));
    assert!(
        relay::record_attempt(&db.pool, id, 1, &failed_with(500), retry)
            .await
            .unwrap()
    );
    assert!(
        !relay::record_attempt(&db.pool, id, 1, &failed_with(502), retry)
            .await
            .unwrap(),
        "a second record of attempt 1 (a lease that ran out) is ignored"
    );
    assert_eq!(
        state_of(&db.pool, id).await,
        ("PENDING".into(), 1, true, false)
    );
    assert!(
        relay::due(&db.pool, Utc::now(), 10)
            .await
            .unwrap()
            .is_empty(),
        "not due before its backoff"
    );
    assert_eq!(
        relay::due(&db.pool, Utc::now() + chrono::Duration::minutes(11), 10)
            .await
            .unwrap()
            .len(),
        1
    );

    assert!(
        relay::record_attempt(&db.pool, id, 2, &acknowledged(), NextStep::Delivered)
            .await
            .unwrap()
    );
    assert_eq!(
        state_of(&db.pool, id).await,
        ("DELIVERED".into(), 2, false, true)
    );
    assert!(
        !relay::record_attempt(&db.pool, id, 3, &failed_with(500), NextStep::Failed)
            .await
            .unwrap(),
        "a final delivery takes no more attempts"
    );
    assert!(relay::claim(&db.pool, id, LEASE).await.unwrap().is_none());

    let given_up = relay::enqueue(&db.pool, &new_delivery(team, None))
        .await
        .unwrap()
        .unwrap();
    let unreachable = AttemptOutcome {
        status: None,
        error: Some("connection refused".to_owned()),
    };
    assert!(
        relay::record_attempt(&db.pool, given_up, 1, &unreachable, NextStep::Failed)
            .await
            .unwrap()
    );
    assert_eq!(
        state_of(&db.pool, given_up).await,
        ("FAILED".into(), 1, false, false)
    );
    assert!(
        relay::due(&db.pool, Utc::now() + chrono::Duration::days(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    db.drop().await;
}

#[tokio::test]
async fn a_team_lists_only_its_own_deliveries_with_their_attempts() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "relay-lister").await;
    let other = create_team(&db.pool, "relay-stranger").await;
    let task = Uuid::new_v4();
    let mut ids = Vec::new();
    for task_id in [Some(task), None, None] {
        ids.push(
            relay::enqueue(&db.pool, &new_delivery(team, task_id))
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let theirs = relay::enqueue(&db.pool, &new_delivery(other, Some(task)))
        .await
        .unwrap()
        .unwrap();
    let retry = NextStep::RetryAfter(Duration::ZERO);
    relay::record_attempt(&db.pool, ids[0], 1, &failed_with(503), retry)
        .await
        .unwrap();
    relay::record_attempt(&db.pool, ids[0], 2, &acknowledged(), NextStep::Delivered)
        .await
        .unwrap();
    relay::record_attempt(&db.pool, theirs, 1, &failed_with(500), retry)
        .await
        .unwrap();

    let all = relay::list_for_team(&db.pool, team, None, None, 10)
        .await
        .unwrap();
    let listed: Vec<i64> = all.iter().map(|d| d.id).collect();
    assert_eq!(listed, [ids[2], ids[1], ids[0]], "newest first, own only");

    let first = all.last().unwrap();
    assert_eq!(first.state, DeliveryState::Delivered);
    assert_eq!(first.last_status, Some(204));
    let log: Vec<(i32, Option<i32>)> = first
        .attempt_log
        .iter()
        .map(|a| (a.attempt, a.status))
        .collect();
    assert_eq!(log, [(1, Some(503)), (2, Some(204))]);
    assert_eq!(
        first.attempt_log[0].error.as_deref(),
        Some("the receiver answered 503")
    );
    assert!(all[0].attempt_log.is_empty());

    let of_task = relay::list_for_team(&db.pool, team, Some(task), None, 10)
        .await
        .unwrap();
    assert_eq!(of_task.len(), 1);
    assert_eq!(of_task[0].id, ids[0]);

    let page = relay::list_for_team(&db.pool, team, None, None, 2)
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    let rest = relay::list_for_team(&db.pool, team, None, Some(page[1].id), 2)
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|d| d.id).collect::<Vec<_>>(), [ids[0]]);

    assert!(
        relay::list_for_team(&db.pool, team, None, None, 0)
            .await
            .is_err()
    );
    db.drop().await;
}
