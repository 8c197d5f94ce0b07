//! `cloro-gateway usage`: settled usage from the daily rollups as a table, grouped like
//! `GET /finance/usage`, for a quick look from the shell.

use super::table;
use crate::config::Settings;
use crate::connections;
use crate::finance::filters::UsageParams;
use crate::finance::views::{TeamNames, UsageRowView};
use accounting::ledger::{Scope, UsageDimension, UsageQuery};
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
    /// Comma-separated: team, endpoint, and day or month.
    #[arg(long, default_value = "team")]
    pub by: String,
    /// Only this team (slug).
    #[arg(long)]
    pub team: Option<String>,
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
    };
    let period = crate::period::current(settings.limits.budget_period, chrono::Utc::now());
    let (from, to) = params.window(&period).map_err(|e| anyhow::anyhow!("{e}"))?;
    let group_by = params.dimensions().map_err(|e| anyhow::anyhow!("{e}"))?;
    let teams = TeamNames::load(&db).await?;
    let team = crate::finance::filters::team_id(&teams, params.team.as_deref())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rows = accounting::ledger::usage(
        &db,
        Scope::All,
        &UsageQuery {
            from,
            to,
            group_by: group_by.clone(),
            team,
            endpoint: None,
        },
    )
    .await?;
    let rows: Vec<UsageRowView> = rows
        .into_iter()
        .map(|row| UsageRowView::new(row, &teams))
        .collect();
    let mut totals = UsageRowView::default();
    for row in &rows {
        totals.add(row);
    }
    println!("usage from {from} to {to} (exclusive), settled entries");
    print!("{}", render(&group_by, &rows, &totals));
    Ok(())
}

fn render(group_by: &[UsageDimension], rows: &[UsageRowView], totals: &UsageRowView) -> String {
    let mut headers: Vec<&str> = group_by
        .iter()
        .map(|d| match d {
            UsageDimension::Team => "team",
            UsageDimension::Endpoint => "endpoint",
            UsageDimension::Day => "day",
            UsageDimension::Month => "month",
        })
        .collect();
    headers.extend([
        "entries", "posted", "voided", "expired", "flagged", "estimate", "charged",
    ]);
    let cells = |row: &UsageRowView, label: Option<&str>| {
        let mut cells: Vec<String> = group_by
            .iter()
            .enumerate()
            .map(|(i, d)| {
                if let Some(label) = label {
                    return if i == 0 {
                        label.to_owned()
                    } else {
                        String::new()
                    };
                }
                match d {
                    UsageDimension::Team => row.team.clone().unwrap_or_default(),
                    UsageDimension::Endpoint => row.endpoint.clone().unwrap_or_default(),
                    UsageDimension::Day => row.day.map(|d| d.to_string()).unwrap_or_default(),
                    UsageDimension::Month => row
                        .month
                        .map(|m| m.format("%Y-%m").to_string())
                        .unwrap_or_default(),
                }
            })
            .collect();
        cells.extend(
            [
                row.entries,
                row.posted,
                row.voided,
                row.expired,
                row.flagged,
                row.estimate,
                row.charged,
            ]
            .map(|n| n.to_string()),
        );
        cells
    };
    let mut lines: Vec<Vec<String>> = rows.iter().map(|row| cells(row, None)).collect();
    lines.push(cells(totals, Some("TOTAL")));
    table::render(&headers, &lines)
}
