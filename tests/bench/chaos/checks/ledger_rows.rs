//! The ledger's side: every entry read straight from the private database, with its task
//! and late charge, and what it cost by the ledger's own rules.

use super::upstream::task_id_of;

/// One ledger row with its task and late charge, if any.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct Row {
    pub(super) slug: String,
    pub(super) mode: String,
    pub(super) client_request_id: Option<String>,
    /// An async entry's task: the team's key and the gateway's state of it.
    pub(super) team_key: Option<String>,
    pub(super) task_state: Option<String>,
    pub(super) status: String,
    charged: Option<i64>,
    pub(super) estimate: i64,
    pub(super) flag_reason: Option<String>,
    pub(super) late_charge: Option<i64>,
}

/// Every ledger entry, oldest first.
pub(super) async fn read(database_url: &str) -> anyhow::Result<Vec<Row>> {
    let db = sqlx::PgPool::connect(database_url).await?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT t.slug, l.mode, l.client_request_id, a.team_key, a.state AS task_state, \
                l.status, l.charged, l.estimate, l.flag_reason, lc.charged AS late_charge \
         FROM ledger_entries l \
         JOIN teams t ON t.id = l.team_id \
         LEFT JOIN async_tasks a ON a.entry_id = l.id \
         LEFT JOIN ledger_late_charges lc ON lc.entry_id = l.id \
         ORDER BY l.created_at, l.id",
    )
    .fetch_all(&db)
    .await?;
    db.close().await;
    Ok(rows)
}

impl Row {
    /// What the entry is joined to cloro by.
    pub(super) fn charge_id(&self) -> Option<String> {
        if self.mode == "async" {
            self.team_key.as_deref().map(task_id_of)
        } else {
            self.client_request_id.clone()
        }
    }

    /// `flag_reason` may list several reasons, comma-separated.
    pub(super) fn has_flag(&self, flag: &str) -> bool {
        self.flag_reason
            .as_deref()
            .is_some_and(|reasons| reasons.split(',').any(|r| r.trim() == flag))
    }

    /// What the ledger says this entry cost: the late charge when one was recorded, else
    /// `charged` (POSTED and EXPIRED; VOIDED and PENDING are 0).
    pub(super) fn effective(&self) -> i64 {
        self.late_charge.unwrap_or(match self.status.as_str() {
            "POSTED" | "EXPIRED" => self.charged.unwrap_or(0),
            _ => 0,
        })
    }
}
