//! Which role each family of the gateway's own routes needs, enforced before any handler or
//! body extractor runs: `/admin/*` admin, `/finance/*` finance or admin, `/team/*` team.
//! A caller without the role gets 401/403 whatever it sent, so a bad body never reveals more
//! than the refusal, and a route added under one of these prefixes cannot forget its check.
//! Handlers check the role again themselves.

use crate::auth::Principal;
use crate::error::ApiError;
use actix_web::Error;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

/// The role check a path prefix calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteRole {
    Admin,
    Finance,
    Team,
}

impl RouteRole {
    /// The check for `path`, or `None` for routes outside the three families.
    pub fn of(path: &str) -> Option<Self> {
        let under = |prefix: &str| {
            path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        if under("/admin") {
            Some(Self::Admin)
        } else if under("/finance") {
            Some(Self::Finance)
        } else if under("/team") {
            Some(Self::Team)
        } else {
            None
        }
    }

    pub fn check(self, principal: &Principal) -> Result<(), ApiError> {
        match self {
            Self::Admin => principal.require_admin(),
            Self::Finance => principal.require_finance(),
            Self::Team => principal.require_team().map(|_| ()),
        }
    }
}

pub async fn enforce(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(needed) = RouteRole::of(req.path()) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let allowed = match req.extract::<Principal>().await {
        Ok(principal) => needed.check(&principal),
        Err(refused) => Err(refused),
    };
    match allowed {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Err(refused) => Ok(req.error_response(refused).map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::RouteRole;

    #[test]
    fn prefixes_map_to_roles_and_lookalikes_do_not() {
        assert_eq!(RouteRole::of("/admin/teams"), Some(RouteRole::Admin));
        assert_eq!(RouteRole::of("/admin"), Some(RouteRole::Admin));
        assert_eq!(
            RouteRole::of("/finance/export/entries.csv"),
            Some(RouteRole::Finance)
        );
        assert_eq!(RouteRole::of("/team/usage"), Some(RouteRole::Team));
        assert_eq!(RouteRole::of("/teams"), None);
        assert_eq!(RouteRole::of("/administrator"), None);
        assert_eq!(RouteRole::of("/v1/monitor/chatgpt"), None);
        assert_eq!(RouteRole::of("/healthz"), None);
    }
}
