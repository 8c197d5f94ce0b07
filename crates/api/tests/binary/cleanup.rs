//! A test that panics before `teardown` still leaves no `gw_bin_*` database behind: the
//! deployment's guard drops it.

use crate::support::Deployment;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_whose_test_panics_leaves_no_database_behind() {
    // A task of its own panics, as a failing test would, with its deployment in hand.
    let (url_sender, url) = tokio::sync::oneshot::channel();
    let failed = tokio::spawn(async move {
        let deployment = Deployment::new(cloro_sim::SimConfig::default(), &[]).await;
        deployment.run("migrate", &["migrate"]);
        url_sender.send(deployment.db_url.clone()).unwrap();
        panic!("a test failing before its teardown");
    })
    .await;
    assert!(failed.is_err_and(|err| err.is_panic()));
    let url = url.await.unwrap();
    let (admin_url, name) = url.rsplit_once('/').unwrap();
    let admin = sqlx::PgPool::connect(&format!("{admin_url}/postgres"))
        .await
        .unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&admin)
            .await
            .unwrap();
    assert!(!exists, "{name} outlived its panicking test");
    admin.close().await;
    // The processes' output is kept for a failed test; this one failed on purpose.
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(name));
}
