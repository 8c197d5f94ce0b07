//! The run's ten teams, created with the gateway's own CLI: three with hard budgets well
//! below their demand, one with a soft budget, six without.

use super::gateway::GatewayEnv;
use super::load::{BudgetKind, Team};

const TEAMS: [(&str, BudgetKind); 10] = [
    ("hard-a", BudgetKind::Hard),
    ("hard-b", BudgetKind::Hard),
    ("hard-c", BudgetKind::Hard),
    ("soft-a", BudgetKind::Soft),
    ("open-a", BudgetKind::Unbudgeted),
    ("open-b", BudgetKind::Unbudgeted),
    ("open-c", BudgetKind::Unbudgeted),
    ("open-d", BudgetKind::Unbudgeted),
    ("open-e", BudgetKind::Unbudgeted),
    ("open-f", BudgetKind::Unbudgeted),
];

/// Per-team concurrency: enough that the account's limit, not the team's, is what binds.
const TEAM_CONCURRENCY: u32 = 16;

/// A budget of about a quarter of what a team asks for: each team gets a tenth of the
/// requests at about 6 credits each.
pub fn budget_for(requests: u64) -> i64 {
    let demand = requests as f64 / TEAMS.len() as f64 * 6.0;
    ((demand * 0.25) as i64).max(60)
}

/// Creates every team with its quota and mints its token.
pub async fn create(gateway: &GatewayEnv, requests: u64) -> anyhow::Result<Vec<Team>> {
    let budget = budget_for(requests);
    let creations = TEAMS.iter().map(|&(slug, kind)| async move {
        gateway.run(&["team", "create", slug]).await?;
        let budget = (kind != BudgetKind::Unbudgeted).then_some(budget);
        let concurrency = TEAM_CONCURRENCY.to_string();
        let budget_text = budget.map(|b| b.to_string()).unwrap_or_default();
        let mut args = vec![
            "quota",
            "set",
            slug,
            "--rps",
            "1000",
            "--burst",
            "1000",
            "--concurrency",
            &concurrency,
        ];
        if budget.is_some() {
            args.extend(["--budget", &budget_text]);
        }
        if kind == BudgetKind::Soft {
            args.push("--soft");
        }
        gateway.run(&args).await?;
        let token = gateway
            .run(&[
                "token", "mint", "--team", slug, "--role", "team", "--ttl", "1d",
            ])
            .await?;
        anyhow::Ok(Team {
            slug: slug.to_owned(),
            kind,
            budget,
            token,
        })
    });
    futures::future::try_join_all(creations).await
}
