"""Endpoint files -> the list of targets to request: base URL joined, variants multiplied.

Everything is read and checked here, before the first request is sent.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from cachectl.config import read_limited
from cachectl.errors import ConfigError
from cachectl.warm.formats import Entry, parse_entries
from cachectl.warm.headers import expand_env, parse_variant, split_header
from cachectl.warm.options import WarmOptions

MAX_TARGETS = 1_000_000
#: Bytes an endpoint file may hold (a million targets of about 100 bytes each fit).
MAX_ENDPOINT_FILE = 128 * 1024 * 1024

Variant = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Target:
    """One request sent once per pass; header values are kept out of repr and reports."""

    method: str
    url: str
    source: str
    variant: Variant = ()
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    body: bytes | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """'GET http://host/path [Accept-Language=de]', for reports and test names."""
        if not self.variant:
            return f"{self.method} {self.url}"
        shown = ", ".join(f"{name}={value}" for name, value in self.variant)
        return f"{self.method} {self.url} [{shown}]"


def read_endpoint_file(path: str | os.PathLike[str]) -> str:
    """The text of an endpoint file; a missing, non-UTF-8 or endless file (more than
    MAX_ENDPOINT_FILE bytes: /dev/zero) is ConfigError."""
    try:
        data = read_limited(path, MAX_ENDPOINT_FILE, "endpoint file")
    except FileNotFoundError:
        raise ConfigError(f"{os.fspath(path)}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{os.fspath(path)}: is a directory, not an endpoint file") from None
    except OSError as exc:
        raise ConfigError(f"{os.fspath(path)}: cannot read it ({exc.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{os.fspath(path)}:{line}: not UTF-8 text") from None


def variant_choices(options: WarmOptions) -> list[Variant]:
    """Every combination of the --variant values, one (name, value) per variant header."""
    taken = {split_header(text, "--header")[0].lower() for text in options.headers}
    axes: list[list[tuple[str, str]]] = []
    for number, text in enumerate(options.variants, 1):
        name, values = parse_variant(text, f"--variant #{number}")
        if name.lower() in taken:
            raise ConfigError(f"--variant #{number}: header {name!r} is given more than once")
        taken.add(name.lower())
        axes.append([(name, value) for value in values])
    return [tuple(combo) for combo in itertools.product(*axes)]


def _resolve(entry: Entry, source: str, base_url: str | None) -> str:
    url = entry.url
    if url.startswith("/"):
        if base_url is None:
            raise ConfigError(f"{source}: {url[:60]!r} is a path, so --base-url is needed")
        url = base_url + url
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"{source}: not a valid URL ({exc})") from None
    return url


def load_targets(
    files: Sequence[str | os.PathLike[str]],
    options: WarmOptions,
    environ: Mapping[str, str] | None = None,
) -> list[Target]:
    """Parse every endpoint file and build the targets, or raise ConfigError ('file:line: ...')."""
    if not files:
        raise ConfigError("no endpoint files given")
    environ = os.environ if environ is None else environ
    variants = variant_choices(options)
    base_url = options.effective_base_url
    targets: list[Target] = []
    for path in files:
        name = os.fspath(path)
        for entry in parse_entries(name, read_endpoint_file(path)):
            source = f"{name}:{entry.line}"
            headers = tuple(
                (key, expand_env(key, value, source, environ)) for key, value in entry.headers
            )
            url = _resolve(entry, source, base_url)
            for variant in variants:
                targets.append(Target(entry.method, url, source, variant, headers, entry.body))
            if len(targets) > MAX_TARGETS:
                raise ConfigError(f"{source}: more than {MAX_TARGETS} targets in all")
    if not targets:
        raise ConfigError(f"no endpoints in {', '.join(os.fspath(p) for p in files)}")
    return targets
