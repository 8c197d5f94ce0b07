//! The price estimate held before a sync call: base per endpoint, feature add-ons, extra
//! pages, `state` and the sync surcharge, from the configurable `[pricing]` table. The
//! request body is read only for the fields that change the price; they are checked here so
//! a malformed one is refused before anything is spent.

mod endpoint;
mod overrides;

pub use endpoint::Endpoint;
pub use overrides::{BaseOverride, MAX_PRICE, PriceOverride};

use crate::error::{ApiError, FieldError};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    pub sync_surcharge: i64,
    pub state: i64,
    pub chatgpt_extras: i64,
    pub extra_page: i64,
    pub google_aioverview: i64,
    pub google_paa_aioverview: i64,
    pub aimode_expand_products_max: i64,
    pub base: BasePrices,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasePrices {
    pub chatgpt: i64,
    pub perplexity: i64,
    pub copilot: i64,
    pub gemini: i64,
    pub grok: i64,
    pub aimode: i64,
    pub google: i64,
    pub google_news: i64,
    pub google_goto: i64,
}

const CHATGPT_EXTRAS: [&str; 4] = ["rawResponse", "searchQueries", "ads", "shopping"];

impl PriceTable {
    /// Every price must be zero or more.
    pub fn validate(&self) -> Result<(), String> {
        let b = &self.base;
        let all = [
            self.sync_surcharge,
            self.state,
            self.chatgpt_extras,
            self.extra_page,
            self.google_aioverview,
            self.google_paa_aioverview,
            self.aimode_expand_products_max,
            b.chatgpt,
            b.perplexity,
            b.copilot,
            b.gemini,
            b.grok,
            b.aimode,
            b.google,
            b.google_news,
            b.google_goto,
        ];
        if all.iter().any(|p| *p < 0) {
            return Err("pricing: every price must be >= 0".into());
        }
        Ok(())
    }

    fn base(&self, endpoint: Endpoint) -> i64 {
        let b = &self.base;
        match endpoint {
            Endpoint::Chatgpt => b.chatgpt,
            Endpoint::Perplexity => b.perplexity,
            Endpoint::Copilot => b.copilot,
            Endpoint::Gemini => b.gemini,
            Endpoint::Grok => b.grok,
            Endpoint::Aimode => b.aimode,
            Endpoint::Google => b.google,
            Endpoint::GoogleNews => b.google_news,
            Endpoint::GoogleGoto => b.google_goto,
        }
    }

    /// The credits to hold for an async task running `endpoint` with this payload: the sync
    /// price without the sync surcharge.
    pub fn estimate_async(&self, endpoint: Endpoint, payload: &Value) -> Result<i64, ApiError> {
        let sync = self.estimate_sync(endpoint, payload)?;
        Ok(match endpoint {
            Endpoint::GoogleGoto => sync,
            _ => sync - self.sync_surcharge,
        })
    }

    /// The credits to hold for a sync call to `endpoint` with this JSON body.
    pub fn estimate_sync(&self, endpoint: Endpoint, body: &Value) -> Result<i64, ApiError> {
        let Some(body) = body.as_object() else {
            return Err(ApiError::validation(vec![field(
                "body",
                "must be a JSON object",
            )]));
        };
        let include = include_flags(body)?;
        let mut price = self.base(endpoint);
        if endpoint == Endpoint::GoogleGoto {
            return Ok(price);
        }
        price += self.sync_surcharge;
        if body.get("state").is_some_and(|s| !s.is_null()) {
            if !body["state"].is_string() {
                return Err(ApiError::validation(vec![field(
                    "state",
                    "must be a string",
                )]));
            }
            price += self.state;
        }
        match endpoint {
            Endpoint::Chatgpt if CHATGPT_EXTRAS.iter().any(|k| flag(&include, k)) => {
                price += self.chatgpt_extras;
            }
            Endpoint::Aimode if flag(&include, "expandProducts") => {
                price += self.aimode_expand_products_max;
            }
            Endpoint::Google | Endpoint::GoogleNews => {
                price += self.extra_page * (pages(body)? - 1);
                if endpoint == Endpoint::Google && include.get("aioverview").is_some_and(is_on) {
                    price += self.google_aioverview;
                }
                if endpoint == Endpoint::Google && include.get("paaAioverview").is_some_and(is_on) {
                    price += self.google_paa_aioverview;
                }
            }
            _ => {}
        }
        Ok(price)
    }
}

fn field(name: &str, message: &str) -> FieldError {
    FieldError {
        field: name.to_owned(),
        message: message.to_owned(),
    }
}

fn include_flags(body: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    match body.get("include") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(ApiError::validation(vec![field(
            "include",
            "must be an object",
        )])),
    }
}

