"""Numeric brace ranges in endpoint lines: '/items?page={1..20}' is twenty paths. Pure."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

MAX_EXPANSION = 100_000  # paths one line may expand to

_RANGE = re.compile(r"\{(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?\}")


def _padded(number: str) -> bool:
    digits = number.lstrip("-")
    return len(digits) > 1 and digits.startswith("0")


def _values(match: re.Match[str]) -> list[str]:
    start, end = int(match[1]), int(match[2])
    step = abs(int(match[3])) if match[3] is not None else 1
    if step == 0:
        raise ValueError(f"range {match[0]} has a step of 0")
    count = abs(end - start) // step + 1
    if count > MAX_EXPANSION:
        raise ValueError(f"range {match[0]} has {count} values (at most {MAX_EXPANSION})")
    numbers = range(start, end + 1, step) if start <= end else range(start, end - 1, -step)
    # bash keeps the width of zero-padded bounds: {01..10} gives 01, 02, ... 10
    width = max(len(match[1]), len(match[2])) if _padded(match[1]) or _padded(match[2]) else 0
    return [f"{n:0{width}d}" for n in numbers]


def expand_ranges(template: str) -> Iterator[str]:
    """Every string the template's {START..END[..STEP]} ranges make, the first range outermost.

    Raises ValueError (with a message naming the range) for a brace that is not a range or
    an expansion larger than MAX_EXPANSION.
    """
    if "{" not in template and "}" not in template:
        return iter((template,))
    pieces: list[str] = []
    choices: list[list[str]] = []
    position = 0
    total = 1
    for brace in re.finditer(r"[{}]", template):
        if brace.start() < position:
            continue
        match = _RANGE.match(template, brace.start())
        if brace[0] == "}" or match is None:
            fragment = template[brace.start() : brace.start() + 20]
            raise ValueError(
                f"malformed range at {fragment!r}: expected {{START..END}} with whole numbers"
            )
        pieces.append(template[position : match.start()])
        choices.append(_values(match))
        total *= len(choices[-1])
        if total > MAX_EXPANSION:
            raise ValueError(f"the ranges expand to {total}+ paths (at most {MAX_EXPANSION})")
        position = match.end()
    tail = template[position:]
    return (
        "".join(itertools.chain.from_iterable(zip(pieces, combo, strict=True))) + tail
        for combo in itertools.product(*choices)
    )
