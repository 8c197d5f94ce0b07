//! Validation of the sync monitor bodies (also the `payload` of async tasks), endpoint by endpoint.

use serde_json::{Map, Value};

use super::fields::ObjectReader;
use crate::endpoint::Endpoint;
use crate::error::FieldError;
use crate::geo;
use crate::monitor_request::{Device, Include, MonitorRequest, Subject};

const MAX_TEXT: usize = 10_000;

/// The body fields each endpoint accepts.
fn allowed_fields(endpoint: Endpoint) -> &'static [&'static str] {
    match endpoint {
        Endpoint::Chatgpt => &[
            "prompt",
            "country",
            "include",
            "state",
            "legacy",
            "disableWebSearch",
        ],
        Endpoint::Perplexity | Endpoint::Copilot | Endpoint::Gemini | Endpoint::Grok => {
            &["prompt", "country", "include", "state"]
        }
        Endpoint::Aimode => &[
            "prompt", "country", "gl", "hl", "location", "uule", "device", "include",
        ],
        Endpoint::Google => &[
            "query", "url", "country", "gl", "hl", "location", "uule", "device", "pages", "include",
        ],
        Endpoint::GoogleNews => &["query", "country", "gl", "hl", "device", "pages", "include"],
        Endpoint::GoogleGoto => &["url"],
    }
}

/// The `include` flags each endpoint accepts.
fn allowed_includes(endpoint: Endpoint) -> &'static [&'static str] {
    match endpoint {
        Endpoint::Chatgpt => &[
            "html",
            "markdown",
            "rawResponse",
            "searchQueries",
            "ads",
            "shopping",
        ],
        Endpoint::Perplexity | Endpoint::Copilot | Endpoint::Gemini | Endpoint::Grok => {
            &["html", "markdown", "rawResponse"]
        }
        Endpoint::Aimode => &["html", "markdown", "expandProducts"],
        Endpoint::Google => &["html", "aioverview", "paaAioverview"],
        Endpoint::GoogleNews => &["html"],
        Endpoint::GoogleGoto => &[],
    }
}

/// Validates a monitor body; field paths start with `prefix` (`""` or `"payload."`).
pub fn parse_monitor(
    endpoint: Endpoint,
    body: &Value,
    prefix: &str,
) -> Result<MonitorRequest, Vec<FieldError>> {
    let Some(map) = body.as_object() else {
        let field = if prefix.is_empty() {
            "body".to_owned()
        } else {
            prefix.trim_end_matches('.').to_owned()
        };
        return Err(vec![FieldError::new(field, "Expected a JSON object")]);
    };
    let mut reader = ObjectReader::new(map, prefix);
    reader.reject_unknown(allowed_fields(endpoint));

    let subject = read_subject(endpoint, &mut reader);
    let country = read_country(endpoint, &mut reader);
    let state = read_state(&mut reader, country.as_deref());
    let pages = if matches!(endpoint, Endpoint::Google | Endpoint::GoogleNews) {
        reader.integer("pages", 1, 10).unwrap_or(1)
    } else {
        1
    };
    let device = read_google_options(endpoint, &mut reader);
    if endpoint == Endpoint::Chatgpt {
        reader.bool("legacy");
        reader.bool("disableWebSearch");
    }
    let include = read_include(endpoint, &mut reader);

    if !reader.errors.is_empty() {
        return Err(reader.errors);
    }
    match (subject, country) {
        (Some(subject), Some(country)) => Ok(MonitorRequest {
            endpoint,
            subject,
            country,
            state,
            pages: u8::try_from(pages).unwrap_or(1),
            device,
            include,
        }),
        _ => Err(vec![FieldError::new(reader.path(""), "Invalid request")]),
    }
}

fn read_subject(endpoint: Endpoint, reader: &mut ObjectReader<'_>) -> Option<Subject> {
    match endpoint {
        Endpoint::GoogleGoto => reader.url("url", true).map(|u| Subject::Url(u.to_owned())),
        Endpoint::GoogleNews => reader
            .text("query", true, 1, MAX_TEXT)
            .map(|q| Subject::Query(q.to_owned())),
        Endpoint::Google => {
            match (
                reader.present("query").is_some(),
                reader.present("url").is_some(),
            ) {
                (true, true) => {
                    reader.fail("query", "Provide exactly one of query or url, not both");
                    None
                }
                (false, false) => {
                    reader.fail("query", "Required (or provide url)");
                    None
                }
                (true, false) => reader
                    .text("query", true, 1, MAX_TEXT)
                    .map(|q| Subject::Query(q.to_owned())),
                (false, true) => reader.url("url", true).map(|u| Subject::Url(u.to_owned())),
            }
        }
        _ => reader
            .text("prompt", true, 1, MAX_TEXT)
            .map(|p| Subject::Prompt(p.to_owned())),
    }
}

