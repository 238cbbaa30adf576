"""The JSON form of an operation's result: its named attributes, in the order given."""

from __future__ import annotations

from typing import Any


def record(obj: object, *names: str, **more: Any) -> dict[str, Any]:
    """{name: obj.name} for each of names, then more (renamed or computed entries)."""
    return {name: getattr(obj, name) for name in names} | more
