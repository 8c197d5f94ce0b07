//! CSV rows for the exports: RFC 4180 quoting, and text a spreadsheet would run as a formula
//! (`=`, `+`, `-`, `@` first) prefixed with `'`, since request ids and idempotency keys come
//! from callers.

use super::views::{EntryView, UsageRowView};
use std::fmt::Write;

pub const ENTRY_HEADER: &str = "request_id,created_at,settled_at,team,endpoint,status,estimate,charged,flagged,flag_reason,upstream_status,void_reason,client_request_id,idempotency_key,mode,task_id,batch_id\n";

/// `mode` came later, so it is last: readers of the older columns find them where they were.
pub const USAGE_HEADER: &str =
    "team,endpoint,day,month,entries,posted,voided,expired,flagged,estimate,charged,mode\n";

/// One text field, quoted when it must be.
pub fn field(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn opt_text(value: Option<&str>) -> String {
    value.map(field).unwrap_or_default()
}

pub fn entry_line(entry: &EntryView) -> String {
    let mut line = String::with_capacity(256);
    let _ = writeln!(
        line,
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        entry.request_id,
        entry.created_at.to_rfc3339(),
        opt(entry.settled_at.map(|t| t.to_rfc3339())),
        field(&entry.team),
        field(&entry.endpoint),
        entry.status,
        entry.estimate,
        opt(entry.charged),
        entry.flagged,
        opt_text(entry.flag_reason.as_deref()),
        opt(entry.upstream_status),
        opt_text(entry.void_reason.as_deref()),
        opt_text(entry.client_request_id.as_deref()),
        opt_text(entry.idempotency_key.as_deref()),
        entry.mode,
        opt(entry.task_id),
        opt(entry.batch_id),
    );
    line
}

pub fn usage_line(row: &UsageRowView) -> String {
    let mut line = String::with_capacity(128);
    let _ = write!(
        line,
        "{},{},{},{}",
        opt_text(row.team.as_deref()),
        opt_text(row.endpoint.as_deref()),
        opt(row.day),
        opt(row.month),
    );
    for count in row.counts() {
        let _ = write!(line, ",{count}");
    }
    let _ = writeln!(line, ",{}", opt_text(row.mode.as_deref()));
    line
}

#[cfg(test)]
mod tests {
    use super::{
        ENTRY_HEADER, EntryView, USAGE_HEADER, UsageRowView, entry_line, field, usage_line,
    };
    use chrono::Utc;
    use uuid::Uuid;

    #[test]
    fn an_entry_line_has_the_header_columns_async_ones_last() {
        let task_id = Uuid::new_v4();
        let entry = EntryView {
            request_id: Uuid::now_v7(),
            team: "team-a".to_owned(),
            team_id: Uuid::now_v7(),
            endpoint: "/v1/monitor/chatgpt".to_owned(),
            status: "PENDING".to_owned(),
            estimate: 5,
            charged: None,
            flagged: false,
            flag_reason: None,
            upstream_status: None,
            void_reason: None,
            client_request_id: None,
            idempotency_key: None,
            created_at: Utc::now(),
            settled_at: None,
            mode: "async".to_owned(),
            task_id: Some(task_id),
            batch_id: None,
        };
        let line = entry_line(&entry);
        let fields: Vec<&str> = line.trim_end().split(',').collect();
        let header: Vec<&str> = ENTRY_HEADER.trim_end().split(',').collect();
        assert_eq!(fields.len(), header.len());
        assert_eq!(header[header.len() - 3..], ["mode", "task_id", "batch_id"]);
        assert_eq!(
            fields[fields.len() - 3..],
            ["async", &task_id.to_string(), ""]
        );
    }

    #[test]
    fn a_usage_line_has_the_header_columns_mode_last() {
        let header: Vec<&str> = USAGE_HEADER.trim_end().split(',').collect();
        assert_eq!(
            header[..11],
            [
                "team", "endpoint", "day", "month", "entries", "posted", "voided", "expired",
                "flagged", "estimate", "charged"
            ]
        );
        assert_eq!(header.last(), Some(&"mode"));
        let row = UsageRowView {
            team: Some("team-a".to_owned()),
            mode: Some("async".to_owned()),
            entries: 2,
            posted: 2,
            estimate: 10,
            charged: 9,
            ..Default::default()
        };
        let line = usage_line(&row);
        assert_eq!(line, "team-a,,,,2,2,0,0,0,10,9,async\n");
        let ungrouped = usage_line(&UsageRowView::default());
        assert_eq!(ungrouped.trim_end().split(',').count(), header.len());
        assert!(ungrouped.ends_with(",0,\n"), "{ungrouped}");
    }

    #[test]
    fn quoting_and_formula_defusing() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(field("-1,2"), "\"'-1,2\"");
        assert_eq!(field("line\nbreak"), "\"line\nbreak\"");
    }
}
