"""Key layout, glob escaping and decorator key derivation. Pure, no I/O.

Layout (read by the command-line tool and by other languages):

    <namespace>:<key>              an application entry; <key> reads <prefix>:<rest>
    <namespace>#tag:{<tag>}        sorted set of the full keys written with <tag>
    <namespace>#tag::<key>         the tag keys <key> was written with (so touch can move them)
    <namespace>#stats              hash of counters published by every process
    <namespace>#audit              list of destructive actions (cachectl.ops.audit)

Bookkeeping keys use '#' after the namespace, so no scan of '<namespace>:*' ever sees them.

A namespace is one segment of letters, digits, '_', '.' and '-': it holds no separator (':' or
'#') and no glob metacharacter. So every key of namespace N begins with 'N:' or 'N#', the
namespace of any key is the text before its first ':' or '#', and no glob built here for one
namespace ('N:*', 'N#tag:*', 'N:<pattern>') can match a key of another: 'shop:*' never reaches
'shop.v2:...', where it would reach 'shop:v2:...' if ':' were allowed.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import inspect
import operator
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import msgpack

from cachectl.errors import ConfigError, KeyTooLarge

Key = str | bytes

#: The codec error handler with which key text (keys, prefixes, patterns, tags) is encoded.
KEY_ERRORS = "cachectl.keys"


def _key_bytes(exc: UnicodeError) -> tuple[bytes, int]:
    """surrogateescape's bytes for U+DC80..U+DCFF (a byte that was not UTF-8, as os and sys
    decode names), and a ConfigError for any other lone surrogate (json.loads('"\\ud800"')
    gives one): it stands for no bytes, and a bare UnicodeEncodeError tells the caller nothing."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = bytearray()
    for char in exc.object[exc.start : exc.end]:
        code = ord(char)
        if not 0xDC80 <= code <= 0xDCFF:
            raise ConfigError(
                f"key text holds a lone surrogate (U+{code:04X}), which is no text: "
                f"{exc.object[:60]!r}"
            )
        out.append(code - 0xDC00)
    return bytes(out), exc.end


codecs.register_error(KEY_ERRORS, _key_bytes)

GLOB_SPECIAL = frozenset(b"*?[]\\")
#: Bytes a namespace may hold: none of them is a separator (':', '#') or a glob metacharacter.
NAMESPACE_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def check_namespace(namespace: str) -> str:
    """Return the namespace if it is one segment that can contain no other namespace's keys."""
    if namespace and namespace.isascii() and NAMESPACE_CHARS.issuperset(namespace.encode()):
        return namespace
    hint = ""
    if ":" in namespace or "#" in namespace:
        other = namespace.replace(":", ".").replace("#", ".")
        hint = (
            "; ':' and '#' end a namespace, so one namespace would reach into another's keys "
            f"('shop' into 'shop:v2'): use {other!r}"
        )
    raise ConfigError(
        f"invalid namespace {namespace!r}: use letters, digits, '_', '.' and '-' only{hint}"
    )


def namespace_of(key: bytes) -> str | None:
    """The namespace a full Redis key belongs to, or None when it belongs to none.

    A key belongs to N when it is 'N:<anything>', 'N#stats', 'N#audit', 'N#tag:{...}' or
    'N#tag::<key>' with N valid.
    """
    cut = len(key)
    for sep in (b":", b"#"):
        at = key.find(sep, 0, cut)
        if at >= 0:
            cut = at
    head = key[:cut]
    if not head or not NAMESPACE_CHARS.issuperset(head):
        return None
    rest = key[cut:]
    if (
        rest.startswith(b":")
        or rest in (b"#stats", b"#audit")
        or (rest.startswith(b"#tag:{") and rest.endswith(b"}"))
        or rest.startswith(b"#tag::")
    ):
        return head.decode("ascii")
    return None


