//! The cloro sync endpoints the gateway proxies, with their paths and the traits pricing
//! and admission need.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Chatgpt,
    Perplexity,
    Copilot,
    Gemini,
    Grok,
    Aimode,
    Google,
    GoogleNews,
    GoogleGoto,
}

impl Endpoint {
    pub const ALL: [Endpoint; 9] = [
        Endpoint::Chatgpt,
        Endpoint::Perplexity,
        Endpoint::Copilot,
        Endpoint::Gemini,
        Endpoint::Grok,
        Endpoint::Aimode,
        Endpoint::Google,
        Endpoint::GoogleNews,
        Endpoint::GoogleGoto,
    ];

    /// The upstream path, identical on the gateway.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Chatgpt => "/v1/monitor/chatgpt",
            Endpoint::Perplexity => "/v1/monitor/perplexity",
            Endpoint::Copilot => "/v1/monitor/copilot",
            Endpoint::Gemini => "/v1/monitor/gemini",
            Endpoint::Grok => "/v1/monitor/grok",
            Endpoint::Aimode => "/v1/monitor/aimode",
            Endpoint::Google => "/v1/monitor/google",
            Endpoint::GoogleNews => "/v1/monitor/google/news",
            Endpoint::GoogleGoto => "/v1/monitor/google/goto",
        }
    }

    /// The name stored in the ledger and used in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Chatgpt => "chatgpt",
            Endpoint::Perplexity => "perplexity",
            Endpoint::Copilot => "copilot",
            Endpoint::Gemini => "gemini",
            Endpoint::Grok => "grok",
            Endpoint::Aimode => "aimode",
            Endpoint::Google => "google",
            Endpoint::GoogleNews => "google_news",
            Endpoint::GoogleGoto => "google_goto",
        }
    }

    /// The endpoint an async task of cloro's `taskType` runs (google/goto has none).
    pub fn from_task_type(task_type: &str) -> Option<Self> {
        Some(match task_type {
            "CHATGPT" => Endpoint::Chatgpt,
            "PERPLEXITY" => Endpoint::Perplexity,
            "COPILOT" => Endpoint::Copilot,
            "GEMINI" => Endpoint::Gemini,
            "GROK" => Endpoint::Grok,
            "AIMODE" => Endpoint::Aimode,
            "GOOGLE" => Endpoint::Google,
            "GOOGLE_NEWS" => Endpoint::GoogleNews,
            _ => return None,
        })
    }

    /// google/goto is free and takes no concurrency slot upstream.
    pub fn takes_concurrency_slot(self) -> bool {
        self != Endpoint::GoogleGoto
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
