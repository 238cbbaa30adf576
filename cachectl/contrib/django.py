"""cachectl as a Django cache backend.

    CACHES = {
        "default": {
            "BACKEND": "cachectl.contrib.django.CachectlCache",
            "LOCATION": "redis://127.0.0.1:6379/0",  # or "memory://" / "" for the embedded store
            "KEY_PREFIX": "site",
            "OPTIONS": {"namespace": "django", "socket_timeout": 0.05},
        }
    }

Every method of Django's BaseCache, and each `a*` method native on cachectl's AsyncCache. The
stored keys are `<namespace>:<KEY_PREFIX>:<version>:<key>`, so `cachectl keys --namespace django`
and `cachectl flush --namespace django --prefix site` act on them as on the library's. Values
are msgpack, never pickle: a value msgpack cannot carry (a model instance) is a TypeError at
set; cache `values()` or dicts instead. An HttpResponse (cache_page, the cache middleware) is
stored as plain data and rebuilt. A value over max_value_size is not cached, as with Django's
memcached backends: set removes the key's old value and returns, add returns False, set_many
returns the keys it could not store, get_or_set returns the default uncached; so a large page
is served, never a 500. OPTIONS takes cachectl's settings by their from_url names, near_cache
included (True, or a dict of NearCache's settings: docs/near-cache.md), which the sync and
async faces share. Needs the `django` extra.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from http.cookies import CookieError
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, Unpack

from django.core.cache.backends.base import (
    DEFAULT_TIMEOUT,
    MEMCACHE_MAX_KEY_LENGTH,
    BaseCache,
    default_key_func,
)
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse, HttpResponseBase

from cachectl import forksafe
from cachectl.api import Missing
from cachectl.backends.memory import MemoryStore
from cachectl.cache import AsyncCache, Cache
from cachectl.cache.closing import close_blocking
from cachectl.config import CacheConfig, build_config
from cachectl.errors import ConfigError, SerializationError, ValueTooLarge
from cachectl.keys import Key

if TYPE_CHECKING:
    from cachectl.decorator import CachedFunction, CachedOptions

P = ParamSpec("P")
R = TypeVar("R")

#: The namespace Django's entries live under unless OPTIONS names another.
DJANGO_NAMESPACE = "django"
#: Options Django settings already carry elsewhere.
_ELSEWHERE = {"url": "LOCATION", "default_ttl": "TIMEOUT"}
#: What OPTIONS may hold: cachectl's settings, by their from_url names.
OPTION_NAMES = frozenset(f.name for f in fields(CacheConfig)) - set(_ELSEWHERE)


class Shared:
    """The process's caches for one configuration: one Cache and one AsyncCache.

    Django makes a backend object per thread and per alias and closes it after every request;
    the connection pools, breaker, owed invalidations and stats belong to the process, so they
    live here. The AsyncCache serves any event loop (a client per running loop, closed with
    it), so async views under WSGI, each on a loop of its own, share its breaker and fallback.
    """

    def __init__(self, location: str, options: Mapping[str, Any]) -> None:
        self.location, self.options = location, dict(options)
        self.sync = Cache(location, **options)
        # One embedded store for both faces, as one Redis database serves both.
        store = self.sync.backend if isinstance(self.sync.backend, MemoryStore) else None
        self.asynchronous = AsyncCache(location, store=store, **options)
        # One recorder, published by the sync face's thread: an async view under WSGI runs on
        # a loop of its own, which ends before a publishing task on it would run.
        self.asynchronous.recorder = self.sync.recorder
        # One near cache too (OPTIONS near_cache), so that each face reads the other's writes
        # at once: an async view's write is not left to the invalidation to reach a sync one.
        self.asynchronous.near = self.sync.near
        self.sync.start_publisher()

    def for_loop(self) -> AsyncCache:
        """The AsyncCache (it serves the running event loop like any other)."""
        return self.asynchronous


_shared: dict[CacheConfig, Shared] = {}
_shared_lock = threading.Lock()


def _renew_lock() -> None:
    # In a forked child: a thread of the parent may have held it.
    global _shared_lock
    _shared_lock = threading.Lock()


forksafe.on_fork(_renew_lock)


def _shared_for(location: str, options: Mapping[str, Any]) -> tuple[CacheConfig, Shared]:
    """The process's caches for these settings, made on first use."""
    try:
        config = build_config(location, **options)
    except ConfigError as exc:
        raise ImproperlyConfigured(f"cachectl cache: {exc}") from None
    with _shared_lock:
        shared = _shared.get(config)
        if shared is None:
            if not _shared:
                atexit.register(close_all)
            shared = _shared[config] = Shared(location, options)
    return config, shared


