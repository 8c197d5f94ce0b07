//! A partial override of the `[pricing]` table, as an admin sets it through the API (in the
//! API's camelCase): any subset of the prices, `base.<endpoint>` included. Applied over the
//! configured table to give the effective one.

use super::{BasePrices, PriceTable};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The highest price accepted for one item: far above any real cloro price, so a typo of a
/// few orders of magnitude is refused instead of silently holding whole budgets.
pub const MAX_PRICE: i64 = 100_000;

/// Prices to use instead of the configured ones; absent fields keep the configured price.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriceOverride {
    /// Added to every sync monitor call except google/goto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_surcharge: Option<i64>,
    /// `state` (US only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<i64>,
    /// ChatGPT rawResponse / searchQueries / ads / shopping, once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chatgpt_extras: Option<i64>,
    /// Google and Google News: each page after the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_page: Option<i64>,
    /// Google: include.aioverview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_aioverview: Option<i64>,
    /// Google: include.paaAioverview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_paa_aioverview: Option<i64>,
    /// AI Mode: the most include.expandProducts can cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aimode_expand_products_max: Option<i64>,
    /// Base price per endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseOverride>,
}

/// Base prices to use instead of the configured ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BaseOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chatgpt: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copilot: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemini: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grok: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aimode: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_news: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_goto: Option<i64>,
}

impl PriceOverride {
    /// Every field with its wire name (`base.<endpoint>` for base prices).
    fn fields(&self) -> Vec<(&'static str, Option<i64>)> {
        let base = self.base.clone().unwrap_or_default();
        vec![
            ("syncSurcharge", self.sync_surcharge),
            ("state", self.state),
            ("chatgptExtras", self.chatgpt_extras),
            ("extraPage", self.extra_page),
            ("googleAioverview", self.google_aioverview),
            ("googlePaaAioverview", self.google_paa_aioverview),
            ("aimodeExpandProductsMax", self.aimode_expand_products_max),
            ("base.chatgpt", base.chatgpt),
            ("base.perplexity", base.perplexity),
            ("base.copilot", base.copilot),
            ("base.gemini", base.gemini),
            ("base.grok", base.grok),
            ("base.aimode", base.aimode),
            ("base.google", base.google),
            ("base.googleNews", base.google_news),
            ("base.googleGoto", base.google_goto),
        ]
    }

    /// Whether no price is overridden.
    pub fn is_empty(&self) -> bool {
        self.fields().iter().all(|(_, value)| value.is_none())
    }

    /// Each out-of-range price as `(field, reason)`; empty when all are fine.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        self.fields()
            .into_iter()
            .filter_map(|(name, value)| match value {
                Some(v) if !(0..=MAX_PRICE).contains(&v) => {
                    Some((name, format!("must be from 0 to {MAX_PRICE}")))
                }
                _ => None,
            })
            .collect()
    }

    /// The whole table written as an override (every field set), for showing it.
    pub fn from_table(table: &PriceTable) -> Self {
        let b = &table.base;
        Self {
            sync_surcharge: Some(table.sync_surcharge),
            state: Some(table.state),
            chatgpt_extras: Some(table.chatgpt_extras),
            extra_page: Some(table.extra_page),
            google_aioverview: Some(table.google_aioverview),
            google_paa_aioverview: Some(table.google_paa_aioverview),
            aimode_expand_products_max: Some(table.aimode_expand_products_max),
            base: Some(BaseOverride {
                chatgpt: Some(b.chatgpt),
                perplexity: Some(b.perplexity),
                copilot: Some(b.copilot),
                gemini: Some(b.gemini),
                grok: Some(b.grok),
                aimode: Some(b.aimode),
                google: Some(b.google),
                google_news: Some(b.google_news),
                google_goto: Some(b.google_goto),
            }),
        }
    }
}

fn apply(slot: &mut i64, value: Option<i64>) {
    if let Some(value) = value {
        *slot = value;
    }
}

impl PriceTable {
    /// This table with the override's prices in place of its own.
    pub fn with_override(&self, over: &PriceOverride) -> PriceTable {
        let mut table = self.clone();
        apply(&mut table.sync_surcharge, over.sync_surcharge);
        apply(&mut table.state, over.state);
        apply(&mut table.chatgpt_extras, over.chatgpt_extras);
        apply(&mut table.extra_page, over.extra_page);
        apply(&mut table.google_aioverview, over.google_aioverview);
        apply(&mut table.google_paa_aioverview, over.google_paa_aioverview);
        apply(
            &mut table.aimode_expand_products_max,
            over.aimode_expand_products_max,
        );
        if let Some(base) = &over.base {
            let b: &mut BasePrices = &mut table.base;
            apply(&mut b.chatgpt, base.chatgpt);
            apply(&mut b.perplexity, base.perplexity);
            apply(&mut b.copilot, base.copilot);
            apply(&mut b.gemini, base.gemini);
            apply(&mut b.grok, base.grok);
            apply(&mut b.aimode, base.aimode);
            apply(&mut b.google, base.google);
            apply(&mut b.google_news, base.google_news);
            apply(&mut b.google_goto, base.google_goto);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::pricing::Endpoint;
    use serde_json::json;

    fn table() -> PriceTable {
        Settings::from_sources(None, Vec::new()).unwrap().pricing
    }

    #[test]
    fn a_partial_override_changes_only_its_prices() {
        let over: PriceOverride =
            serde_json::from_value(json!({"syncSurcharge": 3, "base": {"chatgpt": 10}})).unwrap();
        let effective = table().with_override(&over);
        let body = json!({"prompt": "x", "country": "US"});
        assert_eq!(
            effective.estimate_sync(Endpoint::Chatgpt, &body).unwrap(),
            13
        );
        assert_eq!(
            effective.estimate_sync(Endpoint::Gemini, &body).unwrap(),
            4 + 3
        );
        assert_eq!(PriceOverride::from_table(&table()).fields().len(), 16);
        assert!(PriceOverride::from_table(&table()).problems().is_empty());
    }

    #[test]
    fn unknown_fields_and_bad_prices_are_refused_by_name() {
        assert!(serde_json::from_value::<PriceOverride>(json!({"sync_surcharge": 1})).is_err());
        assert!(serde_json::from_value::<PriceOverride>(json!({"base": {"bing": 1}})).is_err());
        let over: PriceOverride =
            serde_json::from_value(json!({"state": -1, "base": {"googleNews": 1_000_000}}))
                .unwrap();
        let fields: Vec<_> = over.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["state", "base.googleNews"]);
        assert!(PriceOverride::default().is_empty());
        assert!(!over.is_empty());
    }
}
