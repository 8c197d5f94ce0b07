//! What a request costs in credits: the documented price table, adjustable to simulate price drift.

use serde::{Deserialize, Serialize};

use crate::endpoint::Endpoint;
use crate::monitor_request::MonitorRequest;

/// Credits per endpoint and per feature. Defaults are cloro-api.md's table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriceTable {
    pub chatgpt: u64,
    pub perplexity: u64,
    pub copilot: u64,
    pub gemini: u64,
    pub grok: u64,
    pub aimode: u64,
    pub google: u64,
    pub google_news: u64,
    pub google_goto: u64,
    /// ChatGPT, once, if any of rawResponse/searchQueries/ads/shopping is asked for.
    pub chatgpt_extras: u64,
    /// `state` given.
    pub state: u64,
    /// Each Google page after the first.
    pub google_extra_page: u64,
    /// Google `include.aioverview`.
    pub google_aioverview: u64,
    /// Google `include.paaAioverview` (AI Overviews inside People Also Ask).
    pub google_paa_aioverview: u64,
    /// Each News page after the first.
    pub news_extra_page: u64,
    /// AI Mode `include.expandProducts`, per product cluster returned.
    pub aimode_product_cluster: u64,
    /// Every sync monitor call except goto.
    pub sync_surcharge: u64,
}

impl Default for PriceTable {
    fn default() -> Self {
        Self {
            chatgpt: 5,
            perplexity: 4,
            copilot: 5,
            gemini: 4,
            grok: 4,
            aimode: 4,
            google: 3,
            google_news: 3,
            google_goto: 0,
            chatgpt_extras: 2,
            state: 2,
            google_extra_page: 2,
            google_aioverview: 2,
            google_paa_aioverview: 2,
            news_extra_page: 2,
            aimode_product_cluster: 1,
            sync_surcharge: 2,
        }
    }
}

impl PriceTable {
    pub fn base(&self, endpoint: Endpoint) -> u64 {
        match endpoint {
            Endpoint::Chatgpt => self.chatgpt,
            Endpoint::Perplexity => self.perplexity,
            Endpoint::Copilot => self.copilot,
            Endpoint::Gemini => self.gemini,
            Endpoint::Grok => self.grok,
            Endpoint::Aimode => self.aimode,
            Endpoint::Google => self.google,
            Endpoint::GoogleNews => self.google_news,
            Endpoint::GoogleGoto => self.google_goto,
        }
    }
}

/// Sync calls pay the surcharge; async tasks do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Sync,
    Async,
}

/// The part of a price known before the engine answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    pub base: u64,
    pub features: u64,
    pub surcharge: u64,
}

impl Quote {
    /// The price known up front (the balance check and `creditsToCharge`).
    pub fn total(&self) -> u64 {
        self.base + self.features + self.surcharge
    }
}

/// Prices everything knowable before the answer.
pub fn quote(table: &PriceTable, request: &MonitorRequest, mode: Mode) -> Quote {
    let include = &request.include;
    let extra_pages = u64::from(request.pages.saturating_sub(1));
    let mut features = 0;
    match request.endpoint {
        Endpoint::Chatgpt
            if include.raw_response
                || include.search_queries
                || include.ads
                || include.shopping =>
        {
            features += table.chatgpt_extras;
        }
        Endpoint::Google => {
            features += extra_pages * table.google_extra_page;
            if include.aioverview {
                features += table.google_aioverview;
            }
            if include.paa_aioverview {
                features += table.google_paa_aioverview;
            }
        }
        Endpoint::GoogleNews => features += extra_pages * table.news_extra_page,
        _ => {}
    }
    if request.state.is_some() {
        features += table.state;
    }
    let surcharge = match (mode, request.endpoint) {
        (Mode::Sync, endpoint) if endpoint != Endpoint::GoogleGoto => table.sync_surcharge,
        _ => 0,
    };
    Quote {
        base: table.base(request.endpoint),
        features,
        surcharge,
    }
}

