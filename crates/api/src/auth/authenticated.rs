//! The role a handler needs, as the type of its first argument: `Authenticated<Admin>`,
//! `Authenticated<Finance>` (finance or admin) or `Authenticated<Team>` (which also hands
//! over the team). The bearer token is verified once per request by [`authenticate`], a
//! middleware that runs before any extractor, so the role check here is synchronous and a
//! caller without the role gets its 401/403 before any body, query or path is parsed. The
//! scope of each route family runs the same check first ([`super::scope_guard`]); the
//! handler's argument is the second, kept so a handler cannot be mounted unguarded.

use crate::auth::{Authenticator, Principal, TeamRef};
use crate::error::{ApiError, ErrorCode};
use crate::stage_timings::{Stage, StageTimings};
use accounting::{Role, TeamId};
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest, web};
use std::cell::RefCell;
use std::future::{Ready, ready};
use std::marker::PhantomData;

/// What a role admits, and what it hands the handler besides the principal.
pub trait Policy: 'static {
    type Grant;
    fn grant(principal: &Principal) -> Result<Self::Grant, ApiError>;
}

/// Admin routes: only an admin token.
pub struct Admin;

/// Finance routes: a finance or an admin token.
pub struct Finance;

/// Team routes: a team token, acting for its (active) team.
pub struct Team;

impl Policy for Admin {
    type Grant = ();
    fn grant(principal: &Principal) -> Result<(), ApiError> {
        match principal.role {
            Role::Admin => Ok(()),
            _ => Err(forbidden("This route needs an admin token")),
        }
    }
}

impl Policy for Finance {
    type Grant = ();
    fn grant(principal: &Principal) -> Result<(), ApiError> {
        match principal.role {
            Role::Finance | Role::Admin => Ok(()),
            Role::Team => Err(forbidden("This route needs a finance or admin token")),
        }
    }
}

impl Policy for Team {
    type Grant = TeamRef;
    fn grant(principal: &Principal) -> Result<TeamRef, ApiError> {
        principal
            .team
            .clone()
            .ok_or_else(|| forbidden("This route needs a team token"))
    }
}

fn forbidden(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Forbidden, message)
}

/// A caller holding the role `P`.
pub struct Authenticated<P: Policy> {
    principal: Principal,
    grant: P::Grant,
    _policy: PhantomData<P>,
}

impl<P: Policy> Authenticated<P> {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The token's `sub`: the actor named in the audit log.
    pub fn subject(&self) -> &str {
        &self.principal.subject
    }
}

impl Authenticated<Team> {
    /// The team the token acts for.
    pub fn team(&self) -> &TeamRef {
        &self.grant
    }
}

/// The outcome of verifying the request's bearer token, left for the extractor (a refusal
/// is taken by the first extractor that asks; a principal stays for any later one).
struct Verified(RefCell<Option<Result<Principal, ApiError>>>);

/// Verifies the bearer token, when there is one, before the handler's extractors run; the
/// team of a team token is recorded on the request's span.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if let Some(header) = req.headers().get(AUTHORIZATION).cloned()
        && let Some(authenticator) = req.app_data::<web::Data<Authenticator>>().cloned()
    {
        let started = std::time::Instant::now();
        let outcome = authenticator.authenticate(Some(&header)).await;
        if let Some(stages) = req.app_data::<web::Data<StageTimings>>() {
            stages.observe(Stage::Auth, started.elapsed());
        }
        if let Ok(Principal {
            team: Some(team), ..
        }) = &outcome
        {
            tracing::Span::current().record("team", team.slug.as_str());
        }
        req.extensions_mut()
            .insert(Verified(RefCell::new(Some(outcome))));
    }
    next.call(req).await
}

/// The team of the request's verified team token, if it carries one (a peek: the outcome
/// stays for the extractors).
pub fn verified_team(req: &HttpRequest) -> Option<TeamId> {
    let extensions = req.extensions();
    let verified = extensions.get::<Verified>()?;
    let outcome = verified.0.borrow();
    match outcome.as_ref() {
        Some(Ok(principal)) => principal.team.as_ref().map(|team| team.id),
        _ => None,
    }
}

/// The caller's principal and what `P` grants it, or the refusal: the token's own (401),
/// no token (401) or not the role (403). The extractor and the scope guard
/// ([`super::scope_guard::require`]) both decide here, so they refuse alike. A refusal is
/// taken (it is answered once); a principal stays for the next check.
pub(super) fn authorize<P: Policy>(req: &HttpRequest) -> Result<(Principal, P::Grant), ApiError> {
    let outcome = {
        let extensions = req.extensions();
        let verified = extensions.get::<Verified>();
        let outcome = verified.and_then(|v| v.0.borrow_mut().take());
        if let (Some(verified), Some(Ok(principal))) = (verified, &outcome) {
            *verified.0.borrow_mut() = Some(Ok(principal.clone()));
        }
        outcome
    };
    match outcome {
        None => Err(missing_token(req)),
        Some(Err(refused)) => Err(refused),
        Some(Ok(principal)) => P::grant(&principal).map(|grant| (principal, grant)),
    }
}

impl<P: Policy> FromRequest for Authenticated<P> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize::<P>(req).map(|(principal, grant)| Self {
            principal,
            grant,
            _policy: PhantomData,
        }))
    }
}

/// Records `outcome` as the verified token of the request, as [`authenticate`] would: for
/// unit tests of what runs after it.
#[cfg(test)]
pub(super) fn assume_verified(req: &HttpRequest, outcome: Result<Principal, ApiError>) {
    req.extensions_mut()
        .insert(Verified(RefCell::new(Some(outcome))));
}

/// No token was sent, or the authentication middleware is not mounted (a bug).
fn missing_token(req: &HttpRequest) -> ApiError {
    if req.headers().contains_key(AUTHORIZATION) {
        return ApiError::internal(anyhow::anyhow!(
            "the token was not verified: the authentication middleware is not mounted"
        ));
    }
    super::principal::missing_api_key()
}
