"""In headless Chromium: a flush made from the terminal shows in the page's Audit view, and the
key view says when its tag search stopped short (the fixtures of test_page_browser)."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import Any

import pytest

from cachectl.ops import inspect as ops_inspect
from tests.plugins.cli import CliResult
from tests.test_page_browser import (  # noqa: F401 (fixtures)
    NS,
    SESSIONS,
    VIEWER,
    Site,
    browser,
    page,
    sign_in,
    site,
)


def test_a_console_flush_shows_in_the_audit_view(
    page: Any,  # noqa: F811
    site: Site,  # noqa: F811
    redis_url: str,
    run_script: Callable[..., CliResult],
) -> None:
    done = run_script("--url", redis_url, "--namespace", NS, "flush", "--tag", "sessions", "--yes")
    assert done.exit_code == 0, done.stderr
    sign_in(page, site, VIEWER)
    page.click("#tab-audit")
    row = page.locator("#audit-table tbody tr").first
    row.wait_for()
    text = row.inner_text()
    assert "flush" in text and "tag 'sessions'" in text and str(SESSIONS) in text
    assert f"cli ({getpass.getuser()})" in text


def test_the_key_view_says_when_the_tag_search_stopped(
    page: Any,  # noqa: F811
    site: Site,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ops_inspect, "TAG_SCAN", ops_inspect.STEP_COUNT)
    pipe = site.redis.pipeline(transaction=False)
    pipe.mset({f"{NS}:filler:{i}": b"v" for i in range(20_000)})
    pipe.execute()
    sign_in(page, site, VIEWER)
    page.click("#tab-key")
    page.fill("#key-name", "session:1")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-facts:has-text('searched among the first')")
    facts = page.locator("#key-facts").inner_text()
    assert f"~{ops_inspect.STEP_COUNT:,} keys only" in facts
