//! Async tasks: recorded with their PENDING ledger entry before forwarding, one team's keys and
//! queue cap held under concurrency, and settled exactly once whichever way they end.

use std::collections::HashMap;

use accounting::async_tasks::{
    self, NewAsyncTask, Recorded, TASK_GONE_FLAG, TaskState, TaskUpdate,
};
use accounting::ledger::{self, EntryFilter, EntryMode, Scope, Settled};
use accounting::{AccountingError, EntryStatus, TeamId};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{create_team, credits, new_entry, record, request_id_at};
use crate::test_database::{TestDatabase, sqlstate};

fn task(team_id: TeamId, team_key: Option<&str>) -> NewAsyncTask {
    task_with_id(team_id, team_key, Uuid::now_v7())
}

fn task_with_id(team_id: TeamId, team_key: Option<&str>, entry_id: Uuid) -> NewAsyncTask {
    NewAsyncTask {
        entry_id,
        team_id,
        endpoint: "/v1/monitor/chatgpt".to_owned(),
        task_type: "CHATGPT".to_owned(),
        priority: 1,
        team_key: team_key.map(str::to_owned),
        upstream_key: format!("gw-{entry_id}"),
        webhook_url: Some("https://team.example/hook".to_owned()),
        batch_id: None,
        batch_index: None,
        estimate: credits(5),
        client_request_id: Some(format!("client-{entry_id}")),
        flag_reason: None,
        settle_by: Utc::now() + TimeDelta::hours(25),
        lease: None,
    }
}

async fn record_one(pool: &PgPool, task: NewAsyncTask) -> Uuid {
    let id = task.entry_id;
    assert_eq!(
        async_tasks::record(pool, &[task], None).await.unwrap(),
        [Recorded::Recorded]
    );
    id
}

async fn state_of(pool: &PgPool, entry_id: Uuid) -> TaskState {
    async_tasks::by_entry(pool, entry_id)
        .await
        .unwrap()
        .unwrap()
        .state
}

