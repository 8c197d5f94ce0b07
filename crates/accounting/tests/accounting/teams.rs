//! Teams: unique slugs, lookups, suspend and resume.

use accounting::teams;
use accounting::{AccountingError, TeamId, TeamSlug, TeamStatus};

use crate::test_database::TestDatabase;

fn slug(text: &str) -> TeamSlug {
    TeamSlug::parse(text).unwrap()
}

#[tokio::test]
async fn a_slug_is_taken_once() {
    let db = TestDatabase::new().await;
    let created = teams::create(&db.pool, &slug("search"), "Search")
        .await
        .unwrap();
    assert_eq!(created.slug, slug("search"));
    assert_eq!(created.name, "Search");
    assert_eq!(created.status, TeamStatus::Active);

    let error = teams::create(&db.pool, &slug("search"), "Search again")
        .await
        .unwrap_err();
    assert!(matches!(error, AccountingError::DuplicateSlug), "{error:?}");
    db.drop().await;
}

#[tokio::test]
async fn teams_are_found_by_slug_and_id_and_listed_by_slug() {
    let db = TestDatabase::new().await;
    let zeta = teams::create(&db.pool, &slug("zeta"), "Zeta")
        .await
        .unwrap();
    let alpha = teams::create(&db.pool, &slug("alpha"), "Alpha")
        .await
        .unwrap();

    assert_eq!(
        teams::by_slug(&db.pool, &slug("zeta")).await.unwrap(),
        Some(zeta.clone())
    );
    assert_eq!(
        teams::by_id(&db.pool, alpha.id).await.unwrap(),
        Some(alpha.clone())
    );
    assert_eq!(
        teams::by_slug(&db.pool, &slug("nobody")).await.unwrap(),
        None
    );
    assert_eq!(
        teams::by_id(&db.pool, TeamId::generate()).await.unwrap(),
        None
    );
    assert_eq!(teams::list(&db.pool).await.unwrap(), [alpha, zeta]);
    db.drop().await;
}

#[tokio::test]
async fn a_team_is_suspended_and_resumed() {
    let db = TestDatabase::new().await;
    let team = teams::create(&db.pool, &slug("ads"), "Ads").await.unwrap();

    let suspended = teams::set_status(&db.pool, &slug("ads"), TeamStatus::Suspended)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(suspended.status, TeamStatus::Suspended);
    assert_eq!(suspended.id, team.id);
    assert_eq!(
        teams::by_id(&db.pool, team.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        TeamStatus::Suspended
    );

    let resumed = teams::set_status(&db.pool, &slug("ads"), TeamStatus::Active)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resumed.status, TeamStatus::Active);
    assert_eq!(
        teams::set_status(&db.pool, &slug("nobody"), TeamStatus::Suspended)
            .await
            .unwrap(),
        None
    );
    db.drop().await;
}

#[tokio::test]
async fn a_team_needs_a_name() {
    let db = TestDatabase::new().await;
    for name in ["", "   ", &"n".repeat(201)] {
        let error = teams::create(&db.pool, &slug("nameless"), name)
            .await
            .unwrap_err();
        assert!(matches!(error, AccountingError::Invalid(_)));
    }
    db.drop().await;
}
