"""The settings of one warm run: a frozen dataclass checked when it is made."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import httpx

from cachectl.config import redact_url
from cachectl.errors import ConfigError
from cachectl.warm.headers import split_header
from cachectl.warm.origins import HeaderPolicy, http_parts, origin_key, parse_origin

ASGI_BASE_URL = "http://testserver"


# Published stats are polled every SETTLE_POLL seconds until they count the cache lookups the
# responses announced (X-Cache and the like), else until they have not moved for
# SETTLE_INTERVAL, and SETTLE_LIMIT seconds at most.
SETTLE_POLL = 0.05
SETTLE_INTERVAL = 1.2  # seconds: the library's default stats_interval, and a margin
SETTLE_LIMIT = 6.0


@dataclass(frozen=True, slots=True)
class WarmOptions:
    """How to warm: target server, pacing, retries, passes and pass/fail thresholds.

    `headers` are 'Name: value' strings (values may use ${VAR}); `variants` are
    'Name: v1,v2' strings, each value warmed as a separate target. `app` is 'module:attr' of
    an ASGI application (or of a factory returning one) served in process instead of over the
    network. `headers` go only to the base URL's origin and the `header_origins`
    ('scheme://host[:port]'); requests to other origins are sent without them.
    """

    base_url: str | None = None
    concurrency: int = 16
    rate: float | None = None
    timeout: float = 10.0
    retries: int = 2
    headers: tuple[str, ...] = field(default=(), repr=False)
    passes: int = 2
    max_p95_ms: float | None = None
    min_hit_ratio: float | None = None
    variants: tuple[str, ...] = ()
    app: str | None = None
    backoff: float = 0.05
    header_origins: tuple[str, ...] = ()
    factory: bool | None = None  # whether `app` names a factory; None: told by its signature
    # Published stats are read once they count the lookups the responses announced, else once
    # they have not moved for settle_interval, waiting at most settle_limit seconds: they lag
    # by up to the application's stats_interval.
    settle_interval: float = SETTLE_INTERVAL
    settle_limit: float = SETTLE_LIMIT

    def __post_init__(self) -> None:
        # Typer hands over lists; keep the dataclass hashable and immutable.
        object.__setattr__(self, "headers", tuple(self.headers))
        object.__setattr__(self, "variants", tuple(self.variants))
        object.__setattr__(self, "header_origins", tuple(self.header_origins))
        if self.base_url is not None:
            _check_base_url(self.base_url)
        if not 1 <= self.concurrency <= 10_000:
            raise ConfigError(f"--concurrency must be between 1 and 10000, not {self.concurrency}")
        if self.rate is not None and not (self.rate > 0 and math.isfinite(self.rate)):
            raise ConfigError(f"--rate must be a positive number of requests/s, not {self.rate}")
        if not (self.timeout > 0 and math.isfinite(self.timeout)):
            raise ConfigError(f"--timeout must be a positive number of seconds, not {self.timeout}")
        if not 0 <= self.retries <= 20:
            raise ConfigError(f"--retries must be between 0 and 20, not {self.retries}")
        if not (self.backoff >= 0 and math.isfinite(self.backoff)):
            raise ConfigError(f"backoff must be zero or more seconds, not {self.backoff}")
        if not (
            0 <= self.settle_interval <= self.settle_limit and math.isfinite(self.settle_limit)
        ):
            raise ConfigError(
                "settle_interval and settle_limit must be 0 <= interval <= limit seconds, not "
                f"{self.settle_interval} and {self.settle_limit}"
            )
        if self.passes < 1:
            raise ConfigError(f"--passes must be at least 1, not {self.passes}")
        if self.max_p95_ms is not None and not self.max_p95_ms > 0:
            raise ConfigError(f"--max-p95 must be a positive number of ms, not {self.max_p95_ms}")
        if self.min_hit_ratio is not None and not 0 <= self.min_hit_ratio <= 1:
            raise ConfigError(f"--min-hit-ratio must be between 0 and 1, not {self.min_hit_ratio}")
        if self.passes < 2 and (self.max_p95_ms is not None or self.min_hit_ratio is not None):
            raise ConfigError(
                "--max-p95 and --min-hit-ratio judge measured passes: use --passes 2+"
            )
        for number, header in enumerate(self.headers, 1):
            split_header(header, f"--header #{number}")
        for number, origin in enumerate(self.header_origins, 1):
            parse_origin(origin, f"--header-origin #{number}")
        if self.headers and self.effective_base_url is None and not self.header_origins:
            raise ConfigError(
                "--header is sent only to the --base-url origin and --header-origin ones: "
                "give one of them"
            )
        if self.factory is not None and self.app is None:
            raise ConfigError("--factory and --no-factory say what --app names: give --app")
        if self.app is not None and (self.app.count(":") != 1 or not all(self.app.split(":"))):
            raise ConfigError(f"--app must look like 'module:attribute', not {self.app!r}")

    @property
    def header_policy(self) -> HeaderPolicy:
        """The origins the --header values may be sent to."""
        allowed = [
            parse_origin(origin, f"--header-origin #{number}")
            for number, origin in enumerate(self.header_origins, 1)
        ]
        base_url = self.effective_base_url
        if base_url is not None:
            allowed.append(origin_key(httpx.URL(base_url)))
        return HeaderPolicy(allowed)

    @property
    def effective_base_url(self) -> str | None:
        """The base URL paths are joined to: the given one, or http://testserver for --app."""
        if self.base_url is None and self.app is not None:
            return ASGI_BASE_URL
        return self.base_url.rstrip("/") if self.base_url is not None else None


def _check_base_url(url: str) -> None:
    parts = http_parts(url, "--base-url")
    if parts is None:
        raise ConfigError(
            f"--base-url must be an http:// or https:// URL with a host, not {redact_url(url)!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigError("--base-url must not have a query string or fragment")
