//! Every admin change, in one place for the HTTP API and the CLI: each validates its input
//! (naming the faulty field), makes the change, appends its audit row and, when replicas
//! must re-read their directory, NOTIFYs the directory channel, all in one transaction. The
//! caller names the [`Actor`]: the admin token (its `sub`, issuer and `jti`), or `cli` from
//! the shell.

pub mod account_settings;
pub mod quotas;
pub mod teams;
pub mod tokens;

use crate::error::{ApiError, ErrorCode, FieldError};
use accounting::AccountingError;
use accounting::audit::NewAuditEntry;
use serde::Serialize;
use sqlx::{Postgres, Transaction};

/// Who makes a change: an admin token's subject and (issuer, jti), or the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub subject: String,
    /// The (issuer, jti) of the acting token; `None` for the command line.
    pub token: Option<(String, String)>,
}

impl Actor {
    /// Changes made with the `cloro-gateway` command line.
    pub fn cli() -> Self {
        Self {
            subject: crate::auth::key_policy::CLI_SUBJECT.to_owned(),
            token: None,
        }
    }

    /// Changes made with the caller's token.
    pub fn token(principal: &crate::auth::Principal) -> Self {
        Self {
            subject: principal.subject.clone(),
            token: Some((principal.issuer.clone(), principal.jti.clone())),
        }
    }

    /// The acting token as (issuer, jti).
    pub fn token_ref(&self) -> Option<(&str, &str)> {
        self.token
            .as_ref()
            .map(|(issuer, jti)| (issuer.as_str(), jti.as_str()))
    }
}

/// Longest actor kept in the audit log (the column's constraint).
const MAX_ACTOR_CHARS: usize = 200;

/// Why an admin change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("{}", describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    AlreadyRevoked(String),
    /// The gateway is not configured for this (e.g. minting without a signing secret).
    #[error("{0}")]
    NotConfigured(String),
    /// The store refused or could not be reached; mapped like every other Postgres error.
    #[error(transparent)]
    Store(#[from] AccountingError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn describe(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ActionError {
    /// A 400 naming one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }
}

impl From<sqlx::Error> for ActionError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

impl From<ActionError> for ApiError {
    fn from(error: ActionError) -> Self {
        match error {
            ActionError::Invalid(fields) => ApiError::validation(fields),
            ActionError::NotFound(message) => ApiError::new(ErrorCode::ResourceNotFound, message),
            ActionError::AlreadyExists(message) => {
                ApiError::new(ErrorCode::ResourceAlreadyExists, message)
            }
            ActionError::AlreadyRevoked(message) => {
                ApiError::new(ErrorCode::TokenAlreadyRevoked, message)
            }
            ActionError::NotConfigured(message) => {
                ApiError::new(ErrorCode::ServiceUnavailable, message)
            }
            ActionError::Store(error) => error.into(),
            ActionError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// One audited change.
pub struct Change<'a> {
    /// e.g. `team.update`, `quota.set`, `token.revoke`.
    pub action: &'a str,
    /// `team`, `quota`, `account`, `token`.
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// A view as audit JSON.
pub fn to_json<T: Serialize>(view: &T) -> Option<serde_json::Value> {
    serde_json::to_value(view).ok()
}

/// Appends the change's audit row in the change's transaction.
pub async fn audit(
    tx: &mut Transaction<'_, Postgres>,
    actor: &Actor,
    change: Change<'_>,
) -> Result<(), ActionError> {
    let subject: String = match actor.subject.trim() {
        "" => "unknown".to_owned(),
        a => a.chars().take(MAX_ACTOR_CHARS).collect(),
    };
    accounting::audit::append(
        &mut **tx,
        &NewAuditEntry {
            actor: &subject,
            actor_token: actor.token_ref(),
            action: change.action,
            target_type: change.target_type,
            target_id: change.target_id,
            before: change.before,
            after: change.after,
        },
    )
    .await?;
    Ok(())
}

/// Tells every replica to re-read its directory once the transaction commits.
pub async fn announce(tx: &mut Transaction<'_, Postgres>, what: &str) -> Result<(), ActionError> {
    accounting::directory_channel::notify_changed(&mut **tx, what).await?;
    Ok(())
}
