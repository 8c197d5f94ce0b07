//! Redis-only: every key the limiter writes has a TTL, and all of them share one Redis
//! Cluster hash slot (the account's `{acct}` tag), so every script is single-slot.

use std::time::Duration;

use limiter::cluster_hash_slot;

use crate::support::{
    ACCOUNT, TestLimiter, admit, again, connection, keys_under, period, request, seed,
};

/// Touches every kind of key: buckets, the three lease sets (team, account, async), budgets
/// (admitted, settled, reclaimed, seeded, corrected), renewed and re-created leases, the slot
/// owners, the fair queue and the state marker.
async fn every_kind_of_key(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.budget = Some(1_000);
    for team in ["team-a", "team-b", "team-c", "team-f", "team-g"] {
        let mut team_request = r.clone();
        team_request.team_id = team.into();
        seed(&**limiter, &team_request).await;
    }
    let settled = admit(&**limiter, &r).await.into_lease().unwrap();
    limiter.settle(&settled, 3).await.unwrap();

    let mut short = again(&r);
    short.team_id = "team-b".into();
    let renewed = admit(&**limiter, &short).await.into_lease().unwrap();
    assert!(!limiter.renew(&renewed).await.unwrap().recreated());
    let mut expiring = again(&short);
    expiring.endpoint = "google".into();
    expiring.lease_ttl_ms = 100;
    let expired = admit(&**limiter, &expiring).await.into_lease().unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let reclaiming = admit(&**limiter, &again(&short)).await;
    assert_eq!(reclaiming.reclaimed.team_slots, 1);
    // Renewing the reclaimed lease re-creates both of its leases and its slot owner.
    let renewal = limiter.renew(&expired).await.unwrap();
    assert!(renewal.recreated_team_lease && renewal.recreated_account_lease);

    let mut goto = again(&r);
    goto.team_id = "team-c".into();
    goto.takes_account_slot = false;
    admit(&**limiter, &goto).await;

    let mut task = again(&r);
    task.team_id = "team-g".into();
    task.takes_team_slot = false;
    let task = admit(&**limiter, &task).await.into_lease().unwrap();
    assert!(!limiter.renew(&task).await.unwrap().recreated());

    // A waiter whose caller vanished (task aborted): the fair queue's keys stay until it
    // is dropped, and have TTLs meanwhile.
    let mut waiting = again(&r);
    waiting.team_id = "team-f".into();
    waiting.account.concurrency = 1;
    let waiter = limiter.limiter.clone();
    let task = tokio::spawn(async move {
        waiter
            .admit_or_wait(&waiting, 2, Duration::from_secs(30))
            .await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    task.abort();

    let fresh = limiter::BudgetPeriod::new("2026-12", period().ends_at_ms + 1_000);
    limiter.seed_charged("team-d", &fresh, 40).await.unwrap();
    limiter.seed_charged("team-e", &fresh, 40).await.unwrap();
    let corrected = limiter.correct_charged("team-e", &fresh, 40, 45);
    assert!(corrected.await.unwrap().applied);
    limiter.state_marker().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_has_a_ttl() {
    let limiter = TestLimiter::redis();
    every_kind_of_key(&limiter).await;
    let prefix = limiter.redis_prefix.clone().unwrap();
    let keys = keys_under(&prefix).await;
    let base = format!("{prefix}{{{ACCOUNT}}}:");
    for expected in [
        "team:team-a:bucket",
        // (team-a's lease set is gone: Redis drops a sorted set when its last lease settles)
        "team:team-a:budget:2026-11",
        "acct:bucket:chatgpt",
        "acct:bucket:google",
        "acct:leases",
        "team:team-b:leases",
        "team:team-c:bucket",
        "team:team-g:async_leases",
        "team:team-g:budget:2026-11",
        "team:team-d:budget:2026-12",
        "team:team-e:budget:2026-12",
        "acct:slot_teams",
        "acct:queue",
        "acct:queue:alive",
        "acct:queue:info",
        "state",
    ] {
        assert!(
            keys.contains(&format!("{base}{expected}")),
            "{expected} in {keys:?}"
        );
    }
    let mut connection = connection().await;
    for key in &keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(ttl > 0, "{key} has no TTL ({ttl})");
    }
    limiter.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_keys_share_one_hash_slot() {
    let limiter = TestLimiter::redis();
    every_kind_of_key(&limiter).await;
    let keys = keys_under(limiter.redis_prefix.as_deref().unwrap()).await;
    assert!(keys.len() >= 10, "{keys:?}");
    let slot = cluster_hash_slot(ACCOUNT);
    for key in &keys {
        assert_eq!(cluster_hash_slot(key), slot, "{key}");
        let tag = &key[key.find('{').unwrap()..=key.find('}').unwrap()];
        assert_eq!(tag, format!("{{{ACCOUNT}}}"), "{key}");
    }
    limiter.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settled_lease_leaves_no_member_behind() {
    let limiter = TestLimiter::redis();
    let mut r = request("team-a");
    r.team.budget = Some(1_000);
    seed(&*limiter, &r).await;
    // Something else in flight keeps every lease set alive, so an emptied set is not simply
    // dropped by Redis.
    let mut other_call = again(&r);
    other_call.lease_ttl_ms = 60_000;
    admit(&*limiter, &other_call).await.into_lease().unwrap();
    let mut other_task = again(&r);
    other_task.takes_team_slot = false;
    admit(&*limiter, &other_task).await.into_lease().unwrap();

    let call = admit(&*limiter, &again(&r)).await.into_lease().unwrap();
    let mut task = again(&r);
    task.takes_team_slot = false;
    let task = admit(&*limiter, &task).await.into_lease().unwrap();
    limiter.settle(&call, 3).await.unwrap();
    limiter.settle(&task, 3).await.unwrap();

    let prefix = limiter.redis_prefix.clone().unwrap();
    let base = format!("{prefix}{{{ACCOUNT}}}:");
    let mut connection = connection().await;
    for set in [
        "team:team-a:leases",
        "team:team-a:async_leases",
        "acct:leases",
    ] {
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(format!("{base}{set}"))
            .arg(0)
            .arg(-1)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert_eq!(members.len(), 1, "{set}: {members:?}");
        for lease in [&call, &task] {
            assert!(!members.iter().any(|m| m == lease.lease_id()), "{set}");
        }
    }
    limiter.cleanup().await;
}
