//! The timed finance queries: each runs once to warm up, then several times; min, median and
//! max are printed as a Markdown table.

use std::future::Future;
use std::time::{Duration, Instant};

use accounting::TeamId;
use accounting::ledger::{
    self, EntryCursor, EntryFilter, LedgerEntry, Scope, UsageDimension, UsageQuery, export_entries,
};
use accounting::reconciliation::reconcile;
use chrono::{DateTime, TimeDelta, Utc};
use futures::TryStreamExt;
use sqlx::PgPool;

use super::super::BenchError;
use super::seed::month;

const RUNS: usize = 7;
const EXPORT_RUNS: usize = 3;
const EXPORT_PAGE: i64 = 5_000;

struct Timing {
    runs: Vec<Duration>,
}

impl Timing {
    fn ms(duration: Duration) -> f64 {
        duration.as_secs_f64() * 1_000.0
    }

    fn row(&mut self, what: &str, note: &str) {
        self.runs.sort();
        let (min, max) = (self.runs[0], self.runs[self.runs.len() - 1]);
        let median = self.runs[self.runs.len() / 2];
        println!(
            "| {what} | {:.1} | {:.1} | {:.1} | {note} |",
            Self::ms(min),
            Self::ms(median),
            Self::ms(max)
        );
    }
}

/// Runs `query` once to warm up, then `runs` times; returns the timings and the last result.
async fn time<T, F, Fut>(runs: usize, mut query: F) -> Result<(Timing, T), BenchError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BenchError>>,
{
    let mut last = query().await?;
    let mut timing = Timing { runs: Vec::new() };
    for _ in 0..runs {
        let started = Instant::now();
        last = query().await?;
        timing.runs.push(started.elapsed());
    }
    Ok((timing, last))
}

/// The `(created_at, id)` of the first entry at or after the middle of June (optionally one team's).
async fn mid_month_cursor(pool: &PgPool, team: Option<TeamId>) -> Result<EntryCursor, BenchError> {
    let middle = month(5) + TimeDelta::days(15);
    let (created_at, id) = sqlx::query_as::<_, (DateTime<Utc>, uuid::Uuid)>(
        "SELECT created_at, id FROM ledger_entries \
         WHERE created_at >= $1 AND ($2::uuid IS NULL OR team_id = $2) \
         ORDER BY created_at, id LIMIT 1",
    )
    .bind(middle)
    .bind(team)
    .fetch_one(pool)
    .await?;
    Ok(EntryCursor { created_at, id })
}

/// One CSV line per entry into a sink that only counts bytes.
fn csv_line(entry: &LedgerEntry, line: &mut String) {
    use std::fmt::Write;
    line.clear();
    let text = |value: Option<&str>| {
        let value = value.unwrap_or("");
        if value.contains([',', '"', '\n']) {
            format!("\"{}\"", value.replace('"', "\"\""))
        } else {
            value.to_owned()
        }
    };
    let _ = writeln!(
        line,
        "{},{},{},{},{},{},{},{},{},{}",
        entry.id,
        entry.created_at.to_rfc3339(),
        entry.team_id,
        text(Some(&entry.endpoint)),
        entry.estimate.get(),
        entry.status,
        entry
            .charged
            .map(|c| c.get().to_string())
            .unwrap_or_default(),
        entry.flagged,
        text(entry.flag_reason.as_deref()),
        entry
            .settled_at
            .map(|at| at.to_rfc3339())
            .unwrap_or_default(),
    );
}

async fn export_csv(pool: &PgPool, filter: EntryFilter) -> Result<(u64, u64), BenchError> {
    let mut entries = std::pin::pin!(export_entries(
        pool.clone(),
        Scope::All,
        filter,
        EXPORT_PAGE
    ));
    let (mut rows, mut bytes) = (0_u64, 0_u64);
    let mut line = String::with_capacity(256);
    while let Some(entry) = entries.try_next().await? {
        csv_line(&entry, &mut line);
        rows += 1;
        bytes += line.len() as u64;
    }
    Ok((rows, bytes))
}