/// `country` (upper-case ISO alpha-2), or `gl` where allowed; required for the answer engines.
fn read_country(endpoint: Endpoint, reader: &mut ObjectReader<'_>) -> Option<String> {
    if endpoint == Endpoint::GoogleGoto {
        return Some("US".to_owned());
    }
    let country = if endpoint.is_answer_engine() {
        reader.required_string("country")
    } else {
        reader.string("country")
    };
    let country = country.and_then(|code| check_country(reader, "country", code, false));
    let accepts_gl = matches!(
        endpoint,
        Endpoint::Aimode | Endpoint::Google | Endpoint::GoogleNews
    );
    if accepts_gl && let Some(gl) = reader.string("gl") {
        if reader.present("country").is_some() {
            reader.fail("gl", "Provide either country or gl, not both");
            return None;
        }
        return check_country(reader, "gl", gl, true);
    }
    match country {
        Some(code) => Some(code),
        None if reader.present("country").is_none() && !endpoint.is_answer_engine() => {
            Some("US".to_owned())
        }
        None => None,
    }
}

fn check_country(
    reader: &mut ObjectReader<'_>,
    key: &str,
    code: &str,
    any_case: bool,
) -> Option<String> {
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        reader.fail(key, "Must be an ISO 3166-1 alpha-2 country code, e.g. US");
        return None;
    }
    if !any_case && !code.bytes().all(|b| b.is_ascii_uppercase()) {
        reader.fail(
            key,
            "Must be an upper-case ISO 3166-1 alpha-2 country code, e.g. US",
        );
        return None;
    }
    let upper = code.to_ascii_uppercase();
    if !geo::is_country(&upper) {
        reader.fail(key, "Unsupported country code");
        return None;
    }
    Some(upper)
}

fn read_state(reader: &mut ObjectReader<'_>, country: Option<&str>) -> Option<String> {
    let state = reader.string("state")?;
    let Some(code) = geo::us_state(state) else {
        reader.fail("state", "Unknown US state; see GET /v1/states");
        return None;
    };
    if country.is_some_and(|c| c != "US") {
        reader.fail("state", "state is only supported with country US");
        return None;
    }
    Some(code.to_owned())
}

/// hl, location/uule and device (Google family); returns the device.
fn read_google_options(endpoint: Endpoint, reader: &mut ObjectReader<'_>) -> Device {
    if !matches!(
        endpoint,
        Endpoint::Aimode | Endpoint::Google | Endpoint::GoogleNews
    ) {
        return Device::Desktop;
    }
    if let Some(hl) = reader.string("hl")
        && !is_language_code(hl)
    {
        reader.fail("hl", "Must be a language code, e.g. en or en-US");
    }
    if endpoint != Endpoint::GoogleNews {
        let location = reader.text("location", false, 1, 500);
        let uule = reader.text("uule", false, 1, 500);
        if location.is_some() && uule.is_some() {
            reader.fail("uule", "Provide either location or uule, not both");
        }
    }
    match reader.string("device") {
        Some("mobile") => Device::Mobile,
        Some("desktop") | None => Device::Desktop,
        Some(_) => {
            reader.fail("device", "Must be one of: desktop, mobile");
            Device::Desktop
        }
    }
}

fn is_language_code(text: &str) -> bool {
    let mut parts = text.splitn(2, ['-', '_']);
    let language = parts.next().unwrap_or_default();
    let region_ok = parts
        .next()
        .is_none_or(|r| (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric()));
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_alphabetic())
        && region_ok
}

fn read_include(endpoint: Endpoint, reader: &mut ObjectReader<'_>) -> Include {
    let Some(map) = reader.object("include") else {
        return Include::default();
    };
    let prefix = reader.path("include.");
    let mut nested = ObjectReader::new(map, prefix);
    nested.reject_unknown(allowed_includes(endpoint));
    let mut flag =
        |key: &str| allowed_includes(endpoint).contains(&key) && nested.bool(key).unwrap_or(false);
    let mut include = Include {
        html: flag("html"),
        markdown: flag("markdown"),
        raw_response: flag("rawResponse"),
        search_queries: flag("searchQueries"),
        ads: flag("ads"),
        shopping: flag("shopping"),
        paa_aioverview: flag("paaAioverview"),
        expand_products: flag("expandProducts"),
        ..Include::default()
    };
    if endpoint == Endpoint::Google {
        read_aioverview(map, &mut nested, &mut include);
    }
    reader.absorb(nested);
    include
}

