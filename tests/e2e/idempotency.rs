//! `Idempotency-Key`: a retry with the same key and body is answered from the first result
//! and not sent or charged again; another body or a still-running first call gets 409; a key
//! whose holder died is resolved from the holder's ledger entry once its lease has passed.

use e2e_tests::TestApp;
use e2e_tests::ledger::entries_for;
use serde_json::{Value, json};

#[tokio::test]
async fn a_retry_with_the_same_key_is_replayed_and_charged_once() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let body = json!({"prompt": "p", "country": "US"});
    let send = |body: Value| {
        app.post_json("/v1/monitor/chatgpt", &token, &body)
            .header("Idempotency-Key", "order-42")
            .send()
    };
    let first = send(body.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    let first_body = first.text().await.unwrap();
    let second = send(body.clone()).await.unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.headers()["x-credits-charged"], "7");
    assert_eq!(
        second.text().await.unwrap(),
        first_body,
        "byte-identical replay"
    );

    assert_eq!(app.sim.requests().len(), 1, "sent upstream once");
    assert_eq!(app.sim.stats().credits_charged, 7);
    assert_eq!(entries_for(&app, "alpha").await.len(), 1, "booked once");

    let other = send(json!({"prompt": "other", "country": "US"}))
        .await
        .unwrap();
    assert_eq!(other.status(), 409);
    let envelope: Value = other.json().await.unwrap();
    assert_eq!(envelope["error"]["code"], "IDEMPOTENCY_KEY_REUSED");

    // Keys are per team: another team may use the same key.
    app.create_team("beta").await;
    let beta = app.team_token("beta").await;
    let response = app
        .post_json("/v1/monitor/chatgpt", &beta, &body)
        .header("Idempotency-Key", "order-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("idempotent-replayed").is_none());
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_key_still_running_gets_409_and_a_failed_first_call_can_be_retried() {
    let sim = cloro_sim::SimConfig {
        latency: "fixed:700ms".parse().unwrap(),
        ..cloro_sim::SimConfig::default()
    };
    let app = TestApp::builder().sim(sim).spawn().await.unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let body = json!({"prompt": "p", "country": "US"});
    let send = || {
        app.post_json("/v1/monitor/chatgpt", &token, &body)
            .header("Idempotency-Key", "slow-1")
            .send()
    };
    let first = send();
    let second = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        send().await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.unwrap().status(), 200);
    let second = second.unwrap();
    assert_eq!(second.status(), 409);
    let envelope: Value = second.json().await.unwrap();
    assert_eq!(envelope["error"]["code"], "IDEMPOTENCY_KEY_IN_USE");

    // A first call that failed upstream charged nothing, so its key is free for a retry.
    app.sim_config(json!({"faults": {"internal_error": 1.0}}))
        .await;
    let failed = app
        .post_json("/v1/monitor/chatgpt", &token, &body)
        .header("Idempotency-Key", "flaky-1")
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 500);
    app.sim_config(json!({"faults": {"internal_error": 0.0}}))
        .await;
    let retried = app
        .post_json("/v1/monitor/chatgpt", &token, &body)
        .header("Idempotency-Key", "flaky-1")
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 200);
    assert!(retried.headers().get("idempotent-replayed").is_none());
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_malformed_key_is_a_validation_error() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let response = app
        .post_json(
            "/v1/monitor/chatgpt",
            &token,
            &json!({"prompt": "p", "country": "US"}),
        )
        .header("Idempotency-Key", "x".repeat(300))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(app.sim.requests().is_empty());
    app.shutdown().await.unwrap();
}

