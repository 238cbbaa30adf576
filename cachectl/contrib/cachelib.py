"""cachectl as a cachelib cache, and so as Flask-Caching's backend.

    app.config.update(
        CACHE_TYPE="cachectl.contrib.cachelib.CachectlCache",
        CACHE_DEFAULT_TIMEOUT=300,
        CACHE_OPTIONS={"url": "redis://127.0.0.1:6379/0", "namespace": "flask"},
    )
    cache = flask_caching.Cache(app)

Flask-Caching builds a cache whose import path names "cachelib" by calling it with
default_timeout, ignore_delete_many_errors and CACHE_OPTIONS as keywords, which is this
constructor. cachelib's semantics: timeout None is the default, 0 forever; get_many returns a
list; inc/dec start a missing key at 0. Values are msgpack, never pickle (TypeError at set). A
value over max_value_size is not stored and the key's old value is removed: set and add return
False, set_many leaves the key out of the keys it returns. A timeout that cannot be stored (not
an int or timedelta, or past cachectl.cache.MAX_TTL) is cachelib's "backend error": set and add
return False, set_many returns no key, nothing is written. inc/dec return None while Redis is
out (the count is never made where it would be lost; see the fallback_counters option).
Options are cachectl's settings, near_cache included (True, or a dict of NearCache's settings:
docs/near-cache.md).
Needs the `flask` extra.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cachelib.base import BaseCache

from cachectl.api import Missing
from cachectl.cache import MAX_TTL, Cache
from cachectl.errors import BackendUnavailable, KeyTooLarge, ValueTooLarge
from cachectl.keys import Key

#: What a timeout cachelib's API would call a backend error raises: not an int or timedelta
#: (TypeError), inf (OverflowError), nan, or past MAX_TTL (ValueError).
_BAD_TIMEOUT = (TypeError, ValueError, OverflowError)

#: The namespace entries live under unless the options name another.
FLASK_NAMESPACE = "flask"


class CachectlCache(BaseCache):
    """cachelib's BaseCache API over a cachectl Cache (Redis, Cluster or the embedded store)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        default_timeout: int | dt.timedelta = 300,
        ignore_delete_many_errors: bool = True,
        key_prefix: str = "",
        namespace: str = FLASK_NAMESPACE,
        cache: Cache | None = None,
        **options: Any,
    ) -> None:
        super().__init__(default_timeout, ignore_delete_many_errors)
        if not isinstance(key_prefix, str):
            raise TypeError(f"key_prefix is text, not {type(key_prefix).__name__}")
        self.key_prefix = key_prefix
        #: The underlying cachectl Cache (tags, prefixes, stats, the @cached decorator).
        self.cachectl = cache if cache is not None else Cache(url, namespace=namespace, **options)

    def _key(self, key: Any) -> Key:
        # cachelib's Redis cache accepts a callable key (it calls it); so does this one.
        return self.key_prefix + str(key() if callable(key) else key)

    def _ttl(self, timeout: int | dt.timedelta | None) -> float | None:
        """cachectl's ttl: None forever (cachelib's 0); -1 'already expired' (below 0); one of
        _BAD_TIMEOUT for a timeout that cannot be stored."""
        seconds = self._normalize_timeout(timeout)
        if seconds == 0:
            return None
        if seconds > MAX_TTL:
            raise ValueError(f"timeout past {MAX_TTL:.0e} seconds")
        return float(seconds) if seconds > 0 else -1.0

    def get(self, key: str) -> Any:
        return self.cachectl.get(self._key(key))

    def get_many(self, *keys: str) -> list[Any]:
        made = [self._key(k) for k in keys]
        found = self.cachectl.get_many(made)
        return [found.get(k) for k in made]

    def set(self, key: str, value: Any, timeout: int | dt.timedelta | None = None) -> bool | None:
        try:
            ttl = self._ttl(timeout)
        except _BAD_TIMEOUT:
            return False
        if ttl == -1.0:
            self.cachectl.delete(self._key(key))
        else:
            try:
                self.cachectl.set(self._key(key), value, ttl)
            except ValueTooLarge:
                return False
        return True

    def add(self, key: str, value: Any, timeout: int | dt.timedelta | None = None) -> bool:
        try:
            ttl = self._ttl(timeout)
        except _BAD_TIMEOUT:
            return False
        made = self._key(key)
        if ttl == -1.0:
            return not self.cachectl.has(made)
        try:
            return self.cachectl.add(made, value, ttl)
        except ValueTooLarge:
            return False

    def set_many(
        self, mapping: dict[str, Any], timeout: int | dt.timedelta | None = None
    ) -> list[Any]:
        try:
            ttl = self._ttl(timeout)
        except _BAD_TIMEOUT:
            return []
        made: dict[Key, Any] = {self._key(k): v for k, v in mapping.items()}
        if ttl == -1.0:
            self.cachectl.delete_many(made)
        elif made:
            try:
                self.cachectl.set_many(made, ttl)
            except ValueTooLarge as exc:
                refused = set(exc.keys)
                return [key for key in mapping if self._key(key) not in refused]
        return list(mapping)

    def delete(self, key: str) -> bool:
        return self.cachectl.delete(self._key(key)) > 0

    def delete_many(self, *keys: str) -> list[Any]:
        # An absent key counts as deleted (cachelib's rule); the deletion itself cannot fail:
        # while Redis is out it is owed and replayed.
        if keys:
            self.cachectl.delete_many([self._key(k) for k in keys])
        return list(keys)

    def has(self, key: str) -> bool:
        return self.cachectl.has(self._key(key))

    def clear(self) -> bool:
        """Remove every entry of the namespace (never FLUSHDB)."""
        self.cachectl.clear()
        return True

    def inc(self, key: str, delta: int = 1) -> int | None:
        """Add delta atomically on the server; a missing key starts at 0; None while Redis is
        out (cachelib's answer to a backend error)."""
        try:
            return self._inc(self._key(key), delta)
        except BackendUnavailable:
            return None

    def _inc(self, made: Key, delta: int) -> int:
        try:
            return self.cachectl.incr(made, delta)
        except KeyTooLarge:
            raise
        except ValueError:
            # Absent: create it with delta, unless another client just did; then add to theirs.
            if self.cachectl.add(made, delta, self._ttl(None)):
                return delta
        return self.cachectl.incr(made, delta)

    def dec(self, key: str, delta: int = 1) -> int | None:
        """Subtract delta atomically; a missing key starts at 0."""
        return self.inc(key, -delta)

    def ttl(self, key: str) -> float | None:
        """Seconds key has left; None when it never expires or is absent."""
        left = self.cachectl.ttl(self._key(key))
        return None if isinstance(left, Missing) else left

    def invalidate_tag(self, *tags: str) -> int:
        """Remove every entry written with any of the tags (see cachectl's Cache)."""
        return self.cachectl.invalidate_tag(*tags)

    def invalidate_prefix(self, prefix: str) -> int:
        """Remove the key `prefix` and every key below it (`prefix:...`)."""
        return self.cachectl.invalidate_prefix(self._key(prefix))

    def close(self) -> None:
        """Publish pending stats and release connections."""
        self.cachectl.close()
