"""Drives the gateway with the official Python SDK (cloro==0.2.0), a team token as the key.

Run by tests/e2e/sdk.rs with CLORO_GATEWAY_BASE_URL and CLORO_TEAM_TOKEN set.
Exits non-zero (with a traceback) on the first mismatch.
"""
import os

from cloro import AuthenticationError, BadRequestError, Cloro

BASE = os.environ["CLORO_GATEWAY_BASE_URL"]
TOKEN = os.environ["CLORO_TEAM_TOKEN"]


def check(condition, message):
    if not condition:
        raise AssertionError(message)


client = Cloro(api_key=TOKEN, base_url=BASE, max_retries=0)

for name in ("chatgpt", "gemini", "perplexity", "copilot", "aimode"):
    result = getattr(client.monitor, name)(
        prompt="What do you know about Acme Corp?", country="US", include={"markdown": True}
    )
    check(result["success"] is True, f"{name}: {result}")
    check(result["result"].get("text"), f"{name}: no text in {result}")

serp = client.monitor.google(query="acme corp", country="US", pages=2)
check(serp["success"] is True, f"google: {serp}")

check(client.countries() is not None, "countries")
check(client.countries(model="chatgpt") is not None, "countries by model")
# The API requires ?country=; the SDK's states() sends none, so go through request().
check(client.request("GET", "/v1/states", params={"country": "US"}) is not None, "states")

try:
    client.monitor.chatgpt(prompt="x", country="us")
    raise AssertionError("a lower-case country must be refused")
except BadRequestError as err:
    check(err.status_code == 400, f"status {err.status_code}")

try:
    Cloro(api_key="not-a-token", base_url=BASE, max_retries=0).monitor.chatgpt(
        prompt="x", country="US"
    )
    raise AssertionError("a bad token must be refused")
except AuthenticationError as err:
    check(err.status_code == 401, f"status {err.status_code}")

print("gateway sdk check ok")
