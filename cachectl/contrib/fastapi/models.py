"""What a request says: the JSON bodies (pydantic models, every number bounded as the command
line's options are) and the checks of query fields that name keys or a selection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field

from cachectl.contrib.fastapi.errors import bad_request
from cachectl.keys import KEY_ERRORS
from cachectl.ops import selection as sel
from cachectl.ops.connect import Connection
from cachectl.ops.edit import MAX_TTL
from cachectl.ops.flush import MAX_LIMIT, MAX_RATE

#: Named keys one flush request may list.
MAX_NAMED = 1000
#: Longest key accepted in a request, in bytes.
MAX_KEY = 65_536
SELECTORS = ("prefix", "tag", "pattern")


class Selector(BaseModel):
    """What a flush acts on: exactly one of prefix, pattern, tag, keys, all."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    prefix: str | None = None
    pattern: str | None = None
    tag: str | None = None
    keys: list[str] | None = Field(None, max_length=MAX_NAMED)
    everything: bool = Field(False, alias="all", strict=True)
    max_keys: int | None = Field(None, ge=0, le=MAX_LIMIT, strict=True)

    def selection(self, conn: Connection) -> sel.Selection:
        """The ops selection, by the command line's rules."""
        return sel.select(
            conn.keys,
            prefix=self.prefix,
            pattern=self.pattern,
            tag=self.tag,
            keys=self.keys or (),
            everything=self.everything,
        )

    def confirm_text(self, conn: Connection, selection: sel.Selection) -> str:
        """What the user types to confirm: the namespace's name for a selection that covers it
        all (ops' rule, as on the command line), else the prefix, pattern or tag, or 'N named
        keys'."""
        if selection.whole:
            return conn.keys.namespace
        if self.prefix is not None:
            return self.prefix
        if self.pattern is not None:
            return self.pattern
        if self.tag is not None:
            return self.tag
        # The keys named, not those that exist now (the preview's count): typed text that an
        # expiry between preview and flush would change would refuse the flush.
        n = len(selection.keys)
        return f"{n} named key{'' if n == 1 else 's'}"


class FlushRequest(Selector):
    """A flush: the selection, the typed confirmation, and an optional limit."""

    # Missing: a 409 that says what to type, as a wrong one is.
    confirm: str | None = Field(None, max_length=MAX_KEY)
    # Keys a second at most, as `cachectl flush --rate`.
    rate: float | None = Field(None, ge=1.0, le=MAX_RATE, strict=True, allow_inf_nan=False)


class TtlRequest(BaseModel):
    """A new TTL for one key (null: no expiry)."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, max_length=MAX_KEY)
    key_hex: str | None = Field(None, max_length=2 * MAX_KEY)
    ttl: float | None = Field(gt=0, le=MAX_TTL, strict=True, allow_inf_nan=False)


class LatencyRequest(BaseModel):
    """A latency probe's size."""

    model_config = ConfigDict(extra="forbid")

    samples: int = Field(20, ge=1, le=1000, strict=True)


@dataclass(frozen=True, slots=True)
class KeyFilter:
    """What the key browser shows: ?prefix=, ?pattern= or ?tag=; an empty field is no filter,
    and no filter is every entry."""

    prefix: str | None
    pattern: str | None
    tag: str | None

    def selection(self, conn: Connection) -> sel.Selection:
        """The ops selection (one filter at most, by the command line's rules)."""
        return sel.select(
            conn.keys,
            prefix=self.prefix or None,
            pattern=self.pattern or None,
            tag=self.tag or None,
            required=False,
        )


def key_filter(
    prefix: str | None = None, pattern: str | None = None, tag: str | None = None
) -> KeyFilter:
    """The KeyFilter of a request's query."""
    return KeyFilter(prefix, pattern, tag)


#: A route's parameter for the key browser's filter.
Filter = Annotated[KeyFilter, Depends(key_filter)]


def flush_selection(params: list[tuple[str, str]]) -> tuple[Selector, str | None]:
    """The selection of a /flush request (?prefix= | ?tag= | ?pattern=) and its ?confirm=; 422
    for an unknown or repeated parameter (the rest is checked by ops.selection.select, as
    `cachectl flush` is)."""
    names = [name for name, _ in params]
    unknown = sorted({name for name in names if name not in (*SELECTORS, "confirm")})
    if unknown:
        raise bad_request(
            f"unknown query parameter {unknown[0]!r}: give one of prefix, tag, pattern"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise bad_request(f"{repeated[0]} is given more than once")
    given = dict(params)
    confirm = given.pop("confirm", None)
    if not given:
        raise bad_request("choose what to flush: give one of prefix, tag, pattern")
    return Selector.model_validate(given), confirm


def app_key(key: str | None, key_hex: str | None) -> bytes:
    """The exact bytes named by key (text) or key_hex; 422 unless exactly one is given."""
    if (key is None) == (key_hex is None):
        raise bad_request("give the key as key (text) or key_hex (its bytes in hex), not both")
    if key_hex is not None:
        try:
            raw = bytes.fromhex(key_hex)
        except ValueError:
            raise bad_request("key_hex is not hexadecimal") from None
    else:
        raw = (key or "").encode("utf-8", KEY_ERRORS)
    if not raw or len(raw) > MAX_KEY:
        raise bad_request(f"a key has 1 to {MAX_KEY} bytes")
    return raw
