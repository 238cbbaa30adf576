"""The Lua scripts the Redis backend runs on the server, and the arguments of each call.

Each script makes one step atomic and one round trip. What they know of the stored format is
exactly what backends.base allows a backend to know: INCR_SCRIPT the codec's plain-integer
form, SCAN_UNLINK_SCRIPT the key layout of data keys and their tags records, PUBLISH_SCRIPT
the stats hash layout. Where a server refuses scripts, backends.redis.scriptless does each
one's work from the client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis.exceptions

from cachectl.backends.redis.scriptless import NO_TTL_BASE
from cachectl.codec import MAX_COUNTER
from cachectl.keys import NAMESPACE_CHARS, escape_glob, literal_prefix, tags_record
from cachectl.stats import LAYOUT_FIELD, MAX_PREFIX_BYTES, OTHER, split_field

# Records a write under a tag. A member's score is its expiry in server milliseconds (for an
# entry without a TTL: NO_TTL_BASE plus the write time, far in the future), plus the write's
# microseconds as a fraction, so each write scores apart and invalidation can tell an entry
# written again meanwhile from the one it unlinked. Expired members are reaped on every write,
# and the set expires with its longest-lived member, so bookkeeping never outlives the entries.
TAG_SCRIPT = f"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stamp = (tonumber(t[2]) % 1000) / 1000
local ttl = tonumber(ARGV[1])
local score
if ttl >= 0 then score = now + ttl + stamp else score = {NO_TTL_BASE} + now + stamp end
score = string.format('%.3f', score)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], score, ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] == nil then return 0 end
local last = tonumber(top[2])
if last >= {NO_TTL_BASE} then redis.call('PERSIST', KEYS[1])
else redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', math.floor(last))) end
return 1
"""


NOT_INTEGER = "CACHECTL_NOT_INTEGER"
OUT_OF_RANGE = "CACHECTL_OUT_OF_RANGE"


# Removes tag members whose score is still the one read before their keys were unlinked, so an
# entry written again meanwhile (a new score: see TAG_SCRIPT) keeps its membership.
FORGET_SCRIPT = """
local removed = 0
for i = 1, #ARGV, 2 do
  local current = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if current and (current == ARGV[i + 1] or tonumber(current) == tonumber(ARGV[i + 1])) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
"""


# Unlinks, on the server, the keys one SCAN step finds: no key crosses the network, and a call
# holds the server for one SCAN COUNT's worth of work (a few milliseconds for 4,000 on a
# million keys). Measured there, this is as fast as a single script looping over the whole
# keyspace, which would block every other client for the whole run.
# The tags records of the data keys it unlinks go with them (pipelines.records_of), not counted.
# With ARGV[4] and ARGV[5] (see unlink_step), the scan's MATCH covers both the data keys below
# the prefix ARGV[4] and their records below ARGV[5], and each key it finds is taken if it has
# one of the two prefixes: the records that exist are found, where unlinking every data key's
# record by name, whether it exists or not, costs the server as much as the data keys do.
SCAN_UNLINK_SCRIPT = """
local reply = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local keys, removed, records = reply[2], 0, {}
local data, record = ARGV[4], ARGV[5]
if data then
  local found = keys
  keys = {}
  for _, key in ipairs(found) do
    if string.find(key, data, 1, true) == 1 then
      keys[#keys + 1] = key
    elseif string.find(key, record, 1, true) == 1 then
      records[#records + 1] = key
    end
  end
else
  for _, key in ipairs(keys) do
    local at = string.find(key, ':', 1, true)
    local head = at and string.sub(key, 1, at - 1)
    if head and not string.find(head, '#', 1, true) then
      records[#records + 1] = head .. '#tag::' .. string.sub(key, at + 1)
    end
  end
end
for i = 1, #keys, 1000 do
  removed = removed + redis.call('UNLINK', unpack(keys, i, math.min(i + 999, #keys)))
end
for i = 1, #records, 1000 do
  redis.call('UNLINK', unpack(records, i, math.min(i + 999, #records)))
end
return {reply[1], removed}
"""


