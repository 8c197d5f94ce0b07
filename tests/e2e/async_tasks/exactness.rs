//! The money invariant across sync calls, single async tasks and batches while cloro-sim
//! injects faults (500, 502, 503, empty answers, broken bodies; a task that meets a fault
//! FAILS upstream and is charged 0). Three teams send the mix at once; the gateway settles
//! tasks by its fast poller, by the teams' reads and, in one variant, by cloro's signed
//! webhooks reaching it through a relay that loses, refuses and duplicates deliveries.
//! Afterwards nothing is PENDING and, per team, the ledger holds exactly what cloro charged
//! for that team's calls (joined by X-Request-ID) and tasks (joined by the task ids the team
//! was given), to the credit; entry by entry too, tasks joined by the gateway's upstream key.

use accounting::EntryStatus;
use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use cloro_sim::{FaultRates, RecordKind, SimConfig};
use e2e_tests::TestApp;
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

const TEAMS: [&str; 3] = ["north", "south", "east"];
/// Jobs per team: 5 of every 8 a sync call, 2 a single task, 1 a batch.
const JOBS_PER_TEAM: usize = 96;
const IN_FLIGHT: usize = 24;
const WEBHOOK_SECRET: &str = "whsec_exactness_under_faults";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settlement {
    /// No webhook: the poller (every second, at once) and the teams' reads settle tasks.
    Poller,
    /// cloro's signed webhooks reach the gateway through a lossy relay; the poller (every
    /// second, for tasks unsettled after 2 s) covers the deliveries that never arrive.
    LossyWebhooks,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_tasks_and_batches_settle_at_cloros_charge_by_polling_under_faults() {
    exact_under_faults(Settlement::Poller).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_tasks_and_batches_settle_at_cloros_charge_with_lost_webhooks_under_faults() {
    exact_under_faults(Settlement::LossyWebhooks).await;
}

async fn exact_under_faults(settlement: Settlement) {
    let started = Instant::now();
    let webhooks = settlement == Settlement::LossyWebhooks;
    let relay = if webhooks {
        Some(LossyRelay::start().unwrap())
    } else {
        None
    };
    let sim = SimConfig {
        concurrency_limit: 64,
        rate_limit: 10_000,
        latency: "lognormal:median=5ms,p99=40ms".parse().unwrap(),
        faults: FaultRates {
            internal_error: 0.04,
            external_service_error: 0.04,
            service_unavailable: 0.04,
            empty_answer: 0.03,
            broken_body: 0.04,
        },
        seed: if webhooks { 23 } else { 17 },
        // Webhook retries 1, 2, 4, 8 s apart instead of minutes; tasks kept 12 minutes.
        time_scale: 120.0,
        webhook_secret: webhooks.then(|| WEBHOOK_SECRET.to_owned()),
        ..SimConfig::default()
    };
    let api_key = sim.api_key.clone();
    let webhook_url = relay.as_ref().map(|r| r.url.clone());
    let app = TestApp::builder()
        .sim(sim)
        .settings(move |s| {
            s.upstream.retry_base_ms = 20;
            s.database.max_connections = 20;
            s.async_tasks.poll_every_secs = 1;
            s.async_tasks.poll_after_secs = 0;
            if let Some(url) = webhook_url {
                s.async_tasks.webhook_url = url;
                s.async_tasks.webhook_secret = cloro_gateway::secret::Secret::new(WEBHOOK_SECRET);
                // Deliveries get the first chance; the poller finds the lost ones.
                s.async_tasks.poll_after_secs = 2;
            }
        })
        .spawn()
        .await
        .unwrap();
    if let Some(relay) = &relay {
        relay.point_at(app.url("/webhooks/cloro"));
    }
    let mut tokens = Vec::new();
    for team in TEAMS {
        app.create_team(team).await;
        tokens.push(app.team_token(team).await);
    }

    let jobs: Vec<(usize, usize)> = (0..JOBS_PER_TEAM)
        .flat_map(|i| (0..TEAMS.len()).map(move |team| (team, i)))
        .collect();
    let sent: Vec<Sent> = futures::stream::iter(jobs)
        .map(|(team, i)| send(&app, team, &tokens[team], i))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let sync_ok = sent
        .iter()
        .filter(|s| !s.request_ids.is_empty() && s.status == 200)
        .count();
    let sync_total = sent.iter().filter(|s| !s.request_ids.is_empty()).count();
    assert!(
        sync_ok > sync_total / 2 && sync_ok < sync_total,
        "most sync calls succeed, some meet faults ({sync_ok}/{sync_total})"
    );
    let tasks_given: usize = sent.iter().map(|s| s.task_ids.len()).sum();
    assert!(tasks_given > 0, "tasks were accepted");

    wait_settled(&app).await;
    let stats = app.sim.stats();
    assert!(
        stats.tasks_failed > 0 && stats.tasks_completed > 0,
        "some tasks FAILED upstream, most completed: {stats:?}"
    );

    let cloro = Cloro::read(&app, &api_key).await;
    assert_eq!(
        cloro.by_task.len(),
        tasks_given,
        "cloro ran exactly the tasks the teams were given"
    );
    let booked = booked_entries(&app).await;
    let mismatches = compare_entries(&booked, &cloro);
    assert!(
        mismatches.is_empty(),
        "{} ledger entries differ from what cloro charged:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );

    // Per team: the ledger's effective charges against what cloro charged for the calls the
    // team sent and the tasks it was given (not through the ledger), and every charge cloro
    // made belongs to one team.
    let mut attributed = 0;
    for (index, team) in TEAMS.iter().enumerate() {
        let ledger: i64 = booked
            .iter()
            .filter(|b| b.slug == *team)
            .map(Booked::effective)
            .sum();
        let mine = sent.iter().filter(|s| s.team == index);
        let calls: u64 = mine
            .clone()
            .flat_map(|s| &s.request_ids)
            .map(|id| cloro.by_request_id.get(id).copied().unwrap_or(0))
            .sum();
        let tasks: u64 = mine
            .flat_map(|s| &s.task_ids)
            .map(|id| cloro.by_task.get(id).map_or(0, |t| t.charged))
            .sum();
        assert_eq!(
            ledger as u64,
            calls + tasks,
            "{team}: ledger {ledger} vs cloro {calls} (sync) + {tasks} (async)"
        );
        attributed += calls + tasks;
    }
    assert_eq!(
        attributed, stats.credits_charged,
        "every credit cloro charged belongs to a team's call or task"
    );
    assert!(
        cloro.unattributed.is_empty(),
        "charges cloro made for no request the teams sent: {:?}",
        cloro.unattributed
    );

    if let Some(relay) = relay {
        let seen = relay.stats();
        assert!(
            seen.lost > 0
                && seen.refused > 0
                && seen.duplicated > 0
                && seen.acknowledged > 0
                && seen.seen >= seen.lost + seen.refused + seen.duplicated,
            "the relay lost, refused, duplicated and passed deliveries: {seen:?}"
        );
        println!("webhook relay: {seen:?}");
        relay.stop().await;
    }
    println!(
        "{settlement:?}: {} jobs, {sync_total} sync calls ({sync_ok} answered 200), \
         {tasks_given} tasks accepted ({} FAILED upstream), {} credits, {:.1} s",
        sent.len(),
        stats.tasks_failed,
        stats.credits_charged,
        started.elapsed().as_secs_f64()
    );
    app.shutdown().await.unwrap();
}

/// What one job sent, as the team saw it.
struct Sent {
    team: usize,
    /// The X-Request-ID of a sync call.
    request_ids: Vec<String>,
    /// The task ids the gateway answered with.
    task_ids: Vec<String>,
    status: u16,
}

/// A task body: one of five engines, some with the team's own key (the same keys in every
/// team: the gateway namespaces them), priority 1-3.
fn task(i: usize, k: usize, key: Option<String>) -> Value {
    let prompt = format!("What do you know about Acme Corp? ({i}/{k})");
    let (task_type, payload) = match (i + k) % 5 {
        0 => ("CHATGPT", json!({"prompt": prompt, "country": "US"})),
        1 => (
            "AIMODE",
            json!({"prompt": prompt, "country": "US", "include": {"expandProducts": true}}),
        ),
        2 => (
            "GOOGLE",
            json!({"query": prompt, "country": "US", "pages": 2}),
        ),
        3 => ("GEMINI", json!({"prompt": prompt, "country": "DE"})),
        _ => (
            "PERPLEXITY",
            json!({"prompt": prompt, "country": "US", "state": "CA"}),
        ),
    };
    let mut body = json!({"taskType": task_type, "payload": payload, "priority": (i + k) % 3 + 1});
    if let Some(key) = key {
        body["idempotencyKey"] = json!(key);
    }
    body
}

/// A sync call: the bodies of the sync exactness test.
fn sync_call(i: usize) -> (&'static str, Value) {
    match i % 4 {
        0 => (
            "/v1/monitor/chatgpt",
            json!({"prompt": "p", "country": "US", "include": {"ads": true}}),
        ),
        1 => (
            "/v1/monitor/google",
            json!({"query": "q", "country": "US", "pages": 3}),
        ),
        2 => (
            "/v1/monitor/aimode",
            json!({"prompt": "p", "country": "US", "include": {"expandProducts": true}}),
        ),
        _ => (
            "/v1/monitor/perplexity",
            json!({"prompt": "p", "country": "US", "state": "CA"}),
        ),
    }
}

/// Job `i` of a team: a sync call, a single task (every third one read back at once by the
/// team), or a batch of four tasks plus, every third batch, a task the gateway refuses and
/// one reusing the team's key `job-5` (refused too: neither costs anything).
async fn send(app: &TestApp, team: usize, token: &str, i: usize) -> Sent {
    let mut sent = Sent {
        team,
        request_ids: Vec::new(),
        task_ids: Vec::new(),
        status: 0,
    };
    match i % 8 {
        0..=4 => {
            let (path, body) = sync_call(i);
            let request_id = Uuid::new_v4().to_string();
            sent.status = app
                .post_json(path, token, &body)
                .header("x-request-id", &request_id)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            sent.request_ids.push(request_id);
        }
        5 | 6 => {
            let key = (i % 2 == 1).then(|| format!("job-{i}"));
            let (status, answer) = post(app, "/v1/async/task", token, &task(i, 0, key)).await;
            sent.status = status;
            if let Some(id) = answer.pointer("/task/id").and_then(Value::as_str) {
                sent.task_ids.push(id.to_owned());
                if i % 3 == 0 {
                    let (read, view) = app.get_json(&format!("/v1/async/task/{id}"), token).await;
                    assert_eq!(read, 200, "the team reads its own task: {view}");
                }
            }
        }
        _ => {
            let mut items: Vec<Value> = (0..4)
                .map(|k| task(i, k, (k % 2 == 0).then(|| format!("batch-{i}-{k}"))))
                .collect();
            if i % 3 == 0 {
                items.push(
                    json!({"taskType": "GOOGLE_GOTO", "payload": {"url": "https://example.com"}}),
                );
                items.push(task(i, 9, Some("job-5".into())));
            }
            let (status, answer) = post(app, "/v1/async/task/batch", token, &json!(items)).await;
            sent.status = status;
            assert_eq!(status, 200, "{answer}");
            let results = answer["results"].as_array().cloned().unwrap_or_default();
            assert_eq!(results.len(), items.len(), "every item answered: {answer}");
            for result in results {
                if let Some(id) = result.pointer("/task/id").and_then(Value::as_str) {
                    sent.task_ids.push(id.to_owned());
                }
            }
        }
    }
    sent
}

async fn post(app: &TestApp, path: &str, token: &str, body: &Value) -> (u16, Value) {
    match app.post_json(path, token, body).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// Waits until cloro has nothing queued or running and no ledger entry is PENDING.
async fn wait_settled(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = app.sim.stats();
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM ledger_entries WHERE status = 'PENDING'")
                .fetch_one(&app.db)
                .await
                .unwrap();
        let busy = stats.tasks_queued + stats.tasks_processing + stats.current_concurrency as usize;
        if busy == 0 && pending == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} entries still PENDING ({busy} calls and tasks still at cloro) after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One task as cloro ran it.
#[derive(Debug, Clone, Default)]
struct CloroTask {
    charged: u64,
    status: u16,
    /// The idempotencyKey cloro holds for it: the gateway's upstream key.
    key: Option<String>,
}

/// What cloro charged, from the simulator's own records.
struct Cloro {
    /// Sync calls, per X-Request-ID (every attempt and any work finished after a hang-up).
    by_request_id: HashMap<String, u64>,
    /// Finished tasks, per cloro's task id.
    by_task: HashMap<String, CloroTask>,
    /// Task id per upstream key.
    task_by_key: HashMap<String, String>,
    unattributed: Vec<String>,
}

impl Cloro {
    async fn read(app: &TestApp, api_key: &str) -> Self {
        let mut cloro = Cloro {
            by_request_id: HashMap::new(),
            by_task: HashMap::new(),
            task_by_key: HashMap::new(),
            unattributed: Vec::new(),
        };
        for record in app.sim.requests() {
            match (record.kind, record.request_id, record.task_id) {
                (RecordKind::TaskFinished, _, Some(task_id)) => {
                    let task = cloro.by_task.entry(task_id).or_default();
                    task.charged += record.credits_charged;
                    task.status = record.status;
                }
                (RecordKind::Http | RecordKind::Abandoned, Some(id), _) => {
                    *cloro.by_request_id.entry(id).or_default() += record.credits_charged;
                }
                (kind, id, task) if record.credits_charged > 0 => cloro.unattributed.push(format!(
                    "{kind:?} {} {} request id {id:?} task {task:?}: {} credits",
                    record.method, record.path, record.credits_charged
                )),
                _ => {}
            }
        }
        // The key cloro stores with each task, from cloro itself.
        for (task_id, task) in &mut cloro.by_task {
            let view: Value = app
                .http
                .get(format!("{}/v1/async/task/{task_id}", app.sim.base_url()))
                .bearer_auth(api_key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            task.key = view
                .pointer("/task/idempotencyKey")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let Some(key) = &task.key {
                cloro.task_by_key.insert(key.clone(), task_id.clone());
            }
        }
        cloro
    }
}

/// A ledger entry with its task and late charge, if any.
#[derive(Debug, sqlx::FromRow)]
struct Booked {
    slug: String,
    id: Uuid,
    mode: String,
    client_request_id: Option<String>,
    status: String,
    charged: Option<i64>,
    estimate: i64,
    flag_reason: Option<String>,
    upstream_key: Option<String>,
    gateway_task_id: Option<Uuid>,
    late_charge: Option<i64>,
}

impl Booked {
    /// What the ledger says the entry cost: a late charge if one came, else `charged` of a
    /// POSTED or EXPIRED entry (VOIDED and PENDING cost nothing).
    fn effective(&self) -> i64 {
        self.late_charge.unwrap_or(match self.status.as_str() {
            "POSTED" | "EXPIRED" => self.charged.unwrap_or(0),
            _ => 0,
        })
    }
}

async fn booked_entries(app: &TestApp) -> Vec<Booked> {
    sqlx::query_as(
        "SELECT t.slug, l.id, l.mode, l.client_request_id, l.status, l.charged, l.estimate, \
                l.flag_reason, a.upstream_key, a.task_id AS gateway_task_id, \
                lc.charged AS late_charge \
         FROM ledger_entries l \
         JOIN teams t ON t.id = l.team_id \
         LEFT JOIN async_tasks a ON a.entry_id = l.id \
         LEFT JOIN ledger_late_charges lc ON lc.entry_id = l.id \
         ORDER BY l.created_at, l.id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// Entry by entry: a sync entry against cloro's charges for its X-Request-ID, a task entry
/// against the task cloro holds under its upstream key; then every charge cloro made must
/// have been taken by one entry. Returns a line per difference.
fn compare_entries(booked: &[Booked], cloro: &Cloro) -> Vec<String> {
    let mut differences = Vec::new();
    let mut taken_ids: HashSet<&str> = HashSet::new();
    let mut taken_tasks: HashSet<&str> = HashSet::new();
    let mut statuses: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for entry in booked {
        *statuses
            .entry((
                entry.mode.clone(),
                entry.status.clone(),
                entry.flag_reason.clone().unwrap_or_default(),
            ))
            .or_default() += 1;
        if entry.status == EntryStatus::Pending.as_str() {
            differences.push(format!("{} {} is still PENDING", entry.slug, entry.id));
        }
        let (upstream, what) = if entry.mode == "async" {
            let key = entry.upstream_key.as_deref().unwrap_or_default();
            match cloro.task_by_key.get(key) {
                Some(task_id) => {
                    taken_tasks.insert(task_id.as_str());
                    let task = &cloro.by_task[task_id];
                    if entry.gateway_task_id.map(|id| id.to_string()).as_ref() != Some(task_id) {
                        differences.push(format!(
                            "{} {} async key {key}: the gateway holds task {:?}, cloro ran {task_id}",
                            entry.slug, entry.id, entry.gateway_task_id
                        ));
                    }
                    (task.charged, format!("task {task_id} ({})", task.status))
                }
                None => (0, format!("key {key}, no task at cloro")),
            }
        } else {
            let id = entry.client_request_id.as_deref().unwrap_or_default();
            taken_ids.insert(id);
            (
                cloro.by_request_id.get(id).copied().unwrap_or(0),
                format!("request {id}"),
            )
        };
        if entry.effective() != upstream as i64 {
            differences.push(format!(
                "{} {} {} {}{}: ledger {} (estimate {}, late {:?}) vs cloro {upstream} for {what}",
                entry.slug,
                entry.id,
                entry.mode,
                entry.status,
                entry
                    .flag_reason
                    .as_deref()
                    .map(|f| format!("/{f}"))
                    .unwrap_or_default(),
                entry.effective(),
                entry.estimate,
                entry.late_charge,
            ));
        }
    }
    for (id, charged) in &cloro.by_request_id {
        if *charged > 0 && !taken_ids.contains(id.as_str()) {
            differences.push(format!(
                "cloro charged {charged} for request {id}; no entry"
            ));
        }
    }
    for (task_id, task) in &cloro.by_task {
        if task.charged > 0 && !taken_tasks.contains(task_id.as_str()) {
            differences.push(format!(
                "cloro charged {} for task {task_id} (key {:?}); no entry",
                task.charged, task.key
            ));
        }
    }
    println!("ledger entries by (mode, status, flag): {statuses:?}");
    differences
}

/// Stands between cloro and the gateway's `/webhooks/cloro`: of every six deliveries it
/// loses two (acknowledges them to cloro without passing them on: only the poller can find
/// those tasks), refuses one (503: cloro delivers it again later), passes one twice at once
/// and two once, with their signature headers.
struct LossyRelay {
    url: String,
    state: web::Data<RelayState>,
    server: ServerHandle,
}

#[derive(Default)]
struct RelayState {
    target: OnceLock<String>,
    http: reqwest::Client,
    seen: AtomicU64,
    lost: AtomicU64,
    refused: AtomicU64,
    duplicated: AtomicU64,
    acknowledged: AtomicU64,
}

/// What the relay did with the deliveries it saw.
#[derive(Debug)]
struct RelayStats {
    seen: u64,
    lost: u64,
    refused: u64,
    duplicated: u64,
    /// Passes the gateway answered 2xx.
    acknowledged: u64,
}

impl LossyRelay {
    fn start() -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/webhooks/cloro", listener.local_addr()?);
        let state = web::Data::new(RelayState::default());
        let shared = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(relay_delivery))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            url,
            state,
            server: handle,
        })
    }

    /// Where deliveries go once the gateway is up.
    fn point_at(&self, target: String) {
        let _ = self.state.target.set(target);
    }

    fn stats(&self) -> RelayStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        RelayStats {
            seen: load(&self.state.seen),
            lost: load(&self.state.lost),
            refused: load(&self.state.refused),
            duplicated: load(&self.state.duplicated),
            acknowledged: load(&self.state.acknowledged),
        }
    }

    async fn stop(self) {
        self.server.stop(true).await;
    }
}

async fn relay_delivery(
    state: web::Data<RelayState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let status = match state.seen.fetch_add(1, Ordering::Relaxed) % 6 {
        0 | 1 => {
            state.lost.fetch_add(1, Ordering::Relaxed);
            200
        }
        2 => {
            state.refused.fetch_add(1, Ordering::Relaxed);
            503
        }
        3 => {
            state.duplicated.fetch_add(1, Ordering::Relaxed);
            let (first, _) =
                tokio::join!(forward(&state, &req, &body), forward(&state, &req, &body));
            first
        }
        _ => forward(&state, &req, &body).await,
    };
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY)).finish()
}

/// Passes one delivery to the gateway; its status (502 when it could not be reached).
async fn forward(state: &RelayState, req: &HttpRequest, body: &web::Bytes) -> u16 {
    let Some(target) = state.target.get() else {
        return 503;
    };
    let mut request = state
        .http
        .post(target)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for name in [
        "x-cloro-timestamp",
        "x-cloro-signature",
        "x-cloro-webhook-id",
    ] {
        if let Some(value) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
            request = request.header(name, value);
        }
    }
    let status = match request.send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 502,
    };
    if (200..300).contains(&status) {
        state.acknowledged.fetch_add(1, Ordering::Relaxed);
    }
    status
}
