"""The page's Advice view in headless Chromium (the fixtures of test_page_browser): the
findings of `cachectl doctor` on a redis-server of its own, set up as a cache should be and
seeded with issue 20's situations, grouped by severity with their figures and what to do;
each affected prefix, tag or key a link into the key browser; open to the read-only token;
hostile names shown as text; a clear state while it runs, and an error state.

With CACHECTL_SCREENSHOTS=1 the view is saved as docs/screenshots/advice.png (docs/doctor.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi import FastAPI

from cachectl.cache import Cache
from cachectl.contrib.fastapi import admin_router
from cachectl.demo.environment import serve_asgi
from cachectl.testing import PATIENT
from tests.doctor_support import _ZADD_LOOP, HUGE_TAG_MEMBERS
from tests.servers import RedisServer
from tests.test_admin_doctor import EXPECTED, HOSTILE, SEEDED, seed
from tests.test_page_browser import (  # noqa: F401 (fixtures)
    ADMIN,
    VIEWER,
    browser,
    page,
    shots,
    sign_in,
)

NS = "shop"
#: As a cache server should be set: the server adds no finding of its own.
CACHE_SETTINGS = {"maxmemory": str(1024**3), "maxmemory-policy": "allkeys-lru"}
#: The page's situations: the API tests' four warnings and an information finding.
SITUATIONS = (*SEEDED, "uncompressed values")
SHOWN = EXPECTED | {"uncompressed-values"}


@dataclass
class AdviceSite:
    """The router under /_cache over the seeded namespace on a server of the test's own."""

    base: str
    server: RedisServer
    redis: redis.Redis

    @property
    def page_url(self) -> str:
        return f"{self.base}/_cache/"


@pytest.fixture
def site() -> Iterator[AdviceSite]:
    with RedisServer() as server, server.client() as client:
        for name, value in CACHE_SETTINGS.items():
            client.config_set(name, value)
        seed(client, server.url, NS, SITUATIONS)
        # Quick to give up when the server is paused (the error state's test).
        cache = Cache(
            server.url, namespace=NS, socket_timeout=1.0, connect_timeout=1.0, stats=False
        )
        try:
            app = FastAPI()
            app.include_router(
                admin_router(cache, token=ADMIN, read_only_token=VIEWER), prefix="/_cache"
            )
            with serve_asgi(app) as base:
                yield AdviceSite(base, server, client)
        finally:
            cache.close()


def open_advice(tab: Any) -> None:
    tab.click("#tab-advice")
    tab.wait_for_selector("#advice-result:not([hidden])")


def shown_ids(tab: Any) -> list[str]:
    found: list[str] = tab.locator("#advice-findings article.finding").evaluate_all(
        "cards => cards.map(c => c.dataset.id)"
    )
    return found


def card(tab: Any, finding_id: str, subject: str | None = None) -> Any:
    found = tab.locator(f"#advice-findings article.finding[data-id='{finding_id}']")
    if subject is not None:
        found = found.filter(has=tab.locator(".finding-title", has_text=subject))
    assert found.count() == 1, (finding_id, subject, shown_ids(tab))
    return found


