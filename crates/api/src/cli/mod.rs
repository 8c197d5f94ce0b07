//! The `cloro-gateway` command line: which subcommand runs, with which settings.

mod admin;
mod dev;
mod table;
mod usage;

pub use admin::{QuotaCommand, TeamCommand, TokenCommand, mint_for};

use crate::config::{DEFAULT_CONFIG, Settings};
use crate::{Application, connections, openapi, telemetry};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "cloro-gateway",
    version,
    about = "A drop-in cloro API shared by many teams"
)]
pub struct Cli {
    /// A TOML file layered over the built-in defaults (see `cloro-gateway config`).
    #[arg(long, global = true, env = "CLORO_GATEWAY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway against the configured upstream.
    Serve {
        /// Listen address, overriding `server.listen`.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Run the gateway with an in-process cloro simulator as upstream, for trying it out.
    Dev {
        /// Listen address, overriding `server.listen`.
        #[arg(long)]
        listen: Option<String>,
        /// Simulated latency of every engine call, e.g. `0`, `fixed:200ms`,
        /// `lognormal:median=2s,p99=30s`.
        #[arg(long, default_value = "fixed:300ms")]
        sim_latency: String,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document, or with --check compare it with a committed file.
    Openapi {
        /// Fail when this file differs from the generated document.
        #[arg(long)]
        check: Option<PathBuf>,
    },
    /// Print the built-in default configuration, with comments.
    Config,
    /// Create, list, show, suspend and resume teams.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Show, set and clear a team's quota.
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Mint, list and revoke tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Settled usage as a table, by team, endpoint, day or month.
    Usage(usage::UsageArgs),
}

/// Runs the parsed command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Config => {
            print!("{DEFAULT_CONFIG}");
            Ok(())
        }
        Command::Openapi { check } => run_openapi(check),
        Command::Migrate => {
            let settings = load(&cli.config, None)?;
            let _logs = telemetry::init(&settings.log);
            let db = connections::connect_postgres(&settings.database).await?;
            connections::migrate(&db).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve { listen } => {
            let settings = load(&cli.config, listen)?;
            let _logs = telemetry::init(&settings.log);
            if settings.upstream.api_key.is_empty() {
                anyhow::bail!("upstream.api_key (CLORO_API_KEY) is required to serve");
            }
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "cloro-gateway listening");
            app.run_until_stopped().await?;
            Ok(())
        }
        Command::Team(command) => {
            let settings = load(&cli.config, None)?;
            let _logs = telemetry::init(&quiet(settings.log.clone()));
            admin::team(&settings, command).await
        }
        Command::Quota(command) => {
            let settings = load(&cli.config, None)?;
            let _logs = telemetry::init(&quiet(settings.log.clone()));
            admin::quota(&settings, command).await
        }
        Command::Token(command) => {
            let settings = load(&cli.config, None)?;
            let _logs = telemetry::init(&quiet(settings.log.clone()));
            admin::token(&settings, command).await
        }
        Command::Usage(args) => {
            let settings = load(&cli.config, None)?;
            let _logs = telemetry::init(&quiet(settings.log.clone()));
            usage::run(&settings, args).await
        }
        Command::Dev {
            listen,
            sim_latency,
        } => {
            let settings = load(&cli.config, listen)?;
            let _logs = telemetry::init(&settings.log);
            dev::run(settings, &sim_latency).await
        }
    }
}

/// Shell commands print their result; logs below warnings would drown it.
fn quiet(mut log: crate::config::LogSettings) -> crate::config::LogSettings {
    log.filter = "warn".into();
    log
}

fn load(file: &Option<PathBuf>, listen: Option<String>) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(file.as_deref())?;
    if let Some(listen) = listen {
        settings.server.listen = listen;
    }
    Ok(settings)
}

fn run_openapi(check: Option<PathBuf>) -> anyhow::Result<()> {
    let generated = openapi::document_json()?;
    let Some(path) = check else {
        print!("{generated}");
        return Ok(());
    };
    let committed =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    if committed != generated {
        anyhow::bail!(
            "{} is stale: regenerate it with `cargo run -p cloro-gateway -- openapi > {}`",
            path.display(),
            path.display()
        );
    }
    println!("{} is up to date", path.display());
    Ok(())
}
