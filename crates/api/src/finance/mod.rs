//! The finance API (role `finance` or `admin`) and its team-scoped twin (role `team`):
//! ledger entries, usage aggregates, period positions, CSV exports, reconciliation and
//! alerts. Both sets of routes share one handler each; the caller's [`Scope`] is decided from
//! the role in the handler's signature and passed into every query, so a team token's reads are bound to its team in
//! SQL, not only here.

mod alerts;
mod csv;
mod entries;
mod export;
pub mod filters;
mod positions;
mod reconciliation;
pub mod usage;
pub mod views;

use crate::auth::{Authenticated, Team};
use crate::error::{ApiError, ErrorCode};
use accounting::ledger::Scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts every finance and team-usage route.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(entries::finance_entries)
        .service(entries::team_entries)
        .service(usage::finance_usage)
        .service(usage::team_usage)
        .service(positions::finance_positions)
        .service(positions::team_position)
        .service(positions::team_quota)
        .service(export::finance_entries_csv)
        .service(export::finance_usage_csv)
        .service(export::team_entries_csv)
        .service(reconciliation::reconciliation)
        .service(alerts::finance_alerts)
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
