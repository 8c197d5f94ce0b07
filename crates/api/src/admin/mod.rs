//! The admin API (role `admin`): teams, quotas, tokens, account settings and the audit log.

use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts every admin route.
pub fn configure(_cfg: &mut ServiceConfig) {}
