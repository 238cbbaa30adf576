"""The Cache Management page, driven in headless Chromium against the real admin router and a
real redis-server seeded here.

Playwright's Python API drives Debian's /usr/bin/chromium, or $CACHECTL_CHROMIUM (Playwright's
own browser download is not used). Without them these tests skip, except in CI (CI=true), where
they fail. Screenshots of each view go to docs/screenshots/ with CACHECTL_SCREENSHOTS=1, else to
the test's tmp_path.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI

from cachectl.cache import Cache
from cachectl.contrib.fastapi import admin_router
from cachectl.contrib.fastapi.page import CSP
from tests.plugins.http import serve_asgi

#: Debian's chromium; CACHECTL_CHROMIUM names another build (e.g. /usr/bin/chromium-browser).
CHROMIUM = os.environ.get("CACHECTL_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN, VIEWER = "page-admin-token", "page-viewer-token"
NS = "page"
HOSTILE = "<img src=x onerror=alert(1)>"
USERS, SESSIONS = 600, 12
ROOT = Path(__file__).resolve().parent.parent


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install playwright)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module; skipped locally without it, failed in CI."""
    missing = _missing()
    if missing is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the browser tests cannot run in CI: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/screenshots with CACHECTL_SCREENSHOTS=1, else tmp_path."""
    if os.environ.get("CACHECTL_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        return target
    return tmp_path


@dataclass
class Site:
    """The router under /_cache over a seeded namespace, and a plain client to its Redis."""

    base: str
    redis: redis.Redis
    cache: Cache

    @property
    def page_url(self) -> str:
        return f"{self.base}/_cache/"

    def keys(self) -> set[str]:
        """Every Redis key of the namespace, as text."""
        return {k.decode() for k in self.redis.scan_iter(match=f"{NS}:*", count=1000)}


def _seed(cache: Cache, raw: redis.Redis) -> None:
    for i in range(USERS):
        cache.set(f"user:{i}", {"id": i, "name": f"user {i}"}, ttl=3600)
    for i in range(SESSIONS):
        cache.set(f"session:{i}", {"sid": i}, ttl=600, tags=["sessions"])
    for i in range(30):  # 30 hits and 10 misses on user
        cache.get(f"user:{i}")
    for i in range(10):
        cache.get(f"user:missing:{i}")
    # Above the compression threshold: stored lz4-compressed in cachectl's format.
    reviews = [
        {"user": f"user:{i}", "stars": 1 + i % 5, "text": "Arrived on time, works as described."}
        for i in range(20)
    ]
    product = {"title": "compressed-marker", "sku": "LMP-0042", "price": 39.9, "stock": 17}
    cache.set("blob:big", {**product, "tags": ["lamp", "desk"], "reviews": reviews}, ttl=3600)
    raw.set(f"{NS}:legacy:json", json.dumps({"legacy": "foreign-marker", "n": 42}), ex=3600)
    cache.set(HOSTILE, "hostile-value", ttl=3600)
    cache.publish_stats()


@pytest.fixture
def site(redis_url: str, raw_redis: redis.Redis) -> Iterator[Site]:
    cache = Cache(redis_url, namespace=NS, stats_interval=3600, socket_timeout=2.0)
    try:
        _seed(cache, raw_redis)
        app = FastAPI()
        app.include_router(
            admin_router(cache, token=ADMIN, read_only_token=VIEWER), prefix="/_cache"
        )
        with serve_asgi(app) as base:
            yield Site(base, raw_redis, cache)
    finally:
        cache.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A desktop-sized page that fails the test on any dialog (alert, confirm) or script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    dialogs: list[str] = []
    errors: list[str] = []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.dialogs, tab.errors = dialogs, errors
    yield tab
    context.close()
    assert not dialogs, f"a dialog opened: {dialogs}"
    assert not errors, f"script errors: {errors}"


def sign_in(tab: Any, site: Site, token: str) -> None:
    tab.goto(site.page_url)
    tab.fill("#token", token)
    tab.click("#login-form button[type=submit]")
    tab.wait_for_selector("#app:not([hidden])")


def prefix_row(tab: Any, prefix: str) -> list[str]:
    """The cells of the overview's row for prefix, as the user reads them."""
    row = tab.locator("#prefixes tbody tr").filter(
        has=tab.get_by_role("button", name=prefix, exact=True)
    )
    row.wait_for()
    return [cell.strip() for cell in row.locator("td").all_inner_texts()]


