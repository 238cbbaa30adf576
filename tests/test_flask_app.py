"""The Flask example (examples/flask_app) on the embedded store and on a real redis-server."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("flask_caching")

import redis

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "flask_app" / "app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cachectl_flask_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_cached_view_hits_on_the_second_request(backend_url: str) -> None:
    app = load_example().create_app(backend_url)
    client = app.test_client()
    first = client.get("/report")
    second = client.get("/report")
    assert first.status_code == second.status_code == 200
    assert first.get_json()["computed"] == 1
    assert second.get_json() == first.get_json()  # not computed again
    assert [client.get("/visits").get_json()["visits"] for _ in range(3)] == [1, 2, 3]
    assert client.post("/report/refresh").get_json() == {"deleted": True}
    assert client.get("/report").get_json()["computed"] == 2
    if backend_url.startswith("redis://"):
        # Stored where the command-line tool finds it: namespace flask-example.
        keys = redis.Redis.from_url(backend_url).keys(b"flask-example:*")
        assert b"flask-example:view//report" in keys
        assert b"flask-example:visits" in keys


def test_the_module_level_app_uses_the_embedded_store_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CACHECTL_URL", raising=False)
    module = load_example()
    cache = module.app.extensions["cache"]
    backend = next(iter(cache.values()))
    assert backend.cachectl.config.is_memory
    client = module.app.test_client()
    assert client.get("/report").get_json() == client.get("/report").get_json()
