//! Starting and stopping a simulator: the actix server on a given listener plus the task worker and webhook sender.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::SimConfig;
use crate::http::{self, edge::edge};
use crate::state::Sim;
use crate::state::request_log::RequestRecord;
use crate::state::stats::SimStats;
use crate::tasks::{dispatcher, webhook};

/// Webhook requests give up after this long.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Seconds a graceful stop waits for requests in flight.
const SHUTDOWN_GRACE_SECS: u64 = 5;

/// A running simulator. Stop it with [`RunningSim::stop`]; dropping it stops it abruptly.
pub struct RunningSim {
    addr: SocketAddr,
    sim: Arc<Sim>,
    server: ServerHandle,
    server_task: Option<JoinHandle<std::io::Result<()>>>,
    background: Vec<JoinHandle<()>>,
}

/// Starts the simulator on `listener` inside the caller's tokio runtime.
pub async fn spawn(config: SimConfig, listener: TcpListener) -> anyhow::Result<RunningSim> {
    let api_key = config.validate()?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let http_client = reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .build()?;
    let (webhook_sender, webhook_queue) = mpsc::unbounded_channel();
    let sim = Arc::new(Sim::new(&config, api_key, webhook_sender, http_client));
    let data = web::Data::from(Arc::clone(&sim));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(from_fn(edge))
            .configure(http::routes)
            .default_service(web::to(http::not_found))
    })
    .workers(config.workers)
    // A client's EOF means it hung up (a gateway deadline): drop the handler so the work that
    // still finishes is recorded as `abandoned`, not as an answer nobody read.
    .h1_allow_half_closed(false)
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_GRACE_SECS)
    // HTTP/1.1, and HTTP/2 for a client that speaks it without negotiation (a gateway with
    // `upstream.http2_prior_knowledge`): one connection then carries every call.
    .listen_auto_h2c(listener)?
    .run();
    let handle = server.handle();
    let server_task = tokio::spawn(server);
    let background = vec![
        tokio::spawn(dispatcher::run(Arc::clone(&sim))),
        tokio::spawn(webhook::run(Arc::clone(&sim), webhook_queue)),
    ];
    tracing::info!(%addr, config = ?config, "cloro simulator listening");
    Ok(RunningSim {
        addr,
        sim,
        server: handle,
        server_task: Some(server_task),
        background,
    })
}

impl RunningSim {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request served, oldest first (same as `GET /_sim/requests`).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.sim.lock().log.since(0, usize::MAX)
    }

    /// Totals (same as `GET /_sim/stats`).
    pub fn stats(&self) -> SimStats {
        self.sim.lock().stats()
    }

    /// Stops accepting, lets requests in flight finish (a few seconds at most), then stops the workers.
    pub async fn stop(mut self) {
        self.server.stop(true).await;
        if let Some(task) = self.server_task.take() {
            let _ = task.await;
        }
        for task in self.background.drain(..) {
            task.abort();
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
        if self.server_task.is_some() {
            // The stop command is sent when called; nothing to wait for here.
            drop(self.server.stop(false));
        }
    }
}