def test_the_findings_are_grouped_by_severity_with_figures_and_advice(
    page: Any,  # noqa: F811
    site: AdviceSite,
    shots: Path,  # noqa: F811
) -> None:
    sign_in(page, site, ADMIN)
    open_advice(page)
    assert set(shown_ids(page)) == SHOWN
    groups = page.locator("#advice-findings .advice-group > h3").all_inner_texts()
    assert groups == ["Warnings (4)", "Information (1)"]
    warnings = page.locator(".advice-group.sev-warning article").evaluate_all(
        "cards => cards.map(c => c.dataset.id)"
    )
    assert set(warnings) == EXPECTED
    scope = page.locator("#advice-scope").inner_text()
    assert scope.startswith(f"Namespace {NS}: ") and "counted exactly" in scope

    users = card(page, "cache-not-helping").inner_text()
    assert "Prefix 'users': hit ratio 10.0%" in users
    assert "hit ratio\n10.0 %" in users and "hits\n100" in users and "misses\n900" in users
    assert "What to do: Raise the TTL of 'users' from about" in users
    big = card(page, "big-values")
    assert big.locator(".key-link").all_inner_texts() == ["reports:annual"]
    assert "largest stored\n2.0 MiB" in big.inner_text()
    never = card(page, "never-read").inner_text()
    assert "sets\n500" in never and "Stop writing 'audit'" in never
    assert "Browse the keys of prefix audit" in never
    info = card(page, "uncompressed-values").locator(".badge").inner_text()
    assert info == "info"
    assert page.locator("#advice-error").is_hidden()
    page.screenshot(path=str(shots / "advice.png"), full_page=True)


def test_links_open_the_key_browser_filtered_and_the_key_view(
    page: Any,  # noqa: F811
    site: AdviceSite,
) -> None:
    sign_in(page, site, ADMIN)
    open_advice(page)
    settings = card(page, "no-ttl", "settings")
    settings.get_by_role("button", name="Browse the keys of prefix settings").click()
    page.wait_for_selector("#keys-label:text('page 1')")
    assert page.locator("#tab-keys").get_attribute("aria-selected") == "true"
    assert page.locator("#keys-kind").input_value() == "prefix"
    assert page.locator("#keys-value").input_value() == "settings"
    listed = page.locator("#keys-table .key-link").all_inner_texts()
    assert sorted(listed) == sorted(f"settings:{i}" for i in range(12))

    # Back to the view: the diagnosis is kept, not run again; a key opens the key view.
    page.click("#tab-advice")
    key = card(page, "no-ttl", "settings").locator(".affected .key-link").first
    name = key.inner_text()
    assert name.startswith("settings:")
    key.click()
    page.wait_for_selector("#key-detail:not([hidden])")
    assert page.locator("#tab-key").get_attribute("aria-selected") == "true"
    assert page.locator("#key-title").inner_text() == name
    assert "no expiry" in page.locator("#key-facts").inner_text()


def test_the_read_only_token_uses_it_and_narrows_it_to_a_prefix(
    page: Any,  # noqa: F811
    site: AdviceSite,
) -> None:
    sign_in(page, site, VIEWER)
    assert page.locator("#who .badge").inner_text() == "read-only"
    open_advice(page)
    assert set(shown_ids(page)) == SHOWN

    page.fill("#advice-prefix", "users")
    page.fill("#advice-sample", "100")
    page.click("#advice-run")
    page.wait_for_selector("#advice-scope:text('Prefix users of namespace')")
    assert shown_ids(page) == ["cache-not-helping"]
    assert "20 entries sampled (at most 100)" in page.locator("#advice-scope").inner_text()
    assert "Tag sets are not examined" in page.locator("#advice-notes").inner_text()

    # A prefix with nothing in it is the command line's 'empty' finding, with nothing to browse.
    page.fill("#advice-prefix", "nothing-here")
    page.click("#advice-run")
    page.wait_for_selector("#advice-scope:text('Prefix nothing-here')")
    assert shown_ids(page) == ["empty"]
    empty = card(page, "empty")
    assert "Nothing under prefix 'nothing-here'" in empty.inner_text()
    assert empty.locator("button").count() == 0

    # A sample out of bounds is refused in the page, before any request.
    page.fill("#advice-sample", "0")
    page.click("#advice-run")
    page.wait_for_selector("#advice-error:not([hidden])")
    assert "from 1 to 1,000,000" in page.locator("#advice-error-text").inner_text()


