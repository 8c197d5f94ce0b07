//! Team quotas: set, replaced in place, read back, and absurd values refused.

use accounting::quotas::{self, QuotaValues};
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
