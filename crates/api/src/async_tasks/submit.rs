//! Submitting tasks, one or a batch: each item is checked and admitted (its hold taken),
//! every admitted item is recorded PENDING with its owner in one transaction (the team's
//! queue cap and key uniqueness decided there), then the recorded items are forwarded with
//! the gateway's keys. Whatever is refused on the way — by the gateway or by cloro, one item
//! or the whole batch — gives its hold back and voids its entry at once.

use super::AsyncTasks;
use super::reply::{item_error, map_key, team_webhook};
use super::request::TaskRequest;
use crate::admission::Admitted;
use crate::auth::TeamRef;
use crate::error::{ApiError, ErrorCode};
use crate::tasks::retry_after_failure;
use crate::upstream::{UpstreamFailure, UpstreamReply};
use accounting::async_tasks::{self as store, NewAsyncTask, Recorded};
use accounting::{Credits, TeamId};
use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tracing::Instrument;
use uuid::Uuid;

/// Retries of voiding a refused task whose void failed (about ten minutes).
const VOID_RETRIES: usize = 63;

/// The most tasks one batch may carry (cloro's limit).
pub const MAX_BATCH_ITEMS: usize = 500;

/// An item admitted and recorded, waiting for cloro's answer.
struct Held {
    index: usize,
    request: TaskRequest,
    entry_id: Uuid,
    upstream_key: String,
    admitted: Admitted,
}

/// What cloro answered for one forwarded item.
enum ItemAnswer {
    Accepted(Value),
    Refused(Value),
}

/// The key sent upstream: the team's own, namespaced by its team, or one of the gateway's.
fn upstream_key(team: TeamId, team_key: Option<&str>, entry_id: Uuid) -> String {
    match team_key {
        Some(key) => format!("{}.{key}", team.as_uuid().simple()),
        None => format!("gw.{}", entry_id.simple()),
    }
}