def test_admin_sees_the_seeded_prefixes_with_their_figures(
    page: Any, site: Site, shots: Path
) -> None:
    sign_in(page, site, ADMIN)
    assert page.locator("#who .badge").inner_text() == "admin"
    user = prefix_row(page, "user")
    # prefix, hits, misses, hit ratio, sets, errors, fallback, p50, p99, keys, memory
    assert user[1:5] == ["30", "10", "75.0 %", str(USERS)]
    assert user[9] == str(USERS)
    assert prefix_row(page, "session")[9] == str(SESSIONS)
    assert page.locator("#server").inner_text().count("Version") == 1
    page.click("#probe")
    page.wait_for_selector("#probe-result:not([hidden]) #probe-table tbody tr")
    # A few refreshes with traffic in between: the charts draw what the page has seen.
    for round_ in range(6):
        for i in range(20):  # a hit ratio that moves: 20 hits, 0 to 15 misses a round
            site.cache.get(f"user:{i * 7 + round_}")
        for i in range(3 * round_):
            site.cache.get(f"user:gone:{round_}:{i}")
        site.cache.publish_stats()
        page.click("#refresh")
        page.wait_for_function(
            "n => document.querySelectorAll('#chart-hits circle').length === 1 && "
            "document.querySelector('#chart-hits polyline').getAttribute('points')"
            ".split(' ').length >= n",
            arg=round_ + 2,
        )
    page.screenshot(path=str(shots / "overview.png"), full_page=True)


def test_a_wrong_token_is_refused(page: Any, site: Site) -> None:
    page.goto(site.page_url)
    page.fill("#token", "not-the-token")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-error:text('not accepted')")
    assert page.locator("#app").is_hidden()


def test_browse_past_the_first_page_of_keys(page: Any, site: Site, shots: Path) -> None:
    sign_in(page, site, ADMIN)
    page.click("#tab-keys")
    page.fill("#keys-value", "user")
    page.click("#keys-form button[type=submit]")
    seen: list[str] = []
    pages = 0
    while True:
        # The label of this selection's page: the tab's first listing (the whole namespace)
        # also says 'page 1', and a slow answer leaves it up while the search is on its way.
        page.wait_for_selector(f"#keys-label:has-text('user'):has-text('page {pages + 1}')")
        names = page.locator("#keys-table .key-link").all_inner_texts()
        # A page may come back short, even empty, with more to follow: SCAN's COUNT is work,
        # and a page stops at its budget (docs/performance.md).
        assert len(names) < USERS
        seen += names
        if pages == 0:
            page.screenshot(path=str(shots / "keys.png"), full_page=False)
        pages += 1
        if page.locator("#keys-next").is_hidden():
            break
        page.click("#keys-next")
    assert pages >= 2
    assert sorted(seen) == sorted(f"user:{i}" for i in range(USERS))

    # Sorting by a column header: memory, biggest first, within the page.
    page.click("#keys-first")
    page.wait_for_selector("#keys-label:text('page 1')")
    page.get_by_role("button", name="Memory", exact=True).click()
    page.wait_for_selector("#keys-table th[aria-sort=descending]")
    assert page.locator("#keys-sort").input_value() == "memory"

    # The biggest keys of the whole namespace: the compressed product comes first.
    page.fill("#keys-value", "")
    page.click("#keys-top")
    page.wait_for_selector("#keys-label:text('Biggest keys')")
    assert page.locator("#keys-table .key-link").first.inner_text() == "blob:big"


