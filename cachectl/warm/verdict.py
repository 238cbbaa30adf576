"""Was a response served from a cache? Judged from its headers alone. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping

HIT = "HIT"
MISS = "MISS"
UNKNOWN = "unknown"

# Cloudflare's CF-Cache-Status and nginx's X-Cache-Status share these words.
_STATUS_WORDS = {
    "HIT": HIT,
    "STALE": HIT,
    "REVALIDATED": HIT,
    "UPDATING": HIT,
    "MISS": MISS,
    "EXPIRED": MISS,
    "BYPASS": MISS,
    "DYNAMIC": MISS,
}
# Words, so that 'TCP_HIT' and 'Hit from cloudfront' count and 'WHITELIST' does not.
_HIT_WORD = re.compile(r"(?<![A-Z])HIT(?![A-Z])")
_MISS_WORD = re.compile(r"(?<![A-Z])MISS(?![A-Z])")


def cache_verdict(headers: Mapping[str, str]) -> str:
    """HIT, MISS or unknown from X-Cache, X-Cache-Status, CF-Cache-Status, then Age > 0.

    `headers` must look names up case-insensitively, as httpx.Headers does.
    """
    x_cache = headers.get("x-cache")
    if x_cache is not None:
        value = x_cache.upper()
        if value == HIT or _HIT_WORD.search(value):
            return HIT
        if value == MISS or _MISS_WORD.search(value):
            return MISS
    for name in ("x-cache-status", "cf-cache-status"):
        status = headers.get(name)
        if status is not None and status.strip().upper() in _STATUS_WORDS:
            return _STATUS_WORDS[status.strip().upper()]
    age = headers.get("age")
    if age is not None and age.strip().isascii() and age.strip().isdigit() and int(age) > 0:
        return HIT
    return UNKNOWN
