//! Administering from the shell: teams, quotas and tokens. Every change goes through the
//! same actions as the admin API (`crate::admin::actions`), audited with the actor `cli`,
//! so it works before any admin token exists and leaves the same trail.

use super::table::{or_dash, render};
use crate::admin::actions::quotas::QuotaInput;
use crate::admin::actions::tokens::{MintInput, parse_role, parse_ttl_field};
use crate::admin::actions::{self, Actor};
use crate::admin::views::{QuotaView, TokenView};
use crate::auth::mint::MintedToken;
use crate::config::Settings;
use crate::connections;
use accounting::Role;
use accounting::teams::Team;
use accounting::tokens::TokenFilter;
use clap::Subcommand;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create an active team.
    Create {
        /// Lower-case letters, digits and dashes, 2-63 characters.
        slug: String,
        /// Display name (defaults to the slug).
        #[arg(long)]
        name: Option<String>,
    },
    /// Refuse every request of the team until it is resumed.
    Suspend { slug: String },
    /// Let a suspended team call again.
    Resume { slug: String },
    /// List teams.
    List {
        /// Only `active` or `suspended` teams.
        #[arg(long)]
        status: Option<String>,
    },
    /// Show a team and the quota in force for it.
    Show { slug: String },
}

#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Show the team's quota in force (its own, or the configured default).
    Show { slug: String },
    /// Set the team's own quota.
    Set {
        slug: String,
        /// Requests per second.
        #[arg(long)]
        rps: f64,
        #[arg(long)]
        burst: i64,
        /// Requests in flight at once.
        #[arg(long)]
        concurrency: i64,
        /// Share of contended account slots (default 1).
        #[arg(long)]
        weight: Option<i64>,
        /// Credits per budget period (no budget when left out).
        #[arg(long)]
        budget: Option<i64>,
        /// Allow spending past the budget (flagged and alerted) instead of refusing.
        #[arg(long)]
        soft: bool,
        /// Percent of the budget at which to alert.
        #[arg(long)]
        alert_pct: Option<i64>,
        /// The highest async priority (1-10) the team's tasks may use (default 10).
        #[arg(long)]
        max_priority: Option<i64>,
        /// The most async tasks the team may have queued at once (default 1000).
        #[arg(long)]
        max_queued: Option<i64>,
    },
    /// Remove the team's own quota: the configured default applies again.
    Clear { slug: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a token signed with auth.signing_secret and print it.
    Mint {
        /// The team (required for --role team).
        #[arg(long)]
        team: Option<String>,
        /// team, admin or finance.
        #[arg(long, default_value = "team")]
        role: String,
        /// Lifetime: 90s, 15m, 1h, 30d (default 30d for a team token, and
        /// auth.max_admin_token_ttl_secs, 7 days, for an admin or finance token).
        #[arg(long)]
        ttl: Option<String>,
        /// The token's `sub` (defaults to `cli:<role>[:<team>]`).
        #[arg(long)]
        subject: Option<String>,
    },
    /// Revoke a minted token by its jti, and the tokens it minted; every replica refuses
    /// them within moments.
    Revoke { jti: Uuid },
    /// Revoke any token (a partner's or the identity provider's too) by issuer and jti.
    RevokeAny {
        /// The token's `iss` (default auth.issuer).
        #[arg(long)]
        issuer: Option<String>,
        #[arg(long)]
        jti: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Refuse every token a subject holds that was issued before now (or --not-before).
    CutOff {
        /// The tokens' `iss` (default auth.issuer).
        #[arg(long)]
        issuer: Option<String>,
        #[arg(long)]
        subject: String,
        /// RFC 3339 (default now).
        #[arg(long)]
        not_before: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// List tokens, newest first (never their text, which is not stored).
    List {
        /// Only this team's tokens.
        #[arg(long)]
        team: Option<String>,
        /// Only tokens of this role.
        #[arg(long)]
        role: Option<String>,
        /// Include revoked tokens.
        #[arg(long)]
        include_revoked: bool,
        /// At most this many (newest first).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

async fn connect(settings: &Settings) -> anyhow::Result<PgPool> {
    let db = connections::connect_postgres(&settings.database).await?;
    connections::migrate(&db).await?;
    Ok(db)
}

fn team_rows(teams: &[Team]) -> String {
    let rows: Vec<Vec<String>> = teams
        .iter()
        .map(|t| {
            vec![
                t.slug.as_str().to_owned(),
                t.status.as_str().to_owned(),
                t.name.clone(),
                t.created_at.format("%Y-%m-%d %H:%M").to_string(),
                t.id.to_string(),
            ]
        })
        .collect();
    render(&["SLUG", "STATUS", "NAME", "CREATED", "ID"], &rows)
}

fn quota_rows(q: &QuotaView) -> String {
    let rows = vec![vec![
        q.team.clone(),
        q.rps.to_string(),
        q.burst.to_string(),
        q.concurrency.to_string(),
        q.weight.to_string(),
        or_dash(q.budget),
        if q.hard_budget { "hard" } else { "soft" }.to_owned(),
        or_dash(q.alert_threshold_pct),
        q.max_priority.to_string(),
        q.max_queued_tasks.to_string(),
        match q.source {
            crate::admin::views::QuotaSource::Team => "team",
            crate::admin::views::QuotaSource::Default => "default",
        }
        .to_owned(),
    ]];
    render(
        &[
            "TEAM",
            "RPS",
            "BURST",
            "CONCURRENCY",
            "WEIGHT",
            "BUDGET",
            "KIND",
            "ALERT%",
            "MAX_PRIORITY",
            "MAX_QUEUED",
            "SOURCE",
        ],
        &rows,
    )
}

pub async fn team(settings: &Settings, command: TeamCommand) -> anyhow::Result<()> {
    let db = connect(settings).await?;
    let patch = |status: &str| actions::teams::TeamPatch {
        name: None,
        status: Some(status.to_owned()),
    };
    match command {
        TeamCommand::Create { slug, name } => {
            let team = actions::teams::create(&db, &Actor::cli(), &slug, name.as_deref()).await?;
            println!(
                "created team {} ({})",
                team.slug.as_str(),
                team.id.as_uuid()
            );
        }
        TeamCommand::Suspend { slug } => {
            let team =
                actions::teams::update(&db, &Actor::cli(), &slug, &patch("suspended")).await?;
            println!("team {} is now {}", team.slug.as_str(), team.status);
        }
        TeamCommand::Resume { slug } => {
            let team = actions::teams::update(&db, &Actor::cli(), &slug, &patch("active")).await?;
            println!("team {} is now {}", team.slug.as_str(), team.status);
        }
        TeamCommand::List { status } => {
            let teams = actions::teams::list(&db, status.as_deref()).await?;
            print!("{}", team_rows(&teams));
        }
        TeamCommand::Show { slug } => {
            let team = actions::teams::find(&db, &slug).await?;
            print!("{}", team_rows(std::slice::from_ref(&team)));
            let default = settings.limits.team_default.values();
            let quota = actions::quotas::show(&db, &slug, &default).await?;
            println!();
            print!("{}", quota_rows(&quota));
        }
    }
    Ok(())
}

pub async fn quota(settings: &Settings, command: QuotaCommand) -> anyhow::Result<()> {
    let db = connect(settings).await?;
    let default = settings.limits.team_default.values();
    let quota = match command {
        QuotaCommand::Show { slug } => actions::quotas::show(&db, &slug, &default).await?,
        QuotaCommand::Set {
            slug,
            rps,
            burst,
            concurrency,
            weight,
            budget,
            soft,
            alert_pct,
            max_priority,
            max_queued,
        } => {
            let input = QuotaInput {
                rps,
                burst,
                concurrency,
                weight,
                budget,
                hard_budget: Some(!soft),
                alert_threshold_pct: alert_pct,
                max_priority,
                max_queued_tasks: max_queued,
            };
            actions::quotas::set(&db, &Actor::cli(), &slug, &input).await?
        }
        QuotaCommand::Clear { slug } => {
            actions::quotas::clear(&db, &Actor::cli(), &slug, &default).await?
        }
    };
    print!("{}", quota_rows(&quota));
    Ok(())
}

pub async fn token(settings: &Settings, command: TokenCommand) -> anyhow::Result<()> {
    let db = connect(settings).await?;
    match command {
        TokenCommand::Mint {
            team,
            role,
            ttl,
            subject,
        } => {
            let role = parse_role("--role", &role)?;
            let ttl = match ttl {
                Some(ttl) => parse_ttl_field(&ttl)?,
                None => default_ttl(&settings.auth, role),
            };
            let minted = mint_for(&db, settings, role, team.as_deref(), subject, ttl).await?;
            println!("{}", minted.token);
            eprintln!(
                "jti {} expires {}",
                minted.jti,
                minted.expires_at.to_rfc3339()
            );
        }
        TokenCommand::Revoke { jti } => {
            let (_, cascaded) =
                actions::tokens::revoke(&db, &settings.auth, &Actor::cli(), jti).await?;
            println!("revoked {jti}");
            for child in cascaded {
                println!("revoked {child} (minted by a revoked token)");
            }
        }
        TokenCommand::RevokeAny {
            issuer,
            jti,
            reason,
        } => {
            let issuer = issuer.unwrap_or_else(|| settings.auth.issuer.clone());
            let (_, cascaded) = actions::tokens::revoke_any(
                &db,
                &settings.auth,
                &Actor::cli(),
                &issuer,
                &jti,
                reason.as_deref(),
            )
            .await?;
            println!("revoked {jti} of {issuer}");
            for child in cascaded {
                println!("revoked {child} (minted by a revoked token)");
            }
        }
        TokenCommand::CutOff {
            issuer,
            subject,
            not_before,
        } => {
            let issuer = issuer.unwrap_or_else(|| settings.auth.issuer.clone());
            let cutoff =
                actions::tokens::cut_off_subject(&db, &Actor::cli(), &issuer, &subject, not_before)
                    .await?;
            println!(
                "tokens of {subject} ({issuer}) issued before {} are refused",
                cutoff.not_before.to_rfc3339()
            );
        }
        TokenCommand::List {
            team,
            role,
            include_revoked,
            limit,
        } => {
            let team_id = match team {
                Some(slug) => Some(actions::teams::find(&db, &slug).await?.id),
                None => None,
            };
            let role = role.map(|r| parse_role("--role", &r)).transpose()?;
            let filter = TokenFilter {
                team_id,
                role,
                include_revoked,
                unexpired_only: false,
            };
            let tokens =
                accounting::tokens::list(&db, &filter, None, limit.clamp(1, 10_000)).await?;
            let rows: Vec<Vec<String>> = tokens
                .iter()
                .map(|t| {
                    let view = TokenView::from(t);
                    vec![
                        view.jti.to_string(),
                        view.role,
                        or_dash(view.team),
                        view.subject,
                        view.state,
                        view.expires_at.format("%Y-%m-%d %H:%M").to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                render(
                    &["JTI", "ROLE", "TEAM", "SUBJECT", "STATE", "EXPIRES"],
                    &rows
                )
            );
        }
    }
    Ok(())
}

/// A team token's default lifetime (30 days), or the longest an admin or finance token may
/// have.
fn default_ttl(auth: &crate::config::AuthSettings, role: Role) -> std::time::Duration {
    match role {
        Role::Team => std::time::Duration::from_secs(30 * 24 * 3600),
        Role::Admin | Role::Finance => crate::auth::mint::max_ttl(auth, role),
    }
}

/// Mints a token for `team` (looked up by slug) or for a company-wide role, audited with
/// the actor `cli`.
pub async fn mint_for(
    db: &PgPool,
    settings: &Settings,
    role: Role,
    team: Option<&str>,
    subject: Option<String>,
    ttl: std::time::Duration,
) -> anyhow::Result<MintedToken> {
    let subject = subject.unwrap_or_else(|| match team {
        Some(slug) => format!("cli:{}:{slug}", role.as_str()),
        None => format!("cli:{}", role.as_str()),
    });
    let (minted, _) = actions::tokens::mint(
        db,
        &settings.auth,
        &Actor::cli(),
        MintInput {
            role,
            team,
            subject,
            ttl,
        },
    )
    .await?;
    Ok(minted)
}