# Adds one process's stats delta to the namespace's hash (see cachectl.stats): a prefix takes
# one of ARGV[2] places on first publish, and past them its figures go to ARGV[3], so the hash
# stays bounded whatever the number of processes; a field that is not an integer (written by
# someone else) is replaced rather than failing the whole publish; the hash then lives ARGV[1]
# seconds more. A prefix longer than MAX_PREFIX_BYTES (an older writer) goes to ARGV[3] too.
# A kind starting with '#' is a namespace-wide field (stats.NAMESPACE_COUNTERS), added to
# without a place; '#layout' is kept at the highest value written, never added up.
# ARGV from 4 on: kind, prefix, rest, delta for each field.
PUBLISH_SCRIPT = f"""
local key, cap, other = KEYS[1], tonumber(ARGV[2]), ARGV[3]
local raw = redis.call('HGET', key, '#prefixes')
local places = 0
if raw then
  places = tonumber(raw)
  if places == nil or places < 0 or places ~= math.floor(places) then places = cap end
end
local taken = places
local seen = {{}}
for i = 4, #ARGV, 4 do
  local prefix = ARGV[i + 1]
  local label = seen[prefix]
  if string.sub(ARGV[i], 1, 1) == '#' then
    label = false
    local field, have = ARGV[i], nil
    if field == '{LAYOUT_FIELD.decode()}' then
      have = tonumber(redis.call('HGET', key, field))
      if have == nil or have < tonumber(ARGV[i + 3]) then
        redis.call('HSET', key, field, ARGV[i + 3])
      end
    elseif type(redis.pcall('HINCRBY', key, field, ARGV[i + 3])) == 'table' then
      redis.call('HSET', key, field, ARGV[i + 3])
    end
  elseif label == nil then
    label = prefix
    if #prefix > {MAX_PREFIX_BYTES} then
      label = other
    elseif prefix ~= other and redis.call('HEXISTS', key, 'prefix:' .. prefix) == 0 then
      if places < cap then
        redis.call('HSET', key, 'prefix:' .. prefix, 1)
        places = places + 1
      else
        label = other
      end
    end
    seen[prefix] = label
  end
  if label then
    local field = ARGV[i] .. ':' .. label .. ARGV[i + 2]
    if type(redis.pcall('HINCRBY', key, field, ARGV[i + 3])) == 'table' then
      redis.call('HSET', key, field, ARGV[i + 3])
    end
  end
end
if places ~= taken or not raw then redis.call('HSET', key, '#prefixes', places) end
redis.call('EXPIRE', key, ARGV[1])
return places
"""


# Counts, on the server, the keys one SCAN step finds (for a count before a flush).
SCAN_COUNT_SCRIPT = """
local reply = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
return {reply[1], #reply[2]}
"""


# Adds ARGV[1] to an integer stored plainly (see cachectl.codec: header C1 01 00, then one
# msgpack integer), keeping the key's TTL: the read and the write are one step on the server, so
# increments from many processes never lose one another. A missing key answers nil.
INCR_SCRIPT = f"""
local data = redis.call('GET', KEYS[1])
if not data then return false end
local first = string.byte(data, 4)
if #data < 4 or string.sub(data, 1, 3) ~= '\\193\\1\\0' then
  return redis.error_reply('{NOT_INTEGER}')
end
local sizes = {{[0xcc]=2, [0xcd]=3, [0xce]=5, [0xcf]=9, [0xd0]=2, [0xd1]=3, [0xd2]=5, [0xd3]=9}}
local size = sizes[first]
if first <= 0x7f or first >= 0xe0 then size = 1 end
if size == nil or #data ~= 3 + size then return redis.error_reply('{NOT_INTEGER}') end
local value = cmsgpack.unpack(string.sub(data, 4)) + tonumber(ARGV[1])
if math.abs(value) > {MAX_COUNTER} then return redis.error_reply('{OUT_OF_RANGE}') end
redis.call('SET', KEYS[1], '\\193\\1\\0' .. cmsgpack.pack(value), 'KEEPTTL')
return value
"""


