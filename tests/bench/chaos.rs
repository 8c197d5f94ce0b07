//! Chaos suite: the real gateway (two replicas) under load from ten teams while the upstream
//! times out and browns out, a replica is SIGKILLed, Redis loses every key and Postgres
//! restarts; afterwards the ledger must match what cloro charged, to the credit, and hard
//! budgets must have held. Prints a per-team table; exits 1 on any violation, 2 on an error.
//!
//! Run with `cargo run --release -p e2e-tests --bin chaos-bench -- [--requests N]
//! [--concurrency C] [--seed S] [--keep] [--strict]`. Needs `initdb`/`pg_ctl` (PostgreSQL)
//! and `redis-server` on the machine; the shared instances are never touched.
//!
//! `chaos-bench gateway <args>` is the gateway's own command line (`cloro-gateway <args>`):
//! the suite re-executes itself that way for every gateway process, so no second binary has
//! to be found. See docs/reliability.md.

mod chaos {
    pub mod checks;
    pub mod cluster;
    pub mod faults;
    pub mod gateway;
    pub mod load;
    pub mod probes;
    pub mod report;
    pub mod run;
    pub mod services;
    pub mod teams;
}

use clap::Parser;
use std::ffi::OsString;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "chaos-bench",
    about = "Faults under load: the gateway's ledger must still match cloro to the credit"
)]
struct Cli {
    #[command(flatten)]
    options: chaos::run::Options,
}

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|arg| arg == "gateway") {
        args.drain(..2);
        return gateway(args);
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("chaos-bench: error: {err}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            outcome = chaos::run::run(&cli.options) => outcome,
            // Dropping the run stops every process it started.
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("chaos-bench: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// `chaos-bench gateway <args>`: exactly `cloro-gateway <args>` (crates/api/src/main.rs).
fn gateway(args: Vec<OsString>) -> ExitCode {
    let cli = cloro_gateway::cli::Cli::parse_from(
        std::iter::once(OsString::from("cloro-gateway")).chain(args),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cloro_gateway::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
