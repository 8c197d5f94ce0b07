//! `cloro-gateway usage`: settled usage from the daily rollups as a table, the same report
//! as `GET /finance/usage`, for a quick look from the shell.

use super::table;
use crate::config::Settings;
use crate::connections;
use crate::directory::TeamNames;
use crate::finance::filters::UsageParams;
use crate::finance::usage::report;
use crate::finance::views::{UsageReport, UsageRowView};
use accounting::ledger::Scope;
use chrono::NaiveDate;
use clap::Args;

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// First day (YYYY-MM-DD); default the current budget period's first day.
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Day after the last (exclusive); default the current period's end.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Comma-separated: team, endpoint, mode (sync or async), and day or month.
    #[arg(long, default_value = "team")]
    pub by: String,
    /// Only this team (slug).
    #[arg(long)]
    pub team: Option<String>,
    /// Only sync calls or only async tasks: `sync` or `async`.
    #[arg(long)]
    pub mode: Option<String>,
}

pub async fn run(settings: &Settings, args: UsageArgs) -> anyhow::Result<()> {
    let db = connections::connect_postgres(&settings.database).await?;
    connections::migrate(&db).await?;
    let params = UsageParams {
        from: args.from,
        to: args.to,
        group_by: Some(args.by),
        team: args.team,
        endpoint: None,
        mode: args.mode,
    };
    let period = crate::period::current(settings.limits.budget_period, chrono::Utc::now());
    let teams = TeamNames::load(&db).await?;
    let usage = report(&db, &teams, &period, Scope::All, &params)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "usage from {} to {} (exclusive), settled entries",
        usage.from, usage.to
    );
    print!("{}", render(&usage));
    Ok(())
}

fn render(usage: &UsageReport) -> String {
    let mut headers: Vec<&str> = usage.group_by.iter().map(String::as_str).collect();
    headers.extend([
        "entries", "posted", "voided", "expired", "flagged", "estimate", "charged",
    ]);
    let cells = |row: &UsageRowView, label: Option<&str>| {
        let mut cells: Vec<String> = usage
            .group_by
            .iter()
            .enumerate()
            .map(|(i, dimension)| match (label, dimension.as_str()) {
                (Some(label), _) if i == 0 => label.to_owned(),
                (Some(_), _) => String::new(),
                (None, "team") => row.team.clone().unwrap_or_default(),
                (None, "endpoint") => row.endpoint.clone().unwrap_or_default(),
                (None, "mode") => row.mode.clone().unwrap_or_default(),
                (None, "day") => row.day.map(|d| d.to_string()).unwrap_or_default(),
                (None, _) => row
                    .month
                    .map(|m| m.format("%Y-%m").to_string())
                    .unwrap_or_default(),
            })
            .collect();
        cells.extend(row.counts().map(|n| n.to_string()));
        cells
    };
    let mut lines: Vec<Vec<String>> = usage.rows.iter().map(|row| cells(row, None)).collect();
    lines.push(cells(&usage.totals, Some("TOTAL")));
    table::render(&headers, &lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_then_a_total_line() {
        let row = |team: &str, charged| UsageRowView {
            team: Some(team.into()),
            entries: 1,
            posted: 1,
            charged,
            estimate: charged,
            ..Default::default()
        };
        let mut totals = UsageRowView::default();
        let rows = vec![row("alpha", 7), row("beta", 5)];
        rows.iter().for_each(|r| totals.add(r));
        let text = render(&UsageReport {
            from: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            group_by: vec![
                crate::finance::usage::dimension_name(accounting::ledger::UsageDimension::Team)
                    .into(),
            ],
            rows,
            totals,
        });
        let last = text.lines().last().unwrap();
        assert!(last.starts_with("TOTAL"), "{text}");
        assert!(last.ends_with("12"), "{text}");
        assert_eq!(text.lines().count(), 4);
    }

    #[test]
    fn grouped_by_mode_each_row_names_its_mode() {
        let row = |mode: &str, charged| UsageRowView {
            mode: Some(mode.into()),
            entries: 1,
            posted: 1,
            charged,
            estimate: charged,
            ..Default::default()
        };
        let mut totals = UsageRowView::default();
        let rows = vec![row("async", 5), row("sync", 7)];
        rows.iter().for_each(|r| totals.add(r));
        let text = render(&UsageReport {
            from: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            group_by: vec![
                crate::finance::usage::dimension_name(accounting::ledger::UsageDimension::Mode)
                    .into(),
            ],
            rows,
            totals,
        });
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("mode"), "{text}");
        assert!(lines[lines.len() - 3].starts_with("async"), "{text}");
        assert!(lines[lines.len() - 2].starts_with("sync"), "{text}");
        assert!(lines[lines.len() - 1].ends_with("12"), "{text}");
    }
}
