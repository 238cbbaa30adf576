"""Storage backends: they move bytes and know nothing of values, stats or breakers."""

from cachectl.backends.base import TRANSIENT_ERRORS, AsyncBackend, Backend
from cachectl.backends.memory import AsyncMemoryBackend, MemoryStore

__all__ = ["TRANSIENT_ERRORS", "AsyncBackend", "AsyncMemoryBackend", "Backend", "MemoryStore"]
