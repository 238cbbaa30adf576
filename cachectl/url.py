"""Cache URLs: checked when given, the way redis-py will read them, and redacted for display.

A URL is checked in full when a CacheConfig is made: scheme, host, port, database, socket
path and every query option redis-py reads, with its type and range. Whatever redis-py would
misread, or only reject on the first command, is a ConfigError here.

Redaction never relies on where a URL parser thinks the host begins: everything between the
scheme's '//' and the last '@' is user info, so a password may hold '/', '?', '#', '@' or
':' and still never be shown. A URL that is valid holds no other raw '@' (one in a query
value must be written %40), so the last '@' is the one that ends its user info.
"""

from __future__ import annotations

import codecs
import ipaddress
import math
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from cachectl.errors import ConfigError

SCHEMES = (
    "redis",
    "rediss",
    "unix",
    "redis+cluster",
    "rediss+cluster",
    "redis+sentinel",
    "rediss+sentinel",
    "memory",
)
#: The port of a Sentinel written without one.
SENTINEL_PORT = 26379
REDACTED = "***"

_HOST = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?")
_DIGITS = re.compile(r"[0-9]+")
_DB_PATH = re.compile(r"/[0-9]+")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
#: A Sentinel service (master) name: SENTINEL MONITOR takes any word, but one that needs quoting
#: in a URL path has no place in one.
_SERVICE = re.compile(r"[A-Za-z0-9_.-]+")
#: Characters no URL may hold raw: spaces and control characters (a parser drops or splits
#: at some of them, and they would reach a terminal in a message).
_UNPRINTABLE = re.compile(r"[\x00-\x20\x7f-\x9f]")
_TRUE = ("1", "t", "true", "y", "yes")
_FALSE = ("0", "f", "false", "n", "no")  # redis-py's to_bool treats any other word as true


@dataclass(frozen=True, slots=True)
class RedisURL:
    """What redis-py will read from a checked URL (no password in it)."""

    scheme: str
    host: str
    port: int
    db: int
    path: str = ""
    options: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Sentinel only: every Sentinel's (host, port), and the service (master) name.
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = ""

    @property
    def cluster(self) -> bool:
        """Whether the scheme asks for Redis Cluster."""
        return self.scheme.endswith("+cluster")

    @property
    def sentinel(self) -> bool:
        """Whether the primary is found by asking Redis Sentinel."""
        return self.scheme.endswith("+sentinel")

    @property
    def node_options(self) -> dict[str, Any]:
        """The query options of the data nodes' connections (not the Sentinels' own)."""
        return {k: v for k, v in self.options.items() if k not in SENTINEL_OPTIONS}

    @property
    def tls(self) -> bool:
        """Whether the connection uses TLS (rediss)."""
        return self.scheme.startswith("rediss")


def scheme_of(url: str) -> str:
    """The text before '://' (empty when there is none)."""
    scheme, sep, _ = url.partition("://")
    return scheme if sep else ""