def test_compressed_and_foreign_values_are_decoded(page: Any, site: Site, shots: Path) -> None:
    sign_in(page, site, ADMIN)
    page.click("#tab-key")
    page.fill("#key-name", "blob:big")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-value:has-text('compressed-marker')")
    facts = page.locator("#key-facts").inner_text()
    assert "lz4" in facts and "cachectl" in facts
    page.screenshot(path=str(shots / "key.png"), full_page=True)

    page.fill("#key-name", "legacy:json")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-value:has-text('foreign-marker')")
    assert "foreign" in page.locator("#key-facts").inner_text()
    assert '"n": 42' in page.locator("#key-value").inner_text().replace('"n":\n', '"n": ')


def test_change_a_ttl(page: Any, site: Site) -> None:
    sign_in(page, site, ADMIN)
    page.click("#tab-key")
    page.fill("#key-name", "user:7")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-detail:not([hidden])")
    page.fill("#ttl-seconds", "7777")
    page.click("#ttl-form button[type=submit]")
    page.wait_for_selector("#key-facts:has-text('2h 9m')")  # 7777 s, shown from Redis
    assert 7700 < site.redis.ttl(f"{NS}:user:7") <= 7777
    page.click("#ttl-persist")
    page.wait_for_selector("#key-facts:has-text('no expiry')")
    assert site.redis.ttl(f"{NS}:user:7") == -1

    # Deleting asks once more, in the page (no browser dialog).
    page.click("#key-delete")
    assert site.redis.exists(f"{NS}:user:7") == 1
    page.click("#key-delete-yes")
    page.wait_for_selector("#status:text('Deleted user:7')")
    assert site.redis.exists(f"{NS}:user:7") == 0
    assert site.redis.exists(f"{NS}:user:8") == 1


def test_flush_a_list_of_keys(page: Any, site: Site) -> None:
    before = site.keys()
    sign_in(page, site, ADMIN)
    page.click("#tab-flush")
    page.select_option("#flush-kind", "keys")
    page.fill("#flush-keys", "user:1\nuser:2\nuser:no-such-key\n")
    page.click("#flush-form button[type=submit]")
    page.wait_for_selector("#flush-plan:not([hidden])")
    assert "2 keys would be deleted" in page.locator("#plan-summary").inner_text()
    # The text to type is what the page asks for (ops' confirm text for a key list).
    page.fill("#flush-confirm", page.locator("#flush-confirm-label code").inner_text())
    page.click("#flush-go")
    page.wait_for_selector("#flush-result:text('Removed 2 keys')")
    assert site.keys() == before - {f"{NS}:user:1", f"{NS}:user:2"}


def test_flush_a_prefix_through_preview_and_typed_confirmation(
    page: Any, site: Site, shots: Path
) -> None:
    before = site.keys()
    sessions = {k for k in before if k.startswith(f"{NS}:session:")}
    assert len(sessions) == SESSIONS
    sign_in(page, site, ADMIN)
    page.click("#tab-flush")
    page.fill("#flush-value", "session")
    page.click("#flush-form button[type=submit]")
    page.wait_for_selector("#flush-plan:not([hidden])")
    assert f"{SESSIONS} keys would be deleted" in page.locator("#plan-summary").inner_text()
    assert len(page.locator("#plan-sample li").all_inner_texts()) >= 1
    assert site.keys() == before, "the preview deleted nothing"
    go = page.locator("#flush-go")
    assert go.is_disabled()
    page.fill("#flush-confirm", "sessio")
    assert go.is_disabled()
    page.fill("#flush-confirm", "session")
    assert go.is_enabled()
    page.screenshot(path=str(shots / "flush.png"), full_page=True)
    go.click()
    page.wait_for_selector(f"#flush-result:text('Removed {SESSIONS} keys')")
    assert site.keys() == before - sessions

    page.click("#tab-audit")
    row = page.locator("#audit-table tbody tr").first
    row.wait_for()
    text = row.inner_text()
    assert "flush" in text and "session" in text and str(SESSIONS) in text
    page.screenshot(path=str(shots / "audit.png"), full_page=True)


