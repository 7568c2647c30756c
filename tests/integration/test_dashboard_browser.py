"""Browser tests of the admin pages (issue 4's acceptance list), Chromium headless via Playwright,
against the real stack: simulator, broker, gateway, dashboard, oauth. The browser only talks to
the gateway's origin, which forwards `/`, `/api/*`, static assets and `/oauth*`.

The tests run in file order on one signed-in page (a scenario), and the last one checks that no
secret appeared in anything the admin services served or any service logged meanwhile.
Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from kiro_testing import NatsServer, RedisServer
from kiro_testing.polling import poll
from kiro_testing.stack import ADMIN_TOKEN
from tests.integration.origin import (
    CHROMIUM,
    CHROMIUM_ARGS,
    MODEL,
    SCREENSHOTS,
    Origin,
    browser_origin,
    chromium_available,
)

pytestmark = pytest.mark.integration
UI_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def stack(log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Origin]:
    with browser_origin(log_dir / "admin-browser", nats_url=nats_server.url, redis_url=redis_server.url) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not chromium_available():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install_browser.sh (make test does)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def served() -> list[tuple[str, str]]:
    """(url, body) of every HTML / JSON / JS / CSS response the browser received."""
    return []


@pytest.fixture(scope="module")
def page(browser: Browser, served: list[tuple[str, str]], stack: Origin) -> Iterator[Page]:
    # depends on `stack` so that the page (and its live stream) closes before the services stop
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()

    def keep(response: Response) -> None:
        kind = response.headers.get("content-type", "")
        if "event-stream" in kind or response.status in (301, 302, 303):
            return
        if any(t in kind for t in ("html", "json", "javascript", "css")):
            try:
                served.append((response.url, response.text()))
            except PlaywrightError:  # the page navigated on before the body was read
                return

    page.on("response", keep)
    yield page
    context.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def row(page: Page, credential_id: str) -> Any:
    return page.locator(f'tr[data-id="{credential_id}"]')


def set_enabled(stack: Origin, credential_ids: list[str], enabled: bool) -> None:
    for cid in credential_ids:
        resp = stack.admin("POST", f"/api/credentials/{cid}/{'enable' if enabled else 'disable'}")
        assert resp.status_code == 200, resp.text


def new_sim_account(stack: Origin, known: set[str], auth: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        return next((a for a in stack.sim_accounts() if a["id"] not in known and a["auth"] == auth), None)

    return dict(poll(find, message=f"a new {auth} account in the simulator"))


def pool_ids(stack: Origin) -> list[str]:
    # (not Stack.pool_status_sync: Playwright's sync API keeps an event loop running in this thread)
    return [t["id"] for t in stack.admin("GET", "/api/tokens").json()["tokens"]]


# ------------------------------------------------------------------ sign-in


def test_wrong_admin_token_is_refused(page: Page, stack: Origin) -> None:
    page.goto(stack.url + "/")
    expect(page.locator("#login-form")).to_be_visible()
    shot(page, "login")
    page.fill("#token", "not-the-admin-token")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("Wrong admin token")
    assert page.locator("#pool-rows").count() == 0
    assert stack.admin("GET", "/api/tokens").status_code == 200
    wrong = stack.http.get("/api/tokens", headers={"authorization": "Bearer not-the-admin-token"})
    assert wrong.status_code == 401


def test_login_shows_the_pool_with_its_credentials(page: Page, stack: Origin) -> None:
    page.fill("#token", ADMIN_TOKEN)
    page.click("#login-form button[type=submit]")
    for account in stack.accounts:
        expect(row(page, account["id"]).locator(".status-badge")).to_have_text("active")
    expect(page.locator("#live-text")).to_have_text("live")
    first = row(page, stack.accounts[0]["id"])
    expect(first.locator(".col-inflight")).to_contain_text("/ 3")
    expect(first.locator(".expiry")).to_contain_text("expires in")


# ------------------------------------------------------------------ live traffic


def test_traffic_updates_counters_and_charts_without_reload(page: Page, stack: Origin) -> None:
    page.evaluate("window.__noReload = 'still here'")
    page.click("#tab-traffic")
    rps = page.locator("#chart-rps")
    expect(rps).to_be_visible()
    before = rps.evaluate("c => c.toDataURL()")
    total_before = float(rps.get_attribute("data-total") or 0)

    for i in range(8):
        assert stack.chat(f"hello {i}", stream=i % 2 == 0).status_code == 200

    page.wait_for_function(
        "t => parseFloat(document.getElementById('chart-rps').dataset.total || '0') > t",
        arg=total_before,
        timeout=UI_TIMEOUT_MS,
    )
    page.wait_for_function(
        "() => parseInt(document.querySelector('#tcard-requests .value').textContent, 10) >= 8",
        timeout=UI_TIMEOUT_MS,
    )
    assert rps.evaluate("c => c.toDataURL()") != before  # the chart was redrawn with the new traffic
    assert int(page.locator("#chart-latency").get_attribute("data-points") or 0) > 0
    assert int(page.locator("#chart-models").get_attribute("data-points") or 0) > 0
    expect(page.locator("#legend-models")).to_contain_text(MODEL)
    shot(page, "traffic")

    page.click("#tab-pool")
    page.wait_for_function(
        "() => parseInt(document.querySelector('#card-requests .value').textContent, 10) >= 8",
        timeout=UI_TIMEOUT_MS,
    )
    served_rows = [row(page, a["id"]).locator(".hour-text").text_content() or "" for a in stack.accounts]
    assert sum(int(text.split(" req")[0]) for text in served_rows) >= 8
    assert page.evaluate("window.__noReload") == "still here"
    shot(page, "pool")


# ------------------------------------------------------------------ actions


def test_disable_shows_disabled_and_the_gateway_stops_using_it(page: Page, stack: Origin) -> None:
    a, b = stack.accounts[0]["id"], stack.accounts[1]["id"]
    page.click("#tab-pool")
    row(page, a).locator("button[data-action=disable]").click()
    expect(row(page, a).locator(".status-badge")).to_have_text("disabled")
    expect(row(page, a).locator("button[data-action=enable]")).to_be_visible()

    used_a, used_b = stack.chat_requests(a), stack.chat_requests(b)
    for i in range(4):
        assert stack.chat(f"after disable {i}").status_code == 200
    assert stack.chat_requests(a) == used_a
    assert stack.chat_requests(b) >= used_b + 4

    row(page, a).locator("button[data-action=enable]").click()
    expect(row(page, a).locator(".status-badge")).to_have_text("active")


def test_action_without_the_csrf_token_is_refused(page: Page, stack: Origin) -> None:
    a = stack.accounts[0]["id"]
    statuses = page.evaluate(
        """async id => {
             const url = '/api/credentials/' + id + '/disable';
             const none = await fetch(url, {method: 'POST', credentials: 'same-origin'});
             const wrong = await fetch(url, {method: 'POST', credentials: 'same-origin',
                                             headers: {'x-csrf-token': 'forged'}});
             return [none.status, wrong.status, (await none.json()).error.type];
           }""",
        a,
    )
    assert statuses == [403, 403, "permission_error"]
    tokens = stack.admin("GET", "/api/tokens").json()["tokens"]
    assert next(t for t in tokens if t["id"] == a)["status"] == "active"


# ------------------------------------------------------------------ adding accounts


def test_device_authorization_login_adds_a_credential_that_serves(page: Page, stack: Origin) -> None:
    known_accounts = {a["id"] for a in stack.sim_accounts()}
    before = set(pool_ids(stack))
    page.goto(stack.url + "/oauth")
    page.click("#builder-start")
    code = page.locator("#builder-device .user-code")
    expect(code).to_be_visible()
    user_code = code.get_attribute("data-user-code")
    assert user_code
    shot(page, "oauth-device")
    approved = httpx.post(f"{stack.sim.url}/_sim/device/approve", json={"user_code": user_code})
    assert approved.status_code == 200, approved.text
    expect(page.locator("#builder-device .result.ok")).to_contain_text("Account added")

    added = poll(lambda: set(pool_ids(stack)) - before, message="the new credential in the pool")
    [new_id] = added
    account = new_sim_account(stack, known_accounts, "idc")
    others = [a["id"] for a in stack.accounts]
    set_enabled(stack, others, enabled=False)
    try:
        assert stack.chat("served by the new account").status_code == 200
        assert stack.chat_requests(account["id"]) >= 1
    finally:
        set_enabled(stack, others, enabled=True)

    page.goto(stack.url + "/")
    expect(row(page, new_id).locator(".status-badge")).to_have_text("active")
    expect(row(page, new_id).locator(".kind")).to_have_text("IdC")


def test_social_login_with_pasted_redirect_adds_a_credential_that_serves(page: Page, stack: Origin) -> None:
    known_accounts = {a["id"] for a in stack.sim_accounts()}
    before = set(pool_ids(stack))
    page.goto(stack.url + "/oauth")
    page.click("#social-google")
    link = page.locator("#social-link")
    expect(link).to_be_visible()
    login_url = link.get_attribute("href")
    assert login_url and login_url.startswith(f"{stack.sim.url}/login?idp=Google&")
    # the user signs in; the portal ends on kiro://..., which only the IDE opens: the user copies it
    portal = httpx.get(login_url, follow_redirects=False)
    assert portal.status_code == 302
    page.fill("#social-url", portal.headers["location"])
    page.click("#social-finish")
    expect(page.locator("#social-result .result.ok")).to_contain_text("Account added")
    shot(page, "oauth")

    [new_id] = poll(lambda: set(pool_ids(stack)) - before, message="the new credential in the pool")
    account = new_sim_account(stack, known_accounts, "social")
    others = [cid for cid in pool_ids(stack) if cid != new_id]
    set_enabled(stack, others, enabled=False)
    try:
        assert stack.chat("served by the social account").status_code == 200
        assert stack.chat_requests(account["id"]) >= 1
    finally:
        set_enabled(stack, others, enabled=True)

    # delete asks for confirmation, then the row goes away
    page.goto(stack.url + "/")
    row(page, new_id).locator("button[data-action=delete]").click()
    expect(page.locator("#confirm-dialog")).to_be_visible()
    page.click("#confirm-ok")
    expect(row(page, new_id)).to_have_count(0)
    assert new_id not in pool_ids(stack)


def test_import_is_verified_and_a_refused_credential_says_why(page: Page, stack: Origin) -> None:
    before = set(pool_ids(stack))
    page.goto(stack.url + "/oauth")
    bogus = json.dumps({"auth": "Social", "refreshToken": "aorAAAAAGnot-a-token-the-simulator-issued"})
    page.fill("#import-json", bogus)
    page.click("#import-submit")
    expect(page.locator("#import-result .result.bad")).to_contain_text("did not pass its check")
    assert set(pool_ids(stack)) == before

    fresh = stack.sim.add_account()
    page.fill("#import-json", json.dumps({"auth": "Social", "refreshToken": fresh["refresh_token"]}))
    page.click("#import-submit")
    expect(page.locator("#import-result .result.ok")).to_contain_text("added")
    [new_id] = poll(lambda: set(pool_ids(stack)) - before, message="the imported credential in the pool")
    assert stack.admin("DELETE", f"/api/credentials/{new_id}").status_code == 200


# ------------------------------------------------------------------ secrets


def _sse_capture(stack: Origin, seconds: float) -> str:
    chunks: list[str] = []
    deadline = time.monotonic() + seconds
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.stream("GET", stack.url + "/api/events", headers=headers, timeout=seconds + 10) as resp:
        assert resp.status_code == 200
        toggled = False
        for text in resp.iter_text():
            chunks.append(text)
            if not toggled:  # make the broker publish credential events while we listen
                set_enabled(stack, [stack.accounts[1]["id"]], enabled=False)
                set_enabled(stack, [stack.accounts[1]["id"]], enabled=True)
                stack.chat("one more for the traffic feed")
                toggled = True
            if time.monotonic() > deadline:
                break
    return "".join(chunks)


def test_no_secret_in_anything_served_or_logged(
    page: Page, stack: Origin, served: list[tuple[str, str]]
) -> None:
    documents = list(served)
    for path in ("/", "/oauth", "/api/tokens", "/api/pool", "/api/traffic"):
        documents.append((path, stack.admin("GET", path).text))
    events = _sse_capture(stack, 4.0)
    assert "event: pool" in events and "event: traffic" in events and "event: credential" in events
    documents.append(("/api/events", events))
    assert len(documents) > 15

    secrets = stack.secrets()
    assert len(secrets) >= 2 + 2 * len(stack.accounts)  # keys, refresh and access tokens at least
    leaks = [(url, secret[:6] + "...") for url, body in documents for secret in secrets if secret in body]
    assert leaks == []

    logged = 0
    for log_file in stack.log_files():
        for number, line in enumerate(log_file.read_text(errors="replace").splitlines(), 1):
            logged += 1
            found = [s[:6] + "..." for s in secrets if s in line]
            assert not found, f"{log_file.name}:{number} logs a secret {found}"
    assert logged > 20
    # the tokens API shows fingerprints, not tokens
    tokens = json.loads(stack.admin("GET", "/api/tokens").text)["tokens"]
    assert all(t["token_preview"] is None or t["token_preview"].startswith("sha256:") for t in tokens)
