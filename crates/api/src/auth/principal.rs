//! The authenticated caller: who the verified token speaks for (its subject, role and, for
//! a team token, the team), and reading the bearer token from the Authorization header.

use crate::error::{ApiError, ErrorCode};
use accounting::{Role, TeamId, TeamSlug};
use actix_web::http::header::HeaderValue;

/// The team a team token acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRef {
    pub id: TeamId,
    pub slug: TeamSlug,
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub subject: String,
    pub role: Role,
    /// Set for team tokens only.
    pub team: Option<TeamRef>,
    /// The issuer the token was verified under and its `jti`: together they name the token
    /// in revocations, in the audit log and as the minter of the tokens it mints.
    pub issuer: String,
    pub jti: String,
}

/// The refusal of a request that sent no token.
pub fn missing_api_key() -> ApiError {
    ApiError::new(
        ErrorCode::MissingApiKey,
        "Missing API key: send Authorization: Bearer <token>",
    )
}

/// `Bearer <token>` from the Authorization header, or the cloro error for its absence.
pub fn bearer_token(header: Option<&HeaderValue>) -> Result<&str, ApiError> {
    let Some(value) = header else {
        return Err(missing_api_key());
    };
    let text = value.to_str().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidApiKeyFormat,
            "Authorization header is not text",
        )
    })?;
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidApiKeyFormat,
            "Authorization must be `Bearer <token>`",
        )),
    }
}