async fn ledger_rows(pool: &PgPool, team: TeamId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM ledger_entries WHERE team_id = $1")
        .bind(team)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn record_accept_observe_settle_round_trip() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let other = create_team(&db.pool, "team-b").await;
    let batch = Uuid::now_v7();
    let mut new = task(team, Some("order-1"));
    new.batch_id = Some(batch);
    new.batch_index = Some(0);
    new.lease = Some(serde_json::json!({"member": "m-1", "held": 5}));
    let id = record_one(&db.pool, new.clone()).await;

    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(entry.status, EntryStatus::Pending);
    assert_eq!(entry.mode, EntryMode::Async);
    assert_eq!(entry.estimate, credits(5));
    assert_eq!(entry.batch_id, Some(batch));
    assert_eq!(entry.task_id, None);
    assert_eq!(entry.client_request_id, new.client_request_id);
    let recorded = async_tasks::by_entry(&db.pool, id).await.unwrap().unwrap();
    assert_eq!(recorded.state, TaskState::Submitted);
    assert_eq!(recorded.team_id, team);
    assert_eq!(recorded.team_key.as_deref(), Some("order-1"));
    assert_eq!(recorded.batch_index, Some(0));
    assert_eq!(recorded.entry_created_at, entry.created_at);
    assert_eq!(recorded.estimate, credits(5));
    assert_eq!(recorded.charged, None);
    assert_eq!(recorded.lease, new.lease);
    assert_eq!(
        async_tasks::by_upstream_key(&db.pool, &new.upstream_key)
            .await
            .unwrap()
            .map(|t| t.entry_id),
        Some(id)
    );

    let task_id = Uuid::new_v4();
    // Only cloro's waiting or running statuses, spelled as cloro does.
    for status in ["COMPLETED", "queued", "DONE"] {
        assert!(matches!(
            async_tasks::accepted(&db.pool, id, task_id, status).await,
            Err(AccountingError::Invalid(_))
        ));
    }
    assert_eq!(
        async_tasks::accepted(&db.pool, id, task_id, "QUEUED")
            .await
            .unwrap(),
        TaskUpdate::Applied
    );
    // A retry of the same reply changes nothing.
    assert_eq!(
        async_tasks::accepted(&db.pool, id, task_id, "QUEUED")
            .await
            .unwrap(),
        TaskUpdate::Unchanged(TaskState::Queued)
    );
    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(entry.task_id, Some(task_id));
    assert_eq!(entry.status, EntryStatus::Pending);
    let owned = async_tasks::owned(&db.pool, team, task_id).await.unwrap();
    assert_eq!(
        owned.map(|t| (t.entry_id, t.state)),
        Some((id, TaskState::Queued))
    );
    assert_eq!(
        async_tasks::owned(&db.pool, other, task_id).await.unwrap(),
        None
    );
    assert_eq!(
        async_tasks::by_task_id(&db.pool, task_id)
            .await
            .unwrap()
            .map(|t| t.entry_id),
        Some(id)
    );

    assert_eq!(
        async_tasks::observe(&db.pool, id, "PROCESSING")
            .await
            .unwrap(),
        TaskUpdate::Applied
    );
    // States only move forward.
    assert_eq!(
        async_tasks::observe(&db.pool, id, "QUEUED").await.unwrap(),
        TaskUpdate::Unchanged(TaskState::Processing)
    );

    assert_eq!(
        async_tasks::settle(&db.pool, id, credits(4), 200, TaskState::Completed)
            .await
            .unwrap(),
        Settled::Applied
    );
    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(entry.status, EntryStatus::Posted);
    assert_eq!(entry.charged, Some(credits(4)));
    assert_eq!(entry.task_id, Some(task_id));
    let settled = async_tasks::by_entry(&db.pool, id).await.unwrap().unwrap();
    assert_eq!(settled.state, TaskState::Completed);
    assert!(settled.settled_at.is_some());
    assert_eq!(settled.charged, Some(credits(4)));
    assert_eq!(settled.entry_status, EntryStatus::Posted);
    // A terminal task is not observed any more.
    assert_eq!(
        async_tasks::observe(&db.pool, id, "PROCESSING")
            .await
            .unwrap(),
        TaskUpdate::Unchanged(TaskState::Completed)
    );
    db.drop().await;
}

