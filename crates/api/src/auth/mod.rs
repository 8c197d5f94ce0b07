//! Authentication: bearer JWTs verified against allow-listed keys, then checked against
//! the directory of teams and revoked tokens. Handlers name the role they need with an
//! [`Authenticated`] argument.

pub mod authenticated;
pub mod jwks;
pub mod key_policy;
pub mod keys;
pub mod mint;
pub mod principal;
pub mod scope_guard;
pub mod verified_cache;
pub mod verifier;

pub use authenticated::{Admin, Authenticated, Finance, Team, authenticate, verified_team};
pub use principal::{Principal, TeamRef};

use crate::config::AuthSettings;
use crate::directory::Directory;
use crate::error::{ApiError, ErrorCode};
use accounting::{Role, TeamStatus};
use actix_web::http::header::HeaderValue;
use jwks::JwksSource;
use keys::KeySet;
use std::sync::Arc;
use std::time::Duration;
use verifier::Verifier;

/// Verifies tokens and resolves their holder.
pub struct Authenticator {
    verifier: Verifier,
    pub directory: Arc<Directory>,
}

impl Authenticator {
    /// Builds the key set (fetching the JWKS once if configured).
    pub async fn build(settings: &AuthSettings, directory: Arc<Directory>) -> anyhow::Result<Self> {
        let mut keys = KeySet::from_settings(settings)?;
        let jwks = if settings.jwks_url.is_empty() {
            None
        } else {
            let source = JwksSource::new(
                settings.jwks_url.clone(),
                Duration::from_secs(settings.jwks_min_refresh_secs),
            );
            if let Some(held) = source.refresh_if_due(|set| keys.replace_jwks(&set)).await {
                tracing::info!(held, "JWKS keys loaded");
            }
            Some(source)
        };
        Ok(Self {
            verifier: Verifier::new(settings, keys, jwks),
            directory,
        })
    }

    /// The principal behind an Authorization header, or the precise reason it is refused.
    pub async fn authenticate(&self, header: Option<&HeaderValue>) -> Result<Principal, ApiError> {
        let token = principal::bearer_token(header)?;
        let verified = self.verifier.verify(token).await?;
        if self.directory.is_revoked(
            &verified.issuer,
            &verified.jti,
            &verified.subject,
            verified.issued_at,
        ) {
            return Err(ApiError::new(
                ErrorCode::TokenRevoked,
                "Token has been revoked",
            ));
        }
        let team = match (verified.role, &verified.team_slug) {
            (Role::Team, Some(slug)) => {
                let entry = self
                    .directory
                    .team(slug)
                    .await
                    .map_err(|e| {
                        ApiError::new(ErrorCode::ServiceUnavailable, "Team directory unavailable")
                            .with_cause(e)
                            .with_retry_after(1)
                    })?
                    .ok_or_else(|| {
                        ApiError::new(ErrorCode::UnknownTeam, "Token names an unknown team")
                    })?;
                if entry.status == TeamStatus::Suspended {
                    return Err(ApiError::new(ErrorCode::TeamSuspended, "Team is suspended"));
                }
                Some(TeamRef {
                    id: entry.id,
                    slug: entry.slug,
                })
            }
            _ => None,
        };
        Ok(Principal {
            subject: verified.subject,
            role: verified.role,
            team,
            issuer: verified.issuer,
            jti: verified.jti,
        })
    }
}