def test_hostile_names_are_shown_as_text(
    page: Any,  # noqa: F811
    site: AdviceSite,
) -> None:
    with Cache(site.server.url, namespace=NS, **PATIENT) as writer:  # type: ignore[arg-type]
        for i in range(3):
            writer.set(f"{HOSTILE}:{i}", {"n": i})  # no TTL: a no-ttl finding about this prefix
    # A tag of that name too big to invalidate quickly (members scored as never expiring).
    tag = f"{NS}#tag:{{{HOSTILE}}}"
    members = site.redis.eval(_ZADD_LOOP, 1, tag, HUGE_TAG_MEMBERS, 4 * 10**12, f"{NS}:x:")
    assert members == HUGE_TAG_MEMBERS
    sign_in(page, site, ADMIN)
    open_advice(page)
    hostile = card(page, "no-ttl", HOSTILE)
    assert hostile.locator(".finding-title").inner_text() == (
        f"Prefix '{HOSTILE}': 3 entries without a TTL"
    )
    keys = sorted(hostile.locator(".affected .key-link").all_inner_texts())
    assert keys == [f"{HOSTILE}:{i}" for i in range(3)]
    assert page.locator("img").count() == 0
    hostile.locator(".browse-link").click()
    page.wait_for_selector("#keys-label:text('page 1')")
    assert page.locator("#keys-value").input_value() == HOSTILE
    assert sorted(page.locator("#keys-table .key-link").all_inner_texts()) == keys
    page.click("#tab-advice")
    huge = card(page, "huge-tag")
    assert huge.locator(".finding-title").inner_text().startswith(f"Tag '{HOSTILE}' has 200,000")
    huge.locator(".browse-link").click()
    page.wait_for_selector("#tab-keys[aria-selected=true]")
    assert page.locator("#keys-kind").input_value() == "tag"
    assert page.locator("#keys-value").input_value() == HOSTILE
    page.click("#tab-advice")
    card(page, "no-ttl", HOSTILE).get_by_role("button", name=f"{HOSTILE}:1", exact=True).click()
    page.wait_for_selector("#key-detail:not([hidden])")
    assert page.locator("#key-title").inner_text() == f"{HOSTILE}:1"
    assert page.locator("img").count() == 0
    page.wait_for_timeout(200)  # an onerror would have fired by now
    assert page.dialogs == []


def test_a_running_diagnosis_and_a_failed_one_are_shown(
    page: Any,  # noqa: F811
    site: AdviceSite,
) -> None:
    held: list[Any] = []
    page.route("**/api/doctor?*", lambda route: held.append(route))  # answered when told
    sign_in(page, site, ADMIN)
    page.click("#tab-advice")
    busy = page.locator("#advice-busy")
    busy.wait_for()
    assert "Examining the namespace…" in busy.inner_text()
    assert page.locator("#advice-run").is_disabled()
    assert page.locator("#view-advice").get_attribute("aria-busy") == "true"
    assert page.locator("#advice-result").is_hidden()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    held.pop().continue_()
    page.wait_for_selector("#advice-result:not([hidden])")
    assert busy.is_hidden() and page.locator("#advice-run").is_enabled()
    assert page.locator("#view-advice").get_attribute("aria-busy") == "false"
    page.unroute("**/api/doctor?*")

    # Redis stops answering: the view says so, and offers to try again.
    site.server.pause()
    try:
        page.click("#advice-run")
        page.wait_for_selector("#advice-error:not([hidden])", timeout=30_000)
        text = page.locator("#advice-error-text").inner_text()
        assert text.startswith("Redis cannot be reached: ")
        assert page.locator("#advice-result").is_hidden() and busy.is_hidden()
    finally:
        site.server.resume()
    page.click("#advice-retry")
    page.wait_for_selector("#advice-result:not([hidden])")
    assert page.locator("#advice-error").is_hidden()
    assert set(shown_ids(page)) == SHOWN


def test_the_view_fits_a_phone_in_dark_mode(browser: Any, site: AdviceSite) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    tab = context.new_page()
    try:
        sign_in(tab, site, ADMIN)
        open_advice(tab)
        assert set(shown_ids(tab)) == SHOWN
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()
