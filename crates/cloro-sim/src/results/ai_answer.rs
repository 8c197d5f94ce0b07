//! Answers of the prompt engines (ChatGPT, Perplexity, Copilot, Gemini, Grok): text, sources and the asked-for extras.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::prose;
use crate::endpoint::Endpoint;
use crate::monitor_request::MonitorRequest;

fn model(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Chatgpt => "gpt-5",
        Endpoint::Perplexity => "sonar",
        Endpoint::Copilot => "copilot-gpt-5",
        Endpoint::Gemini => "gemini-2.5-flash",
        Endpoint::Grok => "grok-4",
        _ => "unknown",
    }
}

pub fn generate(request: &MonitorRequest, rng: &mut StdRng, empty: bool) -> Value {
    let topic = prose::topic(request.subject.text());
    let (text, sources) = if empty {
        (String::new(), Vec::new())
    } else {
        let sentences = rng.random_range(3..=7);
        let count = rng.random_range(2..=6);
        (
            prose::paragraph(rng, &topic, sentences),
            prose::sources(rng, &topic, count),
        )
    };
    let include = &request.include;
    let mut result = Map::new();
    result.insert("model".into(), json!(model(request.endpoint)));
    result.insert("text".into(), json!(text));
    if include.markdown {
        let markdown = if empty {
            String::new()
        } else {
            prose::markdown(&topic, &text, &sources)
        };
        result.insert("markdown".into(), json!(markdown));
    }
    if include.html {
        result.insert("html".into(), json!(prose::html_link(rng, 1)));
    }
    if include.raw_response {
        result.insert(
            "rawResponse".into(),
            json!([{ "type": "message", "role": "assistant", "content": [{ "type": "text", "text": text }] }]),
        );
    }
    if include.search_queries {
        let queries: Vec<String> = if empty {
            Vec::new()
        } else {
            vec![
                topic.clone(),
                format!("{topic} {}", request.country.to_lowercase()),
                format!("{topic} reviews"),
            ]
        };
        result.insert("searchQueries".into(), json!(queries));
    }
    if include.ads {
        result.insert(
            "ads".into(),
            json!(if empty { Vec::new() } else { ads(rng, &topic) }),
        );
    }
    if include.shopping {
        let cards = if empty {
            Vec::new()
        } else {
            shopping_cards(rng, &topic)
        };
        result.insert("shoppingCards".into(), json!(cards));
    }
    result.insert("sources".into(), json!(sources));
    Value::Object(result)
}

fn ads(rng: &mut StdRng, topic: &str) -> Vec<Value> {
    (1..=rng.random_range(0..=2))
        .map(|position| {
            let (url, _, name, _) = prose::page(rng, topic);
            json!({ "position": position, "title": format!("{name}: {topic}"), "link": url, "advertiser": name })
        })
        .collect()
}

fn shopping_cards(rng: &mut StdRng, topic: &str) -> Vec<Value> {
    (1..=rng.random_range(0..=4))
        .map(|position| {
            let (url, _, name, _) = prose::page(rng, topic);
            let cents: u32 = rng.random_range(999..=49_999);
            json!({
                "position": position,
                "title": format!("{topic} #{position}"),
                "price": format!("${}.{:02}", cents / 100, cents % 100),
                "merchant": name,
                "link": url,
                "rating": f64::from(rng.random_range(30..=50u32)) / 10.0,
            })
        })
        .collect()
}
