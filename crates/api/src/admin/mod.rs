//! The admin API (role `admin`): teams, quotas, tokens, account settings and the audit log,
//! mounted under `/admin`, whose scope guard refuses a non-admin before routing (see
//! `crate::routing`). Each handler also takes `Authenticated<Admin>` first, runs the change
//! through [`actions`] (shared with the CLI: one implementation, audited in the change's
//! transaction), then refreshes this replica's directory before answering; the other
//! replicas refresh on the NOTIFY.

pub mod account_settings;
pub mod actions;
pub mod audit;
pub mod quotas;
pub mod revocations;
pub mod teams;
pub mod tokens;
pub mod views;

use crate::directory::Directory;
use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts every admin route (paths relative to the `/admin` scope).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(teams::create_team)
        .service(teams::list_teams)
        .service(teams::get_team)
        .service(teams::update_team)
        .service(quotas::get_quota)
        .service(quotas::put_quota)
        .service(quotas::delete_quota)
        .service(account_settings::get_account)
        .service(account_settings::put_limits)
        .service(account_settings::delete_limits)
        .service(account_settings::put_pricing)
        .service(account_settings::delete_pricing)
        .service(tokens::mint_token)
        .service(tokens::list_tokens)
        .service(tokens::revoke_token)
        .service(revocations::revoke)
        .service(revocations::list_revocations)
        .service(revocations::cut_off_subject)
        .service(revocations::list_subject_cutoffs)
        .service(audit::list_audit);
}

/// Applies a committed change on this replica before answering. A failure is only logged:
/// the change is committed, and the pushed or periodic refresh will apply it.
pub async fn apply_locally(directory: &Directory) {
    if let Err(err) = directory.refresh().await {
        tracing::warn!(error = %format!("{err:#}"), "directory refresh after an admin change failed");
    }
}
