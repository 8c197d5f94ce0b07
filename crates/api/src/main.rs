//! The `cloro-gateway` binary: parse the command line and run it.

use clap::Parser;

/// mimalloc instead of the system allocator: about a sixth of the request path's CPU went to
/// glibc's malloc and free (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cloro_gateway::cli::Cli::parse();
    match cloro_gateway::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
