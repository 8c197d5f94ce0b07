//! HTTP routes, each declared with utoipa so the OpenAPI spec is generated from them.

pub mod health;
pub mod metrics;
