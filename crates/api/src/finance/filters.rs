//! Query strings of the finance and team routes, checked and turned into the accounting
//! crate's filters: unknown parameters, teams, endpoints and statuses are 400s naming the
//! parameter, and time windows default to the current budget period.

use crate::directory::TeamNames;
use crate::error::{ApiError, FieldError};
use crate::period::Period;
use crate::pricing::Endpoint;
use accounting::EntryStatus;
use accounting::ledger::{EntryFilter, EntryMode, UsageDimension, UsageQuery};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::validation(vec![FieldError {
        field: field.to_owned(),
        message: message.into(),
    }])
}

/// Filters on ledger entries.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct EntryQuery {
    /// Team slug (finance routes; a team route only accepts its own).
    pub team: Option<String>,
    /// Endpoint name (`chatgpt`, `google_news`, ...) or upstream path.
    pub endpoint: Option<String>,
    /// PENDING, POSTED, VOIDED or EXPIRED.
    pub status: Option<String>,
    /// Entries created at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Entries created before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Only flagged (true) or only unflagged (false) entries.
    pub flagged: Option<bool>,
    /// Only entries carrying this flag: `outcome_unknown` (booked without knowing whether
    /// cloro ran the call), `expired` (resolved by the sweeper), `soft_budget_exceeded` or
    /// `task_gone` (an async task that vanished upstream, booked at its estimate).
    pub flag: Option<String>,
    /// Only `sync` calls or only `async` tasks.
    pub mode: Option<String>,
    /// Page size, 1 to 1000 (default 100). Not used by exports.
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page. Not used by exports.
    pub cursor: Option<String>,
}

impl EntryQuery {
    /// The accounting filter, with the team slug resolved.
    pub fn filter(&self, teams: &TeamNames) -> Result<EntryFilter, ApiError> {
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from >= to
        {
            return Err(invalid("to", "must be after from"));
        }
        Ok(EntryFilter {
            team: team_id(teams, self.team.as_deref())?,
            endpoint: endpoint_path(self.endpoint.as_deref())?,
            status: self
                .status
                .as_deref()
                .map(|s| EntryStatus::parse(&s.to_ascii_uppercase()))
                .transpose()
                .map_err(|_| invalid("status", "must be PENDING, POSTED, VOIDED or EXPIRED"))?,
            from: self.from,
            to: self.to,
            flagged: self.flagged,
            flag: self.flag.as_deref().map(flag_reason).transpose()?,
            mode: entry_mode(self.mode.as_deref())?,
        })
    }
}

/// `sync` or `async` (any case), else a 400 naming `mode`.
fn entry_mode(mode: Option<&str>) -> Result<Option<EntryMode>, ApiError> {
    mode.map(|m| EntryMode::parse(&m.to_ascii_lowercase()))
        .transpose()
        .map_err(|_| invalid("mode", "must be sync or async"))
}

/// The flags an entry can carry.
pub const FLAGS: [&str; 4] = [
    "outcome_unknown",
    "expired",
    "soft_budget_exceeded",
    "task_gone",
];

fn flag_reason(flag: &str) -> Result<String, ApiError> {
    FLAGS
        .iter()
        .find(|known| **known == flag)
        .map(|known| (*known).to_owned())
        .ok_or_else(|| invalid("flag", format!("must be one of {}", FLAGS.join(", "))))
}

pub fn team_id(
    teams: &TeamNames,
    slug: Option<&str>,
) -> Result<Option<accounting::TeamId>, ApiError> {
    slug.map(|slug| {
        teams
            .id_of(slug)
            .ok_or_else(|| invalid("team", format!("no team {slug:?}")))
    })
    .transpose()
}

/// The ledger's name for an endpoint: its upstream path.
pub fn endpoint_path(endpoint: Option<&str>) -> Result<Option<String>, ApiError> {
    endpoint
        .map(|e| {
            Endpoint::ALL
                .iter()
                .find(|known| known.name() == e || known.path() == e)
                .map(|known| known.path().to_owned())
                .ok_or_else(|| invalid("endpoint", format!("unknown endpoint {e:?}")))
        })
        .transpose()
}

/// Usage aggregates.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// First day (UTC, `YYYY-MM-DD`); default the current budget period's first day.
    pub from: Option<NaiveDate>,
    /// Day after the last (exclusive); default the current period's end.
    pub to: Option<NaiveDate>,
    /// Comma-separated: any of `team`, `endpoint`, `mode` (sync calls apart from async
    /// tasks), and one of `day` or `month`. Default `team`.
    pub group_by: Option<String>,
    /// Only this team (slug).
    pub team: Option<String>,
    /// Only this endpoint (name or path).
    pub endpoint: Option<String>,
    /// Only `sync` calls or only `async` tasks.
    pub mode: Option<String>,
}

