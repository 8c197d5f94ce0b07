//! Error handlers for actix's typed extractors, so a bad query string, JSON body or path
//! segment on the admin and finance routes is answered with cloro's 400 envelope naming the
//! problem, and JSON bodies are bounded.

use crate::error::{ApiError, ErrorCode};
use actix_web::web;

/// The largest JSON body the admin routes accept.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        ApiError::new(
            ErrorCode::ValidationError,
            format!("Invalid query string: {err}"),
        )
        .into()
    })
}

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BYTES)
        .error_handler(|err, _| {
            let code = match &err {
                actix_web::error::JsonPayloadError::OverflowKnownLength { .. }
                | actix_web::error::JsonPayloadError::Overflow { .. } => ErrorCode::PayloadTooLarge,
                _ => ErrorCode::ValidationError,
            };
            ApiError::new(code, format!("Invalid JSON body: {err}")).into()
        })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _| {
        ApiError::new(ErrorCode::ValidationError, format!("Invalid path: {err}")).into()
    })
}