/// The final charge once the answer is known (AI Mode product clusters are priced only then).
pub fn settle(
    table: &PriceTable,
    request: &MonitorRequest,
    quote: &Quote,
    product_clusters: u32,
) -> u64 {
    let clusters = if request.endpoint == Endpoint::Aimode && request.include.expand_products {
        u64::from(product_clusters) * table.aimode_product_cluster
    } else {
        0
    };
    quote.total() + clusters
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor_request::Subject;

    fn prompt(endpoint: Endpoint) -> MonitorRequest {
        MonitorRequest::new(endpoint, Subject::Prompt("hello".into()))
    }

    fn price(request: &MonitorRequest, mode: Mode) -> u64 {
        quote(&PriceTable::default(), request, mode).total()
    }

    #[test]
    fn chatgpt_sync_without_add_ons_costs_seven() {
        assert_eq!(price(&prompt(Endpoint::Chatgpt), Mode::Sync), 7);
        assert_eq!(price(&prompt(Endpoint::Chatgpt), Mode::Async), 5);
    }

    #[test]
    fn chatgpt_add_ons_are_one_flat_two() {
        let mut request = prompt(Endpoint::Chatgpt);
        request.include.search_queries = true;
        assert_eq!(price(&request, Mode::Sync), 9);
        request.include.raw_response = true;
        request.include.ads = true;
        request.include.shopping = true;
        assert_eq!(price(&request, Mode::Sync), 9);
        request.include.markdown = true;
        request.include.html = true;
        assert_eq!(price(&request, Mode::Sync), 9, "markdown and html are free");
        request.state = Some("CA".into());
        assert_eq!(price(&request, Mode::Sync), 11, "state adds two");
    }

    #[test]
    fn google_three_pages_with_ai_overview_costs_eleven_sync() {
        let mut request = MonitorRequest::new(Endpoint::Google, Subject::Query("q".into()));
        request.pages = 3;
        request.include.aioverview = true;
        // 3 base + 2 * 2 extra pages + 2 AI overview + 2 sync surcharge
        assert_eq!(price(&request, Mode::Sync), 11);
        assert_eq!(price(&request, Mode::Async), 9);
    }

    #[test]
    fn google_paa_aioverview_adds_two_sync_and_async() {
        let mut request = MonitorRequest::new(Endpoint::Google, Subject::Query("q".into()));
        assert_eq!(price(&request, Mode::Sync), 5);
        request.include.paa_aioverview = true;
        // 3 base + 2 paaAioverview + 2 sync surcharge
        assert_eq!(price(&request, Mode::Sync), 7);
        assert_eq!(price(&request, Mode::Async), 5);
        request.include.aioverview = true;
        assert_eq!(
            price(&request, Mode::Sync),
            9,
            "priced apart from aioverview"
        );
        assert_eq!(price(&request, Mode::Async), 7);
    }

    #[test]
    fn news_pays_per_extra_page() {
        let mut request = MonitorRequest::new(Endpoint::GoogleNews, Subject::Query("q".into()));
        assert_eq!(price(&request, Mode::Sync), 5);
        request.pages = 10;
        assert_eq!(price(&request, Mode::Sync), 3 + 18 + 2);
    }

    #[test]
    fn base_prices_per_engine_with_surcharge() {
        let expected = [
            (Endpoint::Chatgpt, 7),
            (Endpoint::Perplexity, 6),
            (Endpoint::Copilot, 7),
            (Endpoint::Gemini, 6),
            (Endpoint::Grok, 6),
            (Endpoint::Aimode, 6),
        ];
        for (endpoint, credits) in expected {
            assert_eq!(
                price(&prompt(endpoint), Mode::Sync),
                credits,
                "{endpoint:?}"
            );
        }
        let goto = MonitorRequest::new(Endpoint::GoogleGoto, Subject::Url("https://a.b".into()));
        assert_eq!(
            price(&goto, Mode::Sync),
            0,
            "goto is free and has no surcharge"
        );
    }

    #[test]
    fn aimode_product_clusters_are_priced_after_the_answer() {
        let table = PriceTable::default();
        let mut request = prompt(Endpoint::Aimode);
        let q = quote(&table, &request, Mode::Sync);
        assert_eq!(
            settle(&table, &request, &q, 4),
            6,
            "clusters are free without expandProducts"
        );
        request.include.expand_products = true;
        assert_eq!(settle(&table, &request, &q, 4), 10);
        assert_eq!(settle(&table, &request, &q, 0), 6);
    }

    #[test]
    fn a_drifted_table_changes_the_price() {
        let table = PriceTable {
            perplexity: 3,
            ..PriceTable::default()
        };
        assert_eq!(
            quote(&table, &prompt(Endpoint::Perplexity), Mode::Sync).total(),
            5
        );
    }
}
