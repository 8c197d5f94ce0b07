//! Revocations by (issuer, jti) for any token, the cascade to the tokens a token minted,
//! and per-subject cut-offs.

use accounting::Role;
use accounting::revocations::{self, RevokedBy};
use accounting::tokens::{self, IssuedToken};
use chrono::{TimeDelta, Utc};
use uuid::Uuid;

use crate::test_database::TestDatabase;

const OWN: &str = "gw";

fn by() -> RevokedBy<'static> {
    RevokedBy {
        actor: "admin:root",
        reason: Some("left the company"),
    }
}

/// An admin token minted by `parent` (an (issuer, jti)).
async fn minted(db: &TestDatabase, parent: Option<(&str, &str)>) -> Uuid {
    let token = IssuedToken {
        jti: Uuid::now_v7(),
        team_id: None,
        role: Role::Admin,
        subject: "admin:x".into(),
        expires_at: Utc::now() + TimeDelta::days(1),
        minted_by: parent.map(|(i, j)| (i.to_owned(), j.to_owned())),
    };
    tokens::record_issued(&db.pool, &token).await.unwrap();
    token.jti
}

#[tokio::test]
async fn any_token_is_revoked_once_by_issuer_and_jti() {
    let db = TestDatabase::new().await;
    let first = revocations::revoke(&db.pool, "partner-idp", "abc", by())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.issuer.as_str(), first.jti.as_str()),
        ("partner-idp", "abc")
    );
    assert_eq!(first.reason.as_deref(), Some("left the company"));
    assert!(
        revocations::revoke(&db.pool, "partner-idp", "abc", by())
            .await
            .unwrap()
            .is_none()
    );
    // The same jti under another issuer is another token.
    assert!(
        revocations::revoke(&db.pool, OWN, "abc", by())
            .await
            .unwrap()
            .is_some()
    );
    let since = first.revoked_at - TimeDelta::seconds(1);
    let seen = revocations::revoked_since(&db.pool, OWN, since)
        .await
        .unwrap();
    assert_eq!(seen.len(), 2);
    let page = revocations::list(&db.pool, None, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    let last = &page[0];
    let rest = revocations::list(
        &db.pool,
        Some((last.revoked_at, last.issuer.clone(), last.jti.clone())),
        10,
    )
    .await
    .unwrap();
    assert_eq!(rest.len(), 1);
    assert_ne!(rest[0], *last);
    db.drop().await;
}

#[tokio::test]
async fn revoking_a_token_revokes_what_it_minted_all_the_way_down() {
    let db = TestDatabase::new().await;
    // A JWKS admin token minted a child, which minted a grandchild; a sibling is unrelated.
    let child = minted(&db, Some(("idp", "root-jti"))).await;
    let grandchild = minted(&db, Some((OWN, &child.to_string()))).await;
    let sibling = minted(&db, Some(("idp", "other-jti"))).await;
    let already = minted(&db, Some((OWN, &child.to_string()))).await;
    assert!(tokens::revoke(&db.pool, already).await.unwrap());

    let revoked = revocations::revoke_minted_by(&db.pool, OWN, "idp", "root-jti", by())
        .await
        .unwrap();
    let mut expected = vec![child, grandchild, already];
    expected.sort();
    let mut revoked_sorted = revoked.clone();
    revoked_sorted.sort();
    // `already` was revoked in the listing only: it now gets its revocation row too.
    assert_eq!(revoked_sorted, expected);
    for jti in [child, grandchild] {
        let record = tokens::get(&db.pool, jti).await.unwrap().unwrap();
        assert!(record.revoked_at.is_some(), "{jti} listed as revoked");
    }
    let sibling_record = tokens::get(&db.pool, sibling).await.unwrap().unwrap();
    assert!(sibling_record.revoked_at.is_none());
    // A second cascade finds nothing new.
    assert!(
        revocations::revoke_minted_by(&db.pool, OWN, "idp", "root-jti", by())
            .await
            .unwrap()
            .is_empty()
    );
    db.drop().await;
}

#[tokio::test]
async fn a_subject_cutoff_is_set_and_moved() {
    let db = TestDatabase::new().await;
    let first = Utc::now() - TimeDelta::hours(1);
    let cutoff = revocations::set_cutoff(&db.pool, OWN, "alice", first, "admin:root")
        .await
        .unwrap();
    assert_eq!(cutoff.not_before.timestamp(), first.timestamp());
    let later = Utc::now();
    revocations::set_cutoff(&db.pool, OWN, "alice", later, "cli")
        .await
        .unwrap();
    let all = revocations::cutoffs(&db.pool).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].not_before.timestamp(), later.timestamp());
    assert_eq!(all[0].set_by, "cli");
    assert!(
        revocations::cutoff(&db.pool, "other", "alice")
            .await
            .unwrap()
            .is_none()
    );
    db.drop().await;
}
