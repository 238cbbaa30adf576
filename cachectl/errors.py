"""Exceptions raised by cachectl.

    CachectlError                 base of everything cachectl raises on purpose
    ├── ConfigError               a bad URL, option or settings file (also ValueError)
    │   └── KeyTooLarge           a key, tag, prefix or glob past max_key_size: nothing done
    ├── SerializationError        a value msgpack cannot store (also TypeError)
    │   └── ValueTooLarge         a value encoded past max_value_size: refused, old value removed
    ├── DecodeError               stored bytes that are not a readable cachectl value
    ├── BackendUnavailable        Redis unreachable, refused authentication, or timed out
    ├── CommandRefused            Redis refused a command: the user's ACL lacks it, or renamed
    └── CheckFailed               a check did not pass (a threshold, a missing key)

The library's read and write paths never raise DecodeError or BackendUnavailable into the
application: an unreadable value is a miss and an outage goes to the fallback store. They
surface from the operations behind the command-line tool, where the caller wants to know.
"""

from __future__ import annotations


class CachectlError(Exception):
    """Base class of every error cachectl raises on purpose."""


class ConfigError(CachectlError, ValueError):
    """A URL, option or settings file that cachectl cannot use."""


class KeyTooLarge(ConfigError):
    """A key (or a tag, prefix or glob) longer than max_key_size bytes, refused before anything
    is sent to Redis or remembered; size and limit are in bytes.

    A ValueError, as Django's InvalidCacheKey is: the caller passed an argument the cache cannot
    take, as with any other setting it breaks.
    """

    def __init__(self, message: str, size: int = 0, limit: int = 0) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class SerializationError(CachectlError, TypeError):
    """A value that cannot be stored (a type msgpack and cachectl's extensions do not cover)."""


class ValueTooLarge(SerializationError):
    """A value whose encoded size is over max_value_size, so it could never be read back.

    A write refused so removes the key's old value (as memcached does), so no read returns what
    the caller meant to replace; keys names the keys refused, size and limit are in bytes.
    """

    def __init__(
        self, message: str, size: int = 0, limit: int = 0, keys: tuple[object, ...] = ()
    ) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit
        self.keys = keys


class DecodeError(CachectlError):
    """Stored bytes that are foreign, corrupt, truncated or would decompress past the limit."""


class BackendUnavailable(CachectlError):
    """Redis could not be reached, refused authentication, or did not answer in time."""


class CommandRefused(CachectlError):
    """Redis refused a command the operation needs: the ACL user may not run it (NOPERM), or
    the server does not know it (renamed or disabled, as managed services do)."""


class CheckFailed(CachectlError):
    """An operation ran but what it checked did not hold (a threshold, a key that is absent)."""
