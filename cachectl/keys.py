"""Key layout, glob escaping and decorator key derivation. Pure, no I/O.

Layout (read by the command-line tool and by other languages):

    <namespace>:<key>              an application entry; <key> reads <prefix>:<rest>
    <namespace>#tag:{<tag>}        sorted set of the full keys written with <tag>
    <namespace>#stats              hash of counters published by every process

Bookkeeping keys use '#' after the namespace, so no scan of '<namespace>:*' ever sees them.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import msgpack

from cachectl.errors import ConfigError

Key = str | bytes

GLOB_SPECIAL = frozenset(b"*?[]\\")
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_.\-]+(?::[A-Za-z0-9_.\-]+)*$")


def check_namespace(namespace: str) -> str:
    """Return the namespace if it is usable as the first segment of every key."""
    if not _NAMESPACE_RE.match(namespace):
        raise ConfigError(
            f"invalid namespace {namespace!r}: use letters, digits, '_', '.', '-' "
            "(segments may be joined with ':')"
        )
    return namespace


def to_bytes(key: Key) -> bytes:
    """An application key as bytes (str keys are UTF-8)."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode("utf-8", "surrogateescape")
    raise TypeError(f"cache keys are str or bytes, not {type(key).__name__}")


def prefixed(prefix: bytes, keys: Sequence[Key]) -> list[bytes]:
    """prefix + each key, as bytes."""
    return [
        prefix + (k.encode("utf-8", "surrogateescape") if type(k) is str else to_bytes(k))
        for k in keys
    ]


def escape_glob(text: bytes) -> bytes:
    """Escape Redis glob metacharacters so that text matches only itself."""
    if not GLOB_SPECIAL.intersection(text):
        return text
    out = bytearray()
    for byte in text:
        if byte in GLOB_SPECIAL:
            out.append(0x5C)
        out.append(byte)
    return bytes(out)


def prefix_of(key: bytes) -> str:
    """The stats prefix of an application key: its first segment."""
    head = key.split(b":", 1)[0]
    return head.decode("utf-8", "replace")


def prefix_globs(prefix: bytes) -> tuple[bytes, bytes]:
    """The two globs, relative to the namespace, that select a whole-segment prefix."""
    escaped = escape_glob(prefix.rstrip(b":"))
    return escaped, escaped + b":*"


class KeySpace:
    """Turns application keys into full Redis keys for one namespace."""

    __slots__ = ("data_glob", "namespace", "ns", "stats_key", "tag_glob")

    def __init__(self, namespace: str) -> None:
        self.namespace = check_namespace(namespace)
        self.ns = namespace.encode() + b":"
        self.stats_key = namespace.encode() + b"#stats"
        self.data_glob = escape_glob(self.ns) + b"*"
        self.tag_glob = escape_glob(namespace.encode()) + b"#tag:*"

    def full(self, key: Key) -> bytes:
        """The Redis key of an application key."""
        return self.ns + (key if isinstance(key, bytes) else to_bytes(key))

    def full_many(self, keys: Sequence[Key]) -> list[bytes]:
        """Redis keys of application keys."""
        return prefixed(self.ns, keys)

    def app(self, full: bytes) -> bytes:
        """The application key of a full Redis key."""
        return full[len(self.ns) :] if full.startswith(self.ns) else full

    def glob(self, pattern: Key) -> bytes:
        """A Redis MATCH glob for an application-level glob (not escaped: it is a pattern)."""
        return escape_glob(self.ns) + to_bytes(pattern)

    def prefix_globs(self, prefix: Key) -> tuple[bytes, bytes]:
        """Globs for a prefix: the key equal to it, and keys below it."""
        exact, below = prefix_globs(to_bytes(prefix))
        base = escape_glob(self.ns)
        return base + exact, base + below

    def prefix_selection(self, prefix: Key) -> tuple[bytes, bytes]:
        """For a prefix: the full key equal to it, and the glob of the keys below it."""
        raw = to_bytes(prefix).rstrip(b":")
        if not raw:
            raise ConfigError("an empty prefix would select every key; name a prefix")
        return self.ns + raw, escape_glob(self.ns) + escape_glob(raw) + b":*"

    def tag(self, tag: str) -> bytes:
        """The bookkeeping key of a tag; the braces keep it in one cluster slot."""
        return self.namespace.encode() + b"#tag:{" + tag.encode("utf-8", "surrogateescape") + b"}"

    def tag_name(self, tag_key: bytes) -> str:
        """The tag a bookkeeping key belongs to."""
        start = len(self.namespace) + len("#tag:{")
        return tag_key[start:-1].decode("utf-8", "surrogateescape")


