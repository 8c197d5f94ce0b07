//! Tasks by id, the QUEUED order (priority, then FIFO), idempotency keys and retention after completion.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::monitor_request::MonitorRequest;
use crate::pricing::Quote;

/// A task's place in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskStatus {
    Queued,
    Processing,
    Completed,
    Failed,
}

impl TaskStatus {
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Processing => "PROCESSING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
        }
    }
}

/// Webhook target and delivery state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookState {
    pub url: String,
    pub delivered: bool,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// One async task.
#[derive(Clone, Debug)]
pub struct Task {
    pub id: Uuid,
    pub request: MonitorRequest,
    pub priority: u8,
    pub idempotency_key: Option<String>,
    pub webhook: Option<WebhookState>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub status: TaskStatus,
    pub quote: Quote,
    pub credits_charged: Option<u64>,
    /// The bare result (COMPLETED) or `{error{code, message}}` (FAILED).
    pub response: Option<Value>,
    pub latency_ms: Option<u64>,
    /// Seeds the engine call, drawn at submit.
    pub seed: u64,
    seq: u64,
}

/// What a submit provides.
#[derive(Clone, Debug)]
pub struct NewTask {
    pub request: MonitorRequest,
    pub priority: u8,
    pub idempotency_key: Option<String>,
    pub webhook_url: Option<String>,
    pub quote: Quote,
    pub seed: u64,
}

/// How a task ended.
#[derive(Clone, Debug)]
pub struct Finish {
    pub completed: bool,
    pub charged: u64,
    pub response: Value,
}

/// All tasks still remembered.
#[derive(Debug)]
pub struct TaskStore {
    tasks: HashMap<Uuid, Task>,
    queued: BTreeMap<(Reverse<u8>, u64), Uuid>,
    queued_by_priority: [usize; 11],
    idempotency: HashMap<String, Uuid>,
    expiries: VecDeque<(Instant, Uuid)>,
    processing: usize,
    next_seq: u64,
    retention: Duration,
}

impl TaskStore {
    /// `retention`: how long a finished task stays visible.
    pub fn new(retention: Duration) -> Self {
        Self {
            tasks: HashMap::new(),
            queued: BTreeMap::new(),
            queued_by_priority: [0; 11],
            idempotency: HashMap::new(),
            expiries: VecDeque::new(),
            processing: 0,
            next_seq: 0,
            retention,
        }
    }

    /// Forgets finished tasks past their retention (and frees their idempotency keys).
    pub fn purge_expired(&mut self, now: Instant) {
        while let Some((deadline, id)) = self.expiries.front().copied() {
            if deadline > now {
                break;
            }
            self.expiries.pop_front();
            if let Some(task) = self.tasks.remove(&id)
                && let Some(key) = task.idempotency_key
            {
                self.idempotency.remove(&key);
            }
        }
    }

    pub fn queued_len(&self) -> usize {
        self.queued.len()
    }

    pub fn processing_len(&self) -> usize {
        self.processing
    }

    pub fn idempotency_taken(&self, key: &str) -> bool {
        self.idempotency.contains_key(key)
    }

    /// Adds a QUEUED task. The caller has checked the cap and the idempotency key.
    pub fn insert(&mut self, new: NewTask, id: Uuid) -> &Task {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(key) = &new.idempotency_key {
            self.idempotency.insert(key.clone(), id);
        }
        self.queued.insert((Reverse(new.priority), seq), id);
        self.queued_by_priority[usize::from(new.priority.min(10))] += 1;
        let task = Task {
            id,
            request: new.request,
            priority: new.priority,
            idempotency_key: new.idempotency_key,
            webhook: new.webhook_url.map(|url| WebhookState {
                url,
                delivered: false,
                delivered_at: None,
            }),
            created_at: Utc::now(),
            started_at: None,
            completed_at: None,
            status: TaskStatus::Queued,
            quote: new.quote,
            credits_charged: None,
            response: None,
            latency_ms: None,
            seed: new.seed,
            seq,
        };
        self.tasks.entry(id).or_insert(task)
    }

    pub fn get(&self, id: &Uuid) -> Option<&Task> {
        self.tasks.get(id)
    }

    /// The next task to run (highest priority, then oldest), without taking it.
    pub fn peek_next(&self) -> Option<&Task> {
        self.queued
            .values()
            .next()
            .and_then(|id| self.tasks.get(id))
    }

    /// Moves the next task to PROCESSING and returns it.
    pub fn start_next(&mut self) -> Option<Task> {
        let (_, id) = self.queued.pop_first()?;
        let task = self.tasks.get_mut(&id)?;
        self.queued_by_priority[usize::from(task.priority.min(10))] -= 1;
        task.status = TaskStatus::Processing;
        task.started_at = Some(Utc::now());
        self.processing += 1;
        Some(task.clone())
    }