# -- redaction ----------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """The URL with its password (and any password query parameter) replaced by '***'.

    The user info is hidden up to the last '@' (after 'user:' when there is one), and every
    password= value: up to the next option in a valid URL, else to the end, since a raw '&',
    '#' or '@' in it leaves no telling where it stops.
    """
    try:
        parse_url(url)
    except ConfigError:
        return _redact(url, exact=False)
    return _redact(url, exact=True)


def _redact(url: str, exact: bool) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    hidden = _merge(_secret_spans(scheme, rest, exact))
    shown, last = [], 0
    for begin, end in hidden:
        shown += [rest[last:begin], REDACTED]
        last = end
    shown.append(rest[last:])
    return _printable(f"{scheme}{sep}{''.join(shown)}")


def _secret_spans(scheme: str, rest: str, exact: bool) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    at = rest.rfind("@")
    if at >= 0 and not (scheme == "unix" and rest.startswith("/")):
        # unix:///run/redis@main.sock is a socket path; anything else before '@' is user info.
        # 'user:password' keeps the user; a lone word is the password (redis://secret@host).
        colon = rest.find(":", 0, at)
        spans.append((colon + 1 if colon >= 0 else 0, at))
    if exact:
        # A valid URL: the query starts at the first '?' after the user info, items at '&'.
        query = rest.find("?", at + 1)
        starts = (
            [] if query < 0 else [query, *(i for i, c in enumerate(rest) if c == "&" and i > query)]
        )
    else:
        starts = [i for i, c in enumerate(rest) if c in "?&"]
    for n, i in enumerate(starts):
        name, equals, _ = rest[i + 1 :].partition("=")
        if not equals or "&" in name or "password" not in unquote(name).lower():
            continue
        begin = i + 1 + len(name) + 1
        end = next((j for j in starts[n + 1 :] if j > begin), len(rest)) if exact else len(rest)
        spans.append((begin, end))
    return [(b, e) for b, e in spans if e > b]


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _printable(text: str) -> str:
    """Control characters and spaces escaped, so a message stays one harmless line."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


# -- checking -----------------------------------------------------------------------------------


def parse_url(url: object) -> RedisURL | None:
    """The checked URL (None for memory://); anything redis-py would misread is a ConfigError."""
    if not isinstance(url, str):
        raise ConfigError(f"the URL must be a string, not {type(url).__name__}")
    if not url:
        raise ConfigError("the URL is empty")
    scheme = scheme_of(url)
    if scheme not in SCHEMES:
        shown = f"{scheme!r}" if scheme else "(none)"
        raise ConfigError(
            f"unsupported URL scheme {shown} in {_redact(url, exact=False)}: "
            f"use one of {', '.join(s + '://' for s in SCHEMES)}"
        )
    if scheme == "memory":
        if url != "memory://":
            raise ConfigError(f"memory:// takes nothing after it, not {_redact(url, exact=False)}")
        return None
    return _Checker(url, scheme).check()


