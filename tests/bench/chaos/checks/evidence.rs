//! The checks' input: everything gathered once the run is quiet.

use crate::chaos::faults::FaultLog;
use crate::chaos::load::{Sent, Team};
use cloro_sim::RequestRecord;
use std::time::Duration;

/// How long after it was sent a hung-up request may still be running on its replica:
/// the account queue wait, the upstream deadline and some settling time.
pub struct Windows {
    pub in_flight: Duration,
}

/// Everything the checks read, gathered once the run is quiet.
pub struct Evidence<'a> {
    pub teams: &'a [Team],
    pub sent: &'a [Sent],
    pub records: Vec<RequestRecord>,
    /// The simulator, to read each finished task's key from.
    pub sim_url: String,
    pub sim_stats: cloro_sim::SimStats,
    pub faults: &'a FaultLog,
    pub database_url: &'a str,
    pub redis_url: String,
    pub replicas: Vec<(String, String)>,
    pub windows: Windows,
    pub strict: bool,
}
