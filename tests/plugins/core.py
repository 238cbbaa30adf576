"""The cache under test: one fixture parametrized over the embedded store and a real
redis-server (tests that care add "cluster" with indirect parametrization of backend_url), a
namespace per test, the process-wide default isolated, and a watchdog on hung tests."""

from __future__ import annotations

import hashlib
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from cachectl import AsyncCache, Cache
from cachectl.testing import PATIENT

BACKENDS = ["memory", "redis"]
#: For tests that fail on a single timed-out call (an incr is never counted where it could be
#: lost; a fuzz run checks every reply): longer than PATIENT, for a loaded machine.
VERY_PATIENT: dict[str, Any] = {option: 5.0 for option in PATIENT}


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest) -> str:
    """A cache URL: memory://, our shared redis-server (flushed) or the cluster (flushed)."""
    kind = request.param
    if kind == "memory":
        return "memory://"
    if kind == "redis":
        return str(request.getfixturevalue("redis_url"))
    if kind == "cluster":
        return str(request.getfixturevalue("cluster_url"))
    raise ValueError(f"unknown backend {kind!r}")


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> str:
    """A namespace of this test's own, so that no two tests ever share keys."""
    digest = hashlib.blake2b(request.node.nodeid.encode(), digest_size=6).hexdigest()
    return f"t-{digest}"


@pytest.fixture
def cache(backend_url: str, namespace: str) -> Iterator[Cache]:
    """A Cache on each backend, closed after the test."""
    with Cache(backend_url, namespace=namespace, **PATIENT) as made:
        yield made


@pytest.fixture
async def acache(backend_url: str, namespace: str) -> AsyncIterator[AsyncCache]:
    """An AsyncCache on each backend, closed after the test."""
    async with AsyncCache(backend_url, namespace=namespace, **PATIENT) as made:
        yield made


@pytest.fixture
def default_reset(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Isolate cachectl's process-wide default cache; close whatever the test made of it."""
    from cachectl import default

    monkeypatch.delenv("CACHECTL_URL", raising=False)
    for name in ("_config", "_store", "_sync", "_async"):
        monkeypatch.setattr(default, name, None)
    yield
    if default._sync is not None:
        default._sync.close()


@pytest.fixture(scope="module")
def django_caches_closed() -> Iterator[None]:
    """Close the caches cachectl.contrib.django made in this module once it is done, while the
    servers they use still run: at interpreter exit (where it closes them otherwise) the test
    servers are gone, and a debt owed to one would hold the exit for close_timeout."""
    yield
    from cachectl.contrib.django import close_all

    close_all()


#: Far above what any core test needs; only there so that a deadlock fails instead of hanging.
WATCHDOG_SECONDS = 30


@pytest.fixture
def watchdog() -> Iterator[None]:
    """Fail a test that hangs (a deadlock) instead of blocking the whole run (main thread)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"test still running after {WATCHDOG_SECONDS} s: a deadlock?")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, WATCHDOG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