#[tokio::test]
async fn a_team_key_is_used_once_per_team_and_refusals_leave_nothing() {
    let db = TestDatabase::new().await;
    let a = create_team(&db.pool, "team-a").await;
    let b = create_team(&db.pool, "team-b").await;
    record_one(&db.pool, task(a, Some("k1"))).await;

    let again = async_tasks::record(&db.pool, &[task(a, Some("k1"))], None)
        .await
        .unwrap();
    assert_eq!(again, [Recorded::DuplicateKey]);
    record_one(&db.pool, task(b, Some("k1"))).await;

    // Within one call too; tasks without a key never collide.
    let batch = [
        task(a, Some("k2")),
        task(a, Some("k2")),
        task(a, None),
        task(a, None),
    ];
    assert_eq!(
        async_tasks::record(&db.pool, &batch, None).await.unwrap(),
        [
            Recorded::Recorded,
            Recorded::DuplicateKey,
            Recorded::Recorded,
            Recorded::Recorded
        ]
    );
    assert!(
        async_tasks::by_entry(&db.pool, batch[1].entry_id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(ledger_rows(&db.pool, a).await, 4);
    assert_eq!(ledger_rows(&db.pool, b).await, 1);
    db.drop().await;
}

#[tokio::test]
async fn the_queue_cap_counts_submitted_and_queued_tasks() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let batch = [task(team, None), task(team, None), task(team, None)];
    assert_eq!(
        async_tasks::record(&db.pool, &batch, Some(2))
            .await
            .unwrap(),
        [Recorded::Recorded, Recorded::Recorded, Recorded::QueueFull]
    );
    assert_eq!(ledger_rows(&db.pool, team).await, 2);
    assert!(
        async_tasks::record(&db.pool, &[task(team, None)], Some(2))
            .await
            .unwrap()
            == [Recorded::QueueFull]
    );

    // A running task no longer counts against the queue.
    async_tasks::accepted(&db.pool, batch[0].entry_id, Uuid::new_v4(), "PROCESSING")
        .await
        .unwrap();
    assert_eq!(
        async_tasks::record(&db.pool, &[task(team, None)], Some(2))
            .await
            .unwrap(),
        [Recorded::Recorded]
    );
    // Without a cap, anything goes.
    assert_eq!(
        async_tasks::record(&db.pool, &[task(team, None)], None)
            .await
            .unwrap(),
        [Recorded::Recorded]
    );
    assert_eq!(ledger_rows(&db.pool, team).await, 4);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submits_of_one_team_never_exceed_the_cap() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let other = create_team(&db.pool, "team-b").await;
    let submits: Vec<_> = (0..20)
        .map(|i| {
            let pool = db.pool.clone();
            let owner = if i % 4 == 3 { other } else { team };
            tokio::spawn(async move {
                async_tasks::record(&pool, &[task(owner, None)], Some(5))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes: HashMap<Recorded, usize> = HashMap::new();
    for submit in submits {
        for outcome in submit.await.unwrap() {
            *outcomes.entry(outcome).or_default() += 1;
        }
    }
    // 15 submits of team-a: 5 recorded; 5 of team-b: all recorded.
    assert_eq!(outcomes.get(&Recorded::Recorded), Some(&10));
    assert_eq!(outcomes.get(&Recorded::QueueFull), Some(&10));
    assert_eq!(
        async_tasks::team_counts(&db.pool, team)
            .await
            .unwrap()
            .queued,
        5
    );
    assert_eq!(ledger_rows(&db.pool, team).await, 5);
    assert_eq!(ledger_rows(&db.pool, other).await, 5);
    db.drop().await;
}

#[tokio::test]
async fn settling_twice_charges_once() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = record_one(&db.pool, task(team, None)).await;
    async_tasks::accepted(&db.pool, id, Uuid::new_v4(), "QUEUED")
        .await
        .unwrap();

    let settle =
        |charged| async_tasks::settle(&db.pool, id, credits(charged), 200, TaskState::Completed);
    assert_eq!(settle(4).await.unwrap(), Settled::Applied);
    assert_eq!(
        settle(4).await.unwrap(),
        Settled::AlreadySettled(EntryStatus::Posted)
    );
    assert_eq!(
        settle(6).await.unwrap(),
        Settled::AlreadySettled(EntryStatus::Posted)
    );
    // A late refusal changes nothing either.
    assert_eq!(
        async_tasks::refused(&db.pool, id, Some(500), "upstream 500")
            .await
            .unwrap(),
        Settled::AlreadySettled(EntryStatus::Posted)
    );
    let totals = ledger::team_totals(&db.pool, team, None).await.unwrap();
    assert_eq!(totals.charged, credits(4));
    assert_eq!(totals.entries_by_status[&EntryStatus::Posted], 1);
    assert_eq!(state_of(&db.pool, id).await, TaskState::Completed);
    db.drop().await;
}

#[tokio::test]
async fn a_failed_task_is_posted_at_its_zero_charge() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = record_one(&db.pool, task(team, None)).await;
    assert_eq!(
        async_tasks::settle(&db.pool, id, credits(0), 200, TaskState::Failed)
            .await
            .unwrap(),
        Settled::Applied
    );
    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(
        (entry.status, entry.charged),
        (EntryStatus::Posted, Some(credits(0)))
    );
    assert_eq!(state_of(&db.pool, id).await, TaskState::Failed);
    // Only COMPLETED or FAILED settle a task.
    assert!(
        async_tasks::settle(&db.pool, id, credits(0), 200, TaskState::Gone)
            .await
            .is_err()
    );
    db.drop().await;
}

#[tokio::test]
async fn a_refused_task_is_voided_once() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = record_one(&db.pool, task(team, None)).await;
    assert_eq!(
        async_tasks::refused(&db.pool, id, Some(403), "upstream 403 INSUFFICIENT_CREDITS")
            .await
            .unwrap(),
        Settled::Applied
    );
    assert_eq!(
        async_tasks::refused(&db.pool, id, Some(403), "upstream 403 INSUFFICIENT_CREDITS")
            .await
            .unwrap(),
        Settled::AlreadySettled(EntryStatus::Voided)
    );
    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(entry.status, EntryStatus::Voided);
    assert_eq!(entry.charged, Some(credits(0)));
    assert_eq!(entry.upstream_status, Some(403));
    assert_eq!(
        entry.void_reason.as_deref(),
        Some("upstream 403 INSUFFICIENT_CREDITS")
    );
    let refused = async_tasks::by_entry(&db.pool, id).await.unwrap().unwrap();
    assert_eq!(refused.state, TaskState::Refused);
    assert!(refused.settled_at.is_some());
    // A refused task no longer counts against the queue, and cannot be accepted.
    assert_eq!(
        async_tasks::team_counts(&db.pool, team).await.unwrap(),
        Default::default()
    );
    assert_eq!(
        async_tasks::accepted(&db.pool, id, Uuid::new_v4(), "QUEUED")
            .await
            .unwrap(),
        TaskUpdate::Unchanged(TaskState::Refused)
    );
    // Unknown entries, and sync entries, are not tasks.
    let sync = record(&db.pool, new_entry(team, 3)).await;
    for unknown in [Uuid::now_v7(), sync] {
        assert_eq!(
            async_tasks::refused(&db.pool, unknown, None, "not sent")
                .await
                .unwrap(),
            Settled::NotFound
        );
    }
    assert_eq!(crate::fixtures::status_of(&db.pool, sync).await, "PENDING");
    db.drop().await;
}

#[tokio::test]
async fn a_vanished_task_is_posted_at_its_estimate_flagged_and_a_released_one_voided() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let vanished = record_one(&db.pool, task(team, None)).await;
    let released = record_one(&db.pool, task(team, None)).await;
    for id in [vanished, released] {
        async_tasks::accepted(&db.pool, id, Uuid::new_v4(), "QUEUED")
            .await
            .unwrap();
    }

    assert_eq!(
        async_tasks::gone(&db.pool, vanished).await.unwrap(),
        Settled::Applied
    );
    assert_eq!(
        async_tasks::gone(&db.pool, vanished).await.unwrap(),
        Settled::AlreadySettled(EntryStatus::Posted)
    );
    let entry = ledger::get(&db.pool, team, vanished)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.status, EntryStatus::Posted);
    assert_eq!(entry.charged, Some(credits(5)));
    assert!(entry.flagged);
    assert_eq!(entry.flag_reason.as_deref(), Some(TASK_GONE_FLAG));
    assert_eq!(entry.upstream_status, Some(404));
    assert_eq!(state_of(&db.pool, vanished).await, TaskState::Gone);

    assert_eq!(
        async_tasks::released(&db.pool, released, "queue cleared")
            .await
            .unwrap(),
        Settled::Applied
    );
    let entry = ledger::get(&db.pool, team, released)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.status, EntryStatus::Voided);
    assert_eq!(entry.void_reason.as_deref(), Some("queue cleared"));
    assert_eq!(state_of(&db.pool, released).await, TaskState::Gone);

    let flagged = EntryFilter {
        flag: Some(TASK_GONE_FLAG.to_owned()),
        ..EntryFilter::default()
    };
    let listed = ledger::list_entries(&db.pool, Scope::All, &flagged, None, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    db.drop().await;
}

