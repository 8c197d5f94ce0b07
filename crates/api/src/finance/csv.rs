//! CSV rows for the exports: RFC 4180 quoting, and text a spreadsheet would run as a formula
//! (`=`, `+`, `-`, `@` first) prefixed with `'`, since request ids and idempotency keys come
//! from callers.

use super::views::{EntryView, UsageRowView};
use std::fmt::Write;

pub const ENTRY_HEADER: &str = "request_id,created_at,settled_at,team,endpoint,status,estimate,charged,flagged,flag_reason,upstream_status,void_reason,client_request_id,idempotency_key\n";

pub const USAGE_HEADER: &str =
    "team,endpoint,day,month,entries,posted,voided,expired,flagged,estimate,charged\n";

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
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
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
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::field;

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
