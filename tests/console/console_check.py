#!/usr/bin/env python3
"""The web console (/console/) in headless Chromium, driven by Playwright, against a live
gateway whose ledger holds real proxied calls of two teams.

Environment (set by tests/e2e/console.rs; usable by hand against `cloro-gateway dev`):
  CONSOLE_BASE_URL     the gateway, e.g. http://127.0.0.1:8080
  CONSOLE_ADMIN_TOKEN  an admin token
  CONSOLE_TEAM_TOKEN   a team token of CONSOLE_TEAM
  CONSOLE_TEAM         that team's slug (its own pages only)
  CONSOLE_LEDGER_TEAM  the other team: more than one page of entries (page size 10)
  CONSOLE_EXPECTED     JSON {team: credits charged this period} for both teams
  CONSOLE_ENTRIES      JSON {team: entries this period}
  CONSOLE_SCREENSHOTS  a directory for the PNGs (optional)
  CHROMIUM             the browser (default /usr/bin/chromium); never downloaded

It prints one line per step and exits non-zero on the first failed check.
"""

import csv
import io
import json
import os
import sys
import time
import urllib.error
import urllib.request

from playwright.sync_api import expect, sync_playwright

BASE = os.environ["CONSOLE_BASE_URL"].rstrip("/")
ADMIN = os.environ["CONSOLE_ADMIN_TOKEN"]
TEAM_TOKEN = os.environ["CONSOLE_TEAM_TOKEN"]
TEAM = os.environ["CONSOLE_TEAM"]
LEDGER_TEAM = os.environ["CONSOLE_LEDGER_TEAM"]
EXPECTED = json.loads(os.environ["CONSOLE_EXPECTED"])
ENTRIES = json.loads(os.environ["CONSOLE_ENTRIES"])
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'")
NEW_TEAM = "console-made"
NEW_TEAM_NAME = "Made <b>in</b> the console <img src=x>"

started = time.monotonic()
problems = []  # console errors and uncaught exceptions, from every page
requested = []  # every URL the browser asked for
deliberate_400s = 0  # API refusals the script provokes on purpose
minted = []  # tokens minted in the console (checked against URLs too)


def step(text):
    print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def credits(value):
    return f"{value:,}"


def shot(page, name, full_page=True):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=full_page)