#[tokio::test]
async fn the_sweeper_leaves_an_async_entry_alone_until_its_settle_by() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let waiting = record_one(&db.pool, task(team, None)).await;
    let mut overdue = task(team, None);
    overdue.settle_by = Utc::now() - TimeDelta::minutes(10);
    let overdue = record_one(&db.pool, overdue).await;

    // Both were recorded just now; only the one past its settle-by (and the deadline) expires.
    assert_eq!(
        ledger::expire_stale(&db.pool, Utc::now() - TimeDelta::minutes(5))
            .await
            .unwrap(),
        1
    );
    assert_eq!(ledger::expire_stale(&db.pool, Utc::now()).await.unwrap(), 0);
    assert_eq!(
        crate::fixtures::status_of(&db.pool, waiting).await,
        "PENDING"
    );
    assert_eq!(
        crate::fixtures::status_of(&db.pool, overdue).await,
        "EXPIRED"
    );

    // Its real charge still arrives: kept as a late charge, the task ends COMPLETED.
    assert_eq!(
        async_tasks::settle(&db.pool, overdue, credits(3), 200, TaskState::Completed)
            .await
            .unwrap(),
        Settled::AlreadySettled(EntryStatus::Expired)
    );
    let settled = async_tasks::by_entry(&db.pool, overdue)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(settled.state, TaskState::Completed);
    assert_eq!(settled.entry_status, EntryStatus::Expired);
    assert_eq!(settled.charged, Some(credits(3)));
    let late: i64 =
        sqlx::query_scalar("SELECT charged FROM ledger_late_charges WHERE entry_id = $1")
            .bind(overdue)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(late, 3);
    db.drop().await;
}

