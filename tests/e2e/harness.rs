//! The harness's own promises: a test that panics leaves no `gw_test_*` database behind, and
//! a gateway's private Postgres stops and starts again while the shared one keeps serving.

use e2e_tests::TestApp;
use e2e_tests::services::services;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

async fn shared_postgres() -> sqlx::PgPool {
    sqlx::PgPool::connect(&services().await.unwrap().postgres_admin_url)
        .await
        .unwrap()
}

async fn database_exists(admin: &sqlx::PgPool, name: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(admin)
        .await
        .unwrap()
}

// The default single-threaded runtime: the guard must not need the runtime that unwinds.
#[tokio::test]
async fn a_test_that_panics_leaves_no_database_behind() {
    let admin = shared_postgres().await;
    let name = Arc::new(Mutex::new(None::<String>));
    let seen = name.clone();
    let outcome = AssertUnwindSafe(async move {
        let app = TestApp::spawn().await.unwrap();
        app.create_team("doomed").await;
        *seen.lock().unwrap() = Some(app.database_name.clone());
        panic!("a test failing with its gateway still running");
    })
    .catch_unwind()
    .await;
    assert!(outcome.is_err(), "the test panicked");
    let name = name.lock().unwrap().clone().expect("the app started");
    assert!(
        !database_exists(&admin, &name).await,
        "{name} outlived its panicking test"
    );
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drops_the_database() {
    let admin = shared_postgres().await;
    let app = TestApp::spawn().await.unwrap();
    let name = app.database_name.clone();
    assert!(database_exists(&admin, &name).await);
    app.shutdown().await.unwrap();
    assert!(!database_exists(&admin, &name).await);
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_postgres_stops_and_starts_again_while_the_shared_one_serves() {
    let shared = shared_postgres().await;
    let app = TestApp::builder().private_postgres().spawn().await.unwrap();
    assert!(
        !database_exists(&shared, &app.database_name).await,
        "the app's database is not on the shared Postgres"
    );
    app.create_team("islander").await;
    let select_one = || sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&app.db);

    app.stop_postgres().await;
    assert!(select_one().await.is_err(), "the private Postgres is down");
    let alive: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&shared)
        .await
        .unwrap();
    assert_eq!(alive, 1, "the shared Postgres still serves");

    app.start_postgres().await;
    assert_eq!(select_one().await.unwrap(), 1, "the pool reconnects");
    app.shutdown().await.unwrap();
    shared.close().await;
}
