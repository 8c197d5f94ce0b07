//! `ledger-bench`: how fast the finance queries answer over a ledger of ten million entries.
//! Seeds a database of its own (50 teams, 12 months, settled entries of mixed endpoints and
//! statuses), then times usage, listing, export, period usage and reconciliation.
//!
//! ```sh
//! cargo run --release -p accounting --bin ledger-bench -- [--entries N] [--reuse]
//! ```
//! `BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/cloro_gateway_bench`)
//! names the database; it is dropped and re-created unless `--reuse` finds it seeded.

mod ledger_bench {
    pub mod queries;
    pub mod seed;
}

use std::str::FromStr;
use std::time::Instant;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use ledger_bench::{queries, seed};

type BenchError = Box<dyn std::error::Error + Send + Sync>;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/cloro_gateway_bench";

struct Args {
    entries: i64,
    reuse: bool,
}

fn parse_args() -> Result<Args, BenchError> {
    let mut args = Args {
        entries: 10_000_000,
        reuse: false,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        match word.as_str() {
            "--entries" => {
                let value = words.next().ok_or("--entries needs a number")?;
                args.entries = value.replace('_', "").parse()?;
                if args.entries < 12_000 {
                    return Err("--entries must be at least 12000".into());
                }
            }
            "--reuse" => args.reuse = true,
            other => {
                return Err(format!("unknown argument {other:?}; use --entries N, --reuse").into());
            }
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), BenchError> {
    let args = parse_args()?;
    let url = std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let options = PgConnectOptions::from_str(&url)?;

    let seeded = if args.reuse {
        seed::existing_entries(&options).await?
    } else {
        None
    };
    let pool = match seeded {
        Some(count) if count == args.entries => {
            println!("reusing the bench database: {count} entries already seeded");
            PgPoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await?
        }
        other => {
            if let Some(count) = other {
                println!(
                    "bench database holds {count} entries, not {}: re-seeding",
                    args.entries
                );
            }
            seed::recreate_database(&options).await?;
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await?;
            accounting::migrate(&pool).await?;
            let started = Instant::now();
            seed::seed(&pool, args.entries).await?;
            let seeded_in = started.elapsed();
            let started = Instant::now();
            sqlx::query("VACUUM (ANALYZE) ledger_entries")
                .execute(&pool)
                .await?;
            sqlx::query("VACUUM (ANALYZE) ledger_daily_rollups")
                .execute(&pool)
                .await?;
            println!(
                "seeded {} entries in {:.1} s ({:.0} entries/s); VACUUM ANALYZE {:.1} s",
                args.entries,
                seeded_in.as_secs_f64(),
                args.entries as f64 / seeded_in.as_secs_f64(),
                started.elapsed().as_secs_f64()
            );
            pool
        }
    };
    sqlx::query("ANALYZE").execute(&pool).await?;
    seed::print_sizes(&pool).await?;
    queries::run_all(&pool).await?;
    pool.close().await;
    Ok(())
}
