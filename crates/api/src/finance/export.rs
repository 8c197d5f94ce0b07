//! CSV exports for a period, streamed: entries are read from the ledger one keyset page at a
//! time and written as they come, so an export of millions of rows holds one page in memory.

use super::csv::{ENTRY_HEADER, USAGE_HEADER, entry_line, usage_line};
use super::filters::{EntryQuery, UsageParams};
use super::views::EntryView;
use super::{team_scope, usage};
use crate::auth::{Authenticated, Finance, Team};
use crate::directory::Directory;
use crate::error::{ApiError, ErrorEnvelope};
use crate::ledger::Ledger;
use accounting::ledger::Scope;
use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use actix_web::{HttpResponse, get, web};
use bytes::Bytes;
use futures::{StreamExt, stream};
use std::sync::Arc;

/// Rows read per ledger round trip while exporting.
const EXPORT_PAGE: i64 = 5000;

/// Every matching entry as CSV (same filters as `/finance/entries`; `limit` and `cursor`
/// are ignored; `from`/`to` default to the current budget period).
#[utoipa::path(
    tag = "finance",
    params(EntryQuery),
    responses(
        (status = 200, description = "CSV, one line per entry after a header line", content_type = "text/csv"),
        (status = 400, description = "Unknown parameter, team, endpoint or status; bad time", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a finance or admin token", body = ErrorEnvelope),
    ),
    security(("finance_jwt" = []))
)]
#[get("/finance/export/entries.csv")]
pub async fn finance_entries_csv(
    _caller: Authenticated<Finance>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
    query: web::Query<EntryQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = Scope::All;
    entries_csv(&directory, ledger.into_inner(), scope, query.into_inner()).await
}

/// The calling team's own entries as CSV.
#[utoipa::path(
    tag = "team",
    params(EntryQuery),
    responses(
        (status = 200, description = "CSV, one line per entry after a header line", content_type = "text/csv"),
        (status = 400, description = "Unknown parameter, endpoint or status; bad time", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token, or another team named", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/team/export/entries.csv")]
pub async fn team_entries_csv(
    caller: Authenticated<Team>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
    query: web::Query<EntryQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = team_scope(&caller, query.team.as_deref())?;
    entries_csv(&directory, ledger.into_inner(), scope, query.into_inner()).await
}

async fn entries_csv(
    directory: &Directory,
    ledger: Arc<Ledger>,
    scope: Scope,
    query: EntryQuery,
) -> Result<HttpResponse, ApiError> {
    let teams = directory.team_names();
    let mut filter = query.filter(&teams)?;
    if filter.from.is_none() && filter.to.is_none() {
        let period = directory.current_period();
        filter.from = Some(period.start);
        filter.to = Some(period.end);
    }
    let rows =
        accounting::ledger::export_entries(ledger.pool().clone(), scope, filter, EXPORT_PAGE).map(
            move |entry| match entry {
                Ok(entry) => Ok(Bytes::from(entry_line(&EntryView::new(entry, &teams)))),
                Err(err) => {
                    // The status line is gone; ending the body early is all that is left.
                    tracing::error!(error = %err, "entries export failed mid-stream");
                    Err(actix_web::error::ErrorInternalServerError("export failed"))
                }
            },
        );
    let body = stream::once(async {
        Ok::<_, actix_web::Error>(Bytes::from_static(ENTRY_HEADER.as_bytes()))
    })
    .chain(rows);
    Ok(csv_response("entries.csv").streaming(body))
}

/// Usage aggregates as CSV (same parameters as `/finance/usage`), one line per group.
///
/// The `mode` column comes last, after the columns the export always had.
#[utoipa::path(
    tag = "finance",
    params(UsageParams),
    responses(
        (status = 200, description = "CSV, one line per group after a header line (`mode` last)", content_type = "text/csv"),
        (status = 400, description = "Bad dates, window, groupBy, team, endpoint or mode", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a finance or admin token", body = ErrorEnvelope),
    ),
    security(("finance_jwt" = []))
)]
#[get("/finance/export/usage.csv")]
pub async fn finance_usage_csv(
    _caller: Authenticated<Finance>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
    params: web::Query<UsageParams>,
) -> Result<HttpResponse, ApiError> {
    let scope = Scope::All;
    let period = directory.current_period();
    let teams = directory.team_names();
    let report = usage::report(ledger.pool(), &teams, &period, scope, &params).await?;
    let lines = std::iter::once(USAGE_HEADER.to_owned())
        .chain(report.rows.iter().map(usage_line))
        .map(|line| Ok::<_, actix_web::Error>(Bytes::from(line)));
    Ok(csv_response("usage.csv").streaming(stream::iter(lines.collect::<Vec<_>>())))
}

fn csv_response(filename: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .insert_header((CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ));
    response
}
