//! Describing an outgoing HTTP call's failure for a log line without the URL reqwest puts in
//! its text: some URLs carry secrets (Slack-style webhook URLs, a JWKS URL with a token).

/// The error and its causes, without the URL.
pub fn describe_without_url(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
