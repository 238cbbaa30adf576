"""The Django example (examples/django_site) served by `manage.py runserver` in a subprocess,
on the embedded store and on a real redis-server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

pytest.importorskip("django")

SITE = Path(__file__).resolve().parent.parent / "examples" / "django_site"
ROOT = Path(__file__).resolve().parent.parent


def serve(location: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "CACHECTL_URL": location}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=SITE,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
        while True:
            try:
                httpx.get(base + "/visits", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    out = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"runserver did not come up:\n{out}")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


@pytest.fixture
def site(backend_url: str) -> Iterator[str]:
    yield from serve("" if backend_url == "memory://" else backend_url)


def test_cached_views_hit_on_the_second_request(site: str) -> None:
    with httpx.Client(base_url=site, timeout=10) as client:
        first, second = client.get("/report"), client.get("/report")
        assert first.status_code == second.status_code == 200
        assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
        assert first.json() == second.json()
        assert first.json()["computed"] == 1

        first, second = client.get("/async-report"), client.get("/async-report")
        assert first.json()["computed"] == second.json()["computed"] == 1

        first, second = client.get("/page"), client.get("/page")  # cache_page
        assert first.text == second.text == "<p>page computed 1 time(s)</p>"

        counts = [client.get("/visits").json()["visits"] for _ in range(3)]
        assert counts[1:] == [counts[0] + 1, counts[0] + 2]