def test_the_read_only_token_cannot_flush(page: Any, site: Site, shots: Path) -> None:
    before = site.keys()
    sign_in(page, site, VIEWER)
    assert page.locator("#who .badge").inner_text() == "read-only"
    page.click("#tab-flush")
    assert page.locator(".readonly-note").is_visible()
    page.fill("#flush-value", "session")
    page.click("#flush-form button[type=submit]")
    page.wait_for_selector("#flush-plan:not([hidden])")
    assert f"{SESSIONS} keys match" in page.locator("#plan-summary").inner_text()
    assert page.locator("#flush-confirm").is_hidden()
    assert page.locator("#flush-go").is_hidden()
    page.screenshot(path=str(shots / "flush-read-only.png"), full_page=True)
    page.click("#tab-key")
    page.fill("#key-name", "user:1")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-detail:not([hidden])")
    assert page.locator("#key-delete").is_hidden()
    assert page.locator("#ttl-form").is_hidden()

    # The server refuses the read-only token whatever the page shows.
    api = f"{site.base}/_cache/api"
    viewer = {"Authorization": f"Bearer {VIEWER}"}
    refused = httpx.post(
        f"{api}/flush", json={"prefix": "session", "confirm": "session"}, headers=viewer
    )
    assert refused.status_code == 403
    assert "read-only" in refused.json()["detail"]
    assert httpx.delete(f"{api}/key", params={"key": "user:1"}, headers=viewer).status_code == 403
    ttl = httpx.post(f"{api}/key/ttl", json={"key": "user:1", "ttl": 5}, headers=viewer)
    assert ttl.status_code == 403
    assert site.keys() == before


def test_a_hostile_key_renders_as_text(page: Any, site: Site) -> None:
    sign_in(page, site, ADMIN)
    # Its first segment is a prefix of its own: the overview's table shows it too.
    assert prefix_row(page, HOSTILE)[0] == HOSTILE
    page.click("#tab-keys")
    page.select_option("#keys-kind", "pattern")
    page.fill("#keys-value", "<img*")
    page.click("#keys-form button[type=submit]")
    link = page.get_by_role("button", name=HOSTILE, exact=True)
    link.wait_for()
    link.click()
    page.wait_for_selector("#key-detail:not([hidden])")
    assert page.locator("#key-title").inner_text() == HOSTILE
    assert "hostile-value" in page.locator("#key-value").inner_text()
    assert page.locator("img").count() == 0
    page.wait_for_timeout(200)  # an onerror would have fired by now
    assert page.dialogs == []


def test_phone_width_and_dark_mode(browser: Any, site: Site, shots: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    tab = context.new_page()
    try:
        sign_in(tab, site, ADMIN)
        prefix_row(tab, "user")
        # Nothing wider than the screen but the tables, which scroll inside their own box.
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        tab.screenshot(path=str(shots / "overview-phone-dark.png"), full_page=True)
        tab.click("#tab-key")
        tab.fill("#key-name", "blob:big")
        tab.click("#key-form button[type=submit]")
        tab.wait_for_selector("#key-value:has-text('compressed-marker')")
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390
        tab.screenshot(path=str(shots / "key-phone-dark.png"), full_page=False)
    finally:
        context.close()


def test_keyboard_moves_between_tabs(page: Any, site: Site) -> None:
    sign_in(page, site, ADMIN)
    page.focus("#tab-overview")
    page.keyboard.press("ArrowRight")
    assert page.locator("#tab-keys").get_attribute("aria-selected") == "true"
    assert page.evaluate("document.activeElement.id") == "tab-keys"
    assert page.locator("#view-keys").is_visible()
    page.keyboard.press("End")
    assert page.locator("#tab-audit").get_attribute("aria-selected") == "true"
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input, select, textarea')]"
        ".filter(e => e.labels.length === 0).map(e => e.id)"
    )
    assert unlabelled == []


