//! Minting and revoking tokens, and subjects' cut-offs. The token's text is returned to the
//! caller once and never written anywhere: not in `issued_tokens`, not in the audit log.
//! Revoking any token (by issuer and jti) revokes every token it minted, all the way down.

use super::teams::parse_slug;
use super::{ActionError, Actor, Change, announce, audit, to_json};
use crate::admin::views::TokenView;
use crate::auth::mint::{
    MAX_TTL, MintRequest, MintedToken, max_ttl, mint as sign_and_record, parse_ttl,
};
use crate::config::AuthSettings;
use accounting::Role;
use accounting::revocations::{Revocation, RevokedBy, SubjectCutoff};
use accounting::tokens::TokenRecord;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
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
    actor: &Actor,
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
    check_name("subject", subject)?;
    check_ttl(input.ttl)?;
    let longest = max_ttl(auth, input.role);
    if input.ttl > longest {
        return Err(ActionError::invalid(
            "ttl",
            format!(
                "a {} token may live at most {} seconds (auth.max_admin_token_ttl_secs)",
                input.role,
                longest.as_secs()
            ),
        ));
    }
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
            minted_by: actor.token_ref(),
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

/// Revokes a minted token by its jti: 404 if unknown, 409 if already revoked. The tokens it
/// minted are revoked with it. Every replica refuses them once the change is announced (and
/// at its next periodic refresh in any case). Returns its record and the cascaded jtis.
pub async fn revoke(
    db: &PgPool,
    auth: &AuthSettings,
    actor: &Actor,
    jti: Uuid,
) -> Result<(TokenRecord, Vec<Uuid>), ActionError> {
    let mut tx = db.begin().await?;
    let before = accounting::tokens::get(&mut *tx, jti)
        .await?
        .ok_or_else(|| ActionError::NotFound(format!("No token with jti {jti}")))?;
    let target = jti.to_string();
    let revoked =
        accounting::revocations::revoke(&mut *tx, &auth.issuer, &target, by(actor, None)).await?;
    let listed = accounting::tokens::revoke(&mut *tx, jti).await?;
    if before.revoked_at.is_some() || revoked.is_none() || !listed {
        return Err(ActionError::AlreadyRevoked(format!(
            "Token {jti} is already revoked"
        )));
    }
    let after = accounting::tokens::get(&mut *tx, jti)
        .await?
        .ok_or_else(|| ActionError::NotFound(format!("No token with jti {jti}")))?;
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
    let cascaded = revoke_minted_and_commit(tx, auth, actor, &auth.issuer, &target).await?;
    Ok((after, cascaded))
}

/// Revokes any token by (issuer, jti), minted here or not (409 if already revoked), and the
/// tokens it minted. Returns the revocation and the cascaded jtis.
pub async fn revoke_any(
    db: &PgPool,
    auth: &AuthSettings,
    actor: &Actor,
    issuer: &str,
    jti: &str,
    reason: Option<&str>,
) -> Result<(Revocation, Vec<Uuid>), ActionError> {
    check_name("issuer", issuer)?;
    check_name("jti", jti)?;
    if let Some(reason) = reason
        && (reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control))
    {
        return Err(ActionError::invalid(
            "reason",
            format!("must be at most {MAX_REASON_CHARS} printable characters"),
        ));
    }
    let mut tx = db.begin().await?;
    let revocation = accounting::revocations::revoke(&mut *tx, issuer, jti, by(actor, reason))
        .await?
        .ok_or_else(|| {
            ActionError::AlreadyRevoked(format!("Token {jti} of {issuer} is already revoked"))
        })?;
    // A token minted here is also shown as revoked in the token listing.
    if issuer == auth.issuer
        && let Ok(minted) = Uuid::parse_str(jti)
    {
        accounting::tokens::revoke(&mut *tx, minted).await?;
    }
    audit(
        &mut tx,
        actor,
        Change {
            action: "token.revoke",
            target_type: "token",
            target_id: jti,
            before: None,
            after: Some(json!({ "issuer": issuer, "jti": jti, "reason": reason })),
        },
    )
    .await?;
    let cascaded = revoke_minted_and_commit(tx, auth, actor, issuer, jti).await?;
    Ok((revocation, cascaded))
}

/// Refuses every token `subject` holds under `issuer` that was issued before `not_before`
/// (default: now), whoever signed it; tokens it gets later work.
pub async fn cut_off_subject(
    db: &PgPool,
    actor: &Actor,
    issuer: &str,
    subject: &str,
    not_before: Option<DateTime<Utc>>,
) -> Result<SubjectCutoff, ActionError> {
    check_name("issuer", issuer)?;
    check_name("subject", subject)?;
    let not_before = not_before.unwrap_or_else(Utc::now);
    let mut tx = db.begin().await?;
    let before = accounting::revocations::cutoff(&mut *tx, issuer, subject).await?;
    let cutoff =
        accounting::revocations::set_cutoff(&mut *tx, issuer, subject, not_before, &actor.subject)
            .await?;
    let target = format!("{issuer} {subject}");
    audit(
        &mut tx,
        actor,
        Change {
            action: "subject.cutoff",
            target_type: "subject",
            target_id: &target,
            before: before.map(|c| json!({ "notBefore": c.not_before })),
            after: Some(json!({ "notBefore": cutoff.not_before })),
        },
    )
    .await?;
    announce(&mut tx, "token").await?;
    tx.commit().await?;
    Ok(cutoff)
}

/// Longest revocation reason kept.
pub const MAX_REASON_CHARS: usize = 500;

fn by<'a>(actor: &'a Actor, reason: Option<&'a str>) -> RevokedBy<'a> {
    RevokedBy {
        actor: &actor.subject,
        reason,
    }
}

/// An issuer, jti or subject: 1-200 printable characters.
fn check_name(field: &str, value: &str) -> Result<(), ActionError> {
    if value.is_empty()
        || value.chars().count() > MAX_SUBJECT_CHARS
        || value.chars().any(char::is_control)
    {
        return Err(ActionError::invalid(
            field,
            format!("must be 1 to {MAX_SUBJECT_CHARS} printable characters"),
        ));
    }
    Ok(())
}

/// Revokes what (issuer, jti) minted, all the way down, with an audit row for each, then
/// announces the revocations and commits the transaction that made them.
async fn revoke_minted_and_commit(
    mut tx: Transaction<'_, Postgres>,
    auth: &AuthSettings,
    actor: &Actor,
    issuer: &str,
    jti: &str,
) -> Result<Vec<Uuid>, ActionError> {
    let reason = format!("minted by revoked token {jti}");
    let cascaded = accounting::revocations::revoke_minted_by(
        &mut *tx,
        &auth.issuer,
        issuer,
        jti,
        by(actor, Some(&reason)),
    )
    .await?;
    for child in &cascaded {
        let target = child.to_string();
        audit(
            &mut tx,
            actor,
            Change {
                action: "token.revoke",
                target_type: "token",
                target_id: &target,
                before: None,
                after: Some(json!({ "issuer": auth.issuer, "jti": target, "reason": reason })),
            },
        )
        .await?;
    }
    announce(&mut tx, "token").await?;
    tx.commit().await?;
    Ok(cascaded)
}
