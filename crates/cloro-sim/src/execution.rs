//! One engine call decided up front from its seed: how long it takes, whether it fails, and what it answers.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::FaultRates;
use crate::error::{ApiError, ErrorCode};
use crate::latency::LatencySpec;
use crate::monitor_request::MonitorRequest;
use crate::results::{self, Answer};

/// An injected failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 500 after the engine's latency.
    Internal,
    /// 502 after the engine's latency.
    ExternalService,
    /// 503 at once.
    Unavailable,
}

impl Fault {
    pub fn code(self) -> ErrorCode {
        match self {
            Self::Internal => ErrorCode::InternalServerError,
            Self::ExternalService => ErrorCode::ExternalServiceError,
            Self::Unavailable => ErrorCode::ServiceUnavailable,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::Internal => "Internal server error: upstream retries exhausted",
            Self::ExternalService => "The engine failed to answer",
            Self::Unavailable => "Service temporarily unavailable, retry later",
        }
    }

    pub fn to_error(self, retry_after_secs: u64) -> ApiError {
        let error = ApiError::new(self.code(), self.message());
        match self {
            Self::Unavailable => error.with_retry_after(retry_after_secs),
            _ => error,
        }
    }
}

/// How the call ends.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Answer(Answer),
    /// A charged answer whose sync reply body breaks off after its first bytes; a task gets it whole.
    BrokenBody(Answer),
    Fault(Fault),
}

/// What the seed's roll picked, before the answer is generated.
enum Draw {
    Fault(Fault),
    EmptyAnswer,
    BrokenBody,
    Normal,
}

/// A planned call.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub latency: Duration,
    pub outcome: Outcome,
}

impl Plan {
    /// Waits out the planned latency. None takes no timer: Tokio rounds a deadline up to its
    /// next millisecond, so even `sleep(0)` would add up to one.
    pub async fn wait_latency(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
}

/// Decides the call from its seed alone, so a seed and a request always give the same plan.
pub fn plan(
    request: &MonitorRequest,
    seed: u64,
    latency: &LatencySpec,
    faults: &FaultRates,
) -> Plan {
    let mut rng = StdRng::seed_from_u64(seed);
    let drawn_latency = latency.sample(&mut rng);
    let roll: f64 = rng.random();
    // New faults go last so that existing rates keep their thresholds for the same seed.
    let thresholds = [
        (faults.internal_error, Draw::Fault(Fault::Internal)),
        (
            faults.external_service_error,
            Draw::Fault(Fault::ExternalService),
        ),
        (faults.service_unavailable, Draw::Fault(Fault::Unavailable)),
        (faults.empty_answer, Draw::EmptyAnswer),
        (faults.broken_body, Draw::BrokenBody),
    ];
    let mut cumulative = 0.0;
    let mut drawn = Draw::Normal;
    for (rate, draw) in thresholds {
        cumulative += rate;
        if roll < cumulative {
            drawn = draw;
            break;
        }
    }
    match drawn {
        Draw::Fault(fault) => Plan {
            latency: if fault == Fault::Unavailable {
                Duration::ZERO
            } else {
                drawn_latency
            },
            outcome: Outcome::Fault(fault),
        },
        Draw::EmptyAnswer => Plan {
            latency: drawn_latency,
            outcome: Outcome::Answer(results::generate(request, &mut rng, true)),
        },
        Draw::BrokenBody => Plan {
            latency: drawn_latency,
            outcome: Outcome::BrokenBody(results::generate(request, &mut rng, false)),
        },
        Draw::Normal => Plan {
            latency: drawn_latency,
            outcome: Outcome::Answer(results::generate(request, &mut rng, false)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Endpoint;
    use crate::monitor_request::Subject;

    fn request() -> MonitorRequest {
        MonitorRequest::new(
            Endpoint::Gemini,
            Subject::Prompt("solar panels for homes".into()),
        )
    }

    #[test]
    fn plans_are_reproducible_from_the_seed() {
        let latency: LatencySpec = "lognormal:median=1s,p99=5s".parse().unwrap();
        let faults = FaultRates {
            internal_error: 0.2,
            empty_answer: 0.2,
            ..FaultRates::default()
        };
        for seed in 0..50 {
            assert_eq!(
                plan(&request(), seed, &latency, &faults),
                plan(&request(), seed, &latency, &faults)
            );
        }
        assert_ne!(
            plan(&request(), 1, &latency, &faults),
            plan(&request(), 2, &latency, &faults)
        );
    }

    #[test]
    fn fault_rates_are_honoured() {
        let faults = FaultRates {
            internal_error: 0.25,
            external_service_error: 0.25,
            service_unavailable: 0.25,
            empty_answer: 0.25,
            broken_body: 0.0,
        };
        let mut counts = [0usize; 4];
        for seed in 0..4000 {
            match plan(&request(), seed, &LatencySpec::default(), &faults).outcome {
                Outcome::Fault(Fault::Internal) => counts[0] += 1,
                Outcome::Fault(Fault::ExternalService) => counts[1] += 1,
                Outcome::Fault(Fault::Unavailable) => counts[2] += 1,
                Outcome::BrokenBody(_) => panic!("broken_body is 0"),
                Outcome::Answer(answer) => {
                    assert_eq!(
                        answer.result["text"], "",
                        "with these rates every answer is empty"
                    );
                    counts[3] += 1;
                }
            }
        }
        assert!(counts.iter().all(|c| (850..1150).contains(c)), "{counts:?}");
        let none = plan(
            &request(),
            3,
            &LatencySpec::default(),
            &FaultRates::default(),
        );
        assert!(matches!(none.outcome, Outcome::Answer(a) if a.result["text"] != ""));
    }

    #[test]
    fn a_broken_body_is_drawn_last_and_keeps_the_full_answer() {
        let latency: LatencySpec = "lognormal:median=1s,p99=5s".parse().unwrap();
        let before = FaultRates {
            internal_error: 0.2,
            external_service_error: 0.1,
            service_unavailable: 0.1,
            empty_answer: 0.2,
            broken_body: 0.0,
        };
        let after = FaultRates {
            broken_body: 0.3,
            ..before
        };
        let mut broken = 0;
        for seed in 0..2000 {
            let old = plan(&request(), seed, &latency, &before);
            let new = plan(&request(), seed, &latency, &after);
            assert_eq!(old.latency, new.latency, "seed {seed}");
            match (old.outcome, new.outcome) {
                (Outcome::Answer(whole), Outcome::BrokenBody(cut)) => {
                    assert_eq!(whole, cut, "seed {seed}: the same answer, cut in transit");
                    broken += 1;
                }
                (old, new) => assert_eq!(old, new, "seed {seed}: other outcomes unchanged"),
            }
        }
        assert!((500..700).contains(&broken), "{broken}");
    }
}
