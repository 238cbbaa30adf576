"""Where `--header` values may go: the --base-url origin and the --header-origin ones only.

An endpoint file or sitemap may name any host in an absolute URL; a token meant for the
application under test must not travel there. An origin is scheme, host and port (RFC 6454).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

import httpx

from cachectl.errors import ConfigError

OriginKey = tuple[str, str, int]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_key(url: httpx.URL) -> OriginKey:
    """(scheme, host, port) of a URL, the default port filled in."""
    scheme = url.scheme.lower()
    port = url.port if url.port is not None else _DEFAULT_PORTS.get(scheme, 0)
    return scheme, url.host.lower(), port


def origin_name(key: OriginKey) -> str:
    """'https://host:port' (the default port left out), for messages."""
    scheme, host, port = key
    shown = f"[{host}]" if ":" in host else host
    return (
        f"{scheme}://{shown}"
        if _DEFAULT_PORTS.get(scheme) == port
        else f"{scheme}://{shown}:{port}"
    )


def http_parts(url: str, label: str) -> SplitResult | None:
    """url split, when it is an http:// or https:// URL with a host (else None); a text that is
    no URL at all is a ConfigError: '<label> is not a URL (...)'."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError(f"{label} is not a URL ({exc})") from None
    return parts if parts.scheme in ("http", "https") and parts.hostname else None


def parse_origin(text: str, where: str) -> OriginKey:
    """The origin 'scheme://host[:port]' names; anything more (a path, a query) is ConfigError."""
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"{where}: not a URL ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"{where}: expected an origin such as https://api.example.com:8443")
    if url.userinfo or url.query or url.fragment or url.path not in ("", "/"):
        raise ConfigError(f"{where}: an origin is scheme://host[:port], with nothing after it")
    return origin_key(url)


class HeaderPolicy:
    """Which origins get the `--header` values; requests elsewhere are sent without them."""

    __slots__ = ("allowed",)

    def __init__(self, allowed: Iterable[OriginKey]) -> None:
        self.allowed = frozenset(allowed)

    def allows(self, url: httpx.URL) -> bool:
        """Whether the `--header` values may be sent with a request to this URL."""
        return origin_key(url) in self.allowed

    @property
    def names(self) -> list[str]:
        """The allowed origins, for reports."""
        return sorted(origin_name(key) for key in self.allowed)