class _Checker:
    """One URL being checked; every message shows it redacted."""

    def __init__(self, url: str, scheme: str) -> None:
        self.url = url
        self.scheme = scheme
        self.base = scheme.removesuffix("+cluster").removesuffix("+sentinel")
        self.sentinel = scheme.endswith("+sentinel")

    def fail(self, reason: str) -> ConfigError:
        return ConfigError(f"invalid URL {_redact(self.url, exact=False)}: {reason}")

    def check(self) -> RedisURL:
        rest = self.url[len(self.scheme) + 3 :]
        if _UNPRINTABLE.search(self.url):
            raise self.fail("it holds a space or a control character (percent-encode it)")
        # Split the way urllib (and so redis-py) does: the authority ends at the first '/',
        # '?' or '#'. A password holding one of them is misread, and that shows as a raw
        # '@' after the authority: refused before anything is quoted from the authority.
        end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        netloc, tail = rest[:end], rest[end:]
        userinfo, at, hostport = netloc.rpartition("@")
        unix_path_only = self.base == "unix" and not netloc
        if "@" in tail and not unix_path_only:
            raise self.fail(
                "an '@' after the host: percent-encode '/' '?' '#' '@' in a user name, "
                "password or option value (%2F %3F %23 %40)"
            )
        if "#" in tail:
            raise self.fail("a '#' fragment means nothing to Redis (percent-encode '#' as %23)")
        path, _, query = tail.partition("?")
        options = self.query(query)
        if at and not userinfo:
            raise self.fail("an '@' with no user name or password before it")
        if userinfo.partition(":")[2] and "password" in options:
            raise self.fail("a password both in the user info and in the query")
        if self.sentinel:
            return self.check_sentinel(hostport, path, options)
        if self.base == "unix":
            host, port, db = "", 0, options.get("db", 0)
            if hostport:
                raise self.fail("unix:// takes a socket path, not a host (unix:///run/redis.sock)")
            if not path.strip("/"):
                raise self.fail("unix:// needs a socket path (unix:///run/redis.sock)")
        else:
            host, port = self.host_port(hostport)
            db = self.db(path, options)
        parsed = RedisURL(self.scheme, host, port, db, unquote(path) if not host else "", options)
        self.agree_with_redis_py(parsed)
        return parsed

    def check_sentinel(self, hostports: str, path: str, options: dict[str, Any]) -> RedisURL:
        """redis+sentinel://[user:password@]host:port[,host:port...]/service[/db]."""
        sentinels = tuple(self.host_port(part, SENTINEL_PORT) for part in hostports.split(","))
        if len(set(sentinels)) != len(sentinels):
            raise self.fail("a Sentinel is named twice")
        service, _, db_part = path.removeprefix("/").partition("/")
        if not service:
            raise self.fail(
                "no service name: write redis+sentinel://host:26379[,host:port...]/mymaster[/db]"
            )
        if not _SERVICE.fullmatch(service):
            raise self.fail(
                f"the service name {unquote(service)!r} may hold only letters, digits, '_', '.' "
                "and '-'"
            )
        if db_part and not _DIGITS.fullmatch(db_part):
            raise self.fail("after the service name, only a database number (.../mymaster/0)")
        db = self.db(f"/{db_part}" if db_part else "", options)
        host, port = sentinels[0]
        parsed = RedisURL(self.scheme, host, port, db, "", options, sentinels, service)
        # redis-py reads no Sentinel URL; what it reads of the data nodes' URL must agree.
        self.agree_with_redis_py(parsed, node_url(parsed, self.url))
        return parsed

    def host_port(self, hostport: str, default_port: int = 6379) -> tuple[str, int]:
        if hostport.startswith("["):
            inside, bracket, after = hostport[1:].partition("]")
            if not bracket:
                raise self.fail("an IPv6 address without its closing ']'")
            try:
                ipaddress.IPv6Address(inside.partition("%")[0])
            except ValueError:
                raise self.fail("the host in brackets is not an IPv6 address") from None
            host = unquote(inside)
            if after and not after.startswith(":"):
                raise self.fail("text after the IPv6 address's ']' that is not ':port'")
        else:
            host, _, port_part = hostport.partition(":")
            after = hostport[len(host) :]
            if ":" in port_part:
                raise self.fail("an IPv6 address must be written in brackets: redis://[::1]:6379")
            if not host:
                raise self.fail(
                    "no host (write redis://localhost:6379/0)"
                    if not self.sentinel
                    else "a Sentinel without a host (write host:port,host:port)"
                )
            if not _HOST.fullmatch(host):
                raise self.fail(f"{host!r} is not a host name or address")
        if not after:
            return host, default_port
        port_text = after[1:]
        if not _DIGITS.fullmatch(port_text):
            raise self.fail(f"the port {port_text!r} is not a number")
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise self.fail(f"the port {port} is not between 1 and 65535")
        return host, port

    def db(self, path: str, options: dict[str, Any]) -> int:
        if path not in ("", "/") and not _DB_PATH.fullmatch(path):
            raise self.fail("the path must be a database number (redis://host:6379/0)")
        digits = path[1:]
        db: int = options.get("db", int(digits) if digits else 0)
        if digits and "db" in options and options["db"] != int(digits):
            raise self.fail("two different database numbers (in the path and db=)")
        if self.scheme.endswith("+cluster") and db != 0:
            raise self.fail("a cluster has only database 0")
        return db

    def query(self, query: str) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if not query:
            return options
        items = query.split("&")
        # Beside a password, no other item is quoted: a raw '&' in the password would have
        # made a piece of it look like an item of its own.
        quiet = any("password" in unquote(item.partition("=")[0]).lower() for item in items)
        for item in items:
            raw_name, equals, raw_value = item.partition("=")
            name = unquote(raw_name)
            secret = quiet or "password" in name.lower()
            if not equals:
                raise self.fail(
                    "a query item without '=value'"
                    if secret or not _NAME.fullmatch(name)
                    else f"the query item {name!r} has no '=value'"
                )
            if name in REFUSED:
                raise self.fail(f"{name} cannot be set in the URL: {REFUSED[name]}")
            spec = OPTIONS.get(name)
            if spec is None:
                raise self.fail(
                    f"unknown option {name!r} (known: {', '.join(sorted(OPTIONS))})"
                    if _NAME.fullmatch(name) and not secret
                    else "an unknown option in the query"
                )
            if name in options:
                raise self.fail(f"the option {name} is given twice")
            if name.startswith("ssl_") and self.base != "rediss":
                raise self.fail(f"{name} applies to rediss:// (TLS) URLs only")
            if name in SENTINEL_OPTIONS and not self.sentinel:
                raise self.fail(f"{name} applies to redis+sentinel:// URLs only")
            value = unquote(raw_value)
            if not value:
                raise self.fail(f"the option {name} is empty")
            parse, expected = spec
            try:
                options[name] = parse(value)
            except (TypeError, ValueError):
                shown = "" if secret else f", not {value!r}"
                raise self.fail(f"{name} must be {expected}{shown}") from None
        return options

    def agree_with_redis_py(self, parsed: RedisURL, plain: str | None = None) -> None:
        """Last guard: redis-py reads the same host, port and database, or the URL is refused."""
        from redis.connection import parse_url as redis_parse_url

        if plain is None:
            plain = self.url.replace("+cluster://", "://", 1)
        try:
            read: dict[str, Any] = redis_parse_url(plain)  # type: ignore[no-untyped-call]
        except (TypeError, ValueError):
            raise self.fail("redis-py cannot read it") from None
        if parsed.host:
            same = (
                str(read.get("host", "")).lower() == parsed.host.lower()
                and int(read.get("port") or 6379) == parsed.port
                and int(read.get("db") or 0) == parsed.db
            )
        else:
            same = read.get("path") == parsed.path and int(read.get("db") or 0) == parsed.db
        if not same:
            raise self.fail(
                "redis-py would read it differently (percent-encode special characters)"
            )


