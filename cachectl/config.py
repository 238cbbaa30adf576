"""Cache settings: one frozen dataclass built from a URL and keyword options."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from cachectl.errors import ConfigError
from cachectl.keys import check_namespace

DEFAULT_NAMESPACE = "cachectl"
MEMORY_URL = "memory://"
SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "memory")


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """Everything a Cache needs to know; unknown option names are an error."""

    url: str = MEMORY_URL
    namespace: str = DEFAULT_NAMESPACE
    cluster: bool = False
    socket_timeout: float = 0.05
    connect_timeout: float = 0.05
    max_connections: int = 50
    pool_timeout: float = 0.1
    compress_threshold: int = 1024
    compression: str = "lz4"
    max_value_size: int = 64 * 1024 * 1024
    default_ttl: float | None = None
    failure_threshold: int = 3
    recovery_interval: float = 1.0
    fallback_max_entries: int = 10_000
    fallback_max_bytes: int = 64 * 1024 * 1024
    memory_max_entries: int = 1_000_000
    memory_max_bytes: int = 1024 * 1024 * 1024
    pending_max: int = 10_000
    stats: bool = True
    stats_interval: float = 1.0
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_namespace(self.namespace)
        scheme = urlsplit(self.url).scheme
        if scheme not in SCHEMES:
            raise ConfigError(
                f"unsupported URL scheme {scheme!r} in {redact_url(self.url)}: "
                f"use one of {', '.join(s + '://' for s in SCHEMES)}"
            )
        if self.compression not in ("lz4", "zlib"):
            raise ConfigError(f"compression is 'lz4' or 'zlib', not {self.compression!r}")
        for name in (
            "socket_timeout",
            "connect_timeout",
            "pool_timeout",
            "recovery_interval",
            "stats_interval",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        for name in (
            "max_connections",
            "failure_threshold",
            "fallback_max_entries",
            "memory_max_entries",
            "pending_max",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if scheme.endswith("+cluster"):
            object.__setattr__(self, "cluster", True)

    @property
    def is_memory(self) -> bool:
        """Whether this is the embedded in-process store."""
        return urlsplit(self.url).scheme == "memory"

    @property
    def redis_url(self) -> str:
        """The URL as redis-py reads it (the '+cluster' marker removed)."""
        return self.url.replace("+cluster://", "://", 1)

    @property
    def display_url(self) -> str:
        """The URL with any password replaced, safe for logs and errors."""
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"CacheConfig(url={self.display_url!r}, namespace={self.namespace!r})"

    def replace(self, **changes: Any) -> CacheConfig:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)


def build_config(url: str | None = None, **options: Any) -> CacheConfig:
    """A CacheConfig from a URL and options; unknown option names raise ConfigError."""
    known = {f.name for f in fields(CacheConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"unknown cache option(s): {', '.join(unknown)}")
    if url is None or url == "":
        url = MEMORY_URL
    try:
        return CacheConfig(url=url, **{k: v for k, v in options.items() if v is not None})
    except TypeError as exc:
        raise ConfigError(str(exc)) from None


def env_url() -> str | None:
    """The cache URL from the environment (CACHECTL_URL), if set."""
    return os.environ.get("CACHECTL_URL") or None


def redact_url(url: str) -> str:
    """The URL with its password (and any password query parameter) replaced by '***'."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            userinfo = f"{user}:***"
        elif parts.scheme not in ("unix",):
            # redis://secret@host means the password alone
            userinfo = "***"
        netloc = f"{userinfo}@{host}"
    query = (
        "&".join(
            ("password=***" if item.lower().startswith("password=") else item)
            for item in parts.query.split("&")
        )
        if parts.query
        else ""
    )
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
