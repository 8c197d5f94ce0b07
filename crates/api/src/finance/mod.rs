//! The finance API (role `finance` or `admin`) and its team-scoped twin (role `team`):
//! ledger entries, usage aggregates, period positions, CSV exports, reconciliation, alerts.

use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts every finance and team-usage route.
pub fn configure(_cfg: &mut ServiceConfig) {}
