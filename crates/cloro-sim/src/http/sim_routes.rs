//! `/_sim/*`: what tests and audits read (requests served, totals) and the runtime knobs they turn. No key needed.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::error::{ApiError, FieldError};
use crate::state::Sim;
use crate::state::knobs::ConfigPatch;

#[derive(Debug, Deserialize)]
pub struct RequestsQuery {
    /// Only records with a larger `seq`.
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

pub async fn requests(sim: web::Data<Sim>, query: web::Query<RequestsQuery>) -> HttpResponse {
    let records = sim
        .lock()
        .log
        .since(query.after, query.limit.unwrap_or(usize::MAX));
    HttpResponse::Ok().json(records)
}

pub async fn stats(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.lock().stats())
}

pub async fn get_config(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.config_view())
}

/// Partial JSON; returns the whole new configuration (without the key).
pub async fn put_config(sim: web::Data<Sim>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let invalid = |message: String| ApiError::validation(vec![FieldError::new("body", message)]);
    let patch: ConfigPatch = serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))?;
    {
        let mut core = sim.lock();
        let knobs = patch.applied_to(&core.knobs).map_err(invalid)?;
        core.knobs = knobs;
        if let Some(balance) = patch.balance {
            core.ledger.set_balance(balance);
        }
    }
    sim.dispatcher_wake.notify_one();
    Ok(HttpResponse::Ok().json(sim.config_view()))
}