def watch(page):
    def on_console(message):
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on("request", lambda request: requested.append(request.url))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def raw_get(path):
    """status and headers of GET path, redirects not followed"""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(BASE + path, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def check_http():
    step("headers: CSP, nosniff, no-referrer on the page and assets; redirect; 404")
    for path, content_type in [("/console/", "text/html"), ("/console/console.js", "text/javascript"),
                               ("/console/console.css", "text/css")]:
        status, headers, body = raw_get(path)
        check(status == 200, f"GET {path}: {status}")
        check(headers["Content-Type"].startswith(content_type), f"{path}: {headers['Content-Type']}")
        check(headers["Content-Security-Policy"] == CSP, f"{path}: CSP {headers['Content-Security-Policy']!r}")
        check(headers["X-Content-Type-Options"] == "nosniff", f"{path}: nosniff")
        check(headers["Referrer-Policy"] == "no-referrer", f"{path}: referrer policy")
    status, headers, _ = raw_get("/console")
    check(status == 308 and headers["Location"] == "/console/", f"/console: {status} {headers['Location']}")
    status, _, body = raw_get("/console/secrets.txt")
    check(status == 404 and json.loads(body)["error"]["code"] == "RESOURCE_NOT_FOUND", f"unknown asset: {status}")


def nav_names(page):
    return page.get_by_role("navigation", name="Console pages").get_by_role("link").all_inner_texts()


def sign_in(page, token, keyboard):
    field = page.get_by_label("Token", exact=True)
    expect(field).to_be_focused()
    field.fill(token)
    if keyboard:
        field.press("Enter")
    else:
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Console pages")).to_be_visible()
    check(token not in page.url, "the token is in the URL")
    stored = page.evaluate("sessionStorage.getItem('cloro-console-token')")
    check(stored == token, "the token is not in sessionStorage")


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Token", exact=True)).to_be_visible()
    check(page.evaluate("sessionStorage.length") == 0, "sign out left sessionStorage")
    expect(page.get_by_role("navigation", name="Console pages")).to_be_hidden()


def go(page, name):
    page.get_by_role("navigation", name="Console pages").get_by_role("link", name=name, exact=True).click()
    heading = page.locator("#page h1")
    expect(heading).to_have_text(name)
    expect(heading).to_be_focused()


def no_horizontal_scroll(page, width):
    scroll = page.evaluate("document.documentElement.scrollWidth")
    check(scroll <= width, f"the page is {scroll}px wide at a {width}px viewport")


def table_row(page, table, header):
    return page.locator(f"table[data-table='{table}'] tbody tr").filter(
        has=page.locator("th", has_text=header))


def overview_as_finance(page):
    step("overview: balance, usage by team and engine, budget bars, alerts, upstream")
    for team, charged in EXPECTED.items():
        row = table_row(page, "usage-by-team", team)
        expect(row).to_have_count(1)
        expect(row.locator("th")).to_have_text(team)
        expect(row.locator("td").last).to_have_text(credits(charged))
        expect(row.locator("td").first).to_have_text(credits(ENTRIES[team]))
        expect(page.locator(f"svg.budget-bar[data-team='{team}']")).to_have_count(1)
        label = page.locator(f"svg.budget-bar[data-team='{team}']").get_attribute("aria-label")
        check(f"{credits(charged)} charged" in label, f"budget bar of {team}: {label}")
    expect(page.locator("svg.chart")).to_have_count(2)
    total = sum(EXPECTED.values())
    expect(page.locator("table[data-table='usage-by-endpoint'] tbody tr td:last-child")).not_to_have_count(0)
    endpoint_sum = sum(int(text.replace(",", "")) for text in page.locator(
        "table[data-table='usage-by-endpoint'] tbody tr td:last-child").all_inner_texts())
    check(endpoint_sum == total, f"by engine adds up to {endpoint_sum}, not {total}")
    expect(page.locator("[data-metric='balance']")).to_contain_text("credits")
    expect(page.locator("[data-metric='upstream-429']")).to_have_text("0")
    expect(page.locator("[data-metric='queue-wait']").first).to_be_visible()
    expect(page.locator("table[data-table='alerts']")).to_contain_text(TEAM)


def ledger(page):
    step(f"ledger: filter by {LEDGER_TEAM}, page through, open an entry, export CSV")
    go(page, "Ledger")
    page.get_by_label("Team", exact=True).fill(LEDGER_TEAM)
    page.get_by_label("Page size").select_option("10")
    page.get_by_role("button", name="Apply filters").click()
    rows = page.locator("table[data-table='entries'] tbody tr")
    expect(page.get_by_text("Page 1 · 10 entries")).to_be_visible()
    expect(rows).to_have_count(10)
    teams = rows.locator("td:nth-child(2)").all_inner_texts()
    check(set(teams) == {LEDGER_TEAM}, f"page 1 holds other teams: {teams}")
    first_ids = rows.locator("button[data-request-id]").evaluate_all(
        "buttons => buttons.map(b => b.dataset.requestId)")
    shot(page, "ledger")
    page.get_by_role("button", name="Next page").click()
    rest = ENTRIES[LEDGER_TEAM] - 10
    expect(page.get_by_text(f"Page 2 · {rest} entries")).to_be_visible()
    expect(rows).to_have_count(rest)
    teams = rows.locator("td:nth-child(2)").all_inner_texts()
    check(set(teams) == {LEDGER_TEAM}, f"page 2 holds other teams: {teams}")
    second_ids = rows.locator("button[data-request-id]").evaluate_all(
        "buttons => buttons.map(b => b.dataset.requestId)")
    check(not set(first_ids) & set(second_ids), "page 2 repeats entries of page 1")
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    page.get_by_role("button", name="Previous page").click()
    expect(page.get_by_text("Page 1 · 10 entries")).to_be_visible()

    entry = first_ids[0]
    page.get_by_role("button", name=f"Details of entry {entry}").click()
    detail = page.locator("section.entry-detail")
    expect(detail.get_by_role("heading", name=f"Entry {entry}")).to_be_focused()
    facts = detail.locator("dl").inner_text()
    for expected in (entry, LEDGER_TEAM, "/v1/monitor/", "POSTED", "Estimate", "Charged", "Created", "Settled"):
        check(expected in facts, f"entry detail lacks {expected!r}: {facts}")
    shot(page, "entry-detail")
    detail.get_by_role("button", name="Close").click()
    expect(detail).to_have_count(0)
    expect(page.get_by_role("button", name=f"Details of entry {entry}")).to_be_focused()

    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    with open(download.value.path(), encoding="utf-8") as file:
        lines = list(csv.DictReader(io.StringIO(file.read())))
    check(len(lines) == ENTRIES[LEDGER_TEAM], f"CSV has {len(lines)} rows")
    team_column = next(name for name in lines[0] if name.lower() in ("team", "team_slug"))
    check({line[team_column] for line in lines} == {LEDGER_TEAM}, "CSV holds other teams")
    check(download.value.suggested_filename.endswith(".csv"), download.value.suggested_filename)


def reconciliation(page):
    step("reconciliation: the period's ledger total against the balance")
    go(page, "Reconciliation")
    facts = page.locator("dl[data-table='reconciliation']")
    expect(facts).to_contain_text("Ledger total (created in the window)")
    text = facts.inner_text()
    check(credits(sum(EXPECTED.values())) in text, f"ledger total missing: {text}")
    check("Difference (ledger − upstream)" in text, text)
    expect(page.get_by_role("heading", name="Flagged entries that explain the difference")).to_be_visible()
    shot(page, "reconciliation")


def teams_and_quota(page):
    global deliberate_400s
    step("teams: list, create, suspend and resume")
    go(page, "Teams")
    for team in EXPECTED:
        expect(table_row(page, "teams", team)).to_have_count(1)
    page.get_by_label("Slug").fill(NEW_TEAM)
    # A display name holding markup is shown as text, never parsed.
    page.get_by_label("Name").fill(NEW_TEAM_NAME)
    page.get_by_role("button", name="Create team").click()
    row = table_row(page, "teams", NEW_TEAM)
    expect(row.locator("td").first).to_have_text(NEW_TEAM_NAME)
    check(row.locator("b, img").count() == 0, "a team's name was rendered as HTML")
    page.get_by_role("button", name=f"Suspend {NEW_TEAM}").click()
    expect(row.locator(".badge")).to_have_text("suspended")
    page.get_by_role("button", name=f"Resume {NEW_TEAM}").click()
    expect(row.locator(".badge")).to_have_text("active")
    shot(page, "teams")

    step("quota: an invalid value shows the API's message; a valid one is saved")
    page.get_by_role("button", name=f"Quota of {LEDGER_TEAM}").click()
    editor = page.locator("section.quota-editor")
    expect(editor.get_by_role("heading", name=f"Quota of {LEDGER_TEAM}")).to_be_focused()
    burst = editor.get_by_label("Burst")
    expect(burst).not_to_have_value("")
    burst.fill("0")
    deliberate_400s += 1
    editor.get_by_role("button", name="Save quota").click()
    error = editor.locator(".form-error")
    expect(error).to_contain_text("VALIDATION_ERROR")
    expect(error).to_contain_text("burst")
    expect(burst).to_have_attribute("aria-invalid", "true")
    expect(editor.locator(f"#{burst.get_attribute('id')}-error")).not_to_be_empty()
    shot(page, "quota-validation")
    burst.fill("40")
    editor.get_by_label("Requests per second").fill("25")
    editor.get_by_label("Concurrency").fill("5")
    editor.get_by_role("button", name="Save quota").click()
    expect(error).to_contain_text("Saved: 25 rps, burst 40, concurrency 5")
    expect(burst).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#status")).to_contain_text(f"Quota of {LEDGER_TEAM} saved")


def audit(page):
    step("audit: the quota edit is the newest row")
    go(page, "Audit log")
    first = page.locator("table[data-table='audit'] tbody tr").first
    expect(first).to_contain_text("quota.set")
    expect(first).to_contain_text(f"quota {LEDGER_TEAM}")
    expect(first.locator("summary")).to_contain_text("burst: 1000 → 40")
    first.locator("summary").click()
    after = first.locator("pre").last.inner_text()
    check('"burst": 40' in after and '"rps": 25' in after, f"audit row's after: {after}")
    shot(page, "audit")


def tokens(page):
    step("tokens: mint (shown once, copied), list, revoke")
    go(page, "Tokens")
    mint = page.get_by_role("form", name="Mint a token")
    mint.get_by_label("Role").select_option("finance")
    mint.get_by_label("Lifetime").fill("1h")
    mint.get_by_role("button", name="Mint token").click()
    text = page.locator("section.minted").get_by_label("Token")
    expect(text).to_be_focused()
    finance = text.input_value()
    check(finance.count(".") == 2, "the minted token is not a JWT")
    minted.append(finance)
    page.get_by_role("button", name="Copy token").click()
    expect(page.locator("#status")).to_contain_text("copied")
    check(page.evaluate("navigator.clipboard.readText()") == finance, "the clipboard lacks the token")
    shot(page, "tokens")
    page.get_by_role("button", name="Done").click()
    expect(page.locator("section.minted")).to_have_count(0)

    mint.get_by_label("Role").select_option("team")
    mint.get_by_label("Team").fill(NEW_TEAM)
    mint.get_by_role("button", name="Mint token").click()
    doomed = page.locator("section.minted").get_by_label("Token").input_value()
    minted.append(doomed)
    jti = page.locator("section.minted p.muted").inner_text().split()[1]
    row = page.locator("table[data-table='tokens'] tbody tr").filter(has_text=jti)
    expect(row).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Revoke token {jti}").click()
    expect(row).to_have_count(0)
    page.get_by_label("Include revoked").check()
    page.get_by_role("button", name="List tokens").click()
    expect(row.locator(".badge")).to_have_text("revoked")
    status = raw_status("/team/position", doomed)
    check(status == 401, f"the revoked token still works: {status}")
    return finance


def raw_status(path, token):
    request = urllib.request.Request(BASE + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def as_finance(page, finance):
    step("finance token (minted above): overview, ledger and reconciliation only")
    sign_in(page, finance, keyboard=False)
    check(nav_names(page) == ["Overview", "Ledger", "Reconciliation"], f"finance nav: {nav_names(page)}")
    expect(table_row(page, "usage-by-team", LEDGER_TEAM)).to_have_count(1)
    page.evaluate("window.location.hash = '#/teams'")
    expect(page.locator("#page h1")).to_have_text("Overview")
    expect(page.get_by_role("heading", name="New team")).to_have_count(0)
    sign_out(page)


def as_team(page):
    step(f"team token of {TEAM}: its own pages only")
    sign_in(page, TEAM_TOKEN, keyboard=True)
    check(nav_names(page) == ["Overview", "Ledger"], f"team nav: {nav_names(page)}")
    expect(page.locator(f"svg.budget-bar[data-team='{TEAM}']")).to_have_count(1)
    expect(page.locator("svg.budget-bar")).to_have_count(1)
    expect(page.locator("table[data-table='usage-by-endpoint'] tbody tr")).not_to_have_count(0)
    endpoint_sum = sum(int(text.replace(",", "")) for text in page.locator(
        "table[data-table='usage-by-endpoint'] tbody tr td:last-child").all_inner_texts())
    check(endpoint_sum == EXPECTED[TEAM], f"{TEAM}'s usage adds up to {endpoint_sum}")
    expect(page.get_by_text("Requests per second")).to_be_visible()
    go(page, "Ledger")
    check(page.get_by_label("Team", exact=True).count() == 0, "a team sees a team filter")
    rows = page.locator("table[data-table='entries'] tbody tr")
    expect(rows).to_have_count(ENTRIES[TEAM])
    check(set(rows.locator("td:nth-child(2)").all_inner_texts()) == {TEAM}, "a team sees other teams")
    check(LEDGER_TEAM not in page.locator("main").inner_text(), "another team's name is shown")
    sign_out(page)


def phone(browser):
    step("phone width (390 px): overview readable, no sideways scrolling")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    watch(page)
    page.goto(BASE + "/console/")
    sign_in(page, ADMIN, keyboard=True)
    expect(table_row(page, "usage-by-team", LEDGER_TEAM)).to_have_count(1)
    expect(page.locator("svg.budget-bar")).to_have_count(len(EXPECTED) + 1)
    no_horizontal_scroll(page, 390)
    shot(page, "overview-phone")
    go(page, "Ledger")
    expect(page.locator("table[data-table='entries']")).to_be_visible()
    no_horizontal_scroll(page, 390)
    context.close()


def main():
    check_http()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=BASE)
        context.set_default_timeout(10_000)
        expect.set_options(timeout=10_000)
        page = context.new_page()
        watch(page)

        step("sign in as admin with the keyboard (Enter)")
        response = page.goto(BASE + "/console")
        check(page.url == BASE + "/console/", f"redirected to {page.url}")
        check(response.headers.get("content-security-policy") == CSP, "the page's CSP")
        check(page.locator("script:not([src])").count() == 0, "an inline script")
        shot(page, "sign-in", full_page=False)
        sign_in(page, ADMIN, keyboard=True)
        check(nav_names(page) == ["Overview", "Ledger", "Reconciliation", "Teams", "Tokens", "Audit log"],
              f"admin nav: {nav_names(page)}")
        overview_as_finance(page)
        no_horizontal_scroll(page, 1280)
        shot(page, "overview")

        ledger(page)
        reconciliation(page)
        teams_and_quota(page)
        audit(page)
        finance = tokens(page)
        sign_out(page)
        as_finance(page, finance)
        as_team(page)
        phone(browser)
        browser.close()

    step("no console errors, no token in any URL, nothing from another origin")
    refusals = [p for p in problems if "status of 400" in p]
    others = [p for p in problems if "status of 400" not in p]
    check(not others, f"console errors: {others}")
    check(len(refusals) <= deliberate_400s, f"unexpected 400s: {refusals}")
    for url in requested:
        check(url.startswith(BASE + "/") or url.startswith("blob:") or url.startswith("data:"),
              f"a request to another origin: {url}")
        for token in [ADMIN, TEAM_TOKEN, *minted]:
            check(token not in url, f"a token in a URL: {url}")
    step(f"passed ({len(requested)} requests; {len(refusals)} deliberate 400s logged by the browser)")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
