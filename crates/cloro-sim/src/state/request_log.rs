//! The audit trail behind `/_sim/requests`: every request served, bounded in memory.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a record stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// An HTTP request answered.
    Http,
    /// An async task reached COMPLETED or FAILED (carries its charge).
    TaskFinished,
    /// A sync call whose client left before the answer; the work finished and was charged.
    Abandoned,
}

/// One line of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Increasing number, assigned when recorded.
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub kind: RecordKind,
    pub method: String,
    pub path: String,
    /// The presented key, masked to its last four characters.
    pub key: Option<String>,
    /// The caller's X-Request-ID, if it sent one.
    pub request_id: Option<String>,
    pub status: u16,
    /// The error code sent, if any.
    pub error_code: Option<String>,
    pub credits_charged: u64,
    /// The async task concerned (single submit, lookup, or finish).
    pub task_id: Option<String>,
    /// Tasks created by a batch.
    #[serde(default)]
    pub task_ids: Vec<String>,
    /// Time spent serving it.
    pub duration_ms: u64,
}

/// The most recent records, oldest dropped first.
#[derive(Debug)]
pub struct RequestLog {
    records: VecDeque<RequestRecord>,
    cap: usize,
    next_seq: u64,
}

impl RequestLog {
    pub fn new(cap: usize) -> Self {
        Self {
            records: VecDeque::new(),
            cap: cap.max(1),
            next_seq: 1,
        }
    }

    pub fn push(&mut self, mut record: RequestRecord) {
        record.seq = self.next_seq;
        self.next_seq += 1;
        if self.records.len() >= self.cap {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }

    /// Records with `seq > after`, at most `limit`.
    pub fn since(&self, after: u64, limit: usize) -> Vec<RequestRecord> {
        let start = self.records.partition_point(|r| r.seq <= after);
        self.records
            .iter()
            .skip(start)
            .take(limit)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RequestRecord {
        RequestRecord {
            seq: 0,
            time: Utc::now(),
            kind: RecordKind::Http,
            method: "GET".into(),
            path: "/v1/credits".into(),
            key: None,
            request_id: None,
            status: 200,
            error_code: None,
            credits_charged: 0,
            task_id: None,
            task_ids: Vec::new(),
            duration_ms: 0,
        }
    }

    #[test]
    fn keeps_the_latest_records_in_order() {
        let mut log = RequestLog::new(3);
        for _ in 0..5 {
            log.push(record());
        }
        let seqs: Vec<u64> = log.since(0, usize::MAX).iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [3, 4, 5]);
        assert_eq!(log.since(4, 10).len(), 1);
    }
}
