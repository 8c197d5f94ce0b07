"""Drives the gateway's async task routes with the official Python SDK (cloro==0.2.0), a team
token as the key and nothing changed but the base URL.

Run by tests/e2e/sdk.rs with CLORO_GATEWAY_BASE_URL, CLORO_TEAM_TOKEN and
CLORO_OTHER_TEAM_TOKEN (a second team's) set. Prints one `task <id>` line per task the
first team created, then `gateway async sdk check ok`. Exits non-zero (with a traceback)
on the first mismatch.
"""
import os
import sys
import uuid

from cloro import AsyncTask, Cloro, ConflictError, NotFoundError

BASE = os.environ["CLORO_GATEWAY_BASE_URL"]
TOKEN = os.environ["CLORO_TEAM_TOKEN"]
OTHER_TOKEN = os.environ["CLORO_OTHER_TEAM_TOKEN"]

# The SDK's own polling, made fast: no backoff, 50 ms between reads.
FAST = {"poll_interval": 0.05, "backoff": 1.0, "max_interval": 0.05, "timeout": 30}
QUEUE_FIELDS = {"queuedTasks", "processingTasks", "priorityBreakdown", "concurrency"}


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def completed(view, task_id, key):
    check(view["task"]["status"] == "COMPLETED", view)
    check(view["task"]["id"] == task_id, view)
    check(view["task"].get("idempotencyKey") == key, f"key {key!r} not shown back: {view}")
    check(view["credits"]["creditsCharged"] >= 0, view["credits"])
    check(view.get("response"), f"no response in {view}")


def main():
    client = Cloro(api_key=TOKEN, base_url=BASE, max_retries=0, timeout=30)
    other = Cloro(api_key=OTHER_TOKEN, base_url=BASE, max_retries=0, timeout=30)
    created = []

    # run: create, then the SDK's own wait, to COMPLETED.
    done = client.async_tasks.run(
        "CHATGPT", {"prompt": "Summarise the news about Acme", "country": "US"},
        priority=5, idempotency_key="sdk-run", **FAST,
    )
    completed(done, done["task"]["id"], "sdk-run")
    check(done["credits"]["creditsCharged"] == 5, done["credits"])
    check(done["response"]["text"], done)
    created.append(done["task"]["id"])

    # create: an AsyncTask handle; a repeated key is the SDK's ConflictError.
    task = client.async_tasks.create(
        "GEMINI", {"prompt": "What do you know about Acme Corp?", "country": "US"},
        priority=3, idempotency_key="sdk-once",
    )
    check(isinstance(task, AsyncTask), task)
    check(task.id and task.status == "QUEUED", task)
    check(task.task_type == "GEMINI" and task.priority == 3, task)
    created.append(task.id)
    try:
        client.async_tasks.create(
            "GEMINI", {"prompt": "again", "country": "US"}, idempotency_key="sdk-once"
        )
        raise AssertionError("a reused idempotency key must be refused")
    except ConflictError as err:
        check(err.status_code == 409, f"status {err.status_code}")
        check(err.body["error"]["code"] == "RESOURCE_ALREADY_EXISTS", err.body)

    # status: the team's own queue, with the task just created still unsettled (the gateway
    # polls cloro only after poll_after_secs); the other team has nothing queued.
    status = client.async_tasks.status()
    check(QUEUE_FIELDS <= set(status), status)
    check(status["queuedTasks"] + status["processingTasks"] >= 1, status)
    theirs = other.async_tasks.status()
    check(QUEUE_FIELDS <= set(theirs), theirs)
    check(theirs["queuedTasks"] == 0 and theirs["processingTasks"] == 0, theirs)

    # create_batch: per-item results in input order; a key repeated in the batch is refused
    # for that item only.
    results = client.async_tasks.create_batch([
        {"task_type": "GOOGLE", "payload": {"query": "acme reviews", "country": "US"}},
        {"task_type": "PERPLEXITY", "payload": {"prompt": "acme", "country": "US"},
         "idempotency_key": "sdk-batch-1"},
        {"taskType": "PERPLEXITY", "payload": {"prompt": "acme again", "country": "US"},
         "idempotencyKey": "sdk-batch-1"},
    ])
    check(len(results) == 3, results)
    check([r["index"] for r in results] == [0, 1, 2], results)
    check(results[0]["success"] and results[1]["success"], results)
    check(results[2]["success"] is False, results)
    check(results[2]["error"]["code"] == "RESOURCE_ALREADY_EXISTS", results[2])
    check(results[1]["task"].get("idempotencyKey") == "sdk-batch-1", results[1])
    batch_ids = [r["task"]["id"] for r in results[:2]]
    created.extend(batch_ids)

    # retrieve: the task as cloro reports it; another team's task is the SDK's NotFoundError,
    # from retrieve and from wait alike, as an unknown id is.
    view = client.async_tasks.retrieve(task)
    check(view["task"]["id"] == task.id, view)
    check(view["task"]["status"] in {"QUEUED", "PROCESSING", "COMPLETED"}, view)
    for call in (
        lambda: other.async_tasks.retrieve(task.id),
        lambda: other.async_tasks.retrieve(task),
        lambda: other.async_tasks.wait(task, **FAST),
        lambda: client.async_tasks.retrieve(str(uuid.uuid4())),
    ):
        try:
            call()
            raise AssertionError("another team's or an unknown task must be 404")
        except NotFoundError as err:
            check(err.status_code == 404, f"status {err.status_code}")
            check(err.body["error"]["code"] == "RESOURCE_NOT_FOUND", err.body)

    # wait: by handle and by id string, to COMPLETED.
    completed(client.async_tasks.wait(task, **FAST), task.id, "sdk-once")
    completed(client.async_tasks.wait(batch_ids[0], **FAST), batch_ids[0], None)
    completed(client.async_tasks.wait(batch_ids[1], **FAST), batch_ids[1], "sdk-batch-1")

    # Every task was read to its end, so the team's queue is empty.
    status = client.async_tasks.status()
    check(status["queuedTasks"] == 0 and status["processingTasks"] == 0, status)

    for task_id in created:
        print(f"task {task_id}")
    print("gateway async sdk check ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
