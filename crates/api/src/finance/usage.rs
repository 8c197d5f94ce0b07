//! Usage aggregates from the daily rollups (never a scan of the raw ledger), grouped by team,
//! endpoint, mode (sync or async), day or month, with totals: `/finance/usage` and a team's
//! own `/team/usage`.

use super::filters::UsageParams;
use super::team_scope;
use super::views::{UsageReport, UsageRowView};
use crate::auth::{Authenticated, Finance, Team};
use crate::directory::Directory;
use crate::directory::TeamNames;
use crate::error::{ApiError, ErrorEnvelope};
use crate::ledger::Ledger;
use crate::period::Period;
use accounting::ledger::{Scope, UsageDimension};
use actix_web::{HttpResponse, get, web};
use sqlx::PgPool;

/// Settled usage of every team over whole UTC days.
#[utoipa::path(
    tag = "finance",
    params(UsageParams),
    responses(
        (status = 200, body = UsageReport),
        (status = 400, description = "Bad dates, window, groupBy, team, endpoint or mode", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a finance or admin token", body = ErrorEnvelope),
        (status = 503, description = "The ledger cannot be read now (LEDGER_UNAVAILABLE, with Retry-After)", body = ErrorEnvelope),
    ),
    security(("finance_jwt" = []))
)]
#[get("/usage")]
pub async fn finance_usage(
    _caller: Authenticated<Finance>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
    params: web::Query<UsageParams>,
) -> Result<HttpResponse, ApiError> {
    let period = directory.current_period();
    let teams = directory.team_names();
    let report = report(ledger.reads(), &teams, &period, Scope::All, &params).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// The calling team's own settled usage.
#[utoipa::path(
    tag = "team",
    params(UsageParams),
    responses(
        (status = 200, body = UsageReport),
        (status = 400, description = "Bad dates, window, groupBy, endpoint or mode", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token, or another team named", body = ErrorEnvelope),
        (status = 503, description = "The ledger cannot be read now (LEDGER_UNAVAILABLE, with Retry-After)", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/usage")]
pub async fn team_usage(
    caller: Authenticated<Team>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
    params: web::Query<UsageParams>,
) -> Result<HttpResponse, ApiError> {
    let scope = team_scope(&caller, params.team.as_deref())?;
    let period = directory.current_period();
    let teams = directory.team_names();
    let report = report(ledger.reads(), &teams, &period, scope, &params).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// The report both routes answer with (and the CSV export and `cloro-gateway usage` write);
/// the window defaults to `period`.
pub async fn report(
    db: &PgPool,
    teams: &TeamNames,
    period: &Period,
    scope: Scope,
    params: &UsageParams,
) -> Result<UsageReport, ApiError> {
    let query = params.query(teams, period)?;
    let rows = accounting::ledger::usage(db, scope, &query).await?;
    let rows: Vec<UsageRowView> = rows
        .into_iter()
        .map(|row| UsageRowView::new(row, teams))
        .collect();
    let mut totals = UsageRowView::default();
    for row in &rows {
        totals.add(row);
    }
    Ok(UsageReport {
        from: query.from,
        to: query.to,
        group_by: query
            .group_by
            .iter()
            .map(|d| dimension_name(*d).to_owned())
            .collect(),
        rows,
        totals,
    })
}

pub fn dimension_name(dimension: UsageDimension) -> &'static str {
    match dimension {
        UsageDimension::Team => "team",
        UsageDimension::Endpoint => "endpoint",
        UsageDimension::Mode => "mode",
        UsageDimension::Day => "day",
        UsageDimension::Month => "month",
    }
}
