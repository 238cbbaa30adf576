"""Storage backends: they move bytes and know nothing of values, stats or breakers.

Names are imported on first use, so that reading the registry (config does) does not import
redis-py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "TRANSIENT_ERRORS": "cachectl.backends.base",
    "AsyncBackend": "cachectl.backends.base",
    "Backend": "cachectl.backends.base",
    "AsyncMemoryBackend": "cachectl.backends.memory",
    "MemoryStore": "cachectl.backends.memory",
    "register_backend": "cachectl.backends.registry",
}

__all__ = [
    "TRANSIENT_ERRORS",
    "AsyncBackend",
    "AsyncMemoryBackend",
    "Backend",
    "MemoryStore",
    "register_backend",
]

if TYPE_CHECKING:
    from cachectl.backends.base import TRANSIENT_ERRORS, AsyncBackend, Backend
    from cachectl.backends.memory import AsyncMemoryBackend, MemoryStore
    from cachectl.backends.registry import register_backend


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cachectl.backends' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
