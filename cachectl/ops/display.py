"""Names and values made fit for a terminal or a text format, the one escaping every output
uses: control characters, bidi overrides and bytes that are not UTF-8 appear as visible
escapes (\\x1b, \\u202e, \\xff). Pure, no I/O, no Rich.
"""

from __future__ import annotations

import re

#: Characters a terminal acts on or that reorder or hide text: the Unicode categories Cc
#: (C0 and C1 controls, ESC, CR, backspace), Cf (bidi overrides and isolates, zero-width
#: characters, soft hyphen), Cs (lone surrogates: bytes that were not UTF-8), Zl and Zp.
HIDDEN = re.compile(
    r"[\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    r"\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff"
    r"\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    r"\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def visible(match: re.Match[str]) -> str:
    """The escape that shows one HIDDEN character."""
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # a byte that was not UTF-8 (surrogateescape)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def safe(text: str | bytes, newlines: bool = False) -> str:
    """text fit for a terminal: controls, bidi and format characters and bytes that are not
    UTF-8 shown as escapes (\\x1b, \\u202e, \\xff); line breaks kept only with newlines."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    if text.isprintable():  # the common case, in C: nothing HIDDEN can be in it
        return text
    if newlines:
        return "\n".join(HIDDEN.sub(visible, part) for part in text.split("\n"))
    return HIDDEN.sub(visible, text)


#: One unit of a safe() text that shortening must not cut: an escape (with an ANSI control
#: sequence's parameters: '\\x1b[2J'), else one character.
ESCAPE = re.compile(
    r"\\x1b\[[0-9;?]*[ -/]*[@-~]|\\x[0-9a-f]{2}|\\u[0-9a-f]{4}|\\U[0-9a-f]{8}|\\[tnr]|.",
    re.DOTALL,
)