def test_the_page_is_served_without_a_token_under_a_strict_policy(site: Site) -> None:
    shell = httpx.get(site.page_url)
    assert shell.status_code == 200
    assert shell.headers["content-type"].startswith("text/html")
    for response in (shell, httpx.get(f"{site.page_url}static/app.js")):
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in shell.text and " style=" not in shell.text
    assert httpx.get(f"{site.page_url}static/..%2Fpage.py").status_code == 404
    assert httpx.get(f"{site.page_url}static/index.html").status_code == 404
    # The data is not: the API wants a token.
    assert httpx.get(f"{site.page_url}api/overview").status_code == 401
    assert httpx.get(f"{site.page_url}api/overview", params={"token": ADMIN}).status_code == 401


def test_the_token_stays_in_the_tab_never_in_a_cookie_or_url(page: Any, site: Site) -> None:
    sign_in(page, site, ADMIN)
    assert ADMIN not in page.url
    assert page.context.cookies() == []
    page.reload()  # the same tab keeps its session
    page.wait_for_selector("#app:not([hidden])")
    page.click("#signout")
    assert page.evaluate("sessionStorage.length") == 0
    page.reload()
    page.wait_for_selector("#login:not([hidden])")
    assert page.locator("#app").is_hidden()


# -- whole-namespace confirmation, and the page's nits ---------------------------------------------


@pytest.mark.parametrize(("kind", "value"), [("all", None), ("pattern", "*"), ("pattern", "**")])
def test_the_whole_namespace_is_confirmed_by_its_name(
    page: Any, site: Site, kind: str, value: str | None
) -> None:
    before = site.keys()
    sign_in(page, site, ADMIN)
    page.click("#tab-flush")
    page.select_option("#flush-kind", kind)
    if value is None:
        assert page.locator("#flush-value").is_hidden()
    else:
        page.fill("#flush-value", value)
    page.click("#flush-form button[type=submit]")
    page.wait_for_selector("#flush-plan:not([hidden])")
    label = page.locator("#flush-confirm-label")
    assert "every key of the namespace" in label.inner_text()
    assert label.locator("code").inner_text() == NS
    go = page.locator("#flush-go")
    for typed in ("*", value or "all", "y", NS[:-1], NS.upper()):
        page.fill("#flush-confirm", typed)
        assert go.is_disabled(), typed
    page.keyboard.press("Enter")  # submitting the form does not get past the check either
    assert site.keys() == before
    page.fill("#flush-confirm", NS)
    assert go.is_enabled()
    go.click()
    page.wait_for_selector("#flush-result:text('Removed')")
    # Only the namespace's bookkeeping (stats, audit) is left; a glob leaves the tag sets too.
    left = site.keys()
    assert not {k for k in left if not k.startswith(f"{NS}#")}


def test_keys_are_listed_in_natural_order(page: Any, site: Site) -> None:
    for i in [10, 2, 1, 12, 3, 20, 100, 11]:
        site.cache.set(f"shelf:{i}:item", i, ttl=600)
    site.cache.set("shelf:02:item", 2, ttl=600)
    sign_in(page, site, ADMIN)
    page.click("#tab-keys")
    page.fill("#keys-value", "shelf")
    page.click("#keys-form button[type=submit]")
    page.wait_for_selector("#keys-label:text('page 1')")
    names = page.locator("#keys-table .key-link").all_inner_texts()
    assert names == [
        "shelf:1:item",
        "shelf:02:item",
        "shelf:2:item",
        "shelf:3:item",
        "shelf:10:item",
        "shelf:11:item",
        "shelf:12:item",
        "shelf:20:item",
        "shelf:100:item",
    ]  # fmt: skip (the same number written two ways: as text, so '02' first)


