//! The `broken_body` fault's reply body: the first part of the JSON, then a stream error that makes actix drop the connection mid-body.

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt, stream};

/// Pause between the first chunk and the failure, so actix writes the head and that chunk to
/// the socket before the error makes it close the connection.
const FLUSH_PAUSE: Duration = Duration::from_millis(20);

/// The error that ends a broken body (actix logs it and closes the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("injected broken_body fault: the reply body was cut off")]
pub struct BodyCutOff;

/// Streams the first half of `body` (chunked, no Content-Length), then fails, so the client
/// sees a 200 with all its headers and then an error reading the body.
pub fn cut_off(body: Bytes) -> impl Stream<Item = Result<Bytes, BodyCutOff>> + 'static {
    let first = body.slice(..body.len() / 2);
    stream::once(async move { Ok(first) }).chain(stream::once(async {
        tokio::time::sleep(FLUSH_PAUSE).await;
        Err(BodyCutOff)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn yields_a_strict_prefix_then_fails() {
        let body = Bytes::from_static(br#"{"success":true,"result":{"text":"abc"}}"#);
        let items: Vec<_> = cut_off(body.clone()).collect().await;
        assert_eq!(items.len(), 2);
        let first = items[0].clone().unwrap();
        assert!(!first.is_empty() && first.len() < body.len());
        assert!(body.starts_with(&first));
        assert_eq!(items[1], Err(BodyCutOff));
    }
}
