"""The @cached decorator: stable keys, single flight, stale-while-revalidate, None cached.

Works on def and async def functions and methods; bound to a cache (cache.cached) or to the
process-wide default (cachectl.cached, see cachectl.default). A result over max_value_size is
returned to the caller uncached (the cache removed the old entry, counted and logged the
refusal); a result of a type msgpack cannot store still raises, a bug rather than a size.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Future
from contextvars import ContextVar
from typing import Any, ParamSpec, Protocol, TypeVar

from cachectl import forksafe
from cachectl.api import AsyncEntryStore, Entry, EntryStore, Missing
from cachectl.errors import ConfigError, ValueTooLarge
from cachectl.keys import bind_arguments, function_key

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
log = logging.getLogger("cachectl")
KeyTemplate = str | Callable[..., str] | None
TagsFrom = Callable[[Any], Iterable[str]] | None

# A per-request list the X-Cache middleware installs; decorated calls append HIT or MISS.
_status: ContextVar[list[str] | None] = ContextVar("cachectl_status", default=None)


@contextlib.contextmanager
def track_cache_status() -> Iterator[list[str]]:
    """Collect, for the duration of the block, whether each @cached call was a HIT or a MISS."""
    seen: list[str] = []
    token = _status.set(seen)
    try:
        yield seen
    finally:
        _status.reset(token)


def _note(status: str) -> None:
    seen = _status.get()
    if seen is not None:
        seen.append(status)


class _KeyMaker:
    """Builds a call's key and tags from its arguments."""

    def __init__(
        self,
        func: Callable[..., Any],
        prefix: str,
        key: KeyTemplate,
        tags: Iterable[str],
        tags_from: TagsFrom,
    ) -> None:
        self.signature = inspect.signature(func)
        params = list(self.signature.parameters)
        self.skip_first = bool(params) and params[0] in ("self", "cls")
        self.qualname = f"{func.__module__}.{func.__qualname__}"
        self.prefix = prefix
        self.template = key
        if isinstance(tags, str):
            raise ConfigError("tags is a sequence of strings; wrap a single tag in a tuple")
        self.tags = tuple(tags)
        self.tags_from = tags_from

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        return bind_arguments(self.signature, args, kwargs, self.skip_first)

    def key(self, arguments: dict[str, Any]) -> str:
        return function_key(self.prefix, self.qualname, arguments, self.template)

    def tag_list(self, arguments: dict[str, Any], result: Any) -> list[str]:
        try:
            tags = [t.format(**arguments) for t in self.tags]
        except (KeyError, IndexError) as exc:
            raise ConfigError(f"a tag template names an unknown argument: {exc}") from None
        if self.tags_from is not None:
            tags.extend(self.tags_from(result))
        return tags


#: A caller waits this long at least for another caller computing the same call, then computes
#: it itself: no caller waits forever on a computation that is not running (see _Flights).
FLIGHT_WAIT = 10.0


class _WaitBound:
    """How long a waiter waits for the leader: FLIGHT_WAIT, or twice the time recent
    computations took if that is longer; then it computes itself."""

    expected = 0.0  # seconds a computation takes, recent ones weighing most

    def took(self, seconds: float) -> None:
        """Note how long a computation took (an old slow one fades: 20 % a computation)."""
        self.expected = max(seconds, self.expected * 0.8)

    def wait_bound(self) -> float:
        """Seconds a waiter waits for the leader before computing itself."""
        return max(FLIGHT_WAIT, 2 * self.expected)


class _Flights(_WaitBound):
    """Calls in progress by key, so concurrent misses in a thread pool compute once.

    A forked child starts with no flights (its leaders would be threads of the parent).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, Future[Any]] = {}
        forksafe.register(self)

    def lead(self, key: str) -> tuple[Future[Any], bool]:
        with self._lock:
            future = self._calls.get(key)
            if future is not None:
                return future, False
            future = self._calls[key] = Future()
            return future, True

    def busy(self, key: str) -> bool:
        return key in self._calls

    def done(self, key: str, future: Future[Any]) -> None:
        with self._lock:
            if self._calls.get(key) is future:
                del self._calls[key]

    def after_fork(self) -> None:
        """In a forked child: the leaders are threads of the parent, which never finish here."""
        self._lock = threading.Lock()
        self._calls = {}


class _AsyncFlights(_WaitBound):
    """The asyncio counterpart of _Flights: calls in progress by event loop and key.

    A future belongs to one loop, so single flight holds among the tasks of one loop; calls on
    other loops (threads, or asyncio.run after asyncio.run) have flights of their own.
    """

    def __init__(self) -> None:
        self._calls: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Future[Any]] = {}
        forksafe.register(self)

    def lead(self, key: str) -> tuple[asyncio.Future[Any], bool]:
        loop = asyncio.get_running_loop()
        future = self._calls.get((loop, key))
        if future is not None:
            return future, False
        future = self._calls[loop, key] = loop.create_future()
        return future, True

    def busy(self, key: str) -> bool:
        return (asyncio.get_running_loop(), key) in self._calls

    def done(self, key: str, future: asyncio.Future[Any]) -> None:
        flight = (future.get_loop(), key)
        if self._calls.get(flight) is future:
            del self._calls[flight]

    def after_fork(self) -> None:
        """In a forked child: the parent's futures are kept unused (their loops are the
        parent's), and the child starts with no flights."""
        forksafe.keep(self._calls)
        self._calls = {}


