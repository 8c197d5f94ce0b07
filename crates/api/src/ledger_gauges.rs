//! The `/metrics` gauges read from the ledger at scrape time, the same on every replica:
//! each team's budget position (budget, charged, held, left), PENDING entries and those past
//! the sweeper's deadline, and the account balance cloro last reported beside the alert
//! floor. Reads are cached for a few seconds and bounded in time, so scrapes cannot load the
//! database; when Postgres cannot answer, `cloro_gateway_ledger_gauges_up` is 0.

use crate::directory::Directory;
use crate::finance::positions;
use crate::finance::views::PositionView;
use crate::ledger::Ledger;
use crate::team_metrics::escape;
use accounting::ledger::{LedgerGauges, Scope, ledger_gauges};
use std::fmt::Write;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long one read serves scrapes.
const CACHE_FOR: Duration = Duration::from_secs(5);
/// How long a scrape waits for the ledger.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// A gauge family drawn from each team's position.
type PositionGauge = (&'static str, &'static str, fn(&PositionView) -> Option<i64>);

/// The cached text of the last read.
pub struct LedgerGaugeReader {
    pending_deadline: Duration,
    balance_floor: i64,
    last: Mutex<Option<(Instant, String)>>,
}

impl LedgerGaugeReader {
    pub fn new(pending_deadline: Duration, balance_floor: i64) -> Self {
        Self {
            pending_deadline,
            balance_floor,
            last: Mutex::new(None),
        }
    }

    /// Appends the gauges to `out`, reading the ledger unless a read younger than
    /// [`CACHE_FOR`] is at hand (concurrent scrapes share one read).
    pub async fn render(&self, out: &mut String, directory: &Directory, ledger: &Ledger) {
        let mut last = self.last.lock().await;
        if let Some((read_at, text)) = last.as_ref()
            && read_at.elapsed() < CACHE_FOR
        {
            out.push_str(text);
            return;
        }
        let read = tokio::time::timeout(READ_TIMEOUT, async {
            let positions = positions(directory, ledger, Scope::All)
                .await
                .map_err(|err| err.to_string())?;
            let gauges = ledger_gauges(ledger.reads(), self.pending_deadline)
                .await
                .map_err(|err| err.to_string())?;
            Ok::<_, String>((positions, gauges))
        })
        .await;
        let text = match read {
            Ok(Ok((positions, gauges))) => self.text(&positions, &gauges),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "the ledger's gauges could not be read for /metrics");
                unavailable()
            }
            Err(_) => {
                tracing::warn!("the ledger's gauges took too long to read for /metrics");
                unavailable()
            }
        };
        out.push_str(&text);
        *last = Some((Instant::now(), text));
    }

    fn text(&self, positions: &[PositionView], gauges: &LedgerGauges) -> String {
        let mut out = String::new();
        gauges_up(&mut out, true);
        let families: [PositionGauge; 4] = [
            (
                "cloro_gateway_team_budget_credits",
                "A team's credit budget for the current period (teams with a budget)",
                |p| p.budget,
            ),
            (
                "cloro_gateway_team_charged_credits",
                "Credits booked to a team this period (POSTED and EXPIRED)",
                |p| Some(p.charged),
            ),
            (
                "cloro_gateway_team_held_credits",
                "Credits a team's requests in flight hold",
                |p| Some(p.held),
            ),
            (
                "cloro_gateway_team_budget_left_credits",
                "budget - charged - held, never below 0 (teams with a budget)",
                |p| p.left,
            ),
        ];
        for (name, help, value_of) in families {
            gauge(&mut out, name, help);
            for position in positions {
                if let Some(value) = value_of(position) {
                    let _ = writeln!(out, "{name}{{team=\"{}\"}} {value}", escape(&position.team));
                }
            }
        }
        for (name, help, value) in [
            (
                "cloro_gateway_ledger_pending_entries",
                "Ledger entries PENDING now (calls in flight, or not yet settled)",
                gauges.pending as f64,
            ),
            (
                "cloro_gateway_ledger_pending_overdue_entries",
                "PENDING entries older than ledger.pending_deadline_secs (the sweeper should have resolved them)",
                gauges.pending_overdue as f64,
            ),
            (
                "cloro_gateway_ledger_oldest_pending_seconds",
                "Age of the oldest PENDING entry",
                gauges.oldest_pending_secs,
            ),
            (
                "cloro_gateway_account_balance_floor_credits",
                "alerts.balance_floor (0: no floor)",
                self.balance_floor as f64,
            ),
        ] {
            gauge(&mut out, name, help);
            let _ = writeln!(out, "{name} {value}");
        }
        let name = "cloro_gateway_account_balance_credits";
        gauge(
            &mut out,
            name,
            "The account's credits left as cloro last reported them (X-Credits-Remaining)",
        );
        if let Some(balance) = gauges.balance {
            let _ = writeln!(out, "{name} {balance}");
        }
        out
    }
}

fn gauge(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// `cloro_gateway_ledger_gauges_up`: whether the ledger answered the last read.
fn gauges_up(out: &mut String, up: bool) {
    let name = "cloro_gateway_ledger_gauges_up";
    gauge(
        out,
        name,
        "1 when the ledger answered the last read of these gauges",
    );
    let _ = writeln!(out, "{name} {}", u8::from(up));
}

fn unavailable() -> String {
    let mut out = String::new();
    gauges_up(&mut out, false);
    out
}
