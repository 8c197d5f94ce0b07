//! The web console at `/console/`: one hand-written page, script and stylesheet embedded in
//! the binary (no CDN, no build step, works offline), so finance, admins and teams can read
//! the ledger and manage teams from a browser. It is only a client of the JSON API: the page
//! is public, every datum it shows needs a token the API itself checks.
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles and fetches from
//! this origin only, no inline script or style, no framing), `X-Content-Type-Options:
//! nosniff` and `Referrer-Policy: no-referrer`.

use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use utoipa_actix_web::service_config::ServiceConfig;

/// The policy of every console answer: nothing from another origin, nothing inline.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("../console/index.html");

/// A file the page loads, by the name it is asked for under `/console/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 2] = [
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../console/console.js"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../console/console.css"),
    },
];

/// The console's routes, outside every role guard (the page holds no data).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(console_redirect)
        .service(console_index)
        .service(console_asset);
}

/// The security headers every console answer carries, the 404 included.
fn security_headers() -> [(&'static str, &'static str); 3] {
    [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]
}

/// A 200 with the console's headers; the assets change only with the binary, so a browser
/// revalidates rather than keeping an old copy.
fn serve(content_type: &'static str, body: &'static str) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    for pair in security_headers() {
        response.insert_header(pair);
    }
    response.body(body)
}

/// `/console` → `/console/`, so the page's relative asset paths resolve.
#[utoipa::path(
    tag = "console",
    responses((
        status = 308,
        description = "The console lives at `/console/`",
        headers(("Location" = String, description = "`/console/`"))
    ))
)]
#[get("/console")]
pub async fn console_redirect() -> HttpResponse {
    let mut response = HttpResponse::PermanentRedirect();
    response.insert_header((header::LOCATION, "/console/"));
    for pair in security_headers() {
        response.insert_header(pair);
    }
    response.finish()
}

/// The web console's page (sign in with a token; the data comes from the JSON API).
#[utoipa::path(
    tag = "console",
    responses((
        status = 200,
        description = "The console's HTML page",
        content_type = "text/html",
        headers(
            ("Content-Security-Policy" = String, description = "Same-origin scripts, styles and fetches only; no framing"),
            ("X-Content-Type-Options" = String, description = "`nosniff`"),
            ("Referrer-Policy" = String, description = "`no-referrer`"),
        )
    ))
)]
#[get("/console/")]
pub async fn console_index() -> HttpResponse {
    serve("text/html; charset=utf-8", INDEX_HTML)
}

/// The console's script or stylesheet.
#[utoipa::path(
    tag = "console",
    params(("asset" = String, Path, description = "`console.js` or `console.css`", example = "console.js")),
    responses(
        (
            status = 200,
            description = "The asset, as JavaScript or CSS",
            content((String = "text/javascript"), (String = "text/css")),
            headers(("X-Content-Type-Options" = String, description = "`nosniff`"))
        ),
        (status = 404, description = "No such asset (RESOURCE_NOT_FOUND)", body = ErrorEnvelope),
    )
)]
#[get("/console/{asset}")]
pub async fn console_asset(asset: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match ASSETS.iter().find(|a| a.name == asset.as_str()) {
        Some(found) => Ok(serve(found.content_type, found.body)),
        None => Err(
            ApiError::new(ErrorCode::ResourceNotFound, "No such console asset").with_headers(
                security_headers()
                    .into_iter()
                    .map(|(name, value)| (name, value.to_owned()))
                    .collect(),
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::App;
    use actix_web::test as http_test;
    use utoipa_actix_web::AppExt;

    async fn get(path: &str) -> actix_web::dev::ServiceResponse {
        let app =
            http_test::init_service(App::new().into_utoipa_app().configure(configure).into_app())
                .await;
        http_test::call_service(&app, http_test::TestRequest::get().uri(path).to_request()).await
    }

    fn header<'a>(response: &'a actix_web::dev::ServiceResponse, name: &str) -> &'a str {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[actix_web::test]
    async fn the_page_and_its_assets_are_served_with_their_types_and_the_policy() {
        for (path, content_type) in [
            ("/console/", "text/html; charset=utf-8"),
            ("/console/console.js", "text/javascript; charset=utf-8"),
            ("/console/console.css", "text/css; charset=utf-8"),
        ] {
            let response = get(path).await;
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(header(&response, "content-type"), content_type, "{path}");
            assert_eq!(
                header(&response, "content-security-policy"),
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(header(&response, "x-content-type-options"), "nosniff");
            assert_eq!(header(&response, "referrer-policy"), "no-referrer");
        }
    }

    #[actix_web::test]
    async fn the_bare_path_redirects_and_unknown_assets_are_404() {
        let response = get("/console").await;
        assert_eq!(response.status(), 308);
        assert_eq!(header(&response, "location"), "/console/");
        for path in [
            "/console/index.html",
            "/console/..%2Fconsole.js",
            "/console/x",
        ] {
            let response = get(path).await;
            assert_eq!(response.status(), 404, "{path}");
            assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        assert!(INDEX_HTML.contains(r#"<script src="console.js" defer></script>"#));
        assert!(!INDEX_HTML.contains("<script>"));
        assert!(!INDEX_HTML.contains("style="));
        assert!(!INDEX_HTML.contains("<style"));
        for asset in &ASSETS {
            assert!(!asset.body.contains("innerHTML"), "{}", asset.name);
        }
    }
}
