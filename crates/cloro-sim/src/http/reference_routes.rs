//! Free reference data: `GET /v1/countries`, `GET /v1/states`, `GET /v1/credits`.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::SecondsFormat;
use serde_json::{Value, json};

use crate::endpoint::Endpoint;
use crate::error::{ApiError, ErrorCode, FieldError};
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

/// A flat array of codes, `["AD", "AE", ...]`. `?model=` filters by engine; every engine
/// takes every listed country, so a known model gets the whole list and an unknown one a 400.
pub async fn countries(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let params = query(&request, &["model"])?;
    if let Some(name) = params
        .get("model")
        .map(String::as_str)
        .filter(|m| !m.is_empty())
        && Endpoint::from_model(name)
            .and_then(Endpoint::task_type)
            .is_none()
    {
        return Err(ApiError::validation(vec![FieldError::new(
            "model",
            "Unknown model",
        )]));
    }
    let codes: Vec<&str> = COUNTRIES.iter().map(|(code, _)| *code).collect();
    Ok(HttpResponse::Ok().json(codes))
}

/// `?country=` is required; a flat array `[{code, name}]`, empty for any country but the US.
pub async fn states(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let params = query(&request, &["country"])?;
    let Some(country) = params.get("country").map(String::as_str) else {
        // Named in the message too, so the plain-string envelope still says which field.
        return Err(ApiError::new(
            ErrorCode::ValidationError,
            "Query parameter country is required",
        )
        .with_details(json!([FieldError::new("country", "Required")])));
    };
    if !geo::is_country(country) {
        return Err(ApiError::validation(vec![FieldError::new(
            "country",
            "Must be an upper-case ISO 3166-1 alpha-2 country code, e.g. US",
        )]));
    }
    let states: Vec<Value> = if country == "US" {
        US_STATES
            .iter()
            .map(|(code, name)| json!({ "code": code, "name": name }))
            .collect()
    } else {
        Vec::new()
    };
    Ok(HttpResponse::Ok().json(states))
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
