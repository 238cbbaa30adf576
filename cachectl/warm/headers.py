"""Request headers and variants from 'Name: value' text, with ${VAR} taken from the environment.

Header values may be secrets, so no message here ever quotes one; only names are shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from cachectl.errors import ConfigError

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 5.5 field-value, ASCII only: visible characters, with spaces and tabs inside.
_FIELD_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20\x21-\x7e\t]*[\x21-\x7e])?)?")
MAX_VALUE_LENGTH = 16_384
_ENV_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_header_name(name: str, where: str) -> str:
    """The name if it is a valid HTTP header name, else ConfigError naming the place.

    An invalid name is not quoted: it may be a value typed without its 'Name:'.
    """
    if not name:
        raise ConfigError(f"{where}: the header name is empty")
    if not _TOKEN.fullmatch(name):
        position, char = next((i, c) for i, c in enumerate(name, 1) if not _TOKEN.fullmatch(c))
        what = repr(char) if char.isascii() and not char.isalnum() else "a character"
        raise ConfigError(
            f"{where}: not a valid header name: {what} at position {position} is not allowed"
        )
    return name


def check_header_value(name: str, value: str, where: str) -> str:
    """The value if HTTP allows it (visible ASCII, spaces and tabs), else ConfigError.

    Checked here rather than left to h11, whose message for an illegal value quotes it.
    """
    if "\r" in value or "\n" in value or "\0" in value:
        raise ConfigError(f"{where}: the value of header {name!r} contains a line break")
    if not value.isascii():
        raise ConfigError(f"{where}: the value of header {name!r} is not ASCII")
    if len(value) > MAX_VALUE_LENGTH:
        raise ConfigError(
            f"{where}: the value of header {name!r} is longer than {MAX_VALUE_LENGTH} characters"
        )
    if not _FIELD_VALUE.fullmatch(value):
        raise ConfigError(f"{where}: the value of header {name!r} contains a control character")
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
