//! Issued tokens: recorded when minted, revoked once, and listed for the revocation cache.

use accounting::revocations;
use accounting::tokens::{self, IssuedToken};
use accounting::{AccountingError, Role, TeamId};
use chrono::{TimeDelta, Utc};
use uuid::Uuid;

use crate::fixtures::create_team;
use crate::test_database::TestDatabase;

fn token(role: Role, team_id: Option<TeamId>) -> IssuedToken {
    IssuedToken {
        jti: Uuid::new_v4(),
        team_id,
        role,
        subject: "alice@example.com".to_owned(),
        expires_at: Utc::now() + TimeDelta::days(30),
        minted_by: None,
    }
}

#[tokio::test]
async fn a_token_is_revoked_once() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    let issued = token(Role::Team, Some(team));
    let other = token(Role::Admin, None);
    tokens::record_issued(&db.pool, &issued).await.unwrap();
    tokens::record_issued(&db.pool, &other).await.unwrap();
    let before = Utc::now() - TimeDelta::seconds(5);

    assert!(tokens::revoke(&db.pool, issued.jti).await.unwrap());
    assert!(!tokens::revoke(&db.pool, issued.jti).await.unwrap());
    let unknown = Uuid::new_v4();
    assert!(!tokens::revoke(&db.pool, unknown).await.unwrap());

    // A revoked minted token reaches the revocation cache under the gateway's issuer.
    let revoked = revocations::revoked_since(&db.pool, "gw", before)
        .await
        .unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        (revoked[0].0.as_str(), revoked[0].1.clone()),
        ("gw", issued.jti.to_string())
    );
    assert!(revoked[0].2 >= before);
    let later = revoked[0].2 + TimeDelta::microseconds(1);
    assert!(
        revocations::revoked_since(&db.pool, "gw", later)
            .await
            .unwrap()
            .is_empty()
    );
    db.drop().await;
}

#[tokio::test]
async fn only_team_tokens_name_a_team() {
    let db = TestDatabase::new().await;
    let team = create_team(&db.pool, "team-a").await;
    for (role, team_id) in [
        (Role::Team, None),
        (Role::Admin, Some(team)),
        (Role::Finance, Some(team)),
    ] {
        let error = tokens::record_issued(&db.pool, &token(role, team_id))
            .await
            .unwrap_err();
        assert!(matches!(error, AccountingError::Invalid(_)), "{role}");
    }
    tokens::record_issued(&db.pool, &token(Role::Finance, None))
        .await
        .unwrap();
    db.drop().await;
}
