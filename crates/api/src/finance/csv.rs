//! CSV rows for the exports: RFC 4180 quoting, and text a spreadsheet would run as a formula
//! defused, since request ids and idempotency keys come from callers (ids are limited to a
//! safe alphabet at the edge, but rows recorded before that, and other text, pass here too).
//! A spreadsheet may split a cell again on `;` or a tab (locales that use them as the list
//! separator) or on a line break, so every piece that would start a cell, not only the
//! first, is checked: one starting with `=`, `+`, `-`, `@` (after any spaces) gets a `'`.

use super::views::{EntryView, UsageRowView};
use std::fmt::Write;

pub const ENTRY_HEADER: &str = "request_id,created_at,settled_at,team,endpoint,status,estimate,charged,flagged,flag_reason,upstream_status,void_reason,client_request_id,idempotency_key,mode,task_id,batch_id\n";

/// `mode` came later, so it is last: readers of the older columns find them where they were.
pub const USAGE_HEADER: &str =
    "team,endpoint,day,month,entries,posted,voided,expired,flagged,estimate,charged,mode\n";

/// Characters after which a spreadsheet may start a new cell.
const SEPARATORS: [char; 5] = [',', ';', '\t', '\n', '\r'];

/// Characters that make a cell a formula when they start it (a leading tab or carriage
/// return is stripped by some spreadsheets, which then read what follows).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// One text field: defused, and quoted when it holds a separator or a quote.
pub fn field(text: &str) -> String {
    let mut defused = String::with_capacity(text.len() + 2);
    let mut starts_a_cell = true;
    for c in text.chars() {
        if starts_a_cell && FORMULA_STARTS.contains(&c) {
            defused.push('\'');
        }
        defused.push(c);
        // Leading spaces may be trimmed on import, so the cell starts after them.
        starts_a_cell = SEPARATORS.contains(&c) || (starts_a_cell && c == ' ');
    }
    if defused.contains(SEPARATORS) || defused.contains('"') {
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
        assert_eq!(field("order-42/retry.1"), "order-42/retry.1");
        assert_eq!(field("a;b"), "\"a;b\"");
        assert_eq!(field("a\tb"), "\"a\tb\"");
    }

    #[test]
    fn a_formula_after_any_separator_is_defused() {
        assert_eq!(field("a;=cmd|x"), "\"a;'=cmd|x\"");
        assert_eq!(field("a,=1+1"), "\"a,'=1+1\"");
        assert_eq!(field("a\t+1"), "\"a\t'+1\"");
        assert_eq!(field("a\n@SUM(1)"), "\"a\n'@SUM(1)\"");
        assert_eq!(field("a\r\n-1"), "\"a\r\n'-1\"");
        assert_eq!(field("a; =1"), "\"a; '=1\"");
        assert_eq!(field("  =1"), "  '=1");
        // Inside a piece the characters are only text.
        assert_eq!(field("a=b+c-d@e"), "a=b+c-d@e");
    }

    /// Split the way a spreadsheet might (any separator, quotes ignored), no piece starts a
    /// formula.
    #[test]
    fn no_piece_of_a_field_starts_a_formula() {
        let nasty = [
            "a;=cmd|' /C calc'!A0",
            ";;=1",
            ",+1,-1,@1",
            "x\t\t=1",
            "\"=1\";=2",
            "=1;=2,=3\n=4\r=5",
            " ; ; @x",
        ];
        for text in nasty {
            let written = field(text);
            let body = written
                .strip_prefix('"')
                .and_then(|inner| inner.strip_suffix('"'))
                .unwrap_or(&written);
            for piece in body.split(super::SEPARATORS) {
                let piece = piece.trim_start_matches(' ');
                assert!(
                    !piece.starts_with(['=', '+', '-', '@']),
                    "{text:?} was written as {written:?}, whose piece {piece:?} is a formula"
                );
            }
        }
    }

    #[test]
    fn caller_ids_in_an_entry_line_cannot_become_formulas() {
        let entry = EntryView {
            request_id: Uuid::now_v7(),
            team: "team-a".to_owned(),
            team_id: Uuid::now_v7(),
            endpoint: "/v1/monitor/chatgpt".to_owned(),
            status: "POSTED".to_owned(),
            estimate: 5,
            charged: Some(5),
            flagged: false,
            flag_reason: None,
            upstream_status: Some(200),
            void_reason: None,
            client_request_id: Some("a;=cmd|x".to_owned()),
            idempotency_key: Some("k,@SUM(1)".to_owned()),
            created_at: Utc::now(),
            settled_at: Some(Utc::now()),
            mode: "sync".to_owned(),
            task_id: None,
            batch_id: None,
        };
        let line = entry_line(&entry);
        assert!(line.contains(",\"a;'=cmd|x\",\"k,'@SUM(1)\","), "{line}");
        for separator in [",", ";"] {
            for start in ["=", "+", "@"] {
                assert!(!line.contains(&format!("{separator}{start}")), "{line}");
            }
        }
    }
}