#[tokio::test]
async fn counts_unsettled_and_queued_listings() {
    let db = TestDatabase::new().await;
    let a = create_team(&db.pool, "team-a").await;
    let b = create_team(&db.pool, "team-b").await;
    let mut ids = Vec::new();
    for priority in [5, 5, 1, 1, 9] {
        let mut new = task(a, None);
        new.priority = priority;
        ids.push(record_one(&db.pool, new).await);
    }
    let other = record_one(&db.pool, task(b, None)).await;
    async_tasks::accepted(&db.pool, ids[4], Uuid::new_v4(), "PROCESSING")
        .await
        .unwrap();
    async_tasks::accepted(&db.pool, ids[0], Uuid::new_v4(), "QUEUED")
        .await
        .unwrap();

    let queue = async_tasks::team_counts(&db.pool, a).await.unwrap();
    assert_eq!(queue.queued, 4);
    assert_eq!(queue.processing, 1);
    assert_eq!(queue.by_priority, [(5, 2), (1, 2)]);
    assert_eq!(
        async_tasks::team_counts(&db.pool, b).await.unwrap().queued,
        1
    );

    // Only tasks cloro accepted (their id known) are polled.
    let unknown = record_one(&db.pool, task(b, None)).await;
    for id in [ids[1], ids[2], ids[3], other] {
        async_tasks::accepted(&db.pool, id, Uuid::new_v4(), "QUEUED")
            .await
            .unwrap();
    }

    let later = Utc::now() + TimeDelta::seconds(1);
    assert!(
        !async_tasks::unsettled(&db.pool, later, 100)
            .await
            .unwrap()
            .iter()
            .any(|t| t.entry_id == unknown)
    );
    let entry_ids = |tasks: Vec<async_tasks::AsyncTask>| -> Vec<Uuid> {
        tasks.into_iter().map(|t| t.entry_id).collect()
    };
    let mut everything = ids.clone();
    everything.push(other);
    assert_eq!(
        entry_ids(async_tasks::unsettled(&db.pool, later, 100).await.unwrap()),
        everything
    );
    assert_eq!(
        entry_ids(async_tasks::unsettled(&db.pool, later, 2).await.unwrap()),
        ids[..2]
    );
    let earlier = Utc::now() - TimeDelta::hours(1);
    assert!(
        async_tasks::unsettled(&db.pool, earlier, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(async_tasks::unsettled(&db.pool, later, 0).await.is_err());

    async_tasks::settle(&db.pool, ids[1], credits(5), 200, TaskState::Completed)
        .await
        .unwrap();
    let unsettled = entry_ids(async_tasks::unsettled(&db.pool, later, 100).await.unwrap());
    assert_eq!(unsettled.len(), 5);
    assert!(!unsettled.contains(&ids[1]));

    // Queued: SUBMITTED or QUEUED, every team; not running, not settled.
    assert_eq!(
        entry_ids(async_tasks::queued(&db.pool).await.unwrap()),
        [ids[0], ids[2], ids[3], other, unknown]
    );
    db.drop().await;
}

#[tokio::test]
async fn the_listing_tells_async_entries_from_sync_ones() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let sync = record(&db.pool, new_entry(team, 3)).await;
    let task_entry = record_one(&db.pool, task(team, None)).await;

    let listed = |mode| {
        let filter = EntryFilter {
            mode,
            ..EntryFilter::default()
        };
        let pool = db.pool.clone();
        async move {
            ledger::list_entries(&pool, Scope::Team(team), &filter, None, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|entry| (entry.id, entry.mode))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        listed(Some(EntryMode::Sync)).await,
        [(sync, EntryMode::Sync)]
    );
    assert_eq!(
        listed(Some(EntryMode::Async)).await,
        [(task_entry, EntryMode::Async)]
    );
    assert_eq!(listed(None).await.len(), 2);
    db.drop().await;
}

#[tokio::test]
async fn a_pending_entry_learns_its_task_id_once_and_nothing_else() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let id = record_one(&db.pool, task(team, None)).await;
    let task_id = Uuid::new_v4();
    async_tasks::accepted(&db.pool, id, task_id, "QUEUED")
        .await
        .unwrap();

    let created_at = ledger::created_at_of(id);
    for sql in [
        // A second task id.
        "UPDATE ledger_entries SET task_id = gen_random_uuid() WHERE id = $1 AND created_at = $2",
        // Any other change that leaves it PENDING.
        "UPDATE ledger_entries SET flagged = true, flag_reason = 'x' WHERE id = $1 AND created_at = $2",
        // The identity columns, mode and batch included.
        "UPDATE ledger_entries SET status = 'VOIDED', charged = 0, void_reason = 'x', \
             settled_at = now(), mode = 'sync' WHERE id = $1 AND created_at = $2",
        "UPDATE ledger_entries SET status = 'VOIDED', charged = 0, void_reason = 'x', \
             settled_at = now(), batch_id = gen_random_uuid() WHERE id = $1 AND created_at = $2",
    ] {
        let error = sqlx::query(sql)
            .bind(id)
            .bind(created_at)
            .execute(&db.pool)
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&error).as_deref(), Some("23001"), "{sql}");
    }
    // A sync entry cannot learn a mode either.
    let sync = record(&db.pool, new_entry(team, 3)).await;
    let error = sqlx::query(
        "UPDATE ledger_entries SET mode = 'async', task_id = gen_random_uuid() \
         WHERE id = $1 AND created_at = $2",
    )
    .bind(sync)
    .bind(ledger::created_at_of(sync))
    .execute(&db.pool)
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("23001"));
    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(entry.task_id, Some(task_id));
    db.drop().await;
}

