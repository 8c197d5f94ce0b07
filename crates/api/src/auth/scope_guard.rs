//! The guard of a route family's scope. `/admin`, `/finance`, `/team` and `/v1` are each
//! mounted with `from_fn(require::<Role, _>)`, so a route of a family cannot exist outside
//! its role check: whatever path inside the scope a request names (a handler's, a variant
//! the router does not match, a method no handler takes), a caller without the role is
//! refused with the extractor's own 401/403 before routing inside the scope goes further.

use super::authenticated::{Policy, authorize};
use actix_web::Error;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

/// Lets the request into the scope only if its verified token holds the role `P` (the
/// outcome [`super::authenticate`] left); otherwise answers the refusal itself.
pub async fn require<P: Policy, B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    if let Err(refused) = authorize::<P>(req.request()) {
        return Ok(req.error_response(refused).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::authenticated::assume_verified;
    use crate::auth::{Admin, Finance, Principal, Team, TeamRef};
    use crate::error::{ApiError, ErrorCode};
    use accounting::{Role, TeamId, TeamSlug};
    use actix_web::middleware::from_fn;
    use actix_web::test::{TestRequest, call_service, init_service, read_body};
    use actix_web::{App, HttpResponse, web};
    use serde_json::Value;

    /// Stands in for `authenticate`: `x-test-role` names the verified role, or `expired`
    /// a token the verifier refused; no header, no token.
    async fn assume_role(
        req: ServiceRequest,
        next: Next<impl MessageBody>,
    ) -> Result<ServiceResponse<impl MessageBody>, Error> {
        let named = req
            .headers()
            .get("x-test-role")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(named) = named {
            let outcome = match named.parse::<Role>() {
                Ok(role) => Ok(Principal {
                    subject: "test".to_owned(),
                    role,
                    team: (role == Role::Team).then(|| TeamRef {
                        id: TeamId::generate(),
                        slug: TeamSlug::parse("alpha").unwrap(),
                    }),
                    issuer: "test".to_owned(),
                    jti: "test".to_owned(),
                }),
                Err(_) => Err(ApiError::new(ErrorCode::TokenExpired, "Token has expired")),
            };
            assume_verified(req.request(), outcome);
        }
        next.call(req).await
    }

    /// A handler without an `Authenticated` argument: only the scope's guard stands before it.
    async fn unguarded() -> HttpResponse {
        HttpResponse::Ok().body("reached")
    }

    #[actix_web::test]
    async fn the_scope_refuses_before_routing_and_the_handler() {
        let app = init_service(
            App::new()
                .service(
                    web::scope("/admin")
                        .wrap(from_fn(require::<Admin, _>))
                        .route("/x", web::get().to(unguarded)),
                )
                .service(
                    web::scope("/finance")
                        .wrap(from_fn(require::<Finance, _>))
                        .route("/x", web::get().to(unguarded)),
                )
                .service(
                    web::scope("/team")
                        .wrap(from_fn(require::<Team, _>))
                        .route("/x", web::get().to(unguarded)),
                )
                .wrap(from_fn(assume_role)),
        )
        .await;
        // (path, role, status, error code or the handler's body)
        let cases = [
            ("/admin/x", None, 401, "MISSING_API_KEY"),
            ("/admin/x", Some("expired"), 401, "TOKEN_EXPIRED"),
            ("/admin/x", Some("team"), 403, "FORBIDDEN"),
            ("/admin/x", Some("finance"), 403, "FORBIDDEN"),
            ("/admin/x", Some("admin"), 200, "reached"),
            ("/finance/x", None, 401, "MISSING_API_KEY"),
            ("/finance/x", Some("team"), 403, "FORBIDDEN"),
            ("/finance/x", Some("finance"), 200, "reached"),
            ("/finance/x", Some("admin"), 200, "reached"),
            ("/team/x", None, 401, "MISSING_API_KEY"),
            ("/team/x", Some("finance"), 403, "FORBIDDEN"),
            ("/team/x", Some("admin"), 403, "FORBIDDEN"),
            ("/team/x", Some("team"), 200, "reached"),
            // A path no handler takes is refused all the same: the guard runs first.
            ("/admin/none", None, 401, "MISSING_API_KEY"),
            ("/admin/none", Some("team"), 403, "FORBIDDEN"),
            ("/admin/x/", Some("finance"), 403, "FORBIDDEN"),
            ("/admin//x", Some("team"), 403, "FORBIDDEN"),
            ("/admin/none", Some("admin"), 404, ""),
        ];
        for (path, role, status, expected) in cases {
            let mut request = TestRequest::get().uri(path);
            if let Some(role) = role {
                request = request.insert_header(("x-test-role", role));
            }
            let response = call_service(&app, request.to_request()).await;
            let got = response.status().as_u16();
            let body = read_body(response).await;
            let said = match serde_json::from_slice::<Value>(&body) {
                Ok(json) => json["error"]["code"].as_str().unwrap_or("").to_owned(),
                Err(_) => String::from_utf8_lossy(&body).into_owned(),
            };
            assert_eq!(
                (got, said.as_str()),
                (status, expected),
                "{path} as {role:?}"
            );
        }
    }
}
