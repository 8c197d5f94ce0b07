//! CSV exports for a period, streamed: entries are read from the ledger one keyset page at a
//! time and written as they come, so an export of millions of rows holds one page in memory.
//! Exports read from the ledger's read pool, each token subject may run only a few at once
//! (the permit lives as long as the body), and an entries export spans a bounded time range.

use super::csv::{ENTRY_HEADER, USAGE_HEADER, entry_line, usage_line};
use super::filters::{EntryQuery, UsageParams, invalid};
use super::views::EntryView;
use super::{team_scope, usage};
use crate::auth::{Authenticated, Finance, Team};
use crate::directory::Directory;
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::ledger::{ExportPermit, Ledger};
use crate::period::Period;
use accounting::ledger::{EntryFilter, Scope};
use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use actix_web::{HttpResponse, get, web};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, stream};
use std::sync::Arc;

/// Rows read per ledger round trip while exporting.
const EXPORT_PAGE: i64 = 5000;

/// Seconds a caller refused for running too many exports is asked to wait.
const EXPORT_RETRY_AFTER_SECS: u64 = 5;

/// Every matching entry as CSV (same filters as `/finance/entries`; `limit` and `cursor`
/// are ignored; `from`/`to` default to the current budget period and may span at most
/// `finance.max_export_days`, 93 by default; a token subject may run at most
/// `finance.max_concurrent_exports` exports at once).
#[utoipa::path(
    tag = "finance",
    params(EntryQuery),
    responses(
        (status = 200, description = "CSV, one line per entry after a header line", content_type = "text/csv"),
        (status = 400, description = "Unknown parameter, team, endpoint or status; bad time or too wide a range", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a finance or admin token", body = ErrorEnvelope),
        (status = 429, description = "This token subject already runs the most exports allowed", body = ErrorEnvelope),
        (status = 503, description = "The ledger cannot be read now (LEDGER_UNAVAILABLE, with Retry-After)", body = ErrorEnvelope),
    ),
    security(("finance_jwt" = []))
)]
#[get("/export/entries.csv")]
pub async fn finance_entries_csv(
    caller: Authenticated<Finance>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
    query: web::Query<EntryQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = Scope::All;
    let export = Export::of(caller.subject(), scope, query.into_inner());
    entries_csv(&directory, ledger.into_inner(), export).await
}