/// A key whose request died holding it (its replica was killed) is claimed in Postgres with
/// a lease that has passed; the same key then resolves from the holder's ledger entry.
async fn abandoned_key(app: &TestApp, team: accounting::TeamId, key: &str, holder: uuid::Uuid) {
    use sha2::{Digest, Sha256};
    let body = serde_json::to_vec(&json!({"prompt": "p", "country": "US"})).unwrap();
    let mut hash = Sha256::new();
    hash.update(b"/v1/monitor/chatgpt");
    hash.update([0]);
    hash.update(&body);
    sqlx::query(
        "INSERT INTO idempotency_keys \
             (team_id, key, body_hash, request_id, state, expires_at, lease_expires_at) \
         VALUES ($1, $2, $3, $4, 'in_progress', now() + interval '1 day', now() - interval '1 second')",
    )
    .bind(team)
    .bind(key)
    .bind(hex::encode(hash.finalize()))
    .bind(holder)
    .execute(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_key_whose_holder_died_resolves_from_its_ledger_entry() {
    use accounting::ledger::{self, LedgerWriter, NewEntry};
    let app = TestApp::spawn().await.unwrap();
    let team = app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let send = |key: &'static str| {
        app.post_json(
            "/v1/monitor/chatgpt",
            &token,
            &json!({"prompt": "p", "country": "US"}),
        )
        .header("Idempotency-Key", key)
        .send()
    };

    // The holder's call was charged, but its answer died with it: never sent again.
    let charged = uuid::Uuid::now_v7();
    let writer = LedgerWriter::spawn(app.db.clone(), Default::default());
    writer
        .record_pending(NewEntry {
            id: charged,
            team_id: team.id,
            endpoint: "/v1/monitor/chatgpt".into(),
            client_request_id: None,
            idempotency_key: None,
            estimate: accounting::Credits::new(7).unwrap(),
            flag_reason: None,
        })
        .await
        .unwrap();
    ledger::post(&app.db, charged, accounting::Credits::new(7).unwrap(), 200)
        .await
        .unwrap();
    abandoned_key(&app, team.id, "charged-then-lost", charged).await;
    let lost = send("charged-then-lost").await.unwrap();
    assert_eq!(lost.status(), 504);
    let envelope: Value = lost.json().await.unwrap();
    assert_eq!(envelope["error"]["code"], "UPSTREAM_TIMEOUT");
    assert_eq!(app.sim.requests().len(), 0, "not sent again");

    // The holder never recorded anything: nothing was charged, the key is free.
    abandoned_key(&app, team.id, "never-recorded", uuid::Uuid::now_v7()).await;
    let fresh = send("never-recorded").await.unwrap();
    assert_eq!(fresh.status(), 200);
    assert_eq!(app.sim.requests().len(), 1);
    let replay = send("never-recorded").await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(app.sim.requests().len(), 1);
    app.shutdown().await.unwrap();
}

/// A reply larger than `ledger.idempotency_max_body_bytes` is not stored, but its key still
/// stands: a retry gets 409 `IDEMPOTENCY_REPLY_TOO_LARGE` (marked as a replay) and is never
/// sent or charged again.
#[tokio::test]
async fn a_reply_too_large_to_keep_is_not_stored_and_its_retry_is_not_sent_again() {
    let app = TestApp::builder()
        .settings(|s| s.ledger.idempotency_max_body_bytes = 64)
        .spawn()
        .await
        .unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let body = json!({"prompt": "p", "country": "US"});
    let send = || {
        app.post_json("/v1/monitor/chatgpt", &token, &body)
            .header("Idempotency-Key", "big-answer")
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 200);
    let first_len = first.bytes().await.unwrap().len();
    assert!(
        first_len > 64,
        "the simulator's answer is {first_len} bytes"
    );

    let retry = send().await.unwrap();
    assert_eq!(retry.status(), 409);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let envelope: Value = retry.json().await.unwrap();
    assert_eq!(envelope["success"], false);
    assert_eq!(envelope["error"]["code"], "IDEMPOTENCY_REPLY_TOO_LARGE");
    assert_eq!(envelope["error"]["details"]["firstStatus"], 200);
    assert_eq!(envelope["error"]["details"]["creditsCharged"], 7);
    assert_eq!(envelope["error"]["details"]["bodyBytes"], first_len);
    assert_eq!(app.sim.requests().len(), 1, "sent upstream once");
    assert_eq!(app.sim.stats().credits_charged, 7);
    assert_eq!(entries_for(&app, "alpha").await.len(), 1, "booked once");

    let stored: i64 = sqlx::query_scalar(
        "SELECT length(response_body)::bigint FROM idempotency_keys WHERE key = 'big-answer'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(stored < first_len as i64, "the large answer is not stored");
    app.shutdown().await.unwrap();
}

/// Expired keys are purged by the gateway's own upkeep loop (here every second), live ones
/// are kept.
#[tokio::test]
async fn expired_keys_are_purged_periodically() {
    let app = TestApp::builder()
        .settings(|s| s.ledger.idempotency_purge_every_secs = 1)
        .spawn()
        .await
        .unwrap();
    let team = app.create_team("alpha").await;
    for (key, expires) in [("expired", "-1 hour"), ("live", "1 hour")] {
        sqlx::query(
            "INSERT INTO idempotency_keys \
                 (team_id, key, body_hash, request_id, state, response_status, response_headers, \
                  response_body, expires_at) \
             VALUES ($1, $2, repeat('a', 64), gen_random_uuid(), 'completed', 200, '[]', '', \
                     now() + $3::interval)",
        )
        .bind(team.id)
        .bind(key)
        .bind(expires)
        .execute(&app.db)
        .await
        .unwrap();
    }
    let keys = || async {
        sqlx::query_scalar::<_, String>("SELECT key FROM idempotency_keys ORDER BY key")
            .fetch_all(&app.db)
            .await
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while keys().await.len() > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(keys().await, vec!["live".to_owned()]);
    app.shutdown().await.unwrap();
}
