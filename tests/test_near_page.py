"""The Cache Management page with near caches: the overview names them and counts their hits.

Drives headless Chromium as tests/test_page_browser.py does (its fixtures), against the real
admin router over a namespace whose cache has the near cache on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from cachectl.cache import Cache
from cachectl.contrib.fastapi import admin_router
from tests.conftest import serve_asgi
from tests.test_page_browser import browser, page  # noqa: F401  (the browser fixtures)

TOKEN = "near-page-token"


@pytest.fixture
def base(redis_url: str, namespace: str) -> Iterator[str]:
    cache = Cache(redis_url, namespace=namespace, near_cache=True, socket_timeout=2.0)
    try:
        cache.set_many({f"user:{i}": {"id": i} for i in range(5)})
        deadline = time.monotonic() + 10
        assert cache.near is not None
        while cache.keys.full("user:0") not in cache.near.entries:
            cache.get("user:0")
            assert time.monotonic() < deadline, "the near cache never held the key"
            time.sleep(0.01)
        for _ in range(7):
            cache.get("user:0")
        cache.publish_stats()
        app = FastAPI()
        app.include_router(admin_router(cache, token=TOKEN), prefix="/_cache")
        with serve_asgi(app) as url:
            yield url
    finally:
        cache.close()


def test_the_overview_shows_the_near_caches(page: Any, base: str) -> None:  # noqa: F811
    page.goto(f"{base}/_cache/")
    page.fill("#token", TOKEN)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_selector("#prefixes tbody tr")
    server = page.locator("#server").inner_text()
    assert "Near caches" in server and "1 process (1 on)" in server
    headers = [h.strip() for h in page.locator("#prefixes thead th").all_inner_texts()]
    assert "Near" in headers
    row = page.locator("#prefixes tbody tr").filter(
        has=page.get_by_role("button", name="user", exact=True)
    )
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    assert int(cells[headers.index("Near")]) >= 7
