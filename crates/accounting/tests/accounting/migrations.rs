//! The embedded migrator: applies every migration once, and re-running changes nothing.

use accounting::MIGRATOR;

use crate::test_database::TestDatabase;

#[tokio::test]
async fn migrations_run_twice_without_change() {
    let db = TestDatabase::new().await;

    MIGRATOR.run(&db.pool).await.unwrap();
    accounting::migrate(&db.pool).await.unwrap();

    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(usize::try_from(applied).unwrap(), MIGRATOR.iter().count());
    assert!(applied >= 7);
    db.drop().await;
}

#[tokio::test]
async fn migrations_create_every_table() {
    let db = TestDatabase::new().await;
    for table in [
        "teams",
        "issued_tokens",
        "ledger_entries",
        "account_balance_observations",
        "idempotency_keys",
    ] {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert!(exists, "{table} is missing");
    }
    let partitioned: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'ledger_entries'::regclass)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(partitioned, "ledger_entries must be partitioned");
    db.drop().await;
}
