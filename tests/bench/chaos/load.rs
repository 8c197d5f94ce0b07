//! The teams' traffic: workers sending sync calls, async tasks and batches of tasks to both
//! replicas, every request with its own X-Request-ID and every task with a key of its own,
//! some hanging up mid-call, some sync calls with an Idempotency-Key sent twice. Each
//! request's choices come from the seed and its index, so a seed replays the same mix.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What kind of budget a team has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetKind {
    /// Refused once the budget is spent.
    Hard,
    /// Allowed past the budget, flagged.
    Soft,
    Unbudgeted,
}

impl BudgetKind {
    pub fn label(self) -> &'static str {
        match self {
            BudgetKind::Hard => "hard",
            BudgetKind::Soft => "soft",
            BudgetKind::Unbudgeted => "-",
        }
    }
}

/// One team of the run and its token.
#[derive(Debug, Clone)]
pub struct Team {
    pub slug: String,
    pub kind: BudgetKind,
    pub budget: Option<i64>,
    pub token: String,
}

/// How a request ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Status(u16),
    /// The client gave up on purpose before the answer (its short timeout).
    HungUp,
    /// Connection refused or reset, or an unexpected client timeout.
    Transport,
}

impl Outcome {
    pub fn label(self) -> String {
        match self {
            Outcome::Status(code) => code.to_string(),
            Outcome::HungUp => "client hung up".into(),
            Outcome::Transport => "transport error".into(),
        }
    }
}

/// What a request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sync,
    /// `POST /v1/async/task`.
    Task,
    /// `POST /v1/async/task/batch`.
    Batch,
}

/// One request sent, with its client-side times (since the run's origin).
#[derive(Debug, Clone)]
pub struct Sent {
    pub request_id: String,
    pub kind: Kind,
    /// The `idempotencyKey` of each task it submitted (unique in the run). The gateway sends
    /// `<team id>.<key>` upstream, so cloro's task is joined to the request by it.
    pub task_keys: Vec<String>,
    pub team: usize,
    pub replica: usize,
    pub started: Duration,
    pub ended: Duration,
    pub outcome: Outcome,
    /// Sent with an Idempotency-Key (first or second send).
    pub idempotent: bool,
}

/// Everything the workers share; the fault schedule reads the progress from here.
pub struct Load {
    http: reqwest::Client,
    teams: Vec<Team>,
    replicas: Vec<String>,
    target: u64,
    seed: u64,
    origin: Instant,
    next: AtomicU64,
    completed: AtomicU64,
    /// Set by the fault schedule when every fault has played out; the load stops only then.
    pub faults_done: AtomicBool,
    /// Set to stop at once (an error elsewhere).
    pub abort: AtomicBool,
}

/// Share of requests whose client hangs up after 50-400 ms.
const HANG_UP_RATE: f64 = 0.05;
/// Share of requests sent with an Idempotency-Key, then sent again with the same key.
const IDEMPOTENT_RATE: f64 = 0.04;
/// Share of requests that submit one async task, and that submit a batch of tasks.
const TASK_RATE: f64 = 0.04;
const BATCH_RATE: f64 = 0.02;
/// Tasks in a batch.
const BATCH_SIZE: usize = 3;

impl Load {
    pub fn new(
        http: reqwest::Client,
        teams: Vec<Team>,
        replicas: Vec<String>,
        target: u64,
        seed: u64,
        origin: Instant,
    ) -> Arc<Self> {
        Arc::new(Self {
            http,
            teams,
            replicas,
            target,
            seed,
            origin,
            next: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            faults_done: AtomicBool::new(false),
            abort: AtomicBool::new(false),
        })
    }

    /// Finished requests as a share of the target (may pass 1.0 while faults still run).
    pub fn progress(&self) -> f64 {
        self.completed.load(Ordering::Relaxed) as f64 / self.target.max(1) as f64
    }

