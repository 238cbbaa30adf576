"""The three endpoint-list formats, read into entries as written: plain text, sitemap XML, JSON.

Plain text: one path or absolute URL per line, optionally after a method, '#' comments,
numeric ranges ('/items?page={1..20}'). Sitemap: a <urlset> of <url><loc>. JSON Lines: one
object per line with url and optionally method, header(s) and a base64 body (vegeta's format).
Every problem is a ConfigError starting 'file:line:'. Pure: no I/O, no environment.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from cachectl.errors import ConfigError
from cachectl.warm.headers import check_header_name, check_header_value
from cachectl.warm.origins import http_parts
from cachectl.warm.ranges import expand_ranges

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
JSON_KEYS = frozenset({"method", "url", "header", "headers", "body"})

_COMMENT = re.compile(r"(^|\s)#.*")


@dataclass(frozen=True, slots=True)
class Entry:
    """One request as the file states it: the URL may still be a path; header values raw."""

    method: str
    url: str
    line: int
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    body: bytes | None = field(default=None, repr=False)


def detect_format(name: str, text: str) -> str:
    """'sitemap', 'json' or 'text', from the first meaningful line and the file name."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("<"):
            return "sitemap"
        if stripped.startswith(("{", "[")):
            return "json"
        break
    return "json" if name.lower().endswith(JSON_SUFFIXES) else "text"


def parse_entries(name: str, text: str) -> list[Entry]:
    """The entries of one endpoint file, whatever its format."""
    kind = detect_format(name, text)
    if kind == "sitemap":
        return parse_sitemap(name, text)
    if kind == "json":
        return parse_json_lines(name, text)
    return parse_text(name, text)


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def check_url(url: str, where: str) -> str:
    """The URL if it is a path starting with '/' or an absolute http(s) URL with a host."""
    if url.startswith("/") and not url.startswith("//"):
        return url
    if http_parts(url, f"{where}: {_shorten(url)!r}") is None:
        raise ConfigError(
            f"{where}: expected a path starting with '/' or an http(s):// URL, "
            f"not {_shorten(url)!r}"
        )
    return url


def parse_text(name: str, text: str) -> list[Entry]:
    """Entries from '[METHOD] path-or-URL' lines, ranges expanded."""
    entries: list[Entry] = []
    for number, raw in enumerate(text.splitlines(), 1):
        where = f"{name}:{number}"
        fields = _COMMENT.sub("", raw).split()
        if not fields:
            continue
        if len(fields) > 2:
            raise ConfigError(
                f"{where}: expected '[METHOD] PATH' but found {len(fields)} words "
                "(encode spaces in URLs as %20)"
            )
        method = "GET"
        if len(fields) == 2:
            method = fields[0].upper()
            if method not in METHODS:
                raise ConfigError(
                    f"{where}: unknown method {_shorten(fields[0], 20)!r} "
                    f"(use one of {', '.join(sorted(METHODS))})"
                )
        elif fields[0].upper() in METHODS:
            raise ConfigError(f"{where}: {fields[0]} needs a path or URL after it")
        template = fields[-1]
        try:
            urls = list(expand_ranges(template))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        check_url(urls[0], where)
        entries.extend(Entry(method, url, number) for url in urls)
    return entries


def parse_sitemap(name: str, text: str) -> list[Entry]:
    """GET entries from a sitemap <urlset>; a <sitemapindex> is an error."""
    parser = expat.ParserCreate(namespace_separator=" ")
    # No external entities or DTDs: a sitemap needs neither.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    entries: list[Entry] = []
    stack: list[str] = []
    loc: list[str] | None = None
    loc_line = 0

    def start(tag: str, _attributes: dict[str, str]) -> None:
        nonlocal loc, loc_line
        local = tag.rpartition(" ")[2]
        if not stack:
            if local == "sitemapindex":
                raise ConfigError(
                    f"{name}:{parser.CurrentLineNumber}: this is a sitemap index; "
                    "pass the sitemap files it lists instead"
                )
            if local != "urlset":
                raise ConfigError(
                    f"{name}:{parser.CurrentLineNumber}: expected a sitemap <urlset>, "
                    f"found <{_shorten(local, 30)}>"
                )
        if local == "loc" and stack and stack[-1] == "url":
            loc, loc_line = [], parser.CurrentLineNumber
        stack.append(local)

    def characters(data: str) -> None:
        if loc is not None:
            loc.append(data)

    def end(_tag: str) -> None:
        nonlocal loc
        stack.pop()
        if loc is not None:
            url = "".join(loc).strip()
            where = f"{name}:{loc_line}"
            if not url:
                raise ConfigError(f"{where}: empty <loc>")
            if check_url(url, where).startswith("/"):
                raise ConfigError(f"{where}: a sitemap <loc> must be an absolute URL")
            entries.append(Entry("GET", url, loc_line))
            loc = None

    parser.StartElementHandler = start
    parser.CharacterDataHandler = characters
    parser.EndElementHandler = end
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        message = expat.ErrorString(exc.code) if exc.code is not None else str(exc)
        raise ConfigError(f"{name}:{exc.lineno}: malformed XML: {message}") from None
    return entries


def parse_json_lines(name: str, text: str) -> list[Entry]:
    """Entries from one JSON object per line (vegeta's -format=json targets)."""
    entries: list[Entry] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        where = f"{name}:{number}"
        if not entries and raw.lstrip().startswith("["):
            raise ConfigError(f"{where}: expected one JSON object per line, not a JSON array")
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected one JSON object per line (JSON Lines)")
        entries.append(_json_entry(item, number, where))
    return entries


def _json_entry(item: dict[str, Any], number: int, where: str) -> Entry:
    unknown = sorted(set(item) - JSON_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))} "
            f"(expected {', '.join(sorted(JSON_KEYS))})"
        )
    url = item.get("url")
    if not isinstance(url, str) or not url:
        raise ConfigError(f"{where}: 'url' must be a non-empty string")
    method = item.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ConfigError(f"{where}: 'method' must be one of {', '.join(sorted(METHODS))}")
    if "header" in item and "headers" in item:
        raise ConfigError(f"{where}: give 'header' or 'headers', not both")
    headers = _json_headers(item.get("header", item.get("headers", {})), where)
    body = item.get("body")
    if body is not None:
        if not isinstance(body, str):
            raise ConfigError(f"{where}: 'body' must be a base64 string")
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(
                f"{where}: 'body' is not valid base64 (bodies are base64-encoded, as in vegeta)"
            ) from None
    return Entry(method.upper(), check_url(url, where), number, headers, body)


def _json_headers(raw: object, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: 'header' must be an object of name -> value(s)")
    headers: list[tuple[str, str]] = []
    for name, values in raw.items():
        check_header_name(name, where)
        for value in values if isinstance(values, list) else [values]:
            if not isinstance(value, str):
                raise ConfigError(f"{where}: the value(s) of header {name!r} must be strings")
            headers.append((name, check_header_value(name, value, where)))
    return tuple(headers)
