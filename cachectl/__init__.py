"""cachectl: a Redis cache layer for Python applications, and the tool that operates it."""

from cachectl.breaker import BreakerState
from cachectl.cache import MISS, AsyncCache, Cache
from cachectl.codec import Compression
from cachectl.config import CacheConfig, redact_url
from cachectl.decorator import cached, track_cache_status
from cachectl.default import configure, default_async_cache, default_cache
from cachectl.errors import (
    BackendUnavailable,
    CachectlError,
    CheckFailed,
    ConfigError,
    DecodeError,
    SerializationError,
)
from cachectl.stats import CacheStats, PrefixStats

__version__ = "0.1.0"

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
    "Compression",
    "ConfigError",
    "DecodeError",
    "PrefixStats",
    "SerializationError",
    "__version__",
    "cached",
    "configure",
    "default_async_cache",
    "default_cache",
    "redact_url",
    "track_cache_status",
]