def node_url(parsed: RedisURL, url: str) -> str:
    """For a Sentinel URL: the URL redis-py reads the data nodes' options from (user, password,
    database, TLS and socket options), on the first Sentinel's address, which the primary's
    replaces once Sentinel names it."""
    rest = url.partition("://")[2]
    end = min((i for i in (rest.find(c) for c in "/?") if i >= 0), default=len(rest))
    userinfo, at, _ = rest[:end].rpartition("@")
    query = rest[end:].partition("?")[2]
    items = [
        i for i in query.split("&") if i and unquote(i.partition("=")[0]) not in SENTINEL_OPTIONS
    ]
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    tail = f"?{'&'.join(items)}" if items else ""
    return (
        f"{parsed.scheme.partition('+')[0]}://{userinfo}{at}{host}:{parsed.port}/{parsed.db}{tail}"
    )


# -- the query options redis-py reads -----------------------------------------------------------


def _whole(low: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if not _DIGITS.fullmatch(value) or int(value) < low:
            raise ValueError(value)
        return int(value)

    return parse


#: The longest socket timeout a URL may ask for: a day (1e300 would overflow a timer).
MAX_SOCKET_SECONDS = 86_400


def _seconds(value: str) -> float:
    number = float(value)
    if not (math.isfinite(number) and 0 < number <= MAX_SOCKET_SECONDS):
        raise ValueError(value)
    return number


def _flag(value: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(value)


def _text(value: str) -> str:
    return value


def _word(value: str) -> str:
    # CLIENT SETNAME / SETINFO refuse spaces and special characters on every connection.
    if not re.fullmatch(r"[!-~]+", value):
        raise ValueError(value)
    return value


def _known(lookup: Callable[[str], object]) -> Callable[[str], str]:
    """A check of a name codecs knows (lookup raises LookupError for any other)."""

    def check(value: str) -> str:
        try:
            lookup(value)
        except LookupError:
            raise ValueError(value) from None
        return value

    return check


def _protocol(value: str) -> int:
    if value not in ("2", "3"):
        raise ValueError(value)
    return int(value)


def _verify_flags(value: str) -> list[ssl.VerifyFlags]:
    names = [n.strip() for n in value.replace("[", "").replace("]", "").split(",")]
    if not all(names) or not all(n in ssl.VerifyFlags.__members__ for n in names):
        raise ValueError(value)
    return [ssl.VerifyFlags[n] for n in names]


def _tls_version(value: str) -> int:
    version = _whole(0)(value)
    ssl.TLSVersion(version)  # ValueError for a number that names no version
    return version


def _cert_reqs(value: str) -> str:
    if value.lower() not in ("none", "optional", "required"):
        raise ValueError(value)
    return value.lower()


#: Query option -> (parser, what it must be). The names redis-py's parse_url reads with a type
#: (URL_QUERY_ARGUMENT_PARSERS), and the text options its connections accept.
OPTIONS: dict[str, tuple[Callable[[str], Any], str]] = {
    "db": (_whole(0), "a database number (0 or more)"),
    "socket_timeout": (_seconds, "a positive, finite number of seconds, at most 86400"),
    "socket_connect_timeout": (_seconds, "a positive, finite number of seconds, at most 86400"),
    "socket_read_size": (_whole(1), "a whole number of bytes (1 or more)"),
    "socket_keepalive": (_flag, "true or false"),
    "retry_on_timeout": (_flag, "true or false"),
    "max_connections": (_whole(1), "a whole number (1 or more)"),
    "health_check_interval": (_whole(1), "a whole number of seconds (1 or more)"),
    "protocol": (_protocol, "2 or 3"),
    "legacy_responses": (_flag, "true or false"),
    "username": (_text, "text"),
    "password": (_text, "text"),
    "client_name": (_word, "printable ASCII without spaces"),
    "encoding": (_known(codecs.lookup), "a Python codec name"),
    "encoding_errors": (
        _known(codecs.lookup_error),
        "a Python error handler (strict, replace, ...)",
    ),
    "ssl_check_hostname": (_flag, "true or false"),
    "ssl_include_verify_flags": (_verify_flags, "names of ssl.VerifyFlags, comma-separated"),
    "ssl_exclude_verify_flags": (_verify_flags, "names of ssl.VerifyFlags, comma-separated"),
    "ssl_min_version": (_tls_version, "an ssl.TLSVersion number"),
    "ssl_cert_reqs": (_cert_reqs, "none, optional or required"),
    "ssl_keyfile": (_text, "a file name"),
    "ssl_certfile": (_text, "a file name"),
    "ssl_ca_certs": (_text, "a file name"),
    "ssl_ca_path": (_text, "a directory name"),
    "ssl_ca_data": (_text, "PEM text"),
    "ssl_password": (_text, "text"),
    "ssl_ciphers": (_text, "an OpenSSL cipher list"),
}

#: Options of a Sentinel URL only: how to log in to the Sentinels themselves (the user info
#: and password= are the data nodes'). Sentinel's own ACL user is optional, its password too.
SENTINEL_OPTIONS: dict[str, tuple[Callable[[str], Any], str]] = {
    "sentinel_username": (_text, "text"),
    "sentinel_password": (_text, "text"),
}
OPTIONS.update(SENTINEL_OPTIONS)

#: Options redis-py would take from a URL but that cannot work here, and why.
REFUSED = {
    "decode_responses": "cachectl stores bytes",
    "retry_on_error": "redis-py would read it as a list of letters",
    "timeout": "it is not a connection option; use socket_timeout",
    "lib_name": "redis-py deprecates it and would warn on every connection",
    "lib_version": "redis-py deprecates it and would warn on every connection",
    "ssl_validate_ocsp": "redis-py would read any value, even 'false', as true",
    "ssl_validate_ocsp_stapled": "redis-py would read any value, even 'false', as true",
}
