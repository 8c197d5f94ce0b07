//! Google AI Mode answers: text, sources and 0-6 product clusters (each cluster priced when expandProducts is on).

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::prose;
use crate::monitor_request::MonitorRequest;

/// Returns the result and how many product clusters it holds.
pub fn generate(request: &MonitorRequest, rng: &mut StdRng, empty: bool) -> (Value, u32) {
    let topic = prose::topic(request.subject.text());
    let clusters: u32 = if empty { 0 } else { rng.random_range(0..=6) };
    let (text, sources) = if empty {
        (String::new(), Vec::new())
    } else {
        let sentences = rng.random_range(3..=6);
        let count = rng.random_range(2..=6);
        (
            prose::paragraph(rng, &topic, sentences),
            prose::sources(rng, &topic, count),
        )
    };
    let mut result = Map::new();
    result.insert("text".into(), json!(text));
    if request.include.markdown {
        let markdown = if empty {
            String::new()
        } else {
            prose::markdown(&topic, &text, &sources)
        };
        result.insert("markdown".into(), json!(markdown));
    }
    if request.include.html {
        result.insert("html".into(), json!(prose::html_link(rng, 1)));
    }
    result.insert("sources".into(), json!(sources));
    let product_clusters: Vec<Value> = (1..=clusters)
        .map(|position| cluster(rng, &topic, position, request))
        .collect();
    result.insert("productClusters".into(), json!(product_clusters));
    (Value::Object(result), clusters)
}

fn cluster(rng: &mut StdRng, topic: &str, position: u32, request: &MonitorRequest) -> Value {
    let size = if request.include.expand_products {
        rng.random_range(3..=8)
    } else {
        3
    };
    let products: Vec<Value> = (1..=size)
        .map(|rank| {
            let (url, _, merchant, _) = prose::page(rng, topic);
            let cents: u32 = rng.random_range(999..=99_999);
            json!({
                "position": rank,
                "title": format!("{topic} option {position}.{rank}"),
                "price": format!("${}.{:02}", cents / 100, cents % 100),
                "merchant": merchant,
                "link": url,
                "rating": f64::from(rng.random_range(30..=50u32)) / 10.0,
                "reviews": rng.random_range(0..5000u32),
            })
        })
        .collect();
    json!({ "position": position, "title": format!("Top picks for {topic}"), "products": products })
}
