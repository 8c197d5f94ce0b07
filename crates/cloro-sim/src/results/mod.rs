//! Plausible result bodies per engine, drawn from the request's seeded RNG so a seed replays a run.

mod ai_answer;
mod ai_mode;
mod google_news;
mod google_serp;
mod goto;
mod prose;

use rand::rngs::StdRng;
use serde_json::Value;

use crate::endpoint::Endpoint;
use crate::monitor_request::MonitorRequest;

/// One engine's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The `result` object (sync) or `response` (async).
    pub result: Value,
    /// AI Mode product clusters returned (priced only with expandProducts).
    pub product_clusters: u32,
}

/// Builds the answer; `empty` gives the same shape with nothing in it (the empty-answer fault).
pub fn generate(request: &MonitorRequest, rng: &mut StdRng, empty: bool) -> Answer {
    let (result, product_clusters) = match request.endpoint {
        Endpoint::Chatgpt
        | Endpoint::Perplexity
        | Endpoint::Copilot
        | Endpoint::Gemini
        | Endpoint::Grok => (ai_answer::generate(request, rng, empty), 0),
        Endpoint::Aimode => ai_mode::generate(request, rng, empty),
        Endpoint::Google => (google_serp::generate(request, rng, empty), 0),
        Endpoint::GoogleNews => (google_news::generate(request, rng, empty), 0),
        Endpoint::GoogleGoto => (goto::generate(request, rng), 0),
    };
    Answer {
        result,
        product_clusters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor_request::Subject;
    use rand::SeedableRng;

    fn answer(request: &MonitorRequest, seed: u64, empty: bool) -> Answer {
        generate(request, &mut StdRng::seed_from_u64(seed), empty)
    }

    #[test]
    fn the_same_seed_gives_the_same_body() {
        for endpoint in Endpoint::ALL {
            let subject = match endpoint {
                Endpoint::GoogleGoto => Subject::Url("https://example.com/a".into()),
                Endpoint::Google | Endpoint::GoogleNews => Subject::Query("best rust books".into()),
                _ => Subject::Prompt("What is the best Rust web framework?".into()),
            };
            let request = MonitorRequest::new(endpoint, subject);
            assert_eq!(
                answer(&request, 9, false),
                answer(&request, 9, false),
                "{endpoint:?}"
            );
        }
    }

    #[test]
    fn included_fields_appear_only_when_asked() {
        let mut request = MonitorRequest::new(
            Endpoint::Chatgpt,
            Subject::Prompt("rust async runtimes".into()),
        );
        let plain = answer(&request, 1, false).result;
        assert!(plain["text"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(plain["sources"].as_array().is_some_and(|s| !s.is_empty()));
        assert!(plain.get("markdown").is_none() && plain.get("searchQueries").is_none());
        request.include.markdown = true;
        request.include.search_queries = true;
        request.include.html = true;
        let rich = answer(&request, 1, false).result;
        assert!(
            rich["markdown"].is_string()
                && rich["searchQueries"].is_array()
                && rich["html"].is_string()
        );
    }

    #[test]
    fn google_returns_ten_results_per_page_and_aioverview_on_request() {
        let mut request = MonitorRequest::new(Endpoint::Google, Subject::Query("rust".into()));
        request.pages = 3;
        let result = answer(&request, 2, false).result;
        assert_eq!(result["organicResults"].as_array().map(Vec::len), Some(30));
        assert!(result.get("aioverview").is_none());
        request.include.aioverview = true;
        assert!(answer(&request, 2, false).result["aioverview"]["text"].is_string());
    }

    #[test]
    fn empty_answers_keep_the_shape() {
        let request =
            MonitorRequest::new(Endpoint::Perplexity, Subject::Prompt("hello there".into()));
        let result = answer(&request, 3, true).result;
        assert_eq!(result["text"], "");
        assert_eq!(result["sources"].as_array().map(Vec::len), Some(0));
    }

    #[test]
    fn aimode_clusters_stay_within_zero_to_six() {
        let mut request =
            MonitorRequest::new(Endpoint::Aimode, Subject::Prompt("running shoes".into()));
        request.include.expand_products = true;
        let counts: Vec<u32> = (0..200)
            .map(|seed| answer(&request, seed, false).product_clusters)
            .collect();
        assert!(counts.iter().all(|c| *c <= 6));
        assert!(counts.contains(&0) && counts.contains(&6));
        let first = answer(&request, 5, false);
        assert_eq!(
            first.result["productClusters"].as_array().map(Vec::len),
            Some(first.product_clusters as usize)
        );
    }
}
