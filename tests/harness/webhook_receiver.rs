//! A webhook receiver for tests: an HTTP server on a free port that answers 204 to every
//! `POST /hook` and keeps each delivery's headers and body.

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One delivery: its headers (lower-case names) and body.
pub type Delivery = (HashMap<String, String>, Vec<u8>);

pub struct WebhookReceiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    server: ServerHandle,
}

impl WebhookReceiver {
    pub fn start() -> Self {
        let deliveries: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let kept = deliveries.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            let kept = kept.clone();
            App::new().route(
                "/hook",
                web::post().to(move |req: HttpRequest, body: web::Bytes| {
                    let kept = kept.clone();
                    async move {
                        let headers = req
                            .headers()
                            .iter()
                            .filter_map(|(name, value)| {
                                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                            })
                            .collect();
                        kept.lock().unwrap().push((headers, body.to_vec()));
                        HttpResponse::NoContent().finish()
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            deliveries,
            server: handle,
        }
    }

    /// Every delivery so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until `count` deliveries arrived; returns them.
    pub async fn wait_for(&self, count: usize) -> Vec<Delivery> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.deliveries.lock().unwrap().len() < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.deliveries()
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}
