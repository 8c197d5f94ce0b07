//! Google Search result pages: ten organic results per page, people-also-ask, related searches, AI Overview on request.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::prose;
use crate::monitor_request::{MonitorRequest, Subject};

pub fn generate(request: &MonitorRequest, rng: &mut StdRng, empty: bool) -> Value {
    let topic = match &request.subject {
        Subject::Url(url) => prose::topic(
            url.trim_start_matches("https://")
                .trim_start_matches("http://"),
        ),
        other => prose::topic(other.text()),
    };
    let pages = u32::from(request.pages);
    let mut result = Map::new();
    let organic: Vec<Value> = if empty {
        Vec::new()
    } else {
        (1..=pages * 10)
            .map(|position| organic_result(rng, &topic, position))
            .collect()
    };
    result.insert("organicResults".into(), json!(organic));
    let people_also_ask: Vec<Value> = if empty {
        Vec::new()
    } else {
        (0..rng.random_range(2..=4))
            .map(|i| people_also_ask(rng, &topic, i, request))
            .collect()
    };
    result.insert("peopleAlsoAsk".into(), json!(people_also_ask));
    let related: Vec<Value> = if empty {
        Vec::new()
    } else {
        ["reviews", "price", "near me", "vs alternatives"]
            .iter()
            .map(|suffix| {
                let query = format!("{topic} {suffix}");
                json!({ "query": query, "link": format!("https://www.google.com/search?q={}", query.replace(' ', "+")) })
            })
            .collect()
    };
    result.insert("relatedSearches".into(), json!(related));
    if request.include.aioverview {
        result.insert(
            "aioverview".into(),
            aioverview(rng, &topic, empty, request.include.aioverview_markdown),
        );
    }
    if request.include.html {
        let links: Vec<String> = (1..=pages)
            .map(|page| prose::html_link(rng, page))
            .collect();
        result.insert("html".into(), json!(links));
    }
    Value::Object(result)
}

fn organic_result(rng: &mut StdRng, topic: &str, position: u32) -> Value {
    let (url, domain, _, title) = prose::page(rng, topic);
    json!({
        "position": position,
        "page": (position - 1) / 10 + 1,
        "title": title,
        "link": url,
        "displayedLink": format!("https://{domain}"),
        "snippet": prose::paragraph(rng, topic, 2),
        "date": format!("{} days ago", rng.random_range(1..=60u32)),
    })
}

fn people_also_ask(rng: &mut StdRng, topic: &str, index: u32, request: &MonitorRequest) -> Value {
    let questions = [
        "What is the best {T}?",
        "Is {T} worth it?",
        "How much does {T} cost?",
        "How do I choose {T}?",
    ];
    let question = questions
        .get(index as usize)
        .copied()
        .unwrap_or("What is {T}?")
        .replace("{T}", topic);
    let (url, _, _, title) = prose::page(rng, topic);
    let mut entry = json!({ "question": question, "snippet": prose::paragraph(rng, topic, 1), "title": title, "link": url });
    if request.include.paa_aioverview
        && let Some(map) = entry.as_object_mut()
    {
        map.insert("type".into(), json!("AIOVERVIEW"));
        map.insert("sources".into(), json!(prose::sources(rng, topic, 2)));
    }
    entry
}

fn aioverview(rng: &mut StdRng, topic: &str, empty: bool, with_markdown: bool) -> Value {
    let (text, sources) = if empty {
        (String::new(), Vec::new())
    } else {
        let count = rng.random_range(2..=5);
        (
            prose::paragraph(rng, topic, 4),
            prose::sources(rng, topic, count),
        )
    };
    let mut overview = json!({ "text": text, "sources": sources });
    if with_markdown && let Some(map) = overview.as_object_mut() {
        let markdown = if empty {
            String::new()
        } else {
            prose::markdown(topic, &text, &sources)
        };
        map.insert("markdown".into(), json!(markdown));
    }
    overview
}