    /// Moves a task to COMPLETED or FAILED and starts its retention clock.
    pub fn finish(&mut self, id: &Uuid, finish: Finish, now: Instant) -> Option<&Task> {
        let retention = self.retention;
        let task = self.tasks.get_mut(id)?;
        if task.status == TaskStatus::Processing {
            self.processing = self.processing.saturating_sub(1);
        } else if task.status == TaskStatus::Queued {
            self.queued.remove(&(Reverse(task.priority), task.seq));
            self.queued_by_priority[usize::from(task.priority.min(10))] -= 1;
        }
        let completed_at = Utc::now();
        task.status = if finish.completed {
            TaskStatus::Completed
        } else {
            TaskStatus::Failed
        };
        task.latency_ms = task
            .started_at
            .map(|start| u64::try_from((completed_at - start).num_milliseconds()).unwrap_or(0));
        task.completed_at = Some(completed_at);
        task.credits_charged = Some(finish.charged);
        task.response = Some(finish.response);
        self.expiries.push_back((now + retention, *id));
        self.tasks.get(id)
    }

    pub fn mark_delivered(&mut self, id: &Uuid) {
        if let Some(webhook) = self.tasks.get_mut(id).and_then(|t| t.webhook.as_mut()) {
            webhook.delivered = true;
            webhook.delivered_at = Some(Utc::now());
        }
    }

    /// Deletes every QUEUED task; returns how many.
    pub fn clear_queue(&mut self) -> usize {
        let ids: Vec<Uuid> = std::mem::take(&mut self.queued).into_values().collect();
        self.queued_by_priority = [0; 11];
        for id in &ids {
            if let Some(task) = self.tasks.remove(id)
                && let Some(key) = task.idempotency_key
            {
                self.idempotency.remove(&key);
            }
        }
        ids.len()
    }

    /// `(priority, queued count)`, highest priority first, only non-empty priorities.
    pub fn priority_breakdown(&self) -> Vec<(u8, usize)> {
        (1..=10u8)
            .rev()
            .map(|p| (p, self.queued_by_priority[usize::from(p)]))
            .filter(|(_, count)| *count > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Endpoint;
    use crate::monitor_request::Subject;

    fn new_task(priority: u8, key: Option<&str>) -> NewTask {
        NewTask {
            request: MonitorRequest::new(Endpoint::Chatgpt, Subject::Prompt("p".into())),
            priority,
            idempotency_key: key.map(str::to_owned),
            webhook_url: None,
            quote: Quote {
                base: 5,
                features: 0,
                surcharge: 0,
            },
            seed: 0,
        }
    }

    #[test]
    fn higher_priority_first_then_fifo() {
        let mut store = TaskStore::new(Duration::from_secs(60));
        let ids: Vec<Uuid> = [1, 5, 1, 5, 10]
            .iter()
            .map(|p| {
                let id = Uuid::new_v4();
                store.insert(new_task(*p, None), id);
                id
            })
            .collect();
        assert_eq!(store.priority_breakdown(), vec![(10, 1), (5, 2), (1, 2)]);
        let order: Vec<Uuid> = std::iter::from_fn(|| store.start_next().map(|t| t.id)).collect();
        assert_eq!(order, vec![ids[4], ids[1], ids[3], ids[0], ids[2]]);
        assert_eq!(store.processing_len(), 5);
    }

    #[test]
    fn finished_tasks_expire_and_free_their_key() {
        let mut store = TaskStore::new(Duration::from_secs(10));
        let id = Uuid::new_v4();
        store.insert(new_task(1, Some("k")), id);
        store.start_next();
        let now = Instant::now();
        store.finish(
            &id,
            Finish {
                completed: true,
                charged: 5,
                response: Value::Null,
            },
            now,
        );
        store.purge_expired(now + Duration::from_secs(9));
        assert!(store.get(&id).is_some() && store.idempotency_taken("k"));
        store.purge_expired(now + Duration::from_secs(10));
        assert!(store.get(&id).is_none() && !store.idempotency_taken("k"));
    }

    #[test]
    fn clearing_the_queue_leaves_running_tasks() {
        let mut store = TaskStore::new(Duration::from_secs(10));
        for _ in 0..3 {
            store.insert(new_task(2, None), Uuid::new_v4());
        }
        let running = store.start_next().map(|t| t.id);
        assert_eq!(store.clear_queue(), 2);
        assert_eq!(store.queued_len(), 0);
        assert!(running.and_then(|id| store.get(&id)).is_some());
    }
}
