"""A flush below a literal prefix finds the tags records of its keys in the same scan (one MATCH
covering both), instead of unlinking every data key's record by name whether it exists or not:
what it removes must stay exactly what it removed before, records included."""

from __future__ import annotations

import pytest
import redis

from cachectl import AsyncCache, Cache
from cachectl.backends.redis.scripts import unlink_step
from cachectl.keys import literal_prefix
from cachectl.testing import PATIENT

pytestmark = pytest.mark.usefixtures("watchdog")


@pytest.mark.parametrize(
    ("glob", "prefix"),
    [
        (b"ns:users:*", b"ns:users:"),
        (b"ns:*", b"ns:"),
        (b"ns:a\\*b:*", b"ns:a*b:"),
        (b"ns:a\\[x\\]:*", b"ns:a[x]:"),
        (b"ns:users:*:posts", None),
        (b"ns:user?:*", None),
        (b"ns:[ab]:*", None),
        (b"ns:users", None),
        (b"ns:users\\*", None),  # the star is escaped: a literal key, not a prefix
        (b"ns:trailing\\", None),
    ],
)
def test_literal_prefix(glob: bytes, prefix: bytes | None) -> None:
    assert literal_prefix(glob) == prefix


@pytest.mark.parametrize(
    ("glob", "match", "extra"),
    [
        (b"ns:ab:*", rb"ns[:#][\a\t][\b\a][\:\g]*", (b"ns:ab:", b"ns#tag::ab:")),
        (b"ns:*", b"ns[:#]*", (b"ns:", b"ns#tag::")),
        (b"ns:a\\*:*", rb"ns[:#][\a\t][\*\a][\:\g]*", (b"ns:a*:", b"ns#tag::a*:")),
        (b"ns#tag:*", b"ns#tag:*", ()),  # bookkeeping: no records
        (b"ns:*:posts", b"ns:*:posts", ()),  # a pattern: records by name
        (b"n*s:users:*", b"n*s:users:*", ()),
    ],
)
def test_unlink_step(glob: bytes, match: bytes, extra: tuple[bytes, ...]) -> None:
    assert unlink_step(glob) == (match, extra)


#: Keys around the prefix 'users' of namespace 'fr', tagged or not, and what a flush of the
#: prefix must leave: each (key, tagged, kept).
KEYS = [
    ("users", True, False),  # the key equal to the prefix goes too
    ("users:1", True, False),
    ("users:2", False, False),
    ("users:é:3", True, False),
    ("users:a*b", True, False),
    ("usersX:1", True, True),  # not below the prefix: whole segments only
    ("orders:users:1", True, True),  # 'users:' further in: matched by the scan, not taken
    ("orders:2", True, True),
]


def records(raw: redis.Redis, namespace: str) -> set[bytes]:
    return set(raw.keys(f"{namespace}#tag::*"))


@pytest.mark.parametrize("kind", ["redis", "no-script"])
@pytest.mark.parametrize("face", ["sync", "async"])
async def test_a_prefix_flush_takes_its_keys_and_their_records_and_nothing_else(
    kind: str, face: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url" if kind == "redis" else "no_script_url")
    namespace = "fr"
    raw = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    for key, tagged, _ in KEYS:
        with Cache(url, namespace=namespace, **PATIENT) as c:
            c.set(key, key, tags=("t", "users:1") if tagged else ())
    raw.set(b"fr.v2:users:1", b"other namespace")
    raw.set(b"other:users:1", b"other namespace")
    raw.set(b"fr#tag::orphan", b"a record whose key is gone")  # not below the prefix: kept
    tag_sets = set(raw.keys(f"{namespace}#tag:{{*"))
    assert tag_sets == {b"fr#tag:{t}", b"fr#tag:{users:1}"}
    kept = {key for key, _, keep in KEYS if keep}
    if face == "sync":
        with Cache(url, namespace=namespace, **PATIENT) as c:
            removed = c.invalidate_prefix("users")
    else:
        async with AsyncCache(url, namespace=namespace, **PATIENT) as ac:
            removed = await ac.invalidate_prefix("users")
    assert removed == len({key for key, _, keep in KEYS if not keep})
    left = {k.decode()[len("fr:") :] for k in raw.keys("fr:*")}
    assert left == kept
    expected_records = {f"fr#tag::{key}".encode() for key, tagged, keep in KEYS if keep and tagged}
    assert records(raw, namespace) == expected_records | {b"fr#tag::orphan"}
    assert set(raw.keys(f"{namespace}#tag:{{*")) == tag_sets  # tag sets are the tags' own
    assert raw.get(b"fr.v2:users:1") == raw.get(b"other:users:1") == b"other namespace"
    raw.close()


def test_clear_takes_every_record_of_the_namespace(redis_url: str) -> None:
    raw = redis.Redis.from_url(redis_url)
    with Cache(redis_url, namespace="fr", **PATIENT) as c:
        c.set_many({f"k:{i}": i for i in range(50)}, tags=("t",))
        c.set("plain", 1)
        other = Cache(redis_url, namespace="fr2", **PATIENT)
        other.set("k:1", 1, tags=("t",))
        c.clear()
        assert raw.keys("fr:*") == [] and raw.keys("fr#tag:*") == []
        assert len(raw.keys("fr2#tag:*")) == 2  # its tag set and its record
        other.close()
    raw.close()
