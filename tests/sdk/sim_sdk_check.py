"""Drives the cloro simulator with the official Python SDK (cloro==0.2.0).

Run by tests/e2e/sdk.rs with CLORO_SIM_BASE_URL and CLORO_SIM_API_KEY set.
Exits non-zero (with a traceback) on the first mismatch.
"""
import os
import sys
import threading
import time
import uuid

import httpx
from cloro import (
    AuthenticationError,
    BadRequestError,
    Cloro,
    ConflictError,
    NotFoundError,
    RateLimitError,
)

BASE = os.environ["CLORO_SIM_BASE_URL"]
KEY = os.environ["CLORO_SIM_API_KEY"]


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def configure(**knobs):
    reply = httpx.put(f"{BASE}/_sim/config", json=knobs, timeout=10)
    check(reply.status_code == 200, f"PUT /_sim/config {knobs}: {reply.status_code} {reply.text}")


def monitor_calls(client):
    res = client.monitor.chatgpt(
        prompt="What do you know about Acme Corp?", country="US", include={"markdown": True}
    )
    check(res["success"] is True, res)
    check(res["result"]["text"] and "markdown" in res["result"], res)
    check(all("url" in s and "title" in s for s in res["result"]["sources"]), res)

    res = client.monitor.google(query="best laptops for programming", country="US", pages=2,
                                include={"aioverview": True})
    check(len(res["result"]["organicResults"]) == 20, "two pages of ten results")
    check(res["result"]["aioverview"]["text"], res)

    res = client.monitor.perplexity(prompt="How do heat pumps work?", country="GB")
    check(res["result"]["sources"], res)

    try:
        client.monitor.chatgpt(prompt="lower-case country", country="us")
        check(False, "lower-case country should be refused")
    except BadRequestError as error:
        check(error.status_code == 400, error.status_code)
        check(error.body["error"]["code"] == "VALIDATION_ERROR", error.body)
        check(error.body["error"]["details"][0]["field"] == "country", error.body)


def async_calls(client):
    done = client.async_tasks.run(
        "CHATGPT", {"prompt": "Summarise the news about Acme", "country": "US"},
        priority=5, poll_interval=0.05, timeout=30,
    )
    check(done["task"]["status"] == "COMPLETED", done)
    check(done["credits"]["creditsCharged"] == 5, done["credits"])
    check(done["response"]["text"], done)

    results = client.async_tasks.create_batch([
        {"task_type": "GOOGLE", "payload": {"query": "acme reviews", "country": "US"}},
        {"task_type": "GEMINI", "payload": {"prompt": "acme", "country": "US"}, "idempotency_key": "sdk-batch-1"},
        {"taskType": "GEMINI", "payload": {"prompt": "acme again", "country": "US"}, "idempotencyKey": "sdk-batch-1"},
    ])
    check(len(results) == 3, results)
    check(results[0]["success"] and results[1]["success"], results)
    check(results[2]["error"]["code"] == "RESOURCE_ALREADY_EXISTS", results[2])
    for result in results[:2]:
        finished = client.async_tasks.wait(result["task"]["id"], poll_interval=0.05, timeout=30)
        check(finished["task"]["status"] == "COMPLETED", finished)

    task = client.async_tasks.create("GROK", {"prompt": "once", "country": "US"}, idempotency_key="sdk-once")
    check(task.status == "QUEUED" and task.task_type == "GROK", task)
    try:
        client.async_tasks.create("GROK", {"prompt": "twice", "country": "US"}, idempotency_key="sdk-once")
        check(False, "a reused idempotency key should be refused")
    except ConflictError as error:
        check(error.status_code == 409, error.status_code)

    status = client.async_tasks.status()
    check({"queuedTasks", "processingTasks", "priorityBreakdown", "concurrency"} <= set(status), status)

    try:
        client.async_tasks.retrieve(str(uuid.uuid4()))
        check(False, "an unknown task should be 404")
    except NotFoundError:
        pass


def reference_calls(client):
    countries = client.countries()
    check("US" in countries, countries)
    check("US" in client.countries(model="chatgpt"), "filtered countries")
    # The API requires ?country=; the SDK's states() sends none, so go through request().
    states = client.request("GET", "/v1/states", params={"country": "US"})
    check(len(states) == 51, states)


def concurrency_limit_raises_rate_limit_error(client):
    configure(concurrency_limit=1, latency="fixed:1500ms")
    try:
        holder = threading.Thread(target=lambda: client.monitor.gemini(prompt="hold the slot", country="US"))
        holder.start()
        time.sleep(0.4)
        strict = Cloro(api_key=KEY, base_url=BASE, max_retries=0)
        try:
            strict.monitor.chatgpt(prompt="one too many", country="US")
            check(False, "a call over the concurrency limit should be refused")
        except RateLimitError as error:
            check(error.status_code == 429, error.status_code)
            check(error.body["error"]["code"] == "CONCURRENT_LIMIT_EXCEEDED", error.body)
            check(error.body["error"]["details"]["limit"] == 1, error.body)
        holder.join()
    finally:
        configure(concurrency_limit=10, latency="fixed:20ms")


def wrong_key_raises_authentication_error():
    wrong = Cloro(api_key="sk_live_" + "f" * 32, base_url=BASE, max_retries=0)
    try:
        wrong.countries()
        check(False, "a wrong key should be refused")
    except AuthenticationError as error:
        check(error.status_code == 401, error.status_code)


def main():
    client = Cloro(api_key=KEY, base_url=BASE, timeout=30)
    monitor_calls(client)
    async_calls(client)
    reference_calls(client)
    concurrency_limit_raises_rate_limit_error(client)
    wrong_key_raises_authentication_error()
    print("sdk check ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