class CachedFunction(Protocol[P, R_co]):
    """A decorated function: call it, or ask for a call's key, or invalidate a call's entry."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The cache key (inside the namespace) of this call."""
        ...

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Remove this call's entry (a coroutine for async functions); returns 0 or 1."""
        ...


class _CachedMethod:
    """A cached method: through an instance, .key and .invalidate are bound to it as well."""

    def __init__(self, wrapper: Any) -> None:
        functools.update_wrapper(self, wrapper, updated=())
        self._wrapper = wrapper

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrapper(*args, **kwargs)

    def key(self, *args: Any, **kwargs: Any) -> str:
        """The cache key of a call, self included in the arguments."""
        return str(self._wrapper.key(*args, **kwargs))

    def invalidate(self, *args: Any, **kwargs: Any) -> Any:
        """Remove a call's entry, self included in the arguments."""
        return self._wrapper.invalidate(*args, **kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return _BoundHandles(self._wrapper, instance)


class _AsyncCachedMethod(_CachedMethod):
    """A cached coroutine method: its __call__ is a coroutine function, as frameworks check."""

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return await self._wrapper(*args, **kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return _AsyncBoundHandles(self._wrapper, instance)


class _BoundHandles:
    """A cached method bound to an instance (or a class, under @classmethod)."""

    def __init__(self, wrapper: Any, instance: Any) -> None:
        functools.update_wrapper(self, wrapper, updated=())
        self._wrapper = wrapper
        self.__self__ = instance

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrapper(self.__self__, *args, **kwargs)

    def key(self, *args: Any, **kwargs: Any) -> str:
        """The cache key of this call."""
        return str(self._wrapper.key(self.__self__, *args, **kwargs))

    def invalidate(self, *args: Any, **kwargs: Any) -> Any:
        """Remove this call's entry."""
        return self._wrapper.invalidate(self.__self__, *args, **kwargs)


class _AsyncBoundHandles(_BoundHandles):
    """A cached coroutine method bound to an instance."""

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return await self._wrapper(self.__self__, *args, **kwargs)


#: Where a function decorated without a cache finds one: cachectl.default registers its two
#: default caches here when imported (cachectl.cached is exported from there), so that this
#: module depends on the protocol in cachectl.api only.
_defaults: list[Callable[[bool], EntryStore | AsyncEntryStore]] = []


def use_default_caches(source: Callable[[bool], EntryStore | AsyncEntryStore]) -> None:
    """Functions decorated without a cache ask source(asynchronous) for one at each call."""
    _defaults[:] = [source]


def _default(asynchronous: bool) -> EntryStore | AsyncEntryStore:
    if not _defaults:
        raise ConfigError("no default cache: import cachectl.default, or pass cache=")
    return _defaults[0](asynchronous)


def _is_async(cache: EntryStore | AsyncEntryStore) -> bool:
    return inspect.iscoroutinefunction(cache.lookup)


def _waited_too_long(qualname: str, seconds: float) -> None:
    log.warning(
        "cachectl: %s: no result from the caller computing it after %.1f s; computing it here",
        qualname,
        seconds,
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


def _serves(found: Entry | Missing, flights: _Flights | _AsyncFlights, key: str) -> bool:
    """Whether a looked-up entry answers the call: fresh, or stale while another caller of this
    process recomputes it (both wrappers decide here)."""
    if isinstance(found, Missing):
        return False
    fresh_until = found[1]
    return fresh_until is None or _now_ms() < fresh_until or flights.busy(key)


def cached(
    ttl: float | None = None,
    prefix: str = "",
    *,
    tags: Iterable[str] = (),
    tags_from: TagsFrom = None,
    key: KeyTemplate = None,
    stale: float | None = None,
    cache: EntryStore | AsyncEntryStore | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """Cache a function's results by its arguments.

    ttl: seconds an entry is fresh; prefix: the key's first segment; key: a template such as
    "page:{page}" (or a callable of the arguments) instead of qualname + argument digest;
    tags: templates of tags ("user:{user_id}"); tags_from: a callable of the result giving
    more tags; stale: seconds an expired entry is still served while one caller recomputes it.
    """
    if stale is not None and (stale <= 0 or ttl is None):
        raise ConfigError("stale needs a ttl, and is a positive number of seconds")

    def decorate(func: Callable[P, R]) -> CachedFunction[P, R]:
        maker = _KeyMaker(func, prefix, key, tags, tags_from)
        if inspect.iscoroutinefunction(func):
            wrapper = _async_wrapper(func, maker, ttl, stale, cache)
        else:
            wrapper = _sync_wrapper(func, maker, ttl, stale, cache)
        if maker.skip_first:
            method = _AsyncCachedMethod if inspect.iscoroutinefunction(func) else _CachedMethod
            wrapper = method(wrapper)
        handle: CachedFunction[P, R] = wrapper
        return handle

    return decorate


def _sync_wrapper(
    func: Callable[..., Any],
    maker: _KeyMaker,
    ttl: float | None,
    stale: float | None,
    bound: EntryStore | AsyncEntryStore | None,
) -> Any:
    flights = _Flights()

    def resolve() -> EntryStore:
        if bound is None:
            return _default(asynchronous=False)  # type: ignore[return-value]
        if _is_async(bound):
            raise ConfigError(
                f"{maker.qualname} is a plain function: cache it with a Cache, not an AsyncCache"
            )
        return bound  # type: ignore[return-value]

    def compute(
        cache: EntryStore,
        key: str,
        arguments: dict[str, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        future, leader = flights.lead(key)
        if not leader:
            try:
                return future.result(timeout=flights.wait_bound())
            except TimeoutError:
                if future.done():
                    raise  # the leader's own TimeoutError, shared
                _waited_too_long(maker.qualname, flights.wait_bound())
            return run(cache, key, arguments, args, kwargs)
        try:
            value = run(cache, key, arguments, args, kwargs)
            future.set_result(value)
            return value
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            flights.done(key, future)

    def run(
        cache: EntryStore,
        key: str,
        arguments: dict[str, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        start = time.monotonic()
        value = func(*args, **kwargs)
        flights.took(time.monotonic() - start)
        with contextlib.suppress(ValueTooLarge):  # returned uncached (module docstring)
            cache.store_entry(key, value, ttl, maker.tag_list(arguments, value), stale)
        return value

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cache = resolve()
        arguments = maker.arguments(args, kwargs)
        key = maker.key(arguments)
        found = cache.lookup(key)
        if _serves(found, flights, key):
            _note("HIT")
            return found[0]  # type: ignore[index]
        _note("MISS")
        return compute(cache, key, arguments, args, kwargs)

    def key_of(*args: Any, **kwargs: Any) -> str:
        return maker.key(maker.arguments(args, kwargs))

    def invalidate(*args: Any, **kwargs: Any) -> int:
        return resolve().delete(key_of(*args, **kwargs))

    wrapper.key = key_of  # type: ignore[attr-defined]
    wrapper.invalidate = invalidate  # type: ignore[attr-defined]
    return wrapper


def _async_wrapper(
    func: Callable[..., Awaitable[Any]],
    maker: _KeyMaker,
    ttl: float | None,
    stale: float | None,
    bound: EntryStore | AsyncEntryStore | None,
) -> Any:
    flights = _AsyncFlights()

    def resolve() -> AsyncEntryStore:
        if bound is None:
            return _default(asynchronous=True)  # type: ignore[return-value]
        if not _is_async(bound):
            raise ConfigError(
                f"{maker.qualname} is a coroutine function: cache it with an "
                "AsyncCache, not a Cache"
            )
        return bound  # type: ignore[return-value]

    async def compute(
        cache: AsyncEntryStore,
        key: str,
        arguments: dict[str, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        while True:
            future, leader = flights.lead(key)
            if leader:
                break
            try:
                return await asyncio.wait_for(asyncio.shield(future), flights.wait_bound())
            except TimeoutError:
                if future.done():
                    raise  # the leader's own TimeoutError, shared
                _waited_too_long(maker.qualname, flights.wait_bound())
                return await run(cache, key, arguments, args, kwargs)
            except asyncio.CancelledError:
                # The leader was cancelled (its client went away, say), not this caller: one of
                # the callers still waiting takes over the computation.
                task = asyncio.current_task()
                if future.cancelled() and task is not None and not task.cancelling():
                    continue
                raise
        try:
            value = await run(cache, key, arguments, args, kwargs)
            future.set_result(value)
            return value
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so a flight nobody joined logs nothing
            raise
        finally:
            flights.done(key, future)

    async def run(
        cache: AsyncEntryStore,
        key: str,
        arguments: dict[str, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        start = time.monotonic()
        value = await func(*args, **kwargs)
        flights.took(time.monotonic() - start)
        with contextlib.suppress(ValueTooLarge):  # returned uncached (module docstring)
            await cache.store_entry(key, value, ttl, maker.tag_list(arguments, value), stale)
        return value

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        cache = resolve()
        arguments = maker.arguments(args, kwargs)
        key = maker.key(arguments)
        found = await cache.lookup(key)
        if _serves(found, flights, key):
            _note("HIT")
            return found[0]  # type: ignore[index]
        _note("MISS")
        return await compute(cache, key, arguments, args, kwargs)

    def key_of(*args: Any, **kwargs: Any) -> str:
        return maker.key(maker.arguments(args, kwargs))

    async def invalidate(*args: Any, **kwargs: Any) -> int:
        return await resolve().delete(key_of(*args, **kwargs))

    wrapper.key = key_of  # type: ignore[attr-defined]
    wrapper.invalidate = invalidate  # type: ignore[attr-defined]
    return wrapper
