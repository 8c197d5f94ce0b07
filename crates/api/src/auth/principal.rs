//! The authenticated caller. Handlers take a [`Principal`] argument; the extractor has
//! already read the bearer token, verified it, refused revoked tokens and unknown or
//! suspended teams, and attached the team and role.

use crate::auth::Authenticator;
use crate::error::{ApiError, ErrorCode};
use accounting::{Role, TeamId, TeamSlug};
use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures::future::LocalBoxFuture;
use uuid::Uuid;

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
    pub jti: Option<Uuid>,
}

impl Principal {
    /// The team, for routes only team tokens may call.
    pub fn require_team(&self) -> Result<&TeamRef, ApiError> {
        self.team
            .as_ref()
            .ok_or_else(|| ApiError::new(ErrorCode::Forbidden, "This route needs a team token"))
    }

    /// For admin routes: only an admin token passes.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(ApiError::new(
                ErrorCode::Forbidden,
                "This route needs an admin token",
            )),
        }
    }

    /// For finance routes: a finance or an admin token passes.
    pub fn require_finance(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Finance | Role::Admin => Ok(()),
            Role::Team => Err(ApiError::new(
                ErrorCode::Forbidden,
                "This route needs a finance or admin token",
            )),
        }
    }
}

/// `Bearer <token>` from the Authorization header, or the cloro error for its absence.
pub fn bearer_token(header: Option<&HeaderValue>) -> Result<&str, ApiError> {
    let Some(value) = header else {
        return Err(ApiError::new(
            ErrorCode::MissingApiKey,
            "Missing API key: send Authorization: Bearer <token>",
        ));
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

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Already authenticated for this request (by the route-role check).
        if let Some(principal) = req.extensions().get::<Principal>().cloned() {
            return Box::pin(async move { Ok(principal) });
        }
        let auth = req.app_data::<web::Data<Authenticator>>().cloned();
        let header = req.headers().get(AUTHORIZATION).cloned();
        let req = req.clone();
        Box::pin(async move {
            let auth =
                auth.ok_or_else(|| ApiError::internal(anyhow::anyhow!("authenticator missing")))?;
            let principal = auth.authenticate(header.as_ref()).await?;
            if let Some(team) = &principal.team {
                tracing::Span::current().record("team", team.slug.as_str());
            }
            req.extensions_mut().insert(principal.clone());
            Ok(principal)
        })
    }
}