/// The calling team's own entries as CSV.
#[utoipa::path(
    tag = "team",
    params(EntryQuery),
    responses(
        (status = 200, description = "CSV, one line per entry after a header line", content_type = "text/csv"),
        (status = 400, description = "Unknown parameter, endpoint or status; bad time or too wide a range", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token, or another team named", body = ErrorEnvelope),
        (status = 429, description = "This token subject already runs the most exports allowed", body = ErrorEnvelope),
        (status = 503, description = "The ledger cannot be read now (LEDGER_UNAVAILABLE, with Retry-After)", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/export/entries.csv")]
pub async fn team_entries_csv(
    caller: Authenticated<Team>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
    query: web::Query<EntryQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = team_scope(&caller, query.team.as_deref())?;
    let export = Export::of(caller.subject(), scope, query.into_inner());
    entries_csv(&directory, ledger.into_inner(), export).await
}

/// One entries export: who asks, what they may see, and their filters.
struct Export<'a> {
    subject: &'a str,
    scope: Scope,
    query: EntryQuery,
}

impl<'a> Export<'a> {
    fn of(subject: &'a str, scope: Scope, query: EntryQuery) -> Self {
        Self {
            subject,
            scope,
            query,
        }
    }
}

async fn entries_csv(
    directory: &Directory,
    ledger: Arc<Ledger>,
    export: Export<'_>,
) -> Result<HttpResponse, ApiError> {
    let teams = directory.team_names();
    let mut filter = export.query.filter(&teams)?;
    bound_window(
        &mut filter,
        &directory.current_period(),
        ledger.exports().max_span(),
        Utc::now(),
    )?;
    let permit = start_export(&ledger, export.subject)?;
    let rows = accounting::ledger::export_entries(
        ledger.reads().clone(),
        export.scope,
        filter,
        EXPORT_PAGE,
    )
    .map(move |entry| match entry {
        Ok(entry) => Ok(Bytes::from(entry_line(&EntryView::new(entry, &teams)))),
        Err(err) => {
            // The status line is gone; ending the body early is all that is left.
            tracing::error!(error = %err, "entries export failed mid-stream");
            Err(actix_web::error::ErrorInternalServerError("export failed"))
        }
    });
    let body = stream::once(async {
        Ok::<_, actix_web::Error>(Bytes::from_static(ENTRY_HEADER.as_bytes()))
    })
    .chain(rows);
    Ok(csv_response("entries.csv").streaming(holding(permit, body)))
}

/// Fills in the default window (the current budget period) and refuses one wider than
/// `max_span`, naming `from` or `to`. An open `to` counts up to `now`; an open `from` with a
/// `to` would be unbounded, so it is refused.
fn bound_window(
    filter: &mut EntryFilter,
    period: &Period,
    max_span: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let days = max_span.num_days();
    match (filter.from, filter.to) {
        (None, None) => {
            filter.from = Some(period.start);
            filter.to = Some(period.end);
            Ok(())
        }
        (None, Some(_)) => Err(invalid(
            "from",
            format!("is required with to; an export spans at most {days} days"),
        )),
        (Some(from), to) => {
            if to.unwrap_or(now) - from > max_span {
                let field = if to.is_some() { "to" } else { "from" };
                return Err(invalid(
                    field,
                    format!(
                        "an export spans at most {days} days from from to to; export in slices"
                    ),
                ));
            }
            Ok(())
        }
    }
}

/// A slot among the subject's concurrent exports, or 429 with Retry-After.
fn start_export(ledger: &Ledger, subject: &str) -> Result<ExportPermit, ApiError> {
    ledger.exports().try_start(subject).ok_or_else(|| {
        ApiError::new(
            ErrorCode::RateLimitExceeded,
            "Too many CSV exports running for this token; wait for one to finish",
        )
        .with_retry_after(EXPORT_RETRY_AFTER_SECS)
    })
}

/// `body`, keeping `permit` until the body has ended or been dropped (a client gone
/// mid-export drops it).
fn holding<S>(permit: ExportPermit, body: S) -> impl Stream<Item = S::Item>
where
    S: Stream,
{
    body.map(move |chunk| {
        let _held = &permit;
        chunk
    })
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
        (status = 429, description = "This token subject already runs the most exports allowed", body = ErrorEnvelope),
        (status = 503, description = "The ledger cannot be read now (LEDGER_UNAVAILABLE, with Retry-After)", body = ErrorEnvelope),
    ),
    security(("finance_jwt" = []))
)]
#[get("/export/usage.csv")]
pub async fn finance_usage_csv(
    caller: Authenticated<Finance>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
    params: web::Query<UsageParams>,
) -> Result<HttpResponse, ApiError> {
    let scope = Scope::All;
    let period = directory.current_period();
    let teams = directory.team_names();
    let permit = start_export(&ledger, caller.subject())?;
    let report = usage::report(ledger.reads(), &teams, &period, scope, &params).await?;
    let lines = std::iter::once(USAGE_HEADER.to_owned())
        .chain(report.rows.iter().map(usage_line))
        .map(|line| Ok::<_, actix_web::Error>(Bytes::from(line)));
    let body = stream::iter(lines.collect::<Vec<_>>());
    Ok(csv_response("usage.csv").streaming(holding(permit, body)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, month: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, month, day, 0, 0, 0).unwrap()
    }

    fn window(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> EntryFilter {
        EntryFilter {
            from,
            to,
            ..Default::default()
        }
    }

    /// The field a VALIDATION_ERROR names first.
    fn field(err: ApiError) -> String {
        let text = err.to_string();
        let rest = text
            .strip_prefix("VALIDATION_ERROR: Validation failed: ")
            .unwrap_or_else(|| panic!("not a validation error: {text}"));
        rest.split(':').next().unwrap().to_owned()
    }

    #[test]
    fn the_window_defaults_to_the_period_and_is_bounded() {
        let period = Period {
            id: "2026-11".into(),
            start: at(1, 11),
            end: at(1, 12),
        };
        let span = chrono::Duration::days(93);
        let now = at(15, 11);

        let mut none = window(None, None);
        bound_window(&mut none, &period, span, now).unwrap();
        assert_eq!((none.from, none.to), (Some(at(1, 11)), Some(at(1, 12))));

        let mut ok = window(Some(at(1, 8)), Some(at(1, 11)));
        assert!(bound_window(&mut ok, &period, span, now).is_ok());

        let mut wide = window(Some(at(1, 1)), Some(at(1, 11)));
        assert_eq!(
            field(bound_window(&mut wide, &period, span, now).unwrap_err()),
            "to"
        );

        let mut open_to = window(Some(at(1, 1)), None);
        assert_eq!(
            field(bound_window(&mut open_to, &period, span, now).unwrap_err()),
            "from"
        );

        let mut open_from = window(None, Some(at(1, 11)));
        assert_eq!(
            field(bound_window(&mut open_from, &period, span, now).unwrap_err()),
            "from"
        );
    }
}
