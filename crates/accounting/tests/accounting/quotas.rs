//! Team quotas: set, replaced in place, read back, and absurd values refused; the async
//! caps default for rows written without them.

use accounting::quotas::{self, DEFAULT_MAX_PRIORITY, DEFAULT_MAX_QUEUED_TASKS, QuotaValues};
use accounting::{AccountingError, TeamId};

use crate::fixtures::create_team;
use crate::test_database::TestDatabase;

fn values(concurrency: u32, budget: Option<i64>) -> QuotaValues {
    QuotaValues {
        rps: 5.0,
        burst: 10,
        concurrency,
        weight: 2,
        budget,
        hard_budget: true,
        alert_threshold_pct: Some(80),
        max_priority: 7,
        max_queued_tasks: 250,
    }
}

#[tokio::test]
async fn a_quota_is_set_replaced_and_read_back() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    assert_eq!(quotas::get(&db.pool, team).await.unwrap(), None);

    let first = quotas::set(&db.pool, team, &values(3, Some(500)))
        .await
        .unwrap();
    assert_eq!(first.values, values(3, Some(500)));
    let second = quotas::set(&db.pool, team, &values(7, None)).await.unwrap();
    assert_eq!(second.values.concurrency, 7);
    assert_eq!(second.values.budget, None);
    assert!(second.updated_at >= first.updated_at);
    assert_eq!(quotas::get(&db.pool, team).await.unwrap(), Some(second));
    assert_eq!(quotas::list(&db.pool).await.unwrap().len(), 1);
    db.drop().await;
}

#[tokio::test]
async fn absurd_values_and_unknown_teams_are_refused() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let err = quotas::set(&db.pool, team, &values(0, None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AccountingError::Invalid(ref m) if m.starts_with("concurrency")),
        "{err:?}"
    );
    let err = quotas::set(&db.pool, TeamId::generate(), &values(3, None))
        .await
        .unwrap_err();
    assert!(matches!(err, AccountingError::Database(_)), "{err:?}");
    // The database refuses what the validation would, too.
    let direct = sqlx::query(
        "INSERT INTO team_quotas (team_id, rps, burst, concurrency) VALUES ($1, -1, 1, 1)",
    )
    .bind(team)
    .execute(&db.pool)
    .await;
    assert!(direct.is_err());
    db.drop().await;
}

#[tokio::test]
async fn the_async_caps_are_stored_at_both_ends_of_their_ranges() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    for (max_priority, max_queued_tasks) in [(1, 1), (10, 1_000_000)] {
        let wanted = QuotaValues {
            max_priority,
            max_queued_tasks,
            ..values(3, None)
        };
        let stored = quotas::set(&db.pool, team, &wanted).await.unwrap();
        assert_eq!(stored.values, wanted);
        let read = quotas::get(&db.pool, team).await.unwrap().unwrap();
        assert_eq!(read.values, wanted);
    }
    db.drop().await;
}

#[tokio::test]
async fn async_caps_out_of_range_are_refused_by_name_and_by_the_database() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    type Breaker = fn(&mut QuotaValues);
    let cases: [(Breaker, &str); 4] = [
        (|v| v.max_priority = 0, "max_priority"),
        (|v| v.max_priority = 11, "max_priority"),
        (|v| v.max_queued_tasks = 0, "max_queued_tasks"),
        (|v| v.max_queued_tasks = 1_000_001, "max_queued_tasks"),
    ];
    for (break_it, field) in cases {
        let mut bad = values(3, None);
        break_it(&mut bad);
        let err = quotas::set(&db.pool, team, &bad).await.unwrap_err();
        assert!(
            matches!(err, AccountingError::Invalid(ref m) if m.starts_with(field)),
            "{err:?}"
        );
    }
    assert_eq!(quotas::get(&db.pool, team).await.unwrap(), None);
    for (column, value) in [
        ("max_priority", 0),
        ("max_priority", 11),
        ("max_queued_tasks", 0),
        ("max_queued_tasks", 1_000_001),
    ] {
        let mut insert =
            sqlx::QueryBuilder::new("INSERT INTO team_quotas (team_id, rps, burst, concurrency, ");
        insert.push(column).push(") VALUES (");
        insert
            .push_bind(team)
            .push(", 1, 1, 1, ")
            .push_bind(value)
            .push(")");
        let direct = insert.build().execute(&db.pool).await;
        assert!(direct.is_err(), "{column} = {value} was stored");
    }
    db.drop().await;
}

#[tokio::test]
async fn a_quota_written_without_the_async_caps_reads_back_with_the_defaults() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    // As a row stored before the caps' migration: the columns' defaults fill them in.
    sqlx::query("INSERT INTO team_quotas (team_id, rps, burst, concurrency) VALUES ($1, 1, 1, 1)")
        .bind(team)
        .execute(&db.pool)
        .await
        .unwrap();
    let stored = quotas::get(&db.pool, team).await.unwrap().unwrap();
    assert_eq!(
        (stored.values.max_priority, stored.values.max_queued_tasks),
        (DEFAULT_MAX_PRIORITY, DEFAULT_MAX_QUEUED_TASKS)
    );
    assert_eq!((DEFAULT_MAX_PRIORITY, DEFAULT_MAX_QUEUED_TASKS), (10, 1000));
    db.drop().await;
}
