"""The process-wide default cache behind the bare @cachectl.cached decorator.

At interpreter exit, the default caches are closed (see Cache.close): what they owe Redis is
replayed, for up to close_timeout, and what could not be is logged. The asyncio one's event
loop is gone by then, so its debt is paid over a synchronous connection (cache.closing).
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from typing import Any, TypeVar

from cachectl import forksafe
from cachectl.api import AsyncEntryStore, EntryStore
from cachectl.backends.memory import MemoryStore
from cachectl.cache import AsyncCache, Cache
from cachectl.cache.closing import close_blocking
from cachectl.config import DEFAULT_NAMESPACE, CacheConfig, build_config, env_url
from cachectl.decorator import cached as cached
from cachectl.decorator import use_default_caches

C = TypeVar("C", Cache, AsyncCache)

_lock = threading.Lock()
_config: CacheConfig | None = None
_store: MemoryStore | None = None
_sync: Cache | None = None
_async: AsyncCache | None = None
_closing: set[asyncio.Task[Any]] = set()
_exit_registered = False


def _after_fork() -> None:
    global _lock, _closing
    _lock = threading.Lock()
    if _closing:  # tasks of the parent's loop: kept, never finalized here
        forksafe.keep(_closing)
        _closing = set()


forksafe.on_fork(_after_fork)


def configure(
    url: str | None = None, *, namespace: str = DEFAULT_NAMESPACE, **options: Any
) -> CacheConfig:
    """Set the default cache (URL None: CACHECTL_URL, else the embedded store)."""
    global _config, _store, _sync, _async
    config = build_config(url if url is not None else env_url(), namespace=namespace, **options)
    with _lock:
        old_sync, old_async = _sync, _async
        _config, _store, _sync, _async = config, None, None, None
    if old_sync is not None:
        old_sync.close()
    if old_async is not None:
        _close_later(old_async)
    return config


def _close_later(cache: AsyncCache) -> None:
    """Close a replaced async default on the running loop (without one, nothing is open)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    task = loop.create_task(cache.close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


def _current() -> CacheConfig:
    global _config
    if _config is None:
        _config = build_config(env_url())
    return _config


def _memory_store(config: CacheConfig) -> MemoryStore | None:
    # Sync and async default caches on the embedded store share one store.
    global _store
    if not config.is_memory:
        return None
    if _store is None:
        _store = MemoryStore(config.memory_max_entries, config.memory_max_bytes)
    return _store


def _default(face: type[C]) -> C:
    """The default cache of face, made on first use with the current settings."""
    global _sync, _async
    with _lock:
        made = _sync if face is Cache else _async
        if made is None:
            config = _current()
            names = [n for n in CacheConfig.__slots__ if n not in ("url", "namespace")]
            options = {n: getattr(config, n) for n in names}
            store = _memory_store(config)
            made = face(config.url, namespace=config.namespace, store=store, **options)
            if isinstance(made, Cache):
                _sync = made
            else:
                _async = made
            _close_at_exit()
        assert isinstance(made, face)
        return made


def default_cache() -> Cache:
    """The default synchronous cache, made on first use."""
    return _default(Cache)


def default_async_cache() -> AsyncCache:
    """The default asyncio cache, made on first use."""
    return _default(AsyncCache)


def _close_at_exit() -> None:
    # Called under _lock when a default cache is made: nothing is registered by an import.
    global _exit_registered
    if not _exit_registered:
        atexit.register(_exit)
        _exit_registered = True


def _exit() -> None:
    """Close the default caches at interpreter exit (each logs what it leaves owed)."""
    with _lock:
        sync, asynchronous = _sync, _async
    if sync is not None:
        sync.close()
    if asynchronous is not None:
        close_blocking(asynchronous)


def _default_for(asynchronous: bool) -> EntryStore | AsyncEntryStore:
    return default_async_cache() if asynchronous else default_cache()


# The bare @cachectl.cached (exported from here) finds its cache through this.
use_default_caches(_default_for)