/// `include.aioverview` is `true`/`false` or `{ "markdown": bool }`.
fn read_aioverview(map: &Map<String, Value>, nested: &mut ObjectReader<'_>, include: &mut Include) {
    match map.get("aioverview") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(on)) => include.aioverview = *on,
        Some(Value::Object(options)) => {
            let mut inner = ObjectReader::new(options, nested.path("aioverview."));
            inner.reject_unknown(&["markdown"]);
            include.aioverview = true;
            include.aioverview_markdown = inner.bool("markdown").unwrap_or(false);
            nested.absorb(inner);
        }
        Some(_) => nested.fail("aioverview", "Expected a boolean or an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(endpoint: Endpoint, body: Value) -> Vec<String> {
        parse_monitor(endpoint, &body, "")
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_minimal_chatgpt_body_is_accepted() {
        let request = parse_monitor(
            Endpoint::Chatgpt,
            &json!({"prompt": "hi", "country": "US"}),
            "",
        )
        .unwrap();
        assert_eq!(request.country, "US");
        assert_eq!(request.subject, Subject::Prompt("hi".into()));
    }

    #[test]
    fn each_bad_field_is_reported_with_its_path() {
        assert_eq!(
            fields(Endpoint::Chatgpt, json!({"country": "US"})),
            ["prompt"]
        );
        assert_eq!(
            fields(Endpoint::Chatgpt, json!({"prompt": "", "country": "US"})),
            ["prompt"]
        );
        assert_eq!(
            fields(
                Endpoint::Chatgpt,
                json!({"prompt": "x".repeat(10_001), "country": "US"})
            ),
            ["prompt"]
        );
        assert_eq!(
            fields(Endpoint::Chatgpt, json!({"prompt": "x", "country": "us"})),
            ["country"]
        );
        assert_eq!(
            fields(Endpoint::Chatgpt, json!({"prompt": "x"})),
            ["country"]
        );
        assert_eq!(
            fields(
                Endpoint::Chatgpt,
                json!({"prompt": "x", "country": "US", "include": {"foo": true}})
            ),
            ["include.foo"]
        );
        assert_eq!(
            fields(
                Endpoint::Perplexity,
                json!({"prompt": "x", "country": "US", "include": {"ads": true}})
            ),
            ["include.ads"]
        );
        assert_eq!(
            fields(
                Endpoint::Chatgpt,
                json!({"prompt": "x", "country": "US", "extra": 1})
            ),
            ["extra"]
        );
        assert_eq!(
            fields(
                Endpoint::Chatgpt,
                json!({"prompt": "x", "country": "DE", "state": "CA"})
            ),
            ["state"]
        );
        assert_eq!(
            fields(
                Endpoint::Google,
                json!({"query": "q", "url": "https://a.io"})
            ),
            ["query"]
        );
        assert_eq!(fields(Endpoint::Google, json!({})), ["query"]);
        assert_eq!(
            fields(Endpoint::Google, json!({"query": "q", "pages": 11})),
            ["pages"]
        );
        assert_eq!(
            fields(Endpoint::Google, json!({"query": "q", "pages": 0})),
            ["pages"]
        );
        assert_eq!(fields(Endpoint::GoogleGoto, json!({})), ["url"]);
        assert_eq!(
            fields(Endpoint::GoogleGoto, json!({"url": "not a url"})),
            ["url"]
        );
        assert_eq!(
            fields(Endpoint::Aimode, json!({"prompt": "x", "device": "tablet"})),
            ["device"]
        );
    }

    #[test]
    fn google_options_are_read() {
        let body = json!({"query": "q", "gl": "de", "pages": 3, "include": {"aioverview": {"markdown": true}}});
        let request = parse_monitor(Endpoint::Google, &body, "").unwrap();
        assert_eq!((request.country.as_str(), request.pages), ("DE", 3));
        assert!(request.include.aioverview && request.include.aioverview_markdown);
        let by_url =
            parse_monitor(Endpoint::Google, &json!({"url": "https://example.com"}), "").unwrap();
        assert_eq!(by_url.country, "US");
    }

    #[test]
    fn payload_prefix_is_applied() {
        let errors = parse_monitor(
            Endpoint::Chatgpt,
            &json!({"country": "US", "include": {"x": 1}}),
            "payload.",
        )
        .unwrap_err();
        let fields: Vec<_> = errors.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["payload.prompt", "payload.include.x"]);
    }
}