/// `true`, or an object (e.g. `aioverview: {markdown: true}`) that asks for the feature.
fn is_on(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Object(_) => true,
        _ => false,
    }
}

fn flag(include: &Map<String, Value>, key: &str) -> bool {
    include.get(key).is_some_and(is_on)
}

fn pages(body: &Map<String, Value>) -> Result<i64, ApiError> {
    match body.get("pages") {
        None | Some(Value::Null) => Ok(1),
        Some(value) => match value.as_i64() {
            Some(p) if (1..=10).contains(&p) => Ok(p),
            _ => Err(ApiError::validation(vec![field(
                "pages",
                "must be an integer from 1 to 10",
            )])),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use serde_json::json;

    fn table() -> PriceTable {
        Settings::from_sources(None, Vec::new()).unwrap().pricing
    }

    fn price(endpoint: Endpoint, body: Value) -> i64 {
        table().estimate_sync(endpoint, &body).unwrap()
    }

    #[test]
    fn worked_examples_from_the_price_list() {
        // ChatGPT sync with no add-ons = 5 + 2 surcharge.
        assert_eq!(
            price(Endpoint::Chatgpt, json!({"prompt": "x", "country": "US"})),
            7
        );
        // Add-ons are +2 flat however many are asked for; markdown and html are free.
        let body = json!({"prompt": "x", "country": "US",
            "include": {"rawResponse": true, "searchQueries": true, "markdown": true}});
        assert_eq!(price(Endpoint::Chatgpt, body), 9);
        // state adds +2.
        assert_eq!(
            price(
                Endpoint::Chatgpt,
                json!({"prompt": "x", "country": "US", "state": "CA"})
            ),
            9
        );
        assert_eq!(
            price(
                Endpoint::Perplexity,
                json!({"prompt": "x", "country": "US"})
            ),
            6
        );
        assert_eq!(
            price(Endpoint::Copilot, json!({"prompt": "x", "country": "US"})),
            7
        );
        assert_eq!(
            price(Endpoint::Gemini, json!({"prompt": "x", "country": "US"})),
            6
        );
        assert_eq!(
            price(Endpoint::Grok, json!({"prompt": "x", "country": "US"})),
            6
        );
        // Google: 3 base, +2 per page after the first, +2 AI overview, +2 sync.
        assert_eq!(price(Endpoint::Google, json!({"query": "x"})), 5);
        let body = json!({"query": "x", "pages": 3, "include": {"aioverview": {"markdown": true}}});
        assert_eq!(price(Endpoint::Google, body), 11);
        // Async: no sync surcharge (ChatGPT 5 async vs 7 sync).
        let table = table();
        let body = json!({"prompt": "x", "country": "US"});
        assert_eq!(table.estimate_async(Endpoint::Chatgpt, &body).unwrap(), 5);
        // +2 for the people-also-ask AI overview, on top of the AI overview.
        let body = json!({"query": "x", "include": {"aioverview": true, "paaAioverview": true}});
        assert_eq!(price(Endpoint::Google, body), 9);
        assert_eq!(
            price(Endpoint::GoogleNews, json!({"query": "x", "pages": 2})),
            7
        );
        // AI Mode holds the maximum product-cluster add-on.
        assert_eq!(price(Endpoint::Aimode, json!({"prompt": "x"})), 6);
        assert_eq!(
            price(
                Endpoint::Aimode,
                json!({"prompt": "x", "include": {"expandProducts": true}})
            ),
            12
        );
        // goto is free and has no surcharge.
        assert_eq!(
            price(Endpoint::GoogleGoto, json!({"url": "https://example.com"})),
            0
        );
    }

    #[test]
    fn false_flags_cost_nothing() {
        let body = json!({"prompt": "x", "country": "US", "include": {"rawResponse": false}});
        assert_eq!(price(Endpoint::Chatgpt, body), 7);
    }

    #[test]
    fn malformed_pricing_fields_are_validation_errors() {
        let t = table();
        for (endpoint, body) in [
            (Endpoint::Chatgpt, json!([1, 2])),
            (Endpoint::Chatgpt, json!({"include": "yes"})),
            (Endpoint::Google, json!({"query": "x", "pages": 0})),
            (Endpoint::Google, json!({"query": "x", "pages": 11})),
            (Endpoint::Google, json!({"query": "x", "pages": "2"})),
            (Endpoint::Chatgpt, json!({"prompt": "x", "state": 5})),
        ] {
            let err = t.estimate_sync(endpoint, &body).unwrap_err();
            assert_eq!(
                err.code(),
                crate::error::ErrorCode::ValidationError,
                "{body}"
            );
        }
    }
}
