//! Minting and revoking tokens. The token's text is returned to the caller once and never
//! written anywhere: not in `issued_tokens`, not in the audit log.

use super::teams::parse_slug;
use super::{ActionError, Change, announce, audit, to_json};
use crate::admin::views::TokenView;
use crate::auth::mint::{MAX_TTL, MintRequest, MintedToken, mint as sign_and_record, parse_ttl};
use crate::config::AuthSettings;
use accounting::Role;
use accounting::tokens::TokenRecord;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// Longest `sub` a minted token may carry.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// A role from the caller, or a 400 naming `field`.
pub fn parse_role(field: &str, text: &str) -> Result<Role, ActionError> {
    Role::parse(text).map_err(|e| ActionError::invalid(field, e.to_string()))
}

/// A lifetime like `90s`, `1h`, `30d` (at most 366 days), or a 400 naming `ttl`.
pub fn parse_ttl_field(text: &str) -> Result<Duration, ActionError> {
    let ttl = parse_ttl(text).map_err(|e| ActionError::invalid("ttl", format!("{e:#}")))?;
    check_ttl(ttl)?;
    Ok(ttl)
}

fn check_ttl(ttl: Duration) -> Result<(), ActionError> {
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(ActionError::invalid(
            "ttl",
            "must be between 1 second and 366 days",
        ));
    }
    Ok(())
}

/// What to mint.
#[derive(Debug, Clone)]
pub struct MintInput<'a> {
    pub role: Role,
    /// The team's slug: required for a team token, refused for the others.
    pub team: Option<&'a str>,
    /// The token's `sub`.
    pub subject: String,
    pub ttl: Duration,
}

/// Signs, records and audits a token; returns it (text included) and its record.
pub async fn mint(
    db: &PgPool,
    auth: &AuthSettings,
    actor: &str,
    input: MintInput<'_>,
) -> Result<(MintedToken, TokenRecord), ActionError> {
    let team_slug = match (input.role, input.team) {
        (Role::Team, Some(slug)) => Some(parse_slug("team", slug)?),
        (Role::Team, None) => {
            return Err(ActionError::invalid("team", "is required for a team token"));
        }
        (_, Some(_)) => {
            return Err(ActionError::invalid(
                "team",
                "admin and finance tokens are not tied to a team",
            ));
        }
        (_, None) => None,
    };
    let subject = input.subject.trim();
    if subject.is_empty()
        || subject.chars().count() > MAX_SUBJECT_CHARS
        || subject.chars().any(char::is_control)
    {
        return Err(ActionError::invalid(
            "subject",
            format!("must be 1 to {MAX_SUBJECT_CHARS} printable characters"),
        ));
    }
    check_ttl(input.ttl)?;
    if auth.signing_secret.is_empty() {
        return Err(ActionError::NotConfigured(
            "auth.signing_secret is not set, so the gateway cannot mint tokens".into(),
        ));
    }
    let mut tx = db.begin().await?;
    let team = match &team_slug {
        Some(slug) => Some(
            accounting::teams::by_slug(&mut *tx, slug)
                .await?
                .ok_or_else(|| ActionError::NotFound(format!("No team {}", slug.as_str())))?,
        ),
        None => None,
    };
    let minted = sign_and_record(
        &mut *tx,
        auth,
        MintRequest {
            role: input.role,
            team: team.as_ref().map(|t| (t.id, &t.slug)),
            subject,
            ttl: input.ttl,
        },
    )
    .await?;
    let record = accounting::tokens::get(&mut *tx, minted.jti)
        .await?
        .ok_or_else(|| {
            ActionError::Internal(anyhow::anyhow!("the minted token is not recorded"))
        })?;
    let jti = minted.jti.to_string();
    audit(
        &mut tx,
        actor,
        Change {
            action: "token.mint",
            target_type: "token",
            target_id: &jti,
            before: None,
            after: to_json(&TokenView::from(&record)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((minted, record))
}

/// Revokes a token: 404 if unknown, 409 if already revoked. Every replica refuses it once
/// the change is announced (and at its next periodic refresh in any case).
pub async fn revoke(db: &PgPool, actor: &str, jti: Uuid) -> Result<TokenRecord, ActionError> {
    let mut tx = db.begin().await?;
    let before = accounting::tokens::get(&mut *tx, jti)
        .await?
        .ok_or_else(|| ActionError::NotFound(format!("No token with jti {jti}")))?;
    if before.revoked_at.is_some() || !accounting::tokens::revoke(&mut *tx, jti).await? {
        return Err(ActionError::AlreadyRevoked(format!(
            "Token {jti} is already revoked"
        )));
    }
    let after = accounting::tokens::get(&mut *tx, jti)
        .await?
        .ok_or_else(|| ActionError::NotFound(format!("No token with jti {jti}")))?;
    let target = jti.to_string();
    audit(
        &mut tx,
        actor,
        Change {
            action: "token.revoke",
            target_type: "token",
            target_id: &target,
            before: to_json(&TokenView::from(&before)),
            after: to_json(&TokenView::from(&after)),
        },
    )
    .await?;
    announce(&mut tx, "token").await?;
    tx.commit().await?;
    Ok(after)
}