#[tokio::test]
async fn moving_out_of_the_default_partition_keeps_the_async_columns() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let far_future: DateTime<Utc> = Utc.with_ymd_and_hms(2100, 6, 15, 8, 30, 0).unwrap();
    let mut new = task_with_id(team, Some("k"), request_id_at(far_future));
    new.batch_id = Some(Uuid::now_v7());
    new.batch_index = Some(3);
    new.settle_by = far_future + TimeDelta::days(1);
    let id = record_one(&db.pool, new.clone()).await;
    let task_id = Uuid::new_v4();
    async_tasks::accepted(&db.pool, id, task_id, "QUEUED")
        .await
        .unwrap();

    assert_eq!(
        ledger::ensure_partitions(&db.pool, far_future, 0)
            .await
            .unwrap(),
        1
    );
    let entry = ledger::get(&db.pool, team, id).await.unwrap().unwrap();
    assert_eq!(entry.mode, EntryMode::Async);
    assert_eq!(entry.task_id, Some(task_id));
    assert_eq!(entry.batch_id, new.batch_id);
    let pending_at: DateTime<Utc> = sqlx::query_scalar(
        "SELECT pending_at FROM ledger_entries WHERE id = $1 AND created_at = $2",
    )
    .bind(id)
    .bind(ledger::created_at_of(id))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(pending_at, new.settle_by);
    assert_eq!(
        async_tasks::owned(&db.pool, team, task_id)
            .await
            .unwrap()
            .map(|t| t.state),
        Some(TaskState::Queued)
    );
    db.drop().await;
}

