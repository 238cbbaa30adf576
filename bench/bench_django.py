"""Django cache backends compared: cachectl's against Django's RedisCache and django-redis.

    pip install 'cachectl-redis[bench]'
    python bench/bench_django.py [--seconds 0.05] [--rounds 60]

Starts its own redis-server on a free port; all three backends talk to it, each under its own
KEY_PREFIX. A `get` hit and a `set` of a ~2 KB dict through `caches[alias]`, sync and async
(Django's RedisCache and django-redis run `aget`/`aset` through sync_to_async; cachectl's are
native). The contenders alternate over many short rounds and each keeps its best, so a noisy
neighbour hurts all alike. cachectl runs as deployed: breaker and stats on.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import django
from _server import RedisServer
from _timing import aper_call, per_call
from django.conf import settings

VALUE = {
    "id": 42,
    "title": "Dashboard summary",
    "totals": {"orders": 123456, "revenue": 9876543.21, "customers": 4567},
    "series": [
        {"day": f"2026-{10 + d // 31}-{d % 31 + 1:02d}", "orders": 400 + d, "revenue": 31000.5 + d}
        for d in range(1, 46)
    ],
    "flags": ["fresh", "eu", "weekly"],
}
CONTENDERS = {
    "cachectl": "cachectl CachectlCache",
    "django": "Django RedisCache",
    "django_redis": "django-redis",
}


def configure(url: str) -> None:
    settings.configure(
        CACHES={
            "cachectl": {
                "BACKEND": "cachectl.contrib.django.CachectlCache",
                "LOCATION": url,
                "KEY_PREFIX": "cachectl",
                "OPTIONS": {"namespace": "bench", "socket_timeout": 1.0},
            },
            "django": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": "django",
            },
            "django_redis": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": "django_redis",
                "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
            },
        },
        USE_TZ=True,
    )
    django.setup()


def report(title: str, best: dict[str, float]) -> None:
    ours = best["cachectl"]
    print(f"\n{title}")
    for name, label in CONTENDERS.items():
        ratio = "" if name == "cachectl" else f"  cachectl is {best[name] / ours:5.2f}x as fast"
        print(f"  {label:<24} {best[name] * 1e6:9.1f} µs{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0.05, help="length of one round")
    parser.add_argument("--rounds", type=int, default=60, help="alternating rounds")
    args = parser.parse_args()

    with RedisServer() as server:
        configure(server.url)
        from django.core.cache import caches

        backends = {name: caches[name] for name in CONTENDERS}
        for cache in backends.values():
            cache.set("dash", VALUE, None)
            assert cache.get("dash") == VALUE
        ours = backends["cachectl"].cachectl  # type: ignore[attr-defined]
        print(f"redis-server {server.url}; cachectl breaker {ours.breaker_state.value}, stats on")

        def rounds(measure: Callable[[str], float]) -> dict[str, float]:
            best = {name: float("inf") for name in CONTENDERS}
            for _ in range(args.rounds):
                for name in CONTENDERS:
                    best[name] = min(best[name], measure(name))
            return best

        report(
            "Sync get hit, ~2 KB dict",
            rounds(lambda n: per_call(lambda: backends[n].get("dash"), args.seconds)),
        )
        report(
            "Sync set, ~2 KB dict",
            rounds(lambda n: per_call(lambda: backends[n].set("dash", VALUE, 300), args.seconds)),
        )

        async def arun(fn: Callable[[], Awaitable[Any]]) -> float:
            return await aper_call(fn, args.seconds)

        async def async_section() -> tuple[dict[str, float], dict[str, float]]:
            async def measured(op: str) -> dict[str, float]:
                best = {name: float("inf") for name in CONTENDERS}
                for _ in range(args.rounds):
                    for name in CONTENDERS:
                        cache = backends[name]
                        fn: Callable[[], Awaitable[Any]] = (
                            (lambda c=cache: c.aget("dash"))
                            if op == "get"
                            else (lambda c=cache: c.aset("dash", VALUE, 300))
                        )
                        best[name] = min(best[name], await arun(fn))
                return best

            return await measured("get"), await measured("set")

        aget, aset = asyncio.run(async_section())
        report("Async aget hit, ~2 KB dict", aget)
        report("Async aset, ~2 KB dict", aset)
        recorded = ours.stats().prefixes["cachectl"]
        print(
            f"\ncachectl after the run: breaker {ours.breaker_state.value}; stats recorded "
            f"{recorded.hits} hits, {recorded.sets} sets under the prefix 'cachectl' (sync face)"
        )


if __name__ == "__main__":
    main()