def test_the_ttl_is_written_as_the_command_line_writes_it(page: Any, site: Site) -> None:
    from cachectl.cli.render import duration

    ttls = {"clock:short": 42, "clock:long": 26 * 3600 + 125, "clock:never": None}
    for key, ttl in ttls.items():
        site.cache.set(key, 1, ttl=ttl)
    sign_in(page, site, ADMIN)
    page.click("#tab-keys")
    page.fill("#keys-value", "clock")
    page.click("#keys-form button[type=submit]")
    page.wait_for_selector("#keys-label:text('page 1')")
    rows = {
        r.locator(".key-link").inner_text(): r.locator("td").nth(2).inner_text()
        for r in page.locator("#keys-table tbody tr").all()
    }
    assert rows["clock:short"] in {duration(s) for s in (40, 41, 42)}  # "42s", as the CLI
    assert rows["clock:long"] == duration(26 * 3600 + 125) == "1d 2h"
    assert rows["clock:never"] == "no expiry"
    page.get_by_role("button", name="clock:short", exact=True).click()
    page.wait_for_selector("#key-detail:not([hidden])")
    facts = page.locator("#key-facts").inner_text()
    assert any(duration(s) in facts for s in (39, 40, 41, 42))
    page.fill("#ttl-seconds", "7777")
    page.click("#ttl-form button[type=submit]")
    page.wait_for_selector("#key-facts:has-text('2h 9m')")
    assert page.locator("#status").inner_text() == f"TTL set to {duration(7777)}."


#: A long key whose segments are short: it can always break after a separator.
LONG_KEY = (
    "tenant:acme-corporation/region.eu-west-1/customer_profile:settings:notifications:"
    "email-preferences:weekly-digest:v2"
)
SEPARATORS = set(":/._-")
#: Where each line of an element's text ends: the last character on the line, per line break.
LINE_ENDS = """(el) => {
  const ends = [];
  let top = null;
  let last = null;
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i += 1) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (!rect || !rect.width) continue;
      if (top !== null && rect.top > top + 2) ends.push(last);
      top = rect.top;
      last = node.data[i];
    }
  }
  return ends;
}"""


def test_long_key_names_wrap_at_separators_on_a_phone(browser: Any, site: Site) -> None:
    site.cache.set(LONG_KEY, 1, ttl=600)
    context = browser.new_context(viewport={"width": 375, "height": 800})
    tab = context.new_page()
    try:
        sign_in(tab, site, ADMIN)
        tab.click("#tab-keys")
        tab.fill("#keys-value", "tenant")
        tab.click("#keys-form button[type=submit]")
        link = tab.get_by_role("button", name=LONG_KEY, exact=True)
        link.wait_for()
        ends = link.evaluate(LINE_ENDS)
        assert ends, "the key fits on one line: the test shows nothing"
        assert set(ends) <= SEPARATORS, ends
        assert tab.evaluate("document.documentElement.scrollWidth") <= 375
        link.click()
        tab.wait_for_selector("#key-detail:not([hidden])")
        title = tab.locator("#key-title")
        assert title.inner_text() == LONG_KEY
        ends = title.evaluate(LINE_ENDS)
        assert ends and set(ends) <= SEPARATORS, ends
        assert tab.evaluate("document.documentElement.scrollWidth") <= 375
        # The flush preview's sample, and the audit's selection, the same way.
        tab.click("#tab-flush")
        tab.fill("#flush-value", LONG_KEY)
        tab.click("#flush-form button[type=submit]")
        sample = tab.locator("#plan-sample li").first
        sample.wait_for()
        ends = sample.evaluate(LINE_ENDS)
        assert ends and set(ends) <= SEPARATORS, ends
        assert tab.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()
