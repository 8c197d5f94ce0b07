//! A webhook relay that loses, refuses and duplicates cloro's deliveries on their way to
//! the gateway, so the exactness test can show the poller covers what never arrives.

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Stands between cloro and the gateway's `/webhooks/cloro`: of every six deliveries it
/// loses two (acknowledges them to cloro without passing them on: only the poller can find
/// those tasks), refuses one (503: cloro delivers it again later), passes one twice at once
/// and two once, with their signature headers.
pub(super) struct LossyRelay {
    pub(super) url: String,
    state: web::Data<RelayState>,
    server: ServerHandle,
}

#[derive(Default)]
struct RelayState {
    target: OnceLock<String>,
    http: reqwest::Client,
    seen: AtomicU64,
    lost: AtomicU64,
    refused: AtomicU64,
    duplicated: AtomicU64,
    acknowledged: AtomicU64,
}

/// What the relay did with the deliveries it saw.
#[derive(Debug)]
pub(super) struct RelayStats {
    pub(super) seen: u64,
    pub(super) lost: u64,
    pub(super) refused: u64,
    pub(super) duplicated: u64,
    /// Passes the gateway answered 2xx.
    pub(super) acknowledged: u64,
}

impl LossyRelay {
    pub(super) fn start() -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/webhooks/cloro", listener.local_addr()?);
        let state = web::Data::new(RelayState::default());
        let shared = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(relay_delivery))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            url,
            state,
            server: handle,
        })
    }

    /// Where deliveries go once the gateway is up.
    pub(super) fn point_at(&self, target: String) {
        let _ = self.state.target.set(target);
    }

    pub(super) fn stats(&self) -> RelayStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        RelayStats {
            seen: load(&self.state.seen),
            lost: load(&self.state.lost),
            refused: load(&self.state.refused),
            duplicated: load(&self.state.duplicated),
            acknowledged: load(&self.state.acknowledged),
        }
    }

    pub(super) async fn stop(self) {
        self.server.stop(true).await;
    }
}

async fn relay_delivery(
    state: web::Data<RelayState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let status = match state.seen.fetch_add(1, Ordering::Relaxed) % 6 {
        0 | 1 => {
            state.lost.fetch_add(1, Ordering::Relaxed);
            200
        }
        2 => {
            state.refused.fetch_add(1, Ordering::Relaxed);
            503
        }
        3 => {
            state.duplicated.fetch_add(1, Ordering::Relaxed);
            let (first, _) =
                tokio::join!(forward(&state, &req, &body), forward(&state, &req, &body));
            first
        }
        _ => forward(&state, &req, &body).await,
    };
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY)).finish()
}

/// Passes one delivery to the gateway; its status (502 when it could not be reached).
async fn forward(state: &RelayState, req: &HttpRequest, body: &web::Bytes) -> u16 {
    let Some(target) = state.target.get() else {
        return 503;
    };
    let mut request = state
        .http
        .post(target)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for name in [
        "x-cloro-timestamp",
        "x-cloro-signature",
        "x-cloro-webhook-id",
    ] {
        if let Some(value) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
            request = request.header(name, value);
        }
    }
    let status = match request.send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 502,
    };
    if (200..300).contains(&status) {
        state.acknowledged.fetch_add(1, Ordering::Relaxed);
    }
    status
}
