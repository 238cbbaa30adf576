"""Request headers and variants from 'Name: value' text, with ${VAR} taken from the environment.

Header values may be secrets, so no message here ever quotes one; only names are shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from cachectl.errors import ConfigError

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ENV_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_header_name(name: str, where: str) -> str:
    """The name if it is a valid HTTP header name, else ConfigError naming the place."""
    if not _TOKEN.fullmatch(name):
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise ConfigError(f"{where}: {shown!r} is not a valid header name")
    return name


def check_header_value(name: str, value: str, where: str) -> str:
    """The value unless it has a line break (which would forge headers) or is not ASCII."""
    if "\r" in value or "\n" in value or "\0" in value:
        raise ConfigError(f"{where}: the value of header {name!r} contains a line break")
    if not value.isascii():
        raise ConfigError(f"{where}: the value of header {name!r} is not ASCII")
    return value


def split_header(text: str, where: str) -> tuple[str, str]:
    """('Name', 'value') from 'Name: value'; the value is left unexpanded."""
    name, colon, value = text.partition(":")
    if not colon:
        raise ConfigError(f"{where}: expected 'Name: value'")
    name = check_header_name(name.strip(), where)
    return name, check_header_value(name, value.strip(), where)


def expand_env(name: str, value: str, where: str, environ: Mapping[str, str]) -> str:
    """The value with each ${VAR} replaced from the environment; an unset one is ConfigError."""
    if "${" not in value:
        return value

    def substitute(reference: re.Match[str]) -> str:
        variable = reference[1]
        if not _ENV_NAME.fullmatch(variable):
            raise ConfigError(
                f"{where}: header {name!r} refers to ${{{variable}}}, "
                "which is not an environment variable name"
            )
        if variable not in environ:
            raise ConfigError(
                f"{where}: header {name!r} needs environment variable {variable}, which is not set"
            )
        return environ[variable]

    # Whitespace around a header value is not part of it (RFC 9110 5.5), and h11 would refuse
    # it with an error message that quotes the value: strip it here.
    return check_header_value(name, _ENV_REFERENCE.sub(substitute, value).strip(), where)


def parse_variant(text: str, where: str) -> tuple[str, tuple[str, ...]]:
    """('Accept-Language', ('en', 'de')) from 'Accept-Language: en,de'."""
    name, values = split_header(text, where)
    choices = tuple(value.strip() for value in values.split(","))
    if not values or any(not choice for choice in choices):
        raise ConfigError(f"{where}: expected 'Name: value1,value2' with non-empty values")
    if len({choice for choice in choices}) != len(choices):
        raise ConfigError(f"{where}: variant {name!r} lists a value twice")
    return name, choices


def expand_headers(texts: Sequence[str], environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """(name, value) pairs from '--header' strings, ${VAR} references filled in."""
    pairs: list[tuple[str, str]] = []
    for number, text in enumerate(texts, 1):
        where = f"--header #{number}"
        name, value = split_header(text, where)
        pairs.append((name, expand_env(name, value, where, environ)))
    return tuple(pairs)
