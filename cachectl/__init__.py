"""cachectl: a Redis cache layer for Python applications, and the tool that operates it.

Names are imported on first use, so that `cachectl --version` does not pay for redis-py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "MISS": "cachectl.api",
    "AsyncCache": "cachectl.cache",
    "BackendUnavailable": "cachectl.errors",
    "BreakerState": "cachectl.breaker",
    "Cache": "cachectl.cache",
    "CacheConfig": "cachectl.config",
    "CacheStats": "cachectl.stats",
    "CachectlError": "cachectl.errors",
    "CheckFailed": "cachectl.errors",
    "CommandRefused": "cachectl.errors",
    "Compression": "cachectl.codec",
    "ConfigError": "cachectl.errors",
    "DecodeError": "cachectl.errors",
    "KeyTooLarge": "cachectl.errors",
    "NearCache": "cachectl.config",
    "Owed": "cachectl.breaker",
    "PrefixStats": "cachectl.stats",
    "SerializationError": "cachectl.errors",
    "ValueTooLarge": "cachectl.errors",
    "cached": "cachectl.default",
    "configure": "cachectl.default",
    "default_async_cache": "cachectl.default",
    "default_cache": "cachectl.default",
    "redact_url": "cachectl.config",
    "track_cache_status": "cachectl.decorator",
}

__all__ = [
    "MISS",
    "AsyncCache",
    "BackendUnavailable",
    "BreakerState",
    "Cache",
    "CacheConfig",
    "CacheStats",
    "CachectlError",
    "CheckFailed",
    "CommandRefused",
    "Compression",
    "ConfigError",
    "DecodeError",
    "KeyTooLarge",
    "NearCache",
    "Owed",
    "PrefixStats",
    "SerializationError",
    "ValueTooLarge",
    "__version__",
    "cached",
    "configure",
    "default_async_cache",
    "default_cache",
    "redact_url",
    "track_cache_status",
]

if TYPE_CHECKING:
    from cachectl.api import MISS
    from cachectl.breaker import BreakerState, Owed
    from cachectl.cache import AsyncCache, Cache
    from cachectl.codec import Compression
    from cachectl.config import CacheConfig, NearCache, redact_url
    from cachectl.decorator import track_cache_status
    from cachectl.default import cached, configure, default_async_cache, default_cache
    from cachectl.errors import (
        BackendUnavailable,
        CachectlError,
        CheckFailed,
        CommandRefused,
        ConfigError,
        DecodeError,
        KeyTooLarge,
        SerializationError,
        ValueTooLarge,
    )
    from cachectl.stats import CacheStats, PrefixStats


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cachectl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
