//! A monitor request after validation: only the facts that price it and shape its answer.

use crate::endpoint::Endpoint;

/// What the request asks about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// An AI prompt (answer engines, aimode).
    Prompt(String),
    /// A search query (google, news).
    Query(String),
    /// A URL (google by url, goto).
    Url(String),
}

impl Subject {
    pub fn text(&self) -> &str {
        match self {
            Self::Prompt(t) | Self::Query(t) | Self::Url(t) => t,
        }
    }
}

/// `device` for Google-family endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Desktop,
    Mobile,
}

/// The `include` flags that were switched on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Include {
    pub html: bool,
    pub markdown: bool,
    pub raw_response: bool,
    pub search_queries: bool,
    pub ads: bool,
    pub shopping: bool,
    pub aioverview: bool,
    pub aioverview_markdown: bool,
    pub paa_aioverview: bool,
    pub expand_products: bool,
}

/// A validated monitor request, sync or as the payload of an async task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorRequest {
    pub endpoint: Endpoint,
    pub subject: Subject,
    /// Upper-case ISO alpha-2; `US` when the endpoint allows omitting it.
    pub country: String,
    /// A US state, only with country `US`.
    pub state: Option<String>,
    /// 1-10 for google and news, 1 otherwise.
    pub pages: u8,
    pub device: Device,
    pub include: Include,
}

impl MonitorRequest {
    /// A minimal request, handy in unit tests and examples.
    pub fn new(endpoint: Endpoint, subject: Subject) -> Self {
        Self {
            endpoint,
            subject,
            country: "US".to_owned(),
            state: None,
            pages: 1,
            device: Device::Desktop,
            include: Include::default(),
        }
    }
}