def to_bytes(key: Key) -> bytes:
    """An application key as bytes (str keys are UTF-8)."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode("utf-8", KEY_ERRORS)
    raise TypeError(f"cache keys are str or bytes, not {type(key).__name__}")


def prefixed(prefix: bytes, keys: Sequence[Key]) -> list[bytes]:
    """prefix + each key, as bytes."""
    return [
        prefix + (k.encode("utf-8", KEY_ERRORS) if type(k) is str else to_bytes(k)) for k in keys
    ]


def tags_record(full: bytes) -> bytes:
    """The bookkeeping key that records the tags of a full key: 'N:<key>' -> 'N#tag::<key>'.

    Under 'N#tag:', so that whatever removes a namespace's tag bookkeeping removes it too; the
    second ':' keeps it apart from every tag set ('N#tag:{...}').
    """
    namespace, _, key = full.partition(b":")
    return namespace + b"#tag::" + key


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


def literal_prefix(glob: bytes) -> bytes | None:
    """The text whose continuations a glob of the form '<literal>*' matches (escapes undone),
    or None for any other glob."""
    if not glob.endswith(b"*"):
        return None
    body, out, i = glob[:-1], bytearray(), 0
    while i < len(body):
        byte = body[i]
        if byte == 0x5C:  # '\\' escapes the next byte; a trailing one is left to the general case
            if i + 1 == len(body):
                return None
            byte = body[i + 1]
            i += 1
        elif byte in GLOB_SPECIAL:
            return None
        out.append(byte)
        i += 1
    return bytes(out)


def display_name(raw: bytes) -> str:
    """A key, prefix or other name as text; bytes that are not UTF-8 shown as \\xNN escapes
    (the one decoding of a name for display: distinct names stay distinct)."""
    return raw.decode("utf-8", "backslashreplace")


def prefix_of(key: bytes) -> str:
    """The stats prefix of an application key: its first segment (see display_name)."""
    return display_name(key.split(b":", 1)[0])


def prefix_globs(prefix: bytes) -> tuple[bytes, bytes]:
    """The two globs, relative to the namespace, that select a whole-segment prefix."""
    escaped = escape_glob(prefix.rstrip(b":"))
    return escaped, escaped + b":*"


def too_large(what: str, name: Key, size: int, limit: int) -> KeyTooLarge:
    """The error for a key (tag, prefix, glob) of size bytes, past max_key_size."""
    shown = repr(name[:40]) + ("..." if len(name) > 40 else "")
    return KeyTooLarge(
        f"{what} of {size:,} bytes is over max_key_size ({limit:,} bytes): {shown}", size, limit
    )


class KeySpace:
    """Turns application keys into full Redis keys for one namespace.

    With max_key_size, a key, tag, prefix or glob longer than that many bytes (UTF-8, the
    namespace not counted) is a KeyTooLarge before any Redis key is made of it.
    """

    __slots__ = (
        "data_glob",
        "max_full",
        "max_key_size",
        "namespace",
        "ns",
        "stats_key",
        "tag_glob",
    )

    #: Whether keys are full Redis keys outside any namespace (RawKeySpace).
    raw = False

    def __init__(self, namespace: str, max_key_size: int | None = None) -> None:
        self.namespace = check_namespace(namespace)
        self.ns = namespace.encode() + b":"
        self.stats_key = namespace.encode() + b"#stats"
        self.data_glob = escape_glob(self.ns) + b"*"
        self.tag_glob = escape_glob(namespace.encode()) + b"#tag:*"
        self.max_key_size = sys.maxsize if max_key_size is None else max_key_size
        #: The longest full key: one comparison on the hot path, after the key is encoded.
        self.max_full = self.max_key_size + len(self.ns)

    def refuse(self, full: bytes, key: Key) -> KeyTooLarge:
        """The error for a full key past max_full (made of key)."""
        return too_large("key", key, len(full) - len(self.ns), self.max_key_size)

    def check(self, name: bytes, what: str) -> bytes:
        """name (a tag, prefix or glob, as bytes) if it is within max_key_size."""
        if len(name) > self.max_key_size:
            raise too_large(what, name, len(name), self.max_key_size)
        return name

    def check_many(self, keys: Sequence[Key]) -> None:
        """KeyTooLarge if any of keys is longer than max_key_size."""
        limit = self.max_key_size
        try:
            # One C-level pass for the common case, str keys: UTF-8 takes at most 4 bytes a
            # character, so keys of fewer characters in all than a quarter of the limit fit.
            if len("".join(keys)) * 4 <= limit:  # type: ignore[arg-type]
                return
        except TypeError:  # a bytes key among them
            pass
        for key in keys:
            raw = to_bytes(key)
            if len(raw) > limit:
                raise too_large("key", key, len(raw), limit)

    @property
    def where(self) -> str:
        """Where the keys live, for messages: "namespace 'shop'"."""
        return f"namespace {self.namespace!r}"

    def full(self, key: Key) -> bytes:
        """The Redis key of an application key."""
        full = self.ns + (key if isinstance(key, bytes) else to_bytes(key))
        if len(full) > self.max_full:
            raise self.refuse(full, key)
        return full

    def app(self, full: bytes) -> bytes:
        """The application key of a full Redis key."""
        return full[len(self.ns) :] if full.startswith(self.ns) else full

    def glob(self, pattern: Key) -> bytes:
        """A Redis MATCH glob for an application-level glob (not escaped: it is a pattern)."""
        return escape_glob(self.ns) + self.check(to_bytes(pattern), "glob")

    def prefix_globs(self, prefix: Key) -> tuple[bytes, bytes]:
        """Globs for a prefix: the key equal to it, and keys below it."""
        exact, below = prefix_globs(self.check(to_bytes(prefix), "prefix"))
        base = escape_glob(self.ns)
        return base + exact, base + below

    def prefix_selection(self, prefix: Key) -> tuple[bytes, bytes]:
        """For a prefix: the full key equal to it, and the glob of the keys below it."""
        raw = self.check(to_bytes(prefix), "prefix").rstrip(b":")
        if not raw:
            raise ConfigError("an empty prefix would select every key; name a prefix")
        return self.ns + raw, escape_glob(self.ns) + escape_glob(raw) + b":*"

    def tag(self, tag: str) -> bytes:
        """The bookkeeping key of a tag; the braces keep it in one cluster slot."""
        if not isinstance(tag, str):
            raise ConfigError(f"tags are strings, not {type(tag).__name__}")
        name = self.check(tag.encode("utf-8", KEY_ERRORS), "tag")
        return self.namespace.encode() + b"#tag:{" + name + b"}"

    def tag_name(self, tag_key: bytes) -> str:
        """The tag a bookkeeping key belongs to, for display (see display_name: a tag set
        another program named with bytes that are not UTF-8 must not break a JSON answer)."""
        start = len(self.namespace) + len("#tag:{")
        return display_name(tag_key[start:-1])


class RawKeySpace(KeySpace):
    """Full Redis keys as they are, outside any namespace: for reading keys, never deleting.

    Keys and globs are used unchanged (a glob may then match any key of the database), there
    are no tags and no stats. Only the read commands (`keys`, `inspect`) offer it.
    """

    __slots__ = ()

    raw = True

    def __init__(self) -> None:
        self.namespace = ""
        self.ns = b""
        self.stats_key = b""
        self.data_glob = b"*"
        # '[]' is an empty set: a glob that matches no key (tags live inside a namespace).
        self.tag_glob = b"[]"
        self.max_key_size = self.max_full = sys.maxsize

    @property
    def where(self) -> str:
        """Where the keys live, for messages."""
        return "the whole database (no namespace)"

    def tag(self, tag: str) -> bytes:
        """Tags are kept per namespace: there are none outside one."""
        raise ConfigError("tags are kept per namespace: --tag needs a namespace")


# -- glob matching (the embedded store and the fallback) ---------------------------------------
#
# A backtracking matcher (a regex translation, or stringmatchlen before Redis 7) takes
# exponential time on '*a*a*a*a*a*a*a*a*a*a*a*b'. Here a pattern is cut at its stars into
# fixed-length segments; the first is matched at the start, the last at the end, and each one
# between at its leftmost place after the previous (placing it further right never helps). No
# backtracking: at most O(len(key) * len(pattern)), and literal segments are a bytes.find.

#: Redis gives up on a pattern past this many nested '*' (its protection against abuse).
_STAR_NESTING = 1000


def _signed(byte: int) -> int:
    """A byte as the C char Redis compares in [a-z] ranges (signed on x86-64 and most servers)."""
    return byte - 256 if byte >= 128 else byte


def parse_glob(pattern: bytes) -> list[frozenset[int] | None]:
    """The pattern as a list of one-byte sets, None for a '*' (consecutive stars collapsed).

    Mirrors stringmatchlen's reading of the pattern byte for byte: a trailing '\\' is a literal
    backslash, an unterminated '[' takes the rest of the pattern as its set, 'a-z' ranges may be
    reversed and compare signed chars, ']' right after '[' or '[^' closes an empty set, and a
    range's end is taken as is (never an escape or the closing ']').
    """
    every = frozenset(range(256))
    out: list[frozenset[int] | None] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 0x2A:  # '*'
            if not out or out[-1] is not None:
                out.append(None)
        elif c == 0x3F:  # '?'
            out.append(every)
        elif c == 0x5B:  # '['
            i += 1
            negate = i < n and pattern[i] == 0x5E
            if negate:
                i += 1
            chosen: set[int] = set()
            while True:
                if i < n - 1 and pattern[i] == 0x5C:
                    i += 1
                    chosen.add(pattern[i])
                elif i < n and pattern[i] == 0x5D:
                    break
                elif i >= n:
                    i -= 1  # unterminated: the set ends with the pattern
                    break
                elif i < n - 2 and pattern[i + 1] == 0x2D:
                    lo, hi = sorted((_signed(pattern[i]), _signed(pattern[i + 2])))
                    chosen.update(b for b in range(256) if lo <= _signed(b) <= hi)
                    i += 2
                else:
                    chosen.add(pattern[i])
                i += 1
            out.append(every - chosen if negate else frozenset(chosen))
        else:
            if c == 0x5C and i < n - 1:  # '\\' escapes the next byte
                i += 1
                c = pattern[i]
            out.append(frozenset((c,)))
        i += 1
    return out


def _set_regex(chosen: frozenset[int]) -> bytes:
    """A regex item for one byte of a set, in runs of \\xNN ranges."""
    if not chosen:
        return b"(?!)"
    if len(chosen) == 256:
        return b"."
    runs: list[bytes] = []
    ordered = sorted(chosen)
    start = prev = ordered[0]
    for b in [*ordered[1:], -1]:
        if b != prev + 1:
            runs.append(b"\\x%02x" % start + (b"-\\x%02x" % prev if prev != start else b""))
            start = b
        prev = b
    return b"[" + b"".join(runs) + b"]"


class _Segment:
    """A fixed-length run of one-byte sets between two stars."""

    __slots__ = ("length", "literal", "regex")

    def __init__(self, items: list[frozenset[int]]) -> None:
        self.length = len(items)
        self.literal: bytes | None = None
        self.regex: re.Pattern[bytes] | None = None
        if all(len(item) == 1 for item in items):
            self.literal = bytes(next(iter(item)) for item in items)
        else:
            # No quantifier and no alternation: the regex engine cannot backtrack here.
            self.regex = re.compile(b"(?s)" + b"".join(_set_regex(item) for item in items))

    def at(self, key: bytes, pos: int) -> bool:
        """Whether the segment matches key at pos."""
        if self.literal is not None:
            return key.startswith(self.literal, pos)
        assert self.regex is not None
        return self.regex.match(key, pos) is not None

    def find(self, key: bytes, pos: int, end: int) -> int:
        """The leftmost place at or after pos where the segment fits before end, or -1."""
        if self.literal is not None:
            return key.find(self.literal, pos, end)
        assert self.regex is not None
        found = self.regex.search(key, pos, end)
        return -1 if found is None else found.start()


class Glob:
    """A compiled Redis glob: match() decides as SCAN MATCH would, without backtracking."""

    __slots__ = ("match", "min_length", "never", "pattern", "segments")

    def __init__(self, pattern: bytes) -> None:
        self.pattern = pattern
        parts: list[list[frozenset[int]]] = [[]]
        for item in parse_glob(pattern):
            if item is None:
                parts.append([])
            else:
                parts[-1].append(item)
        self.segments = [_Segment(part) for part in parts]
        self.min_length = sum(s.length for s in self.segments)
        stars = len(parts) - 1
        # Redis returns "no match" when a '*' is nested past its limit; the last star only
        # escapes it when nothing follows it (it matches without recursing).
        self.never = stars > _STAR_NESTING + 1 or (
            stars == _STAR_NESTING + 1 and self.segments[-1].length > 0
        )
        #: Whether a key matches, as SCAN MATCH decides.
        self.match: Callable[[bytes], bool] = self._match
        first = self.segments[0].literal
        # 'literal*', the common case (a namespace, a prefix): one C-level call per key, about
        # 2.5 times faster than the general path ('**' stays there: it refuses the empty key).
        simple = stars == 1 and first is not None and self.segments[-1].length == 0
        if simple and (first or pattern == b"*"):
            self.match = operator.methodcaller("startswith", first)
        elif stars == 0 and first is not None:
            self.match = functools.partial(operator.eq, first)

    def _match(self, key: bytes) -> bool:
        if not key:
            # stringmatchlen matches an empty key only to an empty pattern; SCAN and KEYS skip
            # matching altogether for the pattern '*'.
            return self.pattern in (b"", b"*")
        segments = self.segments
        if self.never or len(key) < self.min_length:
            return False
        first = segments[0]
        if len(segments) == 1:
            return len(key) == first.length and first.at(key, 0)
        if not first.at(key, 0):
            return False
        pos = first.length
        last = segments[-1]
        end = len(key) - last.length
        for segment in segments[1:-1]:
            found = segment.find(key, pos, end)
            if found < 0:
                return False
            pos = found + segment.length
        return last.length == 0 or last.at(key, end)


@lru_cache(maxsize=1024)
def compile_glob(pattern: bytes) -> Glob:
    """The compiled form of a Redis glob (cached: the same globs come back again and again)."""
    return Glob(pattern)


def glob_match(pattern: bytes, key: bytes) -> bool:
    """Whether key matches a Redis glob, as SCAN MATCH would decide."""
    return compile_glob(pattern).match(key)


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