def close_all() -> None:
    """Close every Cache this module made (at interpreter exit): replay what each face owes
    Redis, for up to close_timeout, publish pending stats and release the connections."""
    with _shared_lock:
        made = list(_shared.values())
        _shared.clear()
    for shared in made:
        shared.sync.close()  # publishes what both faces recorded (they share a recorder)
        # An AsyncCache's pool belongs to its event loop, closed or gone by now: what it owes
        # goes over a synchronous client.
        close_blocking(shared.asynchronous)


def _options(params: Mapping[str, Any]) -> dict[str, Any]:
    raw = params.get("OPTIONS") or {}
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured("cachectl cache: OPTIONS must be a dict")
    options = dict(raw)
    for name, instead in _ELSEWHERE.items():
        if name in options:
            raise ImproperlyConfigured(f"cachectl cache: set {instead}, not OPTIONS[{name!r}]")
    unknown = sorted(set(options) - OPTION_NAMES)
    if unknown:
        raise ImproperlyConfigured(
            f"cachectl cache: unknown OPTIONS {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(OPTION_NAMES))}"
        )
    options.setdefault("namespace", DJANGO_NAMESPACE)
    return options


class CachectlCache(BaseCache):
    """Django's cache API over a cachectl Cache (sync) and AsyncCache (the `a*` methods)."""

    def __init__(self, server: str | None, params: dict[str, Any]) -> None:
        super().__init__(params)
        if not isinstance(server, str | None):
            raise ImproperlyConfigured("cachectl cache: LOCATION is one URL")
        self.config, self._shared = _shared_for(server or "memory://", _options(params))
        self._cache = self._shared.sync
        # Django's own make_key and validate_key (a subclass may change either).
        self._plain_keys = (
            type(self).make_key is BaseCache.make_key
            and type(self).validate_key is BaseCache.validate_key
        )

    # -- what Django's API does not have --------------------------------------------------------

    @property
    def cachectl(self) -> Cache:
        """The underlying cachectl Cache (tags, prefixes, stats, the decorator)."""
        return self._cache

    @property
    def acachectl(self) -> AsyncCache:
        """The underlying cachectl AsyncCache of the running event loop."""
        return self._shared.for_loop()

    @property
    def _acache(self) -> AsyncCache:
        return self._shared.for_loop()

    def invalidate_tag(self, *tags: str) -> int:
        """Remove every entry written with any of the tags; how many."""
        return self._cache.invalidate_tag(*tags)

    async def ainvalidate_tag(self, *tags: str) -> int:
        """See invalidate_tag."""
        return await self._acache.invalidate_tag(*tags)

    def invalidate_prefix(self, prefix: str, version: int | None = None) -> int:
        """Remove the key `prefix` and every key below it (`prefix:...`), of one version."""
        return self._cache.invalidate_prefix(self._prefix(prefix, version))

    async def ainvalidate_prefix(self, prefix: str, version: int | None = None) -> int:
        """See invalidate_prefix."""
        return await self._acache.invalidate_prefix(self._prefix(prefix, version))

    def _prefix(self, prefix: str, version: int | None) -> str:
        # make_key("") is "<KEY_PREFIX>:<version>:", a prefix of every key of the version: the
        # library refuses an empty prefix, and so does this.
        if not str(prefix).strip(":"):
            raise ConfigError("an empty prefix would select every key; name a prefix")
        return self.make_key(prefix, version)

    def cached(
        self, ttl: float | None = None, prefix: str = "", **options: Unpack[CachedOptions]
    ) -> Callable[[Callable[P, R]], CachedFunction[P, R]]:
        """cachectl's @cached decorator on this cache (keys not made by KEY_FUNCTION), with its
        options (tags, tags_from, key, stale)."""
        return self._cache.cached(ttl, prefix, **options)

    # -- timeouts -------------------------------------------------------------------------------

    def _ttl(self, timeout: Any) -> float | None:
        """Seconds to keep an entry; None forever; 0 for 'do not store' (timeout <= 0)."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return None
        # Checked before the comparison: nan compares false to everything, so it would read
        # as "not cached" and delete the entry; a str would raise a bare TypeError. A bool is an
        # int to Django's own backends (True: one second), and so here.
        if not isinstance(timeout, int | float) or timeout != timeout:
            raise ConfigError(f"timeout must be a number of seconds or None, not {timeout!r}")
        return float(timeout) if timeout > 0 else 0.0

    def get_backend_timeout(self, timeout: Any = DEFAULT_TIMEOUT) -> float | None:
        """The entry's lifetime in seconds as stored (None forever, 0 not stored)."""
        return self._ttl(timeout)

    def make_and_validate_key(self, key: Any, version: int | None = None) -> str:
        """The stored key (KEY_FUNCTION's), with Django's warnings for keys memcached refuses."""
        if not self._plain_keys or self.key_func is not default_key_func:
            return super().make_and_validate_key(key, version)
        # Django's default key function, written out: this runs on every call.
        made = f"{self.key_prefix}:{self.version if version is None else version}:{key}"
        # Only a key that may draw a warning is checked (isprintable: no control characters;
        # a space is printable but memcached refuses it).
        if len(made) > MEMCACHE_MAX_KEY_LENGTH or " " in made or not made.isprintable():
            self.validate_key(made)
        return made

    def _keys(self, keys: Iterable[str], version: int | None) -> dict[str, str]:
        return {self.make_and_validate_key(k, version=version): k for k in keys}

    # -- Django's API, sync ---------------------------------------------------------------------

    def add(
        self,
        key: str,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        *,
        tags: Iterable[str] = (),
    ) -> bool:
        made, ttl = self.make_and_validate_key(key, version=version), self._ttl(timeout)
        if ttl == 0:
            return not self._cache.has(made)
        try:
            return self._cache.add(made, _stored(value), ttl, tags)
        except ValueTooLarge:
            return False

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        found = self._cache.get(self.make_and_validate_key(key, version=version), default)
        return _loaded(found, default) if type(found) is tuple else found

    def set(
        self,
        key: str,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        *,
        tags: Iterable[str] = (),
    ) -> None:
        made, ttl = self.make_and_validate_key(key, version=version), self._ttl(timeout)
        if ttl == 0:
            self._cache.delete(made)
        else:
            # Too large: the old value is gone, as Django's memcached set leaves it.
            with contextlib.suppress(ValueTooLarge):
                self._cache.set(made, _stored(value), ttl, tags)

    def touch(self, key: str, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        made, ttl = self.make_and_validate_key(key, version=version), self._ttl(timeout)
        if ttl == 0:
            return self._cache.delete(made) > 0
        return self._cache.touch(made, ttl)

    def delete(self, key: str, version: int | None = None) -> bool:
        return self._cache.delete(self.make_and_validate_key(key, version=version)) > 0

    def get_many(self, keys: Iterable[str], version: int | None = None) -> dict[str, Any]:
        made = self._keys(keys, version)
        return _found(made, self._cache.get_many(list(made)))

    def has_key(self, key: str, version: int | None = None) -> bool:
        return self._cache.has(self.make_and_validate_key(key, version=version))

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        """Add delta atomically (on the server); ValueError if absent, TypeError if not an int,
        BackendUnavailable while Redis is out (unless OPTIONS has fallback_counters)."""
        return self._cache.incr(self.make_and_validate_key(key, version=version), delta)

    def decr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        return self._cache.decr(self.make_and_validate_key(key, version=version), delta)

    def set_many(
        self,
        data: Mapping[str, Any],
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        *,
        tags: Iterable[str] = (),
    ) -> list[str]:
        made: dict[Key, Any] = {
            self.make_and_validate_key(k, version=version): _stored(v) for k, v in data.items()
        }
        ttl = self._ttl(timeout)
        if ttl == 0:
            self._cache.delete_many(made)
        elif made:
            try:
                self._cache.set_many(made, ttl, tags)
            except ValueTooLarge as exc:
                refused = set(exc.keys)
                return [k for k in data if self.make_key(k, version) in refused]
        return []

    def delete_many(self, keys: Iterable[str], version: int | None = None) -> None:
        made = self._keys(keys, version)
        if made:
            self._cache.delete_many(made)

    def clear(self) -> None:
        """Remove every entry of this cache's namespace (never FLUSHDB)."""
        self._cache.clear()

    def incr_version(self, key: str, delta: int = 1, version: int | None = None) -> int:
        """Move the entry to version + delta, keeping its remaining lifetime."""
        if version is None:
            version = self.version
        old = self.make_and_validate_key(key, version=version)
        new = self.make_and_validate_key(key, version=version + delta)
        value, left = self._cache.get(old, _MISSING), self._cache.ttl(old)
        if value is _MISSING or isinstance(left, Missing):
            raise ValueError(f"Key {key!r} not found")
        self._cache.set(new, value, left)
        self._cache.delete(old)
        return version + delta

    def close(self, **kwargs: Any) -> None:
        """Nothing to do: Django calls this after each request; the pool belongs to the process."""

    # -- Django's API, async (native: AsyncCache, no thread hop) --------------------------------

    async def aadd(
        self,
        key: str,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        *,
        tags: Iterable[str] = (),
    ) -> bool:
        made, ttl = self.make_and_validate_key(key, version=version), self._ttl(timeout)
        if ttl == 0:
            return not await self._acache.has(made)
        try:
            return await self._acache.add(made, _stored(value), ttl, tags)
        except ValueTooLarge:
            return False

    async def aget(self, key: str, default: Any = None, version: int | None = None) -> Any:
        found = await self._acache.get(self.make_and_validate_key(key, version=version), default)
        return _loaded(found, default) if type(found) is tuple else found

    async def aset(
        self,
        key: str,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        *,
        tags: Iterable[str] = (),
    ) -> None:
        made, ttl = self.make_and_validate_key(key, version=version), self._ttl(timeout)
        if ttl == 0:
            await self._acache.delete(made)
        else:
            with contextlib.suppress(ValueTooLarge):  # see set
                await self._acache.set(made, _stored(value), ttl, tags)

    async def atouch(
        self, key: str, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        made, ttl = self.make_and_validate_key(key, version=version), self._ttl(timeout)
        if ttl == 0:
            return await self._acache.delete(made) > 0
        return await self._acache.touch(made, ttl)

    async def adelete(self, key: str, version: int | None = None) -> bool:
        return await self._acache.delete(self.make_and_validate_key(key, version=version)) > 0

    async def aget_many(self, keys: Iterable[str], version: int | None = None) -> dict[str, Any]:
        made = self._keys(keys, version)
        return _found(made, await self._acache.get_many(list(made)))

    async def ahas_key(self, key: str, version: int | None = None) -> bool:
        return await self._acache.has(self.make_and_validate_key(key, version=version))

    async def aincr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        return await self._acache.incr(self.make_and_validate_key(key, version=version), delta)

    async def adecr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        return await self._acache.decr(self.make_and_validate_key(key, version=version), delta)

    async def aset_many(
        self,
        data: Mapping[str, Any],
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        *,
        tags: Iterable[str] = (),
    ) -> list[str]:
        made: dict[Key, Any] = {
            self.make_and_validate_key(k, version=version): _stored(v) for k, v in data.items()
        }
        ttl = self._ttl(timeout)
        if ttl == 0:
            await self._acache.delete_many(made)
        elif made:
            try:
                await self._acache.set_many(made, ttl, tags)
            except ValueTooLarge as exc:
                refused = set(exc.keys)
                return [k for k in data if self.make_key(k, version) in refused]
        return []

    async def adelete_many(self, keys: Iterable[str], version: int | None = None) -> None:
        made = self._keys(keys, version)
        if made:
            await self._acache.delete_many(made)

    async def aclear(self) -> None:
        await self._acache.clear()

    async def aincr_version(self, key: str, delta: int = 1, version: int | None = None) -> int:
        if version is None:
            version = self.version
        old = self.make_and_validate_key(key, version=version)
        new = self.make_and_validate_key(key, version=version + delta)
        value, left = await self._acache.get(old, _MISSING), await self._acache.ttl(old)
        if value is _MISSING or isinstance(left, Missing):
            raise ValueError(f"Key {key!r} not found")
        await self._acache.set(new, value, left)
        await self._acache.delete(old)
        return version + delta

    async def aclose(self, **kwargs: Any) -> None:
        """See close."""


_MISSING = object()

# -- HttpResponse, as Django's cache middleware (cache_page) stores it ----------------------------

#: First item of the tuple an HttpResponse is stored as (msgpack has no HttpResponse).
RESPONSE_MARK = "cachectl.contrib.django.HttpResponse/1"


def _stored(value: Any) -> Any:
    """The value as stored: an HttpResponse (cache_page's) as a tuple of plain data."""
    if not isinstance(value, HttpResponseBase):
        return value
    if not isinstance(value, HttpResponse):
        raise SerializationError(f"cannot cache a {type(value).__name__} (only an HttpResponse)")
    cookies = [
        (name, morsel.value, {k: v for k, v in morsel.items() if v})
        for name, morsel in value.cookies.items()
    ]
    headers = list(value.headers.items())
    return (RESPONSE_MARK, value.status_code, headers, value.content, cookies)


def _loaded(value: tuple[Any, ...], default: Any = _MISSING) -> Any:
    """The value as read: a stored HttpResponse rebuilt; a malformed one is a miss."""
    if len(value) != 5 or value[0] != RESPONSE_MARK:
        return value
    _, status, headers, content, cookies = value
    try:
        response = HttpResponse(content, status=status, headers=dict(headers))
        for name, text, attributes in cookies:
            response.cookies[name] = text
            for attribute, setting in attributes.items():
                response.cookies[name][attribute] = setting
    except (TypeError, ValueError, KeyError, AttributeError, CookieError):
        # Bytes someone else wrote: not a response Django could send.
        return default
    return response


def _found(made: Mapping[str, str], found: Mapping[Key, Any]) -> dict[str, Any]:
    """get_many's answer by the caller's keys, responses rebuilt."""
    out = {}
    for key, value in found.items():
        if type(value) is tuple:
            value = _loaded(value)
            if value is _MISSING:
                continue
        out[made[key]] = value  # type: ignore[index]
    return out
