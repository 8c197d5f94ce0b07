//! Budget periods in UTC: calendar months by default, or ISO weeks or days
//! (`limits.budget_period`). A team's budget is credits per period.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::Deserialize;

/// How long a budget lasts before it starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    Day,
    /// ISO weeks, Monday to Monday.
    Week,
    Month,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// Names the period in limiter keys: `2026-11`, `2026-W48`, `2026-11-28`.
    pub id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// The period of `kind` containing `now`: [start, end).
pub fn current(kind: PeriodKind, now: DateTime<Utc>) -> Period {
    let today = now.date_naive();
    match kind {
        PeriodKind::Day => Period {
            id: today.format("%Y-%m-%d").to_string(),
            start: midnight(today),
            end: midnight(today) + Duration::days(1),
        },
        PeriodKind::Week => {
            let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
            let week = today.iso_week();
            Period {
                id: format!("{}-W{:02}", week.year(), week.week()),
                start: midnight(monday),
                end: midnight(monday) + Duration::weeks(1),
            }
        }
        PeriodKind::Month => {
            let first = today.with_day(1).unwrap_or(today);
            let next = first
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(first);
            Period {
                id: first.format("%Y-%m").to_string(),
                start: midnight(first),
                end: midnight(next),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn months_roll_over_the_year() {
        let p = current(PeriodKind::Month, at(2026, 12, 31, 23));
        assert_eq!(
            (p.id.as_str(), p.start, p.end),
            ("2026-12", at(2026, 12, 1, 0), at(2027, 1, 1, 0))
        );
        let p = current(PeriodKind::Month, at(2026, 2, 10, 1));
        assert_eq!(p.end, at(2026, 3, 1, 0));
    }

    #[test]
    fn iso_weeks_start_on_monday_and_days_at_midnight() {
        // 2026-11-28 is a Saturday in ISO week 48.
        let p = current(PeriodKind::Week, at(2026, 11, 28, 12));
        assert_eq!(
            (p.id.as_str(), p.start, p.end),
            ("2026-W48", at(2026, 11, 23, 0), at(2026, 11, 30, 0))
        );
        // 2027-01-01 (a Friday) still belongs to ISO week 53 of 2026.
        assert_eq!(current(PeriodKind::Week, at(2027, 1, 1, 0)).id, "2026-W53");
        let p = current(PeriodKind::Day, at(2026, 11, 28, 23));
        assert_eq!(
            (p.id.as_str(), p.start, p.end),
            ("2026-11-28", at(2026, 11, 28, 0), at(2026, 11, 29, 0))
        );
    }
}
