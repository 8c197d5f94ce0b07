//! The raw material of fake answers: topic words from the prompt, sentences, sites and links.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};

/// Sites answers cite: `(domain, name)`.
const SITES: &[(&str, &str)] = &[
    ("en.wikipedia.org", "Wikipedia"),
    ("www.reddit.com", "Reddit"),
    ("www.nytimes.com", "The New York Times"),
    ("www.theverge.com", "The Verge"),
    ("www.forbes.com", "Forbes"),
    ("www.techradar.com", "TechRadar"),
    ("www.bbc.com", "BBC"),
    ("medium.com", "Medium"),
    ("www.investopedia.com", "Investopedia"),
    ("www.healthline.com", "Healthline"),
    ("stackoverflow.com", "Stack Overflow"),
    ("www.youtube.com", "YouTube"),
    ("www.consumerreports.org", "Consumer Reports"),
    ("www.wired.com", "WIRED"),
    ("www.cnet.com", "CNET"),
    ("www.quora.com", "Quora"),
];

const TEMPLATES: &[&str] = &[
    "{T} is widely discussed, and most sources agree on a few key points.",
    "When it comes to {T}, experts usually recommend comparing several options first.",
    "Recent reviews highlight {T} for its reliability and value.",
    "Many users report good experiences with {T}, although opinions differ on price.",
    "A common recommendation is to start with the basics of {T} and build from there.",
    "{T} has changed considerably over the last few years.",
    "Independent comparisons rank {T} among the most popular choices.",
    "Some critics point out trade-offs with {T} that are worth considering.",
    "For most people, {T} is a sensible place to begin.",
    "Availability and pricing of {T} can vary by region.",
];

const STOP_WORDS: &[&str] = &[
    "what", "which", "when", "where", "does", "with", "that", "this", "from", "about", "have",
    "your", "best", "know", "tell", "there", "their", "would", "could", "should", "into", "more",
    "most",
];

/// The prompt's main words, e.g. `rust web framework`.
pub fn topic(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 3 && !STOP_WORDS.contains(&w.to_lowercase().as_str()))
        .take(4)
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        "this topic".to_owned()
    } else {
        words.join(" ")
    }
}

/// `count` sentences about the topic.
pub fn paragraph(rng: &mut StdRng, topic: &str, count: usize) -> String {
    (0..count)
        .map(|_| {
            let template = TEMPLATES.choose(rng).copied().unwrap_or("{T}.");
            capitalize(&template.replace("{T}", topic))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A URL-safe slug of the topic.
pub fn slug(topic: &str) -> String {
    topic
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// A random site: `(domain, name)`.
pub fn site(rng: &mut StdRng) -> (&'static str, &'static str) {
    SITES
        .choose(rng)
        .copied()
        .unwrap_or(("example.com", "Example"))
}

/// A page on a random site about the topic: `(url, domain, site name, title)`.
pub fn page(rng: &mut StdRng, topic: &str) -> (String, &'static str, &'static str, String) {
    let (domain, name) = site(rng);
    let id: u32 = rng.random_range(1000..99_999);
    let url = format!("https://{domain}/{}-{id}", slug(topic));
    let title = format!("{} - {name}", capitalize(topic));
    (url, domain, name, title)
}

/// `count` cited sources: position, url, title, label, description.
pub fn sources(rng: &mut StdRng, topic: &str, count: usize) -> Vec<Value> {
    (1..=count)
        .map(|position| {
            let (url, _, name, title) = page(rng, topic);
            json!({
                "position": position,
                "url": url,
                "title": title,
                "label": name,
                "description": paragraph(rng, topic, 1),
            })
        })
        .collect()
}

/// Where cloro would store the page's HTML (the real API returns a 24 h link).
pub fn html_link(rng: &mut StdRng, page: u32) -> String {
    let id = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
    format!("https://storage.cloro.dev/results/{id}/page-{page}.html")
}

/// The answer text as markdown: a heading, the text, and a source list.
pub fn markdown(topic: &str, text: &str, sources: &[Value]) -> String {
    let mut out = format!("## {}\n\n{text}\n", capitalize(topic));
    for source in sources {
        let title = source["title"].as_str().unwrap_or_default();
        let url = source["url"].as_str().unwrap_or_default();
        out.push_str(&format!("\n- [{title}]({url})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_keeps_the_meaningful_words() {
        assert_eq!(
            topic("What is the best Rust web framework?"),
            "rust framework"
        );
        assert_eq!(topic("hi"), "this topic");
        assert_eq!(slug("rust web framework"), "rust-web-framework");
    }
}
