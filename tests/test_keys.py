"""Key layout, glob escaping and decorator key derivation (pure, no Redis)."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachectl import ConfigError
from cachectl.keys import (
    KeySpace,
    argument_digest,
    bind_arguments,
    check_namespace,
    escape_glob,
    function_key,
    glob_match,
    namespace_of,
    to_bytes,
)

pytestmark = pytest.mark.usefixtures("watchdog")

# -- layout -------------------------------------------------------------------------------------


def test_full_key_is_namespace_colon_key() -> None:
    space = KeySpace("shop")
    assert space.full("dashboard:eu") == b"shop:dashboard:eu"
    assert space.full(b"raw\xff") == b"shop:raw\xff"
    assert space.app(b"shop:dashboard:eu") == b"dashboard:eu"


def test_bookkeeping_keys_are_outside_the_data_glob() -> None:
    space = KeySpace("shop")
    assert space.tag("user:42") == b"shop#tag:{user:42}"
    assert space.stats_key == b"shop#stats"
    assert not glob_match(space.data_glob, space.tag("user:42"))
    assert not glob_match(space.data_glob, space.stats_key)
    assert glob_match(space.tag_glob, space.tag("user:42"))
    assert space.tag_name(space.tag("user:42")) == "user:42"


@pytest.mark.parametrize("namespace", ["app", "my-app.v2", "a_b", "V2", "shop.v2"])
def test_valid_namespaces(namespace: str) -> None:
    assert check_namespace(namespace) == namespace


@pytest.mark.parametrize(
    "namespace",
    ["", "a b", "a*", "a?", "a[b]", "a\\b", "a#b", "a:", ":a", "a::b", "app:v2", "ä", "a\x1b[0m"],
)
def test_invalid_namespaces_raise_config_error(namespace: str) -> None:
    with pytest.raises(ConfigError, match="letters, digits"):
        check_namespace(namespace)


def test_a_colon_namespace_is_refused_with_a_way_out() -> None:
    with pytest.raises(ConfigError) as caught:
        check_namespace("shop:v2")
    assert "'shop.v2'" in str(caught.value)
    assert "shop:v2" in str(caught.value)


# Every glob and bookkeeping key one namespace builds, against every key another could own.
NAMESPACES = st.text(alphabet="ab.-_", min_size=1, max_size=4)
APP_KEYS = st.binary(max_size=6) | st.text(alphabet="ab:#*?[]{}", max_size=6).map(str.encode)


@settings(max_examples=300, deadline=None)
@given(mine=NAMESPACES, theirs=NAMESPACES, key=APP_KEYS, pattern=APP_KEYS, tag=st.text(max_size=4))
def test_no_glob_of_one_namespace_matches_another_namespaces_keys(
    mine: str, theirs: str, key: bytes, pattern: bytes, tag: str
) -> None:
    if mine == theirs:
        return
    a, b = KeySpace(mine), KeySpace(theirs)
    theirs_keys = [b.full(key), b.tag(tag), b.stats_key]
    globs = [a.data_glob, a.tag_glob, a.glob(pattern), *a.prefix_globs(key or b"p")]
    if key.rstrip(b":"):
        globs.append(a.prefix_selection(key)[1])
    assert not [(g, k) for g in globs for k in theirs_keys if glob_match(g, k)]
    assert {a.stats_key, a.tag(tag), a.full(key)}.isdisjoint(theirs_keys)
    assert {namespace_of(k) for k in theirs_keys} == {theirs}


def test_str_keys_are_utf8_and_other_types_are_refused() -> None:
    assert to_bytes("é") == "é".encode()
    with pytest.raises(TypeError):
        to_bytes(42)  # type: ignore[arg-type]


# -- glob escaping ------------------------------------------------------------------------------

# Redis's stringmatchlen (util.c), restricted to the well-formed patterns the generator below
# produces and to non-empty keys (an empty key matches only '' and '*': tested against a real
# server in test_glob_redis.py); an oracle independent of cachectl.keys.
TOKENS = st.one_of(
    st.just((b"*", b".*")),
    st.just((b"?", b".")),
    st.sampled_from(list(b"ab: \xff\x00-^")).map(lambda c: (bytes([c]), re.escape(bytes([c])))),
    st.sampled_from(list(b"*?[]\\")).map(lambda c: (b"\\" + bytes([c]), re.escape(bytes([c])))),
    st.tuples(st.booleans(), st.lists(st.sampled_from(list(b"ab:*]\\-^ \xff")), min_size=1)).map(
        lambda t: (
            b"[" + (b"^" if t[0] else b"") + b"".join(b"\\" + bytes([c]) for c in t[1]) + b"]",
            b"[" + (b"^" if t[0] else b"") + b"".join(re.escape(bytes([c])) for c in t[1]) + b"]",
        )
    ),
)


def _pattern(tokens: list[tuple[bytes, bytes]]) -> tuple[bytes, re.Pattern[bytes]]:
    glob = b"".join(t[0] for t in tokens)
    regex = b"".join(t[1] for t in tokens)
    return glob, re.compile(b"(?s)\\A" + regex + b"\\Z")


KEYS = st.binary(max_size=8) | st.lists(st.sampled_from(list(b"ab:*?[]\\ \xff")), max_size=8).map(
    bytes
)


@settings(max_examples=300, deadline=None)
@given(tokens=st.lists(TOKENS, max_size=6), key=KEYS.filter(bool))
def test_glob_match_agrees_with_redis_semantics(
    tokens: list[tuple[bytes, bytes]], key: bytes
) -> None:
    glob, oracle = _pattern(tokens)
    assert glob_match(glob, key) == bool(oracle.match(key))


@settings(max_examples=300, deadline=None)
@given(text=KEYS, other=KEYS)
def test_escaped_text_matches_only_itself(text: bytes, other: bytes) -> None:
    escaped = escape_glob(text)
    assert glob_match(escaped, text)
    assert glob_match(escaped, other) == (other == text)


@pytest.mark.parametrize(
    ("prefix", "exact", "below"),
    [
        ("dashboard", b"ns:dashboard", b"ns:dashboard:*"),
        ("dashboard:eu", b"ns:dashboard:eu", b"ns:dashboard:eu:*"),
        ("a*", b"ns:a\\*", b"ns:a\\*:*"),
        ("x[1]?\\", b"ns:x\\[1\\]\\?\\\\", b"ns:x\\[1\\]\\?\\\\:*"),
    ],
)
def test_prefix_globs_escape_the_prefix(prefix: str, exact: bytes, below: bytes) -> None:
    assert KeySpace("ns").prefix_globs(prefix) == (exact, below)


def test_prefix_globs_select_whole_segments_only() -> None:
    exact, below = KeySpace("ns").prefix_globs("dashboard")
    chosen = [
        k
        for k in (b"ns:dashboard", b"ns:dashboard:1", b"ns:dashboards:1", b"ns:dashboardx")
        if glob_match(exact, k) or glob_match(below, k)
    ]
    assert chosen == [b"ns:dashboard", b"ns:dashboard:1"]


def test_pattern_glob_is_confined_to_the_namespace() -> None:
    glob = KeySpace("ns").glob("*")
    assert glob_match(glob, b"ns:anything")
    assert not glob_match(glob, b"other:anything")
    assert not glob_match(glob, b"ns#tag:{x}")


# -- decorator keys -----------------------------------------------------------------------------


def _f(a: Any, b: Any = 2, *args: Any, c: Any = 3, **kwargs: Any) -> None:
    del a, b, args, c, kwargs


SIG = inspect.signature(_f)


def _key(*args: Any, **kwargs: Any) -> str:
    return function_key("p", "mod._f", bind_arguments(SIG, args, kwargs, False), None)


def test_positional_keyword_and_default_calls_share_a_key() -> None:
    assert _key(1) == _key(1, 2) == _key(a=1) == _key(b=2, a=1) == _key(1, c=3)


def test_kwargs_order_does_not_change_the_key() -> None:
    assert _key(1, x=1, y=2) == _key(1, y=2, x=1)


def test_dict_and_set_order_do_not_change_the_key() -> None:
    first = {"k1": 1, "k2": {"s", "t"}}
    second = {"k2": {"t", "s"}, "k1": 1}
    assert _key(first) == _key(second)
    assert _key(frozenset({"x", "y", "z"})) == _key(frozenset({"z", "y", "x"}))


@pytest.mark.parametrize(
    ("left", "right"),
    [(1, 2), (1, "1"), (1, 1.5), (True, 1), (None, 0), ("a", b"a"), ({"a": 1}, {"a": 2})],
)
def test_different_arguments_give_different_keys(left: Any, right: Any) -> None:
    assert _key(left) != _key(right)


def test_key_layout_is_prefix_qualname_digest() -> None:
    key = _key(1)
    prefix, qualname, digest = key.split(":")
    assert (prefix, qualname) == ("p", "mod._f")
    assert re.fullmatch(r"[0-9a-f]{20}", digest)
    assert function_key("", "mod.g", {}, None) == "mod.g"


def test_key_templates() -> None:
    assert function_key("page", "q", {"n": 3}, "n={n}") == "page:n=3"
    assert function_key("", "q", {"n": 3}, lambda n: f"#{n}") == "#3"
    with pytest.raises(ConfigError):
        function_key("page", "q", {"n": 3}, "{missing}")


def test_digest_ignores_argument_order() -> None:
    assert argument_digest({"a": 1, "b": "x"}) == argument_digest({"b": "x", "a": 1})
    assert len(argument_digest({"a": 1})) == 20