    /// Runs `workers` loops until the target is reached and the faults are done.
    pub async fn run(self: &Arc<Self>, workers: usize) -> Vec<Sent> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let load = Arc::clone(self);
                tokio::spawn(async move { load.worker().await })
            })
            .collect();
        let mut sent = Vec::new();
        for handle in handles {
            if let Ok(mut part) = handle.await {
                sent.append(&mut part);
            }
        }
        sent
    }

    async fn worker(&self) -> Vec<Sent> {
        let mut sent = Vec::new();
        loop {
            if self.abort.load(Ordering::Relaxed) {
                break;
            }
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.target && self.faults_done.load(Ordering::Relaxed) {
                break;
            }
            let mut rng =
                StdRng::seed_from_u64(self.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let team = rng.random_range(0..self.teams.len());
            let (path, body) = pick_call(&mut rng, self.teams[team].kind, index);
            let replica = rng.random_range(0..self.replicas.len());
            let hang_up = rng.random_bool(HANG_UP_RATE);
            let timeout = if hang_up {
                Duration::from_millis(rng.random_range(50..400))
            } else {
                Duration::from_secs(60)
            };
            let idempotency_key = (!hang_up && rng.random_bool(IDEMPOTENT_RATE))
                .then(|| uuid::Uuid::new_v4().to_string());
            // Drawn last, so the sync mix of a seed is the one it was before tasks came.
            let roll: f64 = rng.random();
            let (kind, path, body, task_keys) = if roll < TASK_RATE {
                let (body, keys) = pick_tasks(&mut rng, self.teams[team].kind, index, None);
                (Kind::Task, "/v1/async/task", body, keys)
            } else if roll < TASK_RATE + BATCH_RATE {
                let (body, keys) =
                    pick_tasks(&mut rng, self.teams[team].kind, index, Some(BATCH_SIZE));
                (Kind::Batch, "/v1/async/task/batch", body, keys)
            } else {
                (Kind::Sync, path, body, Vec::new())
            };
            let idempotency_key = idempotency_key.filter(|_| kind == Kind::Sync);
            let first = Call {
                team,
                replica,
                kind,
                path,
                body: &body,
                task_keys: &task_keys,
                timeout,
                hang_up,
                idempotency_key: idempotency_key.as_deref(),
            };
            let outcome = match &idempotency_key {
                None => {
                    let record = self.send(&first).await;
                    let outcome = record.outcome;
                    sent.push(record);
                    outcome
                }
                Some(_) => {
                    // The same key and body again on the other replica: at once (409 while the
                    // first runs) or after the first answer (a replay, never charged twice).
                    let second = Call {
                        replica: (replica + 1) % self.replicas.len(),
                        ..first
                    };
                    let (a, b) = if rng.random_bool(0.5) {
                        tokio::join!(self.send(&first), self.send(&second))
                    } else {
                        let a = self.send(&first).await;
                        (a, self.send(&second).await)
                    };
                    let outcome = a.outcome;
                    sent.push(a);
                    sent.push(b);
                    outcome
                }
            };
            self.completed.fetch_add(1, Ordering::Relaxed);
            // A client backs off after a refusal, as a real one would.
            let pause = match outcome {
                Outcome::Status(200) | Outcome::HungUp => None,
                Outcome::Status(403) => Some(Duration::from_millis(20)),
                _ => Some(Duration::from_millis(100)),
            };
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
            }
        }
        sent
    }

    async fn send(&self, call: &Call<'_>) -> Sent {
        let request_id = uuid::Uuid::new_v4().to_string();
        let started = self.origin.elapsed();
        let mut request = self
            .http
            .post(format!("{}{}", self.replicas[call.replica], call.path))
            .bearer_auth(&self.teams[call.team].token)
            .header("x-request-id", &request_id)
            .timeout(call.timeout)
            .json(call.body);
        if let Some(key) = call.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(_) => Outcome::Status(status),
                    Err(err) => classify(&err, call.hang_up),
                }
            }
            Err(err) => classify(&err, call.hang_up),
        };
        Sent {
            request_id,
            kind: call.kind,
            task_keys: call.task_keys.to_vec(),
            team: call.team,
            replica: call.replica,
            started,
            ended: self.origin.elapsed(),
            outcome,
            idempotent: call.idempotency_key.is_some(),
        }
    }
}

#[derive(Clone, Copy)]
struct Call<'a> {
    team: usize,
    replica: usize,
    kind: Kind,
    path: &'static str,
    body: &'a Value,
    task_keys: &'a [String],
    timeout: Duration,
    hang_up: bool,
    idempotency_key: Option<&'a str>,
}

fn classify(err: &reqwest::Error, hang_up: bool) -> Outcome {
    if hang_up && err.is_timeout() {
        Outcome::HungUp
    } else {
        Outcome::Transport
    }
}

/// A sync call for a team. Hard-budget teams only use calls whose estimate is their exact
/// price (ChatGPT without extras, Gemini, Perplexity), so the hard limit can be exact too;
/// the others also send calls priced only after the answer (AI Mode with expandProducts)
/// and dearer ones.
fn pick_call(rng: &mut StdRng, kind: BudgetKind, index: u64) -> (&'static str, Value) {
    let prompt = format!("What do you know about Acme Corp? (chaos {index})");
    let choice = rng.random_range(0..if kind == BudgetKind::Hard { 3 } else { 6 });
    match choice {
        0 => (
            "/v1/monitor/chatgpt",
            json!({"prompt": prompt, "country": "US"}),
        ),
        1 => (
            "/v1/monitor/gemini",
            json!({"prompt": prompt, "country": "DE"}),
        ),
        2 => (
            "/v1/monitor/perplexity",
            json!({"prompt": prompt, "country": "FR"}),
        ),
        3 => (
            "/v1/monitor/aimode",
            json!({"prompt": prompt, "country": "US", "include": {"expandProducts": true}}),
        ),
        4 => (
            "/v1/monitor/chatgpt",
            json!({"prompt": prompt, "country": "US", "include": {"rawResponse": true}}),
        ),
        _ => (
            "/v1/monitor/google",
            json!({"query": prompt, "country": "US", "pages": 2}),
        ),
    }
}

/// One async task (`size` None) or a batch of `size` tasks for a team, each with a key of its
/// own; the same engines as [`pick_call`], without the sync surcharge (a hard-budget team's
/// estimates are again exact). Returns the body and the keys.
fn pick_tasks(
    rng: &mut StdRng,
    kind: BudgetKind,
    index: u64,
    size: Option<usize>,
) -> (Value, Vec<String>) {
    let tasks: Vec<(Value, String)> = (0..size.unwrap_or(1))
        .map(|item| {
            let (path, payload) = pick_call(rng, kind, index);
            let task_type = match path {
                "/v1/monitor/chatgpt" => "CHATGPT",
                "/v1/monitor/gemini" => "GEMINI",
                "/v1/monitor/perplexity" => "PERPLEXITY",
                "/v1/monitor/aimode" => "AIMODE",
                _ => "GOOGLE",
            };
            let key = format!("chaos-{index}-{item}");
            let task = json!({
                "taskType": task_type,
                "payload": payload,
                "priority": rng.random_range(1..=3),
                "idempotencyKey": key,
            });
            (task, key)
        })
        .collect();
    let keys = tasks.iter().map(|(_, key)| key.clone()).collect();
    let mut bodies: Vec<Value> = tasks.into_iter().map(|(task, _)| task).collect();
    let body = match size {
        None => bodies.pop().unwrap_or_default(),
        Some(_) => Value::Array(bodies),
    };
    (body, keys)
}
