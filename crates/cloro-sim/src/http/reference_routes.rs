//! Free reference data: `GET /v1/countries`, `GET /v1/states`, `GET /v1/credits`.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::SecondsFormat;
use serde_json::{Value, json};

use crate::endpoint::Endpoint;
use crate::error::{ApiError, FieldError};
use crate::geo::{self, COUNTRIES, US_STATES};
use crate::state::Sim;

/// Query parameters, refusing any not in `allowed`.
fn query(request: &HttpRequest, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let params = web::Query::<HashMap<String, String>>::from_query(request.query_string())
        .map_err(|e| ApiError::validation(vec![FieldError::new("query", e.to_string())]))?
        .into_inner();
    let unknown: Vec<FieldError> = params
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| FieldError::new(k.clone(), "Unknown query parameter"))
        .collect();
    if unknown.is_empty() {
        Ok(params)
    } else {
        Err(ApiError::validation(unknown))
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<Value> {
    list.iter()
        .map(|(code, name)| json!({ "code": code, "name": name }))
        .collect()
}

/// `?model=` filters by engine; every engine takes every listed country.
pub async fn countries(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let params = query(&request, &["model"])?;
    let model = match params
        .get("model")
        .map(String::as_str)
        .filter(|m| !m.is_empty())
    {
        Some(name) => Some(
            Endpoint::from_model(name)
                .and_then(Endpoint::task_type)
                .ok_or_else(|| {
                    ApiError::validation(vec![FieldError::new("model", "Unknown model")])
                })?,
        ),
        None => None,
    };
    Ok(HttpResponse::Ok()
        .json(json!({ "success": true, "model": model, "countries": pairs(COUNTRIES) })))
}

/// `?country=` (default US); only the US has states.
pub async fn states(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let params = query(&request, &["country"])?;
    let country = params.get("country").map(String::as_str).unwrap_or("US");
    if !geo::is_country(country) {
        return Err(ApiError::validation(vec![FieldError::new(
            "country",
            "Must be an upper-case ISO 3166-1 alpha-2 country code, e.g. US",
        )]));
    }
    let states = if country == "US" {
        pairs(US_STATES)
    } else {
        Vec::new()
    };
    Ok(HttpResponse::Ok().json(json!({ "success": true, "country": country, "states": states })))
}

/// `{remaining, perCycle, cycleResetsAt}`.
pub async fn credits(sim: web::Data<Sim>) -> HttpResponse {
    let core = sim.lock();
    HttpResponse::Ok().json(json!({
        "remaining": core.ledger.balance().max(0),
        "perCycle": core.ledger.per_cycle(),
        "cycleResetsAt": core.ledger.cycle_resets_at().to_rfc3339_opts(SecondsFormat::Millis, true),
    }))
}