impl UsageParams {
    /// The accounting query: window, grouping and filters, with the team slug resolved.
    pub fn query(&self, teams: &TeamNames, period: &Period) -> Result<UsageQuery, ApiError> {
        let (from, to) = self.window(period)?;
        Ok(UsageQuery {
            from,
            to,
            group_by: self.dimensions()?,
            team: team_id(teams, self.team.as_deref())?,
            endpoint: endpoint_path(self.endpoint.as_deref())?,
            mode: entry_mode(self.mode.as_deref())?,
        })
    }

    /// `[from, to)` as dates, defaulting to the current budget period.
    pub fn window(&self, period: &Period) -> Result<(NaiveDate, NaiveDate), ApiError> {
        let from = self.from.unwrap_or_else(|| period.start.date_naive());
        let to = self.to.unwrap_or_else(|| period.end.date_naive());
        if from >= to {
            return Err(invalid("to", "must be after from"));
        }
        if (to - from).num_days() > 400 {
            return Err(invalid("to", "a usage window is at most 400 days"));
        }
        Ok((from, to))
    }

    pub fn dimensions(&self) -> Result<Vec<UsageDimension>, ApiError> {
        let text = self.group_by.as_deref().unwrap_or("team");
        let mut dimensions = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let dimension = match part {
                "team" => UsageDimension::Team,
                "endpoint" => UsageDimension::Endpoint,
                "mode" => UsageDimension::Mode,
                "day" => UsageDimension::Day,
                "month" => UsageDimension::Month,
                other => {
                    return Err(invalid(
                        "groupBy",
                        format!(
                            "unknown dimension {other:?}: use team, endpoint, mode, day, month"
                        ),
                    ));
                }
            };
            if !dimensions.contains(&dimension) {
                dimensions.push(dimension);
            }
        }
        if dimensions.contains(&UsageDimension::Day) && dimensions.contains(&UsageDimension::Month)
        {
            return Err(invalid("groupBy", "day and month cannot be combined"));
        }
        Ok(dimensions)
    }
}

/// A time window of whole instants, defaulting to the current budget period.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WindowParams {
    /// Start (RFC 3339); default the current budget period's start.
    pub from: Option<DateTime<Utc>>,
    /// End, exclusive (RFC 3339); default the current period's end.
    pub to: Option<DateTime<Utc>>,
}

impl WindowParams {
    pub fn window(&self, period: &Period) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
        let from = self.from.unwrap_or(period.start);
        let to = self.to.unwrap_or(period.end);
        if from >= to {
            return Err(invalid("to", "must be after from"));
        }
        Ok((from, to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_by_name_or_path_and_unknown_refused() {
        assert_eq!(
            endpoint_path(Some("google_news")).unwrap().as_deref(),
            Some("/v1/monitor/google/news")
        );
        assert_eq!(
            endpoint_path(Some("/v1/monitor/chatgpt"))
                .unwrap()
                .as_deref(),
            Some("/v1/monitor/chatgpt")
        );
        assert!(endpoint_path(Some("bing")).is_err());
        assert_eq!(endpoint_path(None).unwrap(), None);
    }

    #[test]
    fn group_by_parses_and_refuses_day_with_month() {
        let params = |g: &str| UsageParams {
            group_by: Some(g.into()),
            ..Default::default()
        };
        assert_eq!(
            params("team, endpoint,day").dimensions().unwrap(),
            vec![
                UsageDimension::Team,
                UsageDimension::Endpoint,
                UsageDimension::Day
            ]
        );
        assert_eq!(
            params("mode,month").dimensions().unwrap(),
            vec![UsageDimension::Mode, UsageDimension::Month]
        );
        assert!(params("day,month").dimensions().is_err());
        assert!(params("week").dimensions().is_err());
        assert_eq!(
            UsageParams::default().dimensions().unwrap(),
            vec![UsageDimension::Team]
        );
    }

    #[test]
    fn usage_mode_is_sync_or_async() {
        let mode = |m: &str| entry_mode(Some(m));
        assert_eq!(mode("sync").unwrap(), Some(EntryMode::Sync));
        assert_eq!(mode("ASYNC").unwrap(), Some(EntryMode::Async));
        assert_eq!(entry_mode(None).unwrap(), None);
        assert!(mode("batch").is_err());
        assert!(mode("").is_err());
    }
}
