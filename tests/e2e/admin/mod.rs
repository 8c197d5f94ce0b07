//! The admin API end to end: every route's happy path and refusals (400 naming the field,
//! 404, 409), the role guard on every route, the audit row of every change (and the audit
//! table refusing rewrites), changes reaching a second replica at once through the pushed
//! directory refresh, and quota and account overrides applied by the limiter and pricing.
//! Requests go through the harness's `TestApp::admin_*` calls and `assert_error`.

mod account;
mod audit;
mod propagation;
mod quotas;
mod role_guard;
mod teams;
mod tokens;

use serde_json::{Value, json};

/// The admin the audit names: tokens minted with `TestApp::admin_token_as(ALICE)`.
pub const ALICE: &str = "alice@corp";

pub fn chatgpt() -> Value {
    json!({"prompt": "p", "country": "US"})
}
