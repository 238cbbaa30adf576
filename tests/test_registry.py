"""Backends by URL scheme: a third party registers its own, with its own transient errors, and
runs the shipped conformance suite on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from cachectl import MISS, BackendUnavailable, BreakerState, Cache, ConfigError
from cachectl.backends import AsyncMemoryBackend, MemoryStore, register_backend
from cachectl.backends.registry import registered_schemes
from cachectl.testing import CacheConformance


class Outage(Exception):
    """The third party's 'server unreachable'."""


class Refused(Exception):
    """The third party's 'command refused'."""


class FlakyStore(MemoryStore):
    """An embedded store that fails on demand, with errors of its own (no redis-py types)."""

    transient_errors: ClassVar[tuple[type[BaseException], ...]] = (Outage,)
    errors: ClassVar[tuple[type[BaseException], ...]] = (Outage, Refused)
    failing: ClassVar[type[Exception] | None] = None

    def get(self, key: bytes) -> bytes | None:
        if self.failing is not None:
            raise self.failing("down")
        return super().get(key)

    def probe(self) -> None:
        if self.failing is not None:
            raise self.failing("down")

    def incr_counters(self, key: bytes, counters: Any, *args: Any, **kwargs: Any) -> None:
        if self.failing is not None:
            raise self.failing("down")
        super().incr_counters(key, counters, *args, **kwargs)

    def read_counters(self, key: bytes) -> dict[bytes, bytes]:
        if self.failing is not None:
            raise self.failing("down")
        return super().read_counters(key)


class AsyncFlaky(AsyncMemoryBackend):
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = (Outage,)
    errors: ClassVar[tuple[type[BaseException], ...]] = (Outage, Refused)


register_backend("flaky", FlakyStore, AsyncFlaky)
# Classes named as text are imported on first use.
register_backend(
    "embedded",
    "cachectl.backends.memory:MemoryStore",
    "cachectl.backends.memory:AsyncMemoryBackend",
)


@pytest.fixture
def failing() -> Iterator[None]:
    yield
    FlakyStore.failing = None


class TestThirdPartyBackend(CacheConformance):
    @pytest.fixture
    def cache_url(self) -> str:
        return "flaky://"


def test_a_registered_scheme_makes_its_backend() -> None:
    assert {"flaky", "embedded", "redis", "memory"} <= set(registered_schemes())
    with Cache("flaky://", namespace="reg") as c:
        assert type(c.backend) is FlakyStore
        c.set("k", 1)
        assert c.get("k") == 1
    with Cache("embedded://", namespace="reg") as e:
        assert type(e.backend) is MemoryStore


def test_the_backend_says_which_errors_are_an_outage(failing: None) -> None:
    with Cache("flaky://", namespace="reg", failure_threshold=1, recovery_interval=3600) as c:
        c.set("k", "v")
        FlakyStore.failing = Refused
        assert c.get("k", MISS) is MISS  # refused: a miss, the breaker stays closed
        assert c.breaker_state is BreakerState.CLOSED
        FlakyStore.failing = Outage
        assert c.get("k", MISS) is MISS  # an outage: the breaker opens, the fallback answers
        assert c.breaker_state is BreakerState.OPEN
        c.set("k", "during")
        assert c.get("k") == "during"
        assert c.stats()["k"].fallback >= 2


def test_publishing_keeps_the_figures_through_the_backends_own_errors(failing: None) -> None:
    with Cache("flaky://", namespace="reg") as c:
        c.set("p:a", 1)
        assert c.get("p:a") == 1
        FlakyStore.failing = Outage
        c.publish_stats()  # the backend's own outage: not raised, the figures kept
        with pytest.raises(BackendUnavailable):
            c.published_stats()
        FlakyStore.failing = None
        c.publish_stats()
        published = c.published_stats()["p"]
        assert (published.sets, published.hits) == (1, 1)


def test_an_unknown_error_is_not_swallowed(failing: None) -> None:
    FlakyStore.failing = KeyError
    with Cache("flaky://", namespace="reg") as c, pytest.raises(KeyError):
        c.get("k")


@pytest.mark.parametrize("scheme", ["", "Upper", "has://"])
def test_a_scheme_is_plain_lower_case_text(scheme: str) -> None:
    with pytest.raises(ConfigError):
        register_backend(scheme, FlakyStore, AsyncFlaky)


def test_an_unregistered_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="scheme"):
        Cache("nowhere://x")
