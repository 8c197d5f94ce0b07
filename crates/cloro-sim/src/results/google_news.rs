//! Google News results: ten articles per page.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::prose;
use crate::monitor_request::MonitorRequest;

pub fn generate(request: &MonitorRequest, rng: &mut StdRng, empty: bool) -> Value {
    let topic = prose::topic(request.subject.text());
    let pages = u32::from(request.pages);
    let articles: Vec<Value> = if empty {
        Vec::new()
    } else {
        (1..=pages * 10)
            .map(|position| {
                let (url, _, name, _) = prose::page(rng, &topic);
                json!({
                    "position": position,
                    "page": (position - 1) / 10 + 1,
                    "title": prose::paragraph(rng, &topic, 1).trim_end_matches('.').to_owned(),
                    "link": url,
                    "source": name,
                    "date": format!("{} hours ago", rng.random_range(1..=72u32)),
                    "snippet": prose::paragraph(rng, &topic, 2),
                })
            })
            .collect()
    };
    let mut result = Map::new();
    result.insert("articles".into(), json!(articles));
    if request.include.html {
        let links: Vec<String> = (1..=pages)
            .map(|page| prose::html_link(rng, page))
            .collect();
        result.insert("html".into(), json!(links));
    }
    Value::Object(result)
}