def tag_args(tag_key: bytes, ttl_ms: int | None, members: Sequence[bytes]) -> list[Any]:
    """One call of TAG_SCRIPT: members written under tag_key with ttl_ms (None: none)."""
    return ["EVAL", TAG_SCRIPT, 1, tag_key, -1 if ttl_ms is None else ttl_ms, *members]


def forget_args(tag_key: bytes, pairs: list[tuple[bytes, float]]) -> list[Any]:
    """One call of FORGET_SCRIPT: the (member, score read) pairs to drop if still so scored."""
    args: list[Any] = ["EVAL", FORGET_SCRIPT, 1, tag_key]
    for member, score in pairs:
        args += [member, repr(score)]
    return args


def step_args(
    script: str, cursor: bytes, glob: bytes, count: int, extra: Sequence[bytes] = ()
) -> list[Any]:
    """One call of a SCAN step script (SCAN_UNLINK_SCRIPT, SCAN_COUNT_SCRIPT)."""
    return ["EVAL", script, 0, cursor, glob, count, *extra]


def unlink_step(glob: bytes) -> tuple[bytes, tuple[bytes, ...]]:
    """SCAN_UNLINK_SCRIPT's MATCH glob and extra arguments for the keys matching glob.

    For the data keys below a literal prefix ('N:users:*', 'N:*'), a glob that also matches
    their tags records ('N#tag::users:*'), and the two prefixes to tell them apart; for any
    other glob, itself (each data key's record is then unlinked by name).
    """
    prefix = literal_prefix(glob)
    namespace, sep, rest = (prefix or b"").partition(b":")
    if not (sep and namespace and NAMESPACE_CHARS.issuperset(namespace)):
        return glob, ()
    assert prefix is not None
    # Position by position, a class of the data key's byte and the record's ('N:users:' and
    # 'N#tag::users:'): every other key of the keyspace fails at its first differing byte, where
    # 'N[:#]*users:*' had the server try 'users:' at every position of every key (+20 % of
    # the flush's server time on a million keys). The script keeps only the two prefixes.
    record = b"tag::" + rest
    classes = b"".join(
        b"[\\" + rest[i : i + 1] + b"\\" + record[i : i + 1] + b"]"
        for i in range(min(len(rest), MATCH_CLASSES))
    )
    return escape_glob(namespace) + b"[:#]" + classes + b"*", (prefix, tags_record(prefix))


#: Bytes of a prefix that unlink_step's MATCH spells out (the script checks the rest).
MATCH_CLASSES = 16


def incr_args(key: bytes, delta: int) -> list[Any]:
    """One call of INCR_SCRIPT."""
    return ["EVAL", INCR_SCRIPT, 1, key, delta]


def publish_args(
    key: bytes, counters: Mapping[bytes, int], ttl: int, max_prefixes: int
) -> list[Any]:
    """One call of PUBLISH_SCRIPT: a stats delta added to the hash at key."""
    args: list[Any] = ["EVAL", PUBLISH_SCRIPT, 1, key, ttl, max_prefixes, OTHER]
    for name, delta in counters.items():
        args += [*split_field(name), delta]
    return args


def counter_error(exc: redis.exceptions.ResponseError) -> Exception:
    """The Python error for an INCR_SCRIPT refusal; other replies stay what they are."""
    text = str(exc)
    if NOT_INTEGER in text:
        return TypeError("the stored value is not an integer the library wrote")
    if OUT_OF_RANGE in text:
        return OverflowError(f"a counter stays within +/-{MAX_COUNTER}")
    return exc
