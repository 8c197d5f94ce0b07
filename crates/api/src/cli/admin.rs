//! Bootstrapping from the shell: create, suspend and resume teams; mint and revoke tokens.
//! The same operations the admin API offers, for before any admin token exists.

use crate::auth::mint::{MintRequest, mint, parse_ttl};
use crate::config::Settings;
use crate::connections;
use accounting::{Role, TeamSlug, TeamStatus};
use anyhow::{Context, bail};
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
        /// Lifetime: 90s, 15m, 1h, 30d.
        #[arg(long, default_value = "30d")]
        ttl: String,
        /// The token's `sub` (defaults to `cli:<role>[:<team>]`).
        #[arg(long)]
        subject: Option<String>,
    },
    /// Revoke a token by its jti; every replica refuses it within seconds.
    Revoke { jti: Uuid },
}

async fn connect(settings: &Settings) -> anyhow::Result<PgPool> {
    let db = connections::connect_postgres(&settings.database).await?;
    connections::migrate(&db).await?;
    Ok(db)
}

pub async fn team(settings: &Settings, command: TeamCommand) -> anyhow::Result<()> {
    let db = connect(settings).await?;
    match command {
        TeamCommand::Create { slug, name } => {
            let slug = TeamSlug::parse(&slug).map_err(|e| anyhow::anyhow!("{e}"))?;
            let name = name.unwrap_or_else(|| slug.as_str().to_owned());
            let team = accounting::teams::create(&db, &slug, &name).await?;
            println!(
                "created team {} ({})",
                team.slug.as_str(),
                team.id.as_uuid()
            );
        }
        TeamCommand::Suspend { slug } => set_status(&db, &slug, TeamStatus::Suspended).await?,
        TeamCommand::Resume { slug } => set_status(&db, &slug, TeamStatus::Active).await?,
    }
    Ok(())
}

async fn set_status(db: &PgPool, slug: &str, status: TeamStatus) -> anyhow::Result<()> {
    let slug = TeamSlug::parse(slug).map_err(|e| anyhow::anyhow!("{e}"))?;
    match accounting::teams::set_status(db, &slug, status).await? {
        Some(team) => println!(
            "team {} is now {}",
            team.slug.as_str(),
            team.status.as_str()
        ),
        None => bail!("no team {}", slug.as_str()),
    }
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
            let role = Role::parse(&role).map_err(|e| anyhow::anyhow!("{e}"))?;
            let ttl = parse_ttl(&ttl)?;
            let minted = mint_for(&db, settings, role, team.as_deref(), subject, ttl).await?;
            println!("{}", minted.token);
            eprintln!(
                "jti {} expires {}",
                minted.jti,
                minted.expires_at.to_rfc3339()
            );
        }
        TokenCommand::Revoke { jti } => {
            if accounting::tokens::revoke(&db, jti).await? {
                println!("revoked {jti}");
            } else {
                bail!("no unrevoked token with jti {jti}");
            }
        }
    }
    Ok(())
}

/// Mints a token for `team` (looked up by slug) or for a company-wide role.
pub async fn mint_for(
    db: &PgPool,
    settings: &Settings,
    role: Role,
    team: Option<&str>,
    subject: Option<String>,
    ttl: std::time::Duration,
) -> anyhow::Result<crate::auth::mint::MintedToken> {
    let team = match (role, team) {
        (Role::Team, Some(slug)) => {
            let slug = TeamSlug::parse(slug).map_err(|e| anyhow::anyhow!("{e}"))?;
            let team = accounting::teams::by_slug(db, &slug)
                .await?
                .with_context(|| format!("no team {}", slug.as_str()))?;
            Some(team)
        }
        (Role::Team, None) => bail!("--team is required for a team token"),
        (_, Some(_)) => bail!("admin and finance tokens are not tied to a team"),
        (_, None) => None,
    };
    let subject = subject.unwrap_or_else(|| match &team {
        Some(t) => format!("cli:team:{}", t.slug.as_str()),
        None => format!("cli:{}", role.as_str()),
    });
    mint(
        db,
        &settings.auth,
        MintRequest {
            role,
            team: team.as_ref().map(|t| (t.id, &t.slug)),
            subject: &subject,
            ttl,
        },
    )
    .await
}
