//! The engines cloro fronts, with the path, task type and model name each one answers to.

use serde::{Deserialize, Serialize};

/// One monitor endpoint (one engine).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// Every endpoint, in the order of the price table.
    pub const ALL: [Self; 9] = [
        Self::Chatgpt,
        Self::Perplexity,
        Self::Copilot,
        Self::Gemini,
        Self::Grok,
        Self::Aimode,
        Self::Google,
        Self::GoogleNews,
        Self::GoogleGoto,
    ];

    /// The sync path, e.g. `/v1/monitor/google/news`.
    pub const fn path(self) -> &'static str {
        match self {
            Self::Chatgpt => "/v1/monitor/chatgpt",
            Self::Perplexity => "/v1/monitor/perplexity",
            Self::Copilot => "/v1/monitor/copilot",
            Self::Gemini => "/v1/monitor/gemini",
            Self::Grok => "/v1/monitor/grok",
            Self::Aimode => "/v1/monitor/aimode",
            Self::Google => "/v1/monitor/google",
            Self::GoogleNews => "/v1/monitor/google/news",
            Self::GoogleGoto => "/v1/monitor/google/goto",
        }
    }

    pub fn from_path(path: &str) -> Option<Self> {
        let path = path.strip_suffix('/').unwrap_or(path);
        Self::ALL.into_iter().find(|e| e.path() == path)
    }

    /// The async `taskType`, or `None` for goto, which has no async form.
    pub const fn task_type(self) -> Option<&'static str> {
        match self {
            Self::Chatgpt => Some("CHATGPT"),
            Self::Perplexity => Some("PERPLEXITY"),
            Self::Copilot => Some("COPILOT"),
            Self::Gemini => Some("GEMINI"),
            Self::Grok => Some("GROK"),
            Self::Aimode => Some("AIMODE"),
            Self::Google => Some("GOOGLE"),
            Self::GoogleNews => Some("GOOGLE_NEWS"),
            Self::GoogleGoto => None,
        }
    }

    /// Parses an async `taskType` (exact, upper case).
    pub fn from_task_type(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.task_type() == Some(text))
    }

    /// Parses the `model` filter of `GET /v1/countries` (task type or path slug, any case).
    pub fn from_model(text: &str) -> Option<Self> {
        let wanted = text.trim().to_ascii_uppercase().replace(['/', '-'], "_");
        let wanted = if wanted == "NEWS" {
            "GOOGLE_NEWS".to_owned()
        } else {
            wanted
        };
        Self::ALL
            .into_iter()
            .find(|e| e.task_type() == Some(wanted.as_str()))
    }

    /// Whether a call holds one of the account's concurrency slots (goto does not).
    pub const fn takes_slot(self) -> bool {
        !matches!(self, Self::GoogleGoto)
    }

    /// Whether the body is prompt-based (an AI answer engine).
    pub const fn is_answer_engine(self) -> bool {
        matches!(
            self,
            Self::Chatgpt | Self::Perplexity | Self::Copilot | Self::Gemini | Self::Grok
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_task_types_round_trip() {
        for endpoint in Endpoint::ALL {
            assert_eq!(Endpoint::from_path(endpoint.path()), Some(endpoint));
            if let Some(task_type) = endpoint.task_type() {
                assert_eq!(Endpoint::from_task_type(task_type), Some(endpoint));
                assert_eq!(
                    Endpoint::from_model(&task_type.to_lowercase()),
                    Some(endpoint)
                );
            }
        }
        assert_eq!(Endpoint::from_task_type("chatgpt"), None);
        assert_eq!(
            Endpoint::from_model("google/news"),
            Some(Endpoint::GoogleNews)
        );
        assert!(!Endpoint::GoogleGoto.takes_slot());
    }
}
