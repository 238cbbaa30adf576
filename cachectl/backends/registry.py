"""URL schemes -> backend classes, registered in one place.

A backend class is made with `from_config(config)` and says which of its errors mean "the
server is unreachable or slow" (`transient_errors`: the breaker counts them and the fallback
answers) and which are every error it raises for a command (`errors`: a refused read is a miss,
a refused write a failure). Classes may be given as "module:Class" text, imported on first use,
so that registering the Redis backends does not import redis-py.

The registry knows URL schemes and classes, never a CacheConfig: config.py asks it whether a
scheme is registered, so it depends on nothing that depends on config.

    register_backend("mine", "mypackage.cache:SyncBackend", "mypackage.cache:AsyncBackend")
    Cache("mine://somewhere")
"""

from __future__ import annotations

import importlib
from typing import Any

from cachectl.errors import ConfigError
from cachectl.url import SCHEMES

#: A backend class, or "module:Class" naming one.
ClassRef = type | str

#: The schemes cachectl ships; their URLs are checked by cachectl.url.
BUILTIN_SCHEMES = SCHEMES

_registry: dict[str, tuple[ClassRef, ClassRef]] = {}


def register_backend(scheme: str, sync_cls: ClassRef, async_cls: ClassRef) -> None:
    """Make `scheme://` URLs use these backend classes (replacing an earlier registration)."""
    if not scheme or "://" in scheme or scheme != scheme.lower():
        raise ConfigError(f"a backend scheme is lower-case text without '://', not {scheme!r}")
    _registry[scheme] = (sync_cls, async_cls)


def registered_schemes() -> tuple[str, ...]:
    """Every scheme a URL may use, sorted."""
    return tuple(sorted(_registry))


def is_registered(scheme: str) -> bool:
    """Whether scheme has backend classes."""
    return scheme in _registry


def _resolve(ref: ClassRef) -> Any:
    if not isinstance(ref, str):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def backend_class(url: str, asynchronous: bool) -> Any:
    """The backend class registered for url's scheme: the asyncio one, or the sync one."""
    scheme = url.partition("://")[0]
    refs = _registry.get(scheme)
    if refs is None:
        shown = ", ".join(s + "://" for s in registered_schemes())
        raise ConfigError(f"no backend is registered for {scheme!r}: use one of {shown}")
    return _resolve(refs[1] if asynchronous else refs[0])


register_backend(
    "memory", "cachectl.backends.memory:MemoryStore", "cachectl.backends.memory:AsyncMemoryBackend"
)
for _scheme in BUILTIN_SCHEMES:
    if _scheme != "memory":
        register_backend(
            _scheme,
            "cachectl.backends.redis:RedisBackend",
            "cachectl.backends.redis:AsyncRedisBackend",
        )
