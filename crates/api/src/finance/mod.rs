//! The finance API (role `finance` or `admin`) and its team-scoped twin (role `team`):
//! ledger entries, usage aggregates, period positions, CSV exports, reconciliation and
//! alerts, mounted under `/finance` and `/team` (see `crate::routing`). Both sets of routes
//! share one implementation each; the caller's [`Scope`] is decided from the role in the
//! handler's signature and passed into every query, so a team token's reads are bound to
//! its team in SQL, not only here.

mod alerts;
mod csv;
mod entries;
mod export;
pub mod filters;
mod positions;
pub use positions::positions;
mod reconciliation;
pub mod usage;
pub mod views;

use crate::auth::{Authenticated, Team};
use crate::error::{ApiError, ErrorCode};
use accounting::ledger::Scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts the finance routes (in the `/finance` scope, whose guard admits finance and admin).
pub fn configure_finance(cfg: &mut ServiceConfig) {
    cfg.service(entries::finance_entries)
        .service(usage::finance_usage)
        .service(positions::finance_positions)
        .service(export::finance_entries_csv)
        .service(export::finance_usage_csv)
        .service(reconciliation::reconciliation)
        .service(alerts::finance_alerts);
}

/// Mounts their team-scoped twins (in the `/team` scope, whose guard admits team tokens).
pub fn configure_team(cfg: &mut ServiceConfig) {
    cfg.service(entries::team_entries)
        .service(usage::team_usage)
        .service(positions::team_position)
        .service(positions::team_quota)
        .service(export::team_entries_csv)
        .service(alerts::team_alerts);
}

/// What a team route may read: the token's own team only. Naming another team in a filter
/// is refused outright (and would match nothing in the query anyway).
fn team_scope(caller: &Authenticated<Team>, named_team: Option<&str>) -> Result<Scope, ApiError> {
    let team = caller.team();
    if let Some(named) = named_team
        && named != team.slug.as_str()
    {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "A team token reads only its own team",
        ));
    }
    Ok(Scope::Team(team.id))
}
