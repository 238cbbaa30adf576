"""Seconds per call of a function or a coroutine function, measured for about a given time."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any


def per_call(fn: Callable[[], Any], seconds: float) -> float:
    """Seconds per call of fn, measured for about `seconds`."""
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(200):
            fn()
        n += 200
        now = time.perf_counter()
        if now >= deadline:
            return (now - start) / n


async def aper_call(fn: Callable[[], Awaitable[Any]], seconds: float) -> float:
    """Seconds per awaited call of fn, measured for about `seconds`."""
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(200):
            await fn()
        n += 200
        now = time.perf_counter()
        if now >= deadline:
            return (now - start) / n
