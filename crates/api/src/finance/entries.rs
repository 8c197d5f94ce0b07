//! Ledger entries with filters and keyset pagination in a stable (createdAt, requestId)
//! order: `/finance/entries` for finance, `/team/entries` for a team's own.

use super::filters::EntryQuery;
use super::team_scope;
use super::views::{EntryPage, EntryView};
use crate::auth::{Authenticated, Finance, Team};
use crate::directory::Directory;
use crate::error::{ApiError, ErrorEnvelope};
use crate::ledger::Ledger;
use crate::pagination::{decode_cursor, fetch_size, page_limit, trim_page};
use accounting::ledger::{EntryCursor, Scope};
use actix_web::{HttpResponse, get, web};

/// Ledger entries of every team, oldest first.
#[utoipa::path(
    tag = "finance",
    params(EntryQuery),
    responses(
        (status = 200, body = EntryPage),
        (status = 400, description = "Unknown parameter, team, endpoint or status; bad time, limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a finance or admin token", body = ErrorEnvelope),
        (status = 503, description = "The ledger cannot be read now (LEDGER_UNAVAILABLE, with Retry-After)", body = ErrorEnvelope),
    ),
    security(("finance_jwt" = []))
)]
#[get("/entries")]
pub async fn finance_entries(
    _caller: Authenticated<Finance>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
    query: web::Query<EntryQuery>,
) -> Result<HttpResponse, ApiError> {
    list(&directory, &ledger, Scope::All, &query).await
}

/// The calling team's own ledger entries, oldest first.
#[utoipa::path(
    tag = "team",
    params(EntryQuery),
    responses(
        (status = 200, body = EntryPage),
        (status = 400, description = "Unknown parameter, endpoint or status; bad time, limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token, or another team named", body = ErrorEnvelope),
        (status = 503, description = "The ledger cannot be read now (LEDGER_UNAVAILABLE, with Retry-After)", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/entries")]
pub async fn team_entries(
    caller: Authenticated<Team>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
    query: web::Query<EntryQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = team_scope(&caller, query.team.as_deref())?;
    list(&directory, &ledger, scope, &query).await
}

async fn list(
    directory: &Directory,
    ledger: &Ledger,
    scope: Scope,
    query: &EntryQuery,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(decode_cursor::<EntryCursor>)
        .transpose()?;
    let teams = directory.team_names();
    let filter = query.filter(&teams)?;
    let mut entries = accounting::ledger::list_entries(
        ledger.reads(),
        scope,
        &filter,
        after,
        i64::from(fetch_size(limit)),
    )
    .await?;
    let next_cursor = trim_page(&mut entries, limit, |entry| EntryCursor::from(entry));
    Ok(HttpResponse::Ok().json(EntryPage {
        items: entries
            .into_iter()
            .map(|e| EntryView::new(e, &teams))
            .collect(),
        next_cursor,
    }))
}
