"""Arguments an application passes by mistake (or from user input): a clear ConfigError before
anything is written, on both faces and every backend, never a bare TypeError or
AttributeError from deep inside, and never the wrong namespace."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from cachectl import AsyncCache, Cache, ConfigError

BAD_TTLS = ["60", True, [60], math.nan]


@pytest.mark.parametrize("ttl", BAD_TTLS, ids=repr)
async def test_a_ttl_that_is_not_seconds_is_a_config_error(
    cache: Cache, acache: AsyncCache, ttl: Any
) -> None:
    # "60" raised TypeError from a comparison; True was taken as one second.
    cache.set("k", "old")
    for call in (
        lambda: cache.set("k", "new", ttl),
        lambda: cache.set_many({"k": "new"}, ttl),
        lambda: cache.add("fresh", 1, ttl),
        lambda: cache.touch("k", ttl),
    ):
        with pytest.raises(ConfigError, match="ttl must be positive seconds"):
            call()
    with pytest.raises(ConfigError, match="ttl must be positive seconds"):
        await acache.set("k", "new", ttl)
    with pytest.raises(ConfigError, match="ttl must be positive seconds"):
        await acache.touch("k", ttl)
    assert cache.get("k") == "old"
    assert cache.ttl("k") is None  # touch changed nothing either
    assert not cache.has("fresh")


@pytest.mark.parametrize("stale", [math.nan, math.inf, "5", True], ids=repr)
def test_a_stale_that_is_not_seconds_is_refused_at_decoration(cache: Cache, stale: Any) -> None:
    # nan and inf used to pass, and every call then raised ValueError or OverflowError after
    # the function had run.
    with pytest.raises(ConfigError, match="stale needs a ttl"):
        cache.cached(ttl=60, stale=stale)


@pytest.mark.parametrize("tag", [5, None, b"bytes"], ids=repr)
async def test_a_tag_that_is_not_a_string_is_a_config_error(
    cache: Cache, acache: AsyncCache, tag: Any
) -> None:
    # AttributeError: 'int' object has no attribute 'encode'.
    with pytest.raises(ConfigError, match="tags are strings"):
        cache.set("k", 1, tags=[tag])
    with pytest.raises(ConfigError, match="tags are strings"):
        await acache.invalidate_tag(tag)
    with pytest.raises(ConfigError, match="tags are strings"):
        cache.cached(ttl=60, tags=[tag])(abs)
    assert not cache.has("k")


def test_a_tag_from_tags_from_that_is_not_a_string_is_a_config_error(cache: Cache) -> None:
    @cache.cached(ttl=60, tags_from=lambda result: [result])
    def double(x: int) -> int:
        return 2 * x

    with pytest.raises(ConfigError, match="tags are strings"):
        double(2)


@pytest.mark.parametrize("face", [Cache, AsyncCache])
def test_namespace_none_is_an_error_not_the_default_namespace(
    redis_url: str, face: type[Cache] | type[AsyncCache]
) -> None:
    # Cache(url, namespace=os.environ.get("NS")) with NS unset wrote into 'cachectl'.
    with pytest.raises(ConfigError, match="namespace must be a string"):
        face(redis_url, namespace=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="namespace must be a string"):
        face.from_url(redis_url, namespace=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", [5, b"redis://localhost", ["redis://localhost"]], ids=repr)
def test_a_url_that_is_not_a_string_is_a_config_error(url: Any) -> None:
    # AttributeError: 'int' object has no attribute 'partition'.
    with pytest.raises(ConfigError, match="the cache URL is a string"):
        Cache(url)


LONE = json.loads('"user:\\ud800"')  # what a JSON body can hold: a surrogate with no pair


async def test_a_lone_surrogate_in_key_text_is_a_config_error(
    cache: Cache, acache: AsyncCache
) -> None:
    # UnicodeEncodeError from deep inside, on every call; a byte that was not UTF-8
    # (surrogateescape's U+DC80..U+DCFF, as os and sys decode names) stays a key.
    cache.set("user:1", "kept", tags=("t",))
    for call in (
        lambda: cache.get(LONE),
        lambda: cache.set(LONE, 1),
        lambda: cache.delete(LONE),
        lambda: cache.get_many(["user:1", LONE]),
        lambda: cache.set_many({"user:2": 2, LONE: 1}),
        lambda: cache.set("user:3", 3, tags=[LONE]),
        lambda: cache.invalidate_prefix(LONE),
        lambda: cache.invalidate_tag(LONE),
    ):
        with pytest.raises(ConfigError, match="lone surrogate"):
            call()
    with pytest.raises(ConfigError, match="lone surrogate"):
        await acache.get(LONE)
    with pytest.raises(ConfigError, match="lone surrogate"):
        await acache.delete_many(["user:1", LONE])
    assert cache.get("user:1") == "kept"
    assert not cache.has("user:2") and not cache.has("user:3")
    cache.set("\udcff", "byte")
    assert cache.get(b"\xff") == "byte"
