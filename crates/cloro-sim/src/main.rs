//! The `cloro-sim` binary: parse flags, set up logs, run the simulator until SIGTERM or Ctrl-C.

use std::net::TcpListener;

use clap::Parser;
use cloro_sim::cli::Args;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let listener = TcpListener::bind(args.listen)?;
    let sim = cloro_sim::spawn(args.into_config(), listener).await?;
    println!("cloro-sim listening on {}", sim.base_url());
    shutdown_signal().await;
    tracing::info!("shutting down");
    sim.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