/// Times one usage query and prints its row.
async fn usage_row(pool: &PgPool, what: &str, query: &UsageQuery) -> Result<(), BenchError> {
    let (mut t, rows) = time(RUNS, || async {
        Ok(ledger::usage(pool, Scope::All, query).await?)
    })
    .await?;
    t.row(what, &format!("{} rows", rows.len()));
    Ok(())
}

/// Times listing 100 entries of `scope` from the middle of June and prints its row.
async fn list_row(
    pool: &PgPool,
    what: &str,
    scope: Scope,
    filter: &EntryFilter,
) -> Result<(), BenchError> {
    let team = match scope {
        Scope::All => None,
        Scope::Team(team) => Some(team),
    };
    let cursor = mid_month_cursor(pool, team).await?;
    let (mut t, page) = time(RUNS, || async {
        Ok(ledger::list_entries(pool, scope, filter, Some(cursor), 100).await?)
    })
    .await?;
    t.row(what, &format!("{} rows", page.len()));
    Ok(())
}

/// Times exporting the filtered entries as CSV and prints its row, with the throughput.
async fn export_row(pool: &PgPool, what: &str, filter: &EntryFilter) -> Result<(), BenchError> {
    let (mut t, (rows, bytes)) = time(EXPORT_RUNS, || export_csv(pool, filter.clone())).await?;
    let slowest = t.runs.iter().copied().max().unwrap_or_default();
    t.row(
        what,
        &format!(
            "{rows} rows, {:.1} MiB, {:.0} rows/s at the slowest run",
            bytes as f64 / 1_048_576.0,
            rows as f64 / slowest.as_secs_f64()
        ),
    );
    Ok(())
}

pub async fn run_all(pool: &PgPool) -> Result<(), BenchError> {
    let team: TeamId = sqlx::query_scalar("SELECT id FROM teams WHERE slug = 'bench-team-07'")
        .fetch_one(pool)
        .await?;
    let (june, july) = (month(5), month(6));
    let day = |at: DateTime<Utc>| at.date_naive();

    println!("\n| query | min ms | median ms | max ms | result |\n|---|---|---|---|---|");

    let monthly = UsageQuery {
        from: day(june),
        to: day(july),
        group_by: vec![UsageDimension::Team, UsageDimension::Month],
        team: None,
        endpoint: None,
        mode: None,
    };
    usage_row(pool, "usage: monthly totals per team, one month", &monthly).await?;

    let quarter = UsageQuery {
        from: day(month(3)),
        to: day(july),
        group_by: vec![UsageDimension::Day],
        team: Some(team),
        endpoint: None,
        mode: None,
    };
    usage_row(pool, "usage: one team's daily usage, one quarter", &quarter).await?;

    let in_june = EntryFilter {
        from: Some(june),
        to: Some(july),
        ..EntryFilter::default()
    };
    let (all_teams, one_team) = (Scope::All, Scope::Team(team));
    list_row(
        pool,
        "list_entries: 100 from mid-month, all teams",
        all_teams,
        &in_june,
    )
    .await?;
    list_row(
        pool,
        "list_entries: 100 from mid-month, team-scoped",
        one_team,
        &in_june,
    )
    .await?;

    let team_june = EntryFilter {
        team: Some(team),
        ..in_june.clone()
    };
    export_row(pool, "export: one month as CSV, one team", &team_june).await?;
    export_row(pool, "export: one month as CSV, all teams", &in_june).await?;

    let (mut t, teams) = time(RUNS, || async {
        Ok(ledger::period_usage(pool, Scope::All, june, july).await?)
    })
    .await?;
    t.row(
        "period_usage: one month, every team",
        &format!("{} teams", teams.len()),
    );

    let (mut t, report) = time(RUNS, || async {
        Ok(reconcile(pool, june, july, 100).await?)
    })
    .await?;
    t.row(
        "reconcile: one month, 100 explaining entries",
        &format!(
            "consumed {:?}, ledger {}, {} flagged listed",
            report.upstream_consumed,
            report.ledger_charged,
            report.explaining.len()
        ),
    );
    Ok(())
}