#[tokio::test]
async fn a_record_of_unknown_outcome_is_voided_whether_it_committed_or_not() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let reason = "not sent: the PENDING write failed";

    // It committed: the entry is voided and the task no longer counts as queued.
    let committed = task(team, Some("landed"));
    let landed = record_one(&db.pool, committed.clone()).await;
    async_tasks::void_unrecorded(&db.pool, std::slice::from_ref(&committed), reason)
        .await
        .unwrap();
    let entry = ledger::get(&db.pool, team, landed).await.unwrap().unwrap();
    assert_eq!(entry.status, EntryStatus::Voided);
    assert_eq!(state_of(&db.pool, landed).await, TaskState::Refused);
    assert_eq!(
        async_tasks::team_counts(&db.pool, team)
            .await
            .unwrap()
            .queued,
        0
    );

    // It had not committed yet: voiding first makes the late commit fail, leaving nothing
    // PENDING and no task row.
    let late = task(team, Some("late"));
    async_tasks::void_unrecorded(&db.pool, std::slice::from_ref(&late), reason)
        .await
        .unwrap();
    assert!(
        async_tasks::record(&db.pool, std::slice::from_ref(&late), None)
            .await
            .is_err()
    );
    let entry = ledger::get(&db.pool, team, late.entry_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.status, EntryStatus::Voided);
    assert_eq!(entry.mode, EntryMode::Async, "finance still sees a task");
    assert!(
        async_tasks::by_entry(&db.pool, late.entry_id)
            .await
            .unwrap()
            .is_none()
    );

    // Voiding again changes nothing.
    async_tasks::void_unrecorded(&db.pool, &[committed, late], reason)
        .await
        .unwrap();
    db.drop().await;
}

#[tokio::test]
async fn a_refused_task_frees_its_key_for_the_team() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let first = task(team, Some("retry-me"));
    let upstream_key = first.upstream_key.clone();
    let refused = record_one(&db.pool, first).await;
    async_tasks::refused(&db.pool, refused, Some(429), "cloro's queue is full")
        .await
        .unwrap();
    let mut again = task(team, Some("retry-me"));
    again.upstream_key = upstream_key.clone();
    let retried = record_one(&db.pool, again).await;
    // A delivery names the live task, not the refused one.
    let live = async_tasks::by_upstream_key(&db.pool, &upstream_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.entry_id, retried);
    // While it lives, the key is taken.
    assert_eq!(
        async_tasks::record(&db.pool, &[task(team, Some("retry-me"))], None)
            .await
            .unwrap(),
        [Recorded::DuplicateKey]
    );
    db.drop().await;
}
