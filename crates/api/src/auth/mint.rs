//! Minting the gateway's own tokens (HS256 with `auth.signing_secret`), recorded in
//! `issued_tokens` (with the token that minted them) so each can be listed and revoked by
//! `jti`. Admin and finance tokens live at most `auth.max_admin_token_ttl_secs`.

use crate::config::AuthSettings;
use accounting::tokens::IssuedToken;
use accounting::{Role, TeamId, TeamSlug};
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde::Serialize;
use sqlx::PgExecutor;
use std::time::Duration;
use uuid::Uuid;

/// Longest lifetime a minted token may have.
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    jti: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    #[serde(flatten)]
    custom: serde_json::Map<String, serde_json::Value>,
}

/// A freshly minted token. `token` is shown once and never stored.
#[derive(Debug)]
pub struct MintedToken {
    pub token: String,
    pub jti: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// Who a token is for: a team (team role) or nobody in particular (admin, finance).
pub struct MintRequest<'a> {
    pub role: Role,
    pub team: Option<(TeamId, &'a TeamSlug)>,
    pub subject: &'a str,
    pub ttl: Duration,
    /// The (issuer, jti) of the token minting it; `None` from the command line.
    pub minted_by: Option<(&'a str, &'a str)>,
}

/// The longest lifetime a token of `role` may be minted with.
pub fn max_ttl(settings: &AuthSettings, role: Role) -> Duration {
    match role {
        Role::Team => MAX_TTL,
        Role::Admin | Role::Finance => Duration::from_secs(settings.max_admin_token_ttl_secs),
    }
}

/// Signs and records a token (pass a transaction to record it with other changes).
pub async fn mint(
    db: impl PgExecutor<'_>,
    settings: &AuthSettings,
    request: MintRequest<'_>,
) -> anyhow::Result<MintedToken> {
    if settings.signing_secret.is_empty() {
        bail!("auth.signing_secret is not set, so the gateway cannot mint tokens");
    }
    if request.ttl.is_zero() || request.ttl > max_ttl(settings, request.role) {
        bail!(
            "ttl must be between 1 second and {} seconds for a {} token",
            max_ttl(settings, request.role).as_secs(),
            request.role
        );
    }
    if (request.role == Role::Team) != request.team.is_some() {
        bail!("a team token needs a team; admin and finance tokens take none");
    }
    let now = Utc::now();
    let expires_at = now + chrono::Duration::from_std(request.ttl)?;
    let jti = Uuid::now_v7();
    let mut custom = serde_json::Map::new();
    custom.insert(settings.role_claim.clone(), request.role.as_str().into());
    if let Some((_, slug)) = request.team {
        custom.insert(settings.team_claim.clone(), slug.as_str().into());
    }
    let claims = Claims {
        iss: &settings.issuer,
        aud: &settings.audience,
        sub: request.subject,
        jti: jti.to_string(),
        iat: now.timestamp(),
        nbf: now.timestamp(),
        exp: expires_at.timestamp(),
        custom,
    };
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(settings.signing_kid.clone());
    let key = EncodingKey::from_secret(settings.signing_secret.expose().as_bytes())?;
    let token = encode(&header, &claims, &key).context("signing the token")?;
    accounting::tokens::record_issued(
        db,
        &IssuedToken {
            jti,
            team_id: request.team.map(|(id, _)| id),
            role: request.role,
            subject: request.subject.to_owned(),
            expires_at,
            minted_by: request
                .minted_by
                .map(|(issuer, jti)| (issuer.to_owned(), jti.to_owned())),
        },
    )
    .await?;
    Ok(MintedToken {
        token,
        jti,
        expires_at,
    })
}

/// Parses `90s`, `15m`, `1h`, `30d` (and anything humantime understands).
pub fn parse_ttl(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    if let Some(days) = text.strip_suffix('d')
        && let Ok(days) = days.parse::<u64>()
    {
        return Ok(Duration::from_secs(days * 24 * 3600));
    }
    humantime::parse_duration(text)
        .with_context(|| format!("invalid duration {text:?}: use 90s, 15m, 1h or 30d"))
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;
    use std::time::Duration;

    #[test]
    fn ttl_forms() {
        assert_eq!(parse_ttl("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_ttl("30d").unwrap(), Duration::from_secs(30 * 86400));
        assert!(parse_ttl("soon").is_err());
        assert!(parse_ttl("").is_err());
    }
}
