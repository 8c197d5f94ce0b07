//! Logging set-up and the request-id boundary: every request gets an `X-Request-ID` (the
//! caller's if it is sane, else a fresh UUIDv7), a tracing span carrying it, one log line
//! when it ends, and the same id echoed on the response. Headers are never logged.

use crate::config::{LogFormat, LogSettings};
use crate::log_writer::{LogWriterGuard, log_writer};
use accounting::types::caller_id::is_safe_caller_id;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use std::io::Stderr;
use std::time::Instant;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request's id, stored in its extensions for handlers and the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId {
    value: String,
    /// True when the gateway minted it (then it is a UUIDv7 and may serve as the ledger id).
    pub minted: bool,
}

impl RequestId {
    /// The caller's id when it is 1-128 characters from `[A-Za-z0-9._:/-]`; otherwise a new
    /// UUIDv7. The id is stored in the ledger and comes back in CSV exports, so anything a
    /// spreadsheet could read as a separator or a formula is never honoured.
    pub fn from_header(value: Option<&HeaderValue>) -> Self {
        match value.and_then(|v| v.to_str().ok()) {
            Some(v) if !v.is_empty() && v.len() <= 128 && is_safe_caller_id(v) => Self {
                value: v.to_owned(),
                minted: false,
            },
            _ => Self::mint(),
        }
    }

    pub fn mint() -> Self {
        Self {
            value: uuid::Uuid::now_v7().to_string(),
            minted: true,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// Keeps the log writer's thread running; dropping it writes out every line still queued.
#[must_use = "dropped at once, the log thread stops and each line is written where it is logged"]
#[derive(Debug)]
pub struct LogGuard {
    _writer: Option<LogWriterGuard<Stderr>>,
}

/// Installs the global subscriber, writing to stderr. `RUST_LOG` wins over the configured
/// filter. Hold the returned guard until the command ends.
///
/// Lines are formatted on the thread that logs them and written by a thread of their own
/// (`log_writer`), in batches at most 50 ms apart: a request never waits on a write to
/// stderr, and no line is dropped (should stderr fall far behind, the caller waits instead).
pub fn init(settings: &LogSettings) -> LogGuard {
    // A second init (tests start many apps in one process) is harmless and starts no thread.
    if tracing::dispatcher::has_been_set() {
        return LogGuard { _writer: None };
    }
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr so that stdout carries only what a command prints (a token, a spec).
    match log_writer(std::io::stderr()) {
        Ok((writer, guard)) => {
            install(filter, settings.format, writer);
            LogGuard {
                _writer: Some(guard),
            }
        }
        // No thread for the log writer: each line is written where it is logged.
        Err(_) => {
            install(filter, settings.format, std::io::stderr);
            LogGuard { _writer: None }
        }
    }
}

fn install<W>(filter: EnvFilter, format: LogFormat, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Middleware: assign the request id, run the request inside its span, log the outcome.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = RequestId::from_header(req.headers().get(REQUEST_ID_HEADER));
    let span = tracing::info_span!(
        "request",
        request_id = %id.as_str(),
        method = %req.method(),
        path = %req.path(),
        team = tracing::field::Empty,
    );
    req.extensions_mut().insert(id.clone());
    let started = Instant::now();
    let mut response = next.call(req).instrument(span.clone()).await?;
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "served"
        );
    });
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honours_a_sane_caller_id() {
        let id = RequestId::from_header(Some(&HeaderValue::from_static("abc-123")));
        assert_eq!(id.as_str(), "abc-123");
        assert!(!id.minted);
        let traced = "svc.orders:req/2024_01-x";
        let id = RequestId::from_header(Some(&HeaderValue::from_static(traced)));
        assert_eq!((id.as_str(), id.minted), (traced, false));
    }

    #[test]
    fn mints_for_missing_or_odd_ids() {
        assert!(RequestId::from_header(None).minted);
        assert!(RequestId::from_header(Some(&HeaderValue::from_static("has space"))).minted);
        for formula in ["a;=cmd|x", "a,=1+1", "=1+1", "@sum", "a\"b", "a'b"] {
            let id = RequestId::from_header(Some(&HeaderValue::from_static(formula)));
            assert!(id.minted, "{formula:?} should not be honoured");
            assert_ne!(id.as_str(), formula);
        }
        let long = "x".repeat(129);
        assert!(RequestId::from_header(Some(&HeaderValue::from_str(&long).unwrap())).minted);
        let minted = RequestId::mint();
        assert_eq!(
            uuid::Uuid::parse_str(minted.as_str())
                .unwrap()
                .get_version_num(),
            7
        );
    }
}