/// A response with cloro's status and a JSON body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl AsyncTasks {
    /// `POST /v1/async/task`: the task, or the refusal of the gateway or of cloro.
    pub async fn submit_one(
        &self,
        team: &TeamRef,
        item: Value,
        client_request_id: Option<String>,
    ) -> Result<Answer, ApiError> {
        let check_url = |url: &str| self.relay.validate_url(url);
        let request = TaskRequest::parse(
            &item,
            &self.account.price_table(),
            self.max_priority(team),
            &check_url,
        )?;
        let mut held = self
            .hold_items(team, vec![(0, request)], client_request_id)
            .await?;
        let held = match held.pop() {
            Some(Ok(held)) => held,
            Some(Err((_, refusal))) => return Err(refusal),
            None => {
                return Err(ApiError::internal(anyhow::anyhow!(
                    "an admitted task went missing"
                )));
            }
        };
        let body = held
            .request
            .upstream_body(&held.upstream_key, self.webhook_url.as_deref());
        let outcome = self.send(Method::POST, "/v1/async/task", body).await;
        let reply = match outcome {
            Ok(reply) => reply,
            Err(failure) => return Err(self.lost(vec![held], failure).await),
        };
        let status = reply.status;
        let mut body = json_body(&reply);
        let answer = if status.is_success() {
            ItemAnswer::Accepted(body.clone())
        } else {
            ItemAnswer::Refused(body.clone())
        };
        let (upstream_key, team_key, team_url) = (
            held.upstream_key.clone(),
            held.request.team_key.clone(),
            held.request.webhook_url.clone(),
        );
        self.conclude(held, answer, status).await;
        map_key(&mut body, &upstream_key, team_key.as_deref());
        if status.is_success() {
            team_webhook(&mut body, team_url.as_deref());
        }
        Ok(Answer { status, body })
    }

    /// `POST /v1/async/task/batch`: every item answered in cloro's per-item shape, in input
    /// order; a whole-batch refusal by cloro releases every item.
    pub async fn submit_batch(
        &self,
        team: &TeamRef,
        items: Value,
        client_request_id: Option<String>,
    ) -> Result<Answer, ApiError> {
        let Value::Array(items) = items else {
            return Err(ApiError::validation(vec![crate::error::FieldError {
                field: "body".into(),
                message: "must be a JSON array of tasks".into(),
            }]));
        };
        if items.is_empty() || items.len() > MAX_BATCH_ITEMS {
            return Err(ApiError::validation(vec![crate::error::FieldError {
                field: "body".into(),
                message: format!("must hold 1 to {MAX_BATCH_ITEMS} tasks"),
            }]));
        }
        let total = items.len();
        let prices = self.account.price_table();
        let max_priority = self.max_priority(team);
        let mut results: Vec<Option<Value>> = vec![None; total];
        let mut parsed = Vec::new();
        let check_url = |url: &str| self.relay.validate_url(url);
        for (index, item) in items.iter().enumerate() {
            match TaskRequest::parse(item, &prices, max_priority, &check_url) {
                Ok(request) => parsed.push((index, request)),
                Err(refusal) => results[index] = Some(item_error(index, &refusal)),
            }
        }
        let mut forwarded = Vec::new();
        for outcome in self.hold_items(team, parsed, client_request_id).await? {
            match outcome {
                Ok(held) => forwarded.push(held),
                Err((index, refusal)) => results[index] = Some(item_error(index, &refusal)),
            }
        }
        if !forwarded.is_empty() {
            let bodies: Vec<Value> = forwarded
                .iter()
                .map(|h| {
                    h.request
                        .upstream_body(&h.upstream_key, self.webhook_url.as_deref())
                })
                .collect();
            let outcome = self
                .send(Method::POST, "/v1/async/task/batch", Value::Array(bodies))
                .await;
            let reply = match outcome {
                Ok(reply) => reply,
                Err(failure) => return Err(self.lost(forwarded, failure).await),
            };
            let mut body = json_body(&reply);
            if !reply.status.is_success() {
                // The whole batch was refused: nothing was queued.
                for held in forwarded {
                    let (key, team_key) =
                        (held.upstream_key.clone(), held.request.team_key.clone());
                    self.conclude(held, ItemAnswer::Refused(body.clone()), reply.status)
                        .await;
                    map_key(&mut body, &key, team_key.as_deref());
                }
                return Ok(Answer {
                    status: reply.status,
                    body,
                });
            }
            let mut upstream_results = match body.get_mut("results").map(Value::take) {
                Some(Value::Array(results)) => results,
                _ => Vec::new(),
            };
            for (position, held) in forwarded.into_iter().enumerate() {
                let index = held.index;
                let mut item = upstream_results
                    .iter_mut()
                    .find(|r| r.get("index").and_then(Value::as_u64) == Some(position as u64))
                    .map(Value::take)
                    .unwrap_or_else(|| {
                        json!({"success": false, "index": position, "error": {
                            "code": "INTERNAL_SERVER_ERROR",
                            "message": "cloro did not answer for this task",
                        }})
                    });
                let accepted = item.get("success").and_then(Value::as_bool) == Some(true);
                let (key, team_key, team_url) = (
                    held.upstream_key.clone(),
                    held.request.team_key.clone(),
                    held.request.webhook_url.clone(),
                );
                let answer = if accepted {
                    ItemAnswer::Accepted(item.clone())
                } else {
                    ItemAnswer::Refused(item.clone())
                };
                self.conclude(held, answer, reply.status).await;
                map_key(&mut item, &key, team_key.as_deref());
                if accepted {
                    team_webhook(&mut item, team_url.as_deref());
                }
                if let Some(object) = item.as_object_mut() {
                    object.insert("index".into(), json!(index));
                }
                results[index] = Some(item);
            }
        }
        let results: Vec<Value> = results.into_iter().flatten().collect();
        let succeeded = results
            .iter()
            .filter(|r| r.get("success").and_then(Value::as_bool) == Some(true))
            .count();
        Ok(Answer {
            status: StatusCode::OK,
            body: json!({
                "success": true,
                "summary": {"total": total, "succeeded": succeeded, "failed": total - succeeded},
                "results": results,
            }),
        })
    }

    /// The team's highest allowed priority.
    fn max_priority(&self, team: &TeamRef) -> i16 {
        i16::from(self.directory.quota_of(team.id).max_priority)
    }

    /// Admits each item (its hold taken) and records the admitted ones in one transaction.
    /// Per-item refusals come back with their input index; a ledger that cannot record
    /// refuses the whole request (every hold given back).
    async fn hold_items(
        &self,
        team: &TeamRef,
        items: Vec<(usize, TaskRequest)>,
        client_request_id: Option<String>,
    ) -> Result<Vec<Result<Held, (usize, ApiError)>>, ApiError> {
        let period = self.directory.current_period();
        let batch_id = (items.len() > 1).then(Uuid::now_v7);
        let mut outcomes = Vec::with_capacity(items.len());
        let mut held = Vec::new();
        for (index, request) in items {
            let entry_id = Uuid::now_v7();
            let estimate = Credits::new(request.estimate).map_err(ApiError::internal)?;
            match self
                .admission
                .admit_async(
                    team.id,
                    request.endpoint,
                    entry_id,
                    estimate,
                    &period,
                    self.hold,
                )
                .await
            {
                Ok(admitted) => held.push(Held {
                    index,
                    upstream_key: upstream_key(team.id, request.team_key.as_deref(), entry_id),
                    request,
                    entry_id,
                    admitted,
                }),
                Err(refusal) => outcomes.push(Err((index, refusal))),
            }
        }
        if held.is_empty() {
            return Ok(outcomes);
        }
        let settle_by = chrono::Utc::now()
            + chrono::Duration::from_std(self.hold).unwrap_or(chrono::Duration::hours(48));
        let new_tasks: Vec<NewAsyncTask> = held
            .iter()
            .map(|h| NewAsyncTask {
                entry_id: h.entry_id,
                team_id: team.id,
                endpoint: h.request.endpoint.path().to_owned(),
                task_type: h.request.task_type.clone(),
                priority: h.request.priority,
                team_key: h.request.team_key.clone(),
                upstream_key: h.upstream_key.clone(),
                webhook_url: h.request.webhook_url.clone(),
                batch_id,
                batch_index: batch_id.map(|_| h.index as i32),
                estimate: Credits::new(h.request.estimate).unwrap_or(Credits::ZERO),
                client_request_id: client_request_id.clone(),
                flag_reason: h
                    .admitted
                    .over_budget
                    .then(|| "soft_budget_exceeded".to_owned()),
                settle_by,
                lease: h
                    .admitted
                    .lease
                    .as_ref()
                    .and_then(|lease| serde_json::to_value(lease).ok()),
            })
            .collect();
        let max_queued = Some(i64::from(self.directory.quota_of(team.id).max_queued_tasks));
        let recorded = tokio::time::timeout(
            self.ledger.write_timeout(),
            store::record(self.ledger.pool(), &new_tasks, max_queued),
        )
        .await;
        let recorded = match recorded {
            Ok(Ok(recorded)) => recorded,
            failure => {
                // The record may still commit: end its entries VOIDED "not sent" in the
                // background (blocking a late commit), and give every hold back.
                self.void_unrecorded(new_tasks);
                for h in &held {
                    self.release(&h.admitted).await;
                }
                return Err(match failure {
                    Ok(Err(err)) => err.into(),
                    _ => ApiError::ledger_unavailable("The ledger cannot record these tasks now"),
                });
            }
        };
        for (h, outcome) in held.into_iter().zip(recorded) {
            match outcome {
                Recorded::Recorded => outcomes.push(Ok(h)),
                Recorded::DuplicateKey => {
                    self.release(&h.admitted).await;
                    outcomes.push(Err((
                        h.index,
                        ApiError::new(
                            ErrorCode::ResourceAlreadyExists,
                            "A task with this idempotencyKey already exists",
                        ),
                    )));
                }
                Recorded::QueueFull => {
                    self.release(&h.admitted).await;
                    outcomes.push(Err((
                        h.index,
                        ApiError::new(
                            ErrorCode::QueueLimitExceeded,
                            "The team has as many tasks queued as its quota allows",
                        )
                        .with_retry_after(5),
                    )));
                }
            }
        }
        outcomes.sort_by_key(|o| match o {
            Ok(h) => h.index,
            Err((index, _)) => *index,
        });
        Ok(outcomes)
    }

    /// Sends a submission upstream (the routes run all of this detached from the team's
    /// connection, so a recorded entry is never abandoned because the team hung up).
    async fn send(
        &self,
        method: Method,
        path: &'static str,
        body: Value,
    ) -> Result<UpstreamReply, UpstreamFailure> {
        let request_id = crate::telemetry::RequestId::mint();
        let body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        self.upstream
            .send(method, path, Some(body), request_id.as_str())
            .await
    }

    /// cloro's answer for one held item: accepted (the task id stored) or refused (entry
    /// voided, hold given back).
    async fn conclude(&self, held: Held, answer: ItemAnswer, status: StatusCode) {
        match answer {
            ItemAnswer::Accepted(body) => {
                let task = body.get("task");
                let task_id = task
                    .and_then(|t| t.get("id"))
                    .and_then(Value::as_str)
                    .and_then(|id| Uuid::parse_str(id).ok());
                let state = task
                    .and_then(|t| t.get("status"))
                    .and_then(Value::as_str)
                    .unwrap_or("QUEUED");
                match task_id {
                    Some(task_id) => {
                        if let Err(err) =
                            store::accepted(self.ledger.pool(), held.entry_id, task_id, state).await
                        {
                            // The webhook (matched by key) or the sweeper settles it.
                            tracing::error!(entry = %held.entry_id, error = %err, "recording an accepted task's id failed");
                        }
                    }
                    None => {
                        tracing::error!(entry = %held.entry_id, "cloro accepted a task without an id; it is settled by its webhook or the sweeper")
                    }
                }
            }
            ItemAnswer::Refused(body) => {
                let reason = body
                    .pointer("/error/code")
                    .and_then(Value::as_str)
                    .map_or_else(
                        || format!("cloro answered {}", status.as_u16()),
                        |code| format!("cloro refused the task: {code}"),
                    );
                self.void(&held, Some(i32::from(status.as_u16())), &reason)
                    .await;
            }
        }
    }

    /// The submission's reply was lost. Never sent: voided at once. Maybe created: left
    /// PENDING for the webhook, the poller or at worst the sweeper.
    async fn lost(&self, held: Vec<Held>, failure: UpstreamFailure) -> ApiError {
        match &failure {
            UpstreamFailure::NotSent(reason) => {
                for h in &held {
                    self.void(h, None, &format!("not sent: {reason}")).await;
                }
                ApiError::new(ErrorCode::UpstreamUnreachable, "cloro could not be reached")
                    .with_cause(anyhow::anyhow!(failure.to_string()))
            }
            UpstreamFailure::Unknown { .. } => ApiError::new(
                ErrorCode::UpstreamTimeout,
                "cloro did not answer in time; a task it created is settled when cloro reports it",
            )
            .with_cause(anyhow::anyhow!(failure.to_string())),
        }
    }

    /// Ends the tasks of a record whose outcome is unknown, retrying (about ten minutes)
    /// until Postgres takes it.
    fn void_unrecorded(&self, tasks: Vec<NewAsyncTask>) {
        let db = self.ledger.pool().clone();
        self.tasks.spawn(
            async move {
                let void = || async {
                    let reason = "not sent: the PENDING write failed";
                    match store::void_unrecorded(&db, &tasks, reason).await {
                        Ok(()) => true,
                        Err(err) => {
                            tracing::warn!(error = %err, "voiding unrecorded tasks failed; retrying");
                            false
                        }
                    }
                };
                let first = std::time::Duration::from_millis(100);
                let cap = std::time::Duration::from_secs(10);
                if !(void().await || retry_after_failure(VOID_RETRIES, first, cap, void).await) {
                    tracing::error!(alert = true, "tasks whose record failed could not be voided; the sweeper may book them");
                }
            }
            .in_current_span(),
        );
    }

    /// Voids a task cloro refused or never saw, and gives its hold back; a void that cannot
    /// reach Postgres is retried in the background (about ten minutes) before the hold goes.
    async fn void(&self, held: &Held, upstream_status: Option<i32>, reason: &str) {
        let db = self.ledger.pool().clone();
        let entry_id = held.entry_id;
        let reason = reason.to_owned();
        let void = move || {
            let (db, reason) = (db.clone(), reason.clone());
            async move {
                match store::refused(&db, entry_id, upstream_status, &reason).await {
                    Ok(_) => true,
                    Err(err) => {
                        tracing::warn!(entry = %entry_id, error = %err, "voiding a refused task failed; retrying");
                        false
                    }
                }
            }
        };
        if void().await {
            self.release(&held.admitted).await;
            return;
        }
        let admission = self.admission.clone();
        let lease = held.admitted.lease.clone();
        self.tasks.spawn(
            async move {
                let first = std::time::Duration::from_millis(200);
                let cap = std::time::Duration::from_secs(10);
                if retry_after_failure(VOID_RETRIES, first, cap, void).await {
                    if let Some(lease) = lease {
                        admission.settle(&lease, 0).await;
                    }
                } else {
                    tracing::error!(alert = true, entry = %entry_id, "a refused task could not be voided; the sweeper will book its estimate");
                }
            }
            .in_current_span(),
        );
    }

    /// Gives an admission's hold back.
    async fn release(&self, admitted: &Admitted) {
        if let Some(lease) = &admitted.lease {
            self.admission.settle(lease, 0).await;
        }
    }
}

/// The reply body as JSON (a non-JSON body is kept as a string).
fn json_body(reply: &UpstreamReply) -> Value {
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&reply.body).into_owned()))
}