@lru_cache(maxsize=4096)
def glob_regex(pattern: bytes) -> re.Pattern[bytes]:
    """A regex equivalent of a Redis glob (stringmatchlen semantics)."""
    out = bytearray(b"(?s)\\A")
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i : i + 1]
        if c == b"*":
            out += b".*"
        elif c == b"?":
            out += b"."
        elif c == b"\\" and i + 1 < n:
            i += 1
            out += re.escape(pattern[i : i + 1])
        elif c == b"[":
            i += 1
            negate = i < n and pattern[i : i + 1] == b"^"
            if negate:
                i += 1
            items: list[bytes] = []
            while i < n and pattern[i : i + 1] != b"]":
                if pattern[i : i + 1] == b"\\" and i + 1 < n:
                    i += 1
                    items.append(re.escape(pattern[i : i + 1]))
                elif i + 2 < n and pattern[i + 1 : i + 2] == b"-":
                    lo, hi = sorted((pattern[i], pattern[i + 2]))
                    items.append(re.escape(bytes([lo])) + b"-" + re.escape(bytes([hi])))
                    i += 2
                else:
                    items.append(re.escape(pattern[i : i + 1]))
                i += 1
            body = b"".join(items)
            if not body:
                out += b"[^\\x00-\\xff]" if not negate else b"."
            else:
                out += b"[" + (b"^" if negate else b"") + body + b"]"
        else:
            out += re.escape(c)
        i += 1
    out += b"\\Z"
    return re.compile(bytes(out))


def glob_match(pattern: bytes, key: bytes) -> bool:
    """Whether key matches a Redis glob, as SCAN MATCH would decide."""
    return glob_regex(pattern).match(key) is not None


# -- decorator keys ---------------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    """A msgpack-friendly form of an argument whose encoding does not depend on dict order."""
    if isinstance(value, Mapping):
        return [
            "__map__",
            sorted(([_canonical(k), _canonical(v)] for k, v in value.items()), key=repr),
        ]
    if isinstance(value, tuple):
        return ["__tuple__", [_canonical(v) for v in value]]
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, set | frozenset):
        return ["__set__", sorted((_canonical(v) for v in value), key=repr)]
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    # Objects with a stable repr (datetime, UUID, Decimal, enums, dataclasses) key by it.
    return [type(value).__qualname__, repr(value)]


def argument_digest(arguments: Mapping[str, Any]) -> str:
    """A short digest of bound arguments, stable across processes (never hash())."""
    packed = msgpack.packb(_canonical(dict(arguments)), use_bin_type=True)
    return hashlib.blake2b(packed, digest_size=10).hexdigest()


def bind_arguments(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any], skip_first: bool
) -> dict[str, Any]:
    """Arguments by name with defaults applied, so positional and keyword calls key alike."""
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    items = dict(bound.arguments)
    if skip_first and items:
        items.pop(next(iter(items)))
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD and param.name in items:
            items.update(items.pop(param.name))
    return items


def function_key(
    prefix: str,
    qualname: str,
    arguments: Mapping[str, Any],
    template: str | Callable[..., str] | None,
) -> str:
    """The cache key of one call of a decorated function."""
    if template is None:
        rest = qualname if not arguments else f"{qualname}:{argument_digest(arguments)}"
    elif callable(template):
        rest = str(template(**arguments))
    else:
        try:
            rest = template.format(**arguments)
        except (KeyError, IndexError) as exc:
            raise ConfigError(
                f"key template {template!r} names an unknown argument: {exc}"
            ) from None
    return f"{prefix}:{rest}" if prefix else rest
