//! The services handlers reach, each registered on its own so a handler's arguments say what
//! it touches: `web::Data<Ledger>` for the ledger, `web::Data<Directory>` for teams and
//! quotas, `web::Data<Proxy>` only on the proxy's routes.

use crate::admission::Admitter;
use crate::alerts::Alerter;
use crate::async_tasks::AsyncTasks;
use crate::auth::Authenticator;
use crate::config::AuthSettings;
use crate::directory::{AccountSettings, Directory};
use crate::ledger::Ledger;
use crate::proxy::{Proxy, ReferenceData};
use crate::relay::Relay;
use crate::routes::metrics::MetricsSources;
use crate::stage_timings::StageTimings;
use crate::tasks::BackgroundTasks;
use crate::team_metrics::TeamMetrics;
use crate::upstream::Upstream;
use actix_web::web;
use limiter::RedisLimiter;
use sqlx::PgPool;
use std::sync::Arc;

/// Every service of a running gateway, built once by `startup`.
#[derive(Clone)]
pub struct Services {
    /// For admin changes and the readiness probe; finance reads go through the ledger.
    pub db: PgPool,
    pub limiter: Arc<RedisLimiter>,
    pub directory: Arc<Directory>,
    pub account: Arc<AccountSettings>,
    pub authenticator: Arc<Authenticator>,
    pub auth_settings: Arc<AuthSettings>,
    pub admission: Arc<Admitter>,
    pub ledger: Arc<Ledger>,
    pub upstream: Arc<Upstream>,
    pub alerts: Arc<Alerter>,
    pub stages: Arc<StageTimings>,
    pub team_metrics: Arc<TeamMetrics>,
    pub metrics: MetricsSources,
    pub tasks: BackgroundTasks,
    pub proxy: Arc<Proxy>,
    pub async_tasks: Arc<AsyncTasks>,
    pub relay: Arc<Relay>,
    pub reference: Arc<ReferenceData>,
}

impl Services {
    /// Registers each service as application data of its own type.
    pub fn register(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self.db.clone()))
            .app_data(web::Data::from(self.limiter.clone()))
            .app_data(web::Data::from(self.directory.clone()))
            .app_data(web::Data::from(self.account.clone()))
            .app_data(web::Data::from(self.authenticator.clone()))
            .app_data(web::Data::from(self.auth_settings.clone()))
            .app_data(web::Data::from(self.admission.clone()))
            .app_data(web::Data::from(self.ledger.clone()))
            .app_data(web::Data::from(self.upstream.clone()))
            .app_data(web::Data::from(self.alerts.clone()))
            .app_data(web::Data::from(self.stages.clone()))
            .app_data(web::Data::from(self.team_metrics.clone()))
            .app_data(web::Data::new(self.metrics.clone()))
            .app_data(web::Data::new(self.tasks.clone()))
            .app_data(web::Data::from(self.proxy.clone()))
            .app_data(web::Data::from(self.async_tasks.clone()))
            .app_data(web::Data::from(self.relay.clone()))
            .app_data(web::Data::from(self.reference.clone()));
    }
}
