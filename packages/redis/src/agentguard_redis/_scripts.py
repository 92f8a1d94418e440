"""The Lua scripts of the Redis store (why so: docs/architecture.md, "The Redis scripts").

- ``APPLY``: one chunk of a batch, atomically and once (by ``sequence:chunk``), checked whole
  before its first write; it bumps ``version`` and writes the change log. Every key it names
  is in one shard; it answers whether it applied and how many replicas its server has.
- ``LAYOUT``: the deployment's number of shards, registered by the first writer.
- ``CHANGES``: which buckets were written since a version (the reader's cache).
- ``ADMIT``: the cardinality cap across processes, run before ``APPLY`` and apart from it.
- ``PRUNE``: forgets processes silent for longer than the store remembers them.
- ``READ_*``: many keys in one call, flagged ``no-writes`` so a replica can answer.

The trap: the scripts interpret operations compiled in :mod:`agentguard_redis._ops`; what a
delta writes is decided there, in Python, not here.
"""

from __future__ import annotations

from typing import Final

from agentguard.limits import MAX_TOTAL

__all__ = [
    "ADMIT",
    "APPLY",
    "CHANGES",
    "LAYOUT",
    "OPS",
    "PRUNE",
    "READ_HASHES",
    "READ_MEMBERS",
]

OPS: Final = {
    "inc_float": "f",
    "inc_int": "i",
    "min": "l",
    "max": "h",
    "expire": "x",
    "zadd": "z",
    "zprune": "r",
    "sadd": "s",
    "set_latest": "g",
}
"""Operation codes: what each does, by name (the script's ``if`` chain below)."""

_REPLICAS: Final = """
local function replicas()
  -- replicas of this server in sync (a WAIT can count them); -1 where INFO is refused
  local ok, info = pcall(redis.call, 'INFO', 'replication')
  if not ok then
    return -1
  end
  local n = 0
  for _ in string.gmatch(info, 'state=online') do
    n = n + 1
  end
  return n
end
"""

APPLY: Final = """#!lua
-- KEYS[1] {s}:seq, KEYS[2] {s}:hb, KEYS[3] {s}:meta of the writer's shard {s}, KEYS[4..] the
-- keys the operations name (all in the shard). ARGV: process id, sequence, chunk, heartbeat
-- time, an epoch should the shard have none, '1' to count the replicas, then the operations.
-- Returns {1 applied or 0 applied before, replicas (-1: not counted)}.
REPLICAS
local pid, seq, chunk = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local count = -1
if ARGV[6] == '1' then
  count = replicas()
end
local mark = redis.call('HGET', KEYS[1], pid)
if mark then
  local s, c = string.match(mark, '^(%d+):(%d+)$')
  s, c = tonumber(s), tonumber(c)
  if seq < s or (seq == s and chunk <= c) then
    redis.call('ZADD', KEYS[2], 'GT', ARGV[4], pid)
    -- a write that replicas receive after the chunk: a WAIT on this connection covers it
    redis.call('HINCRBY', KEYS[3], 'resent', 1)
    return {0, count}
  end
end
-- Check the whole chunk before its first write, so a chunk is all or nothing: every
-- operation known, every float amount (the only kind a write can fail on: HINCRBYFLOAT to
-- infinity) a number within +-MAX_TOTAL. NaN fails both comparisons.
local j, n = 7, #ARGV
while j <= n do
  local op = ARGV[j]
  if op == 'f' then
    local v = tonumber(ARGV[j + 3])
    if not (v and v <= MAX_TOTAL and v >= -MAX_TOTAL) then
      return redis.error_reply('agentguard: invalid chunk: value ' .. tostring(ARGV[j + 3])
        .. ' out of range for ' .. tostring(KEYS[tonumber(ARGV[j + 1])]))
    end
    j = j + 4
  elseif op == 'i' or op == 'z' or op == 'l' or op == 'h' or op == 'r' then
    j = j + 4
  elseif op == 'x' or op == 's' then
    j = j + 3
  elseif op == 'g' then
    j = j + 5
  else
    return redis.error_reply('agentguard: invalid chunk: unknown operation ' .. tostring(op))
  end
end
redis.call('HSETNX', KEYS[3], 'epoch', ARGV[5])
local version = redis.call('HINCRBY', KEYS[3], 'version', 1)
local i, n = 7, #ARGV
while i <= n do
  local op, key = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  if op == 'f' then
    redis.call('HINCRBYFLOAT', key, ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  elseif op == 'i' then
    redis.call('HINCRBY', key, ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  elseif op == 'l' or op == 'h' then
    local held = redis.call('HGET', key, ARGV[i + 2])
    local value = tonumber(ARGV[i + 3])
    if (not held) or (op == 'l' and value < tonumber(held))
        or (op == 'h' and value > tonumber(held)) then
      redis.call('HSET', key, ARGV[i + 2], ARGV[i + 3])
    end
    i = i + 4
  elseif op == 'x' then
    redis.call('EXPIRE', key, ARGV[i + 2])
    i = i + 3
  elseif op == 'z' then
    -- the bucket index, and the change log: the bucket, scored by this version
    redis.call('ZADD', key, ARGV[i + 3], ARGV[i + 3])
    redis.call('ZADD', KEYS[tonumber(ARGV[i + 2])], version, ARGV[i + 3])
    i = i + 4
  elseif op == 'r' then
    -- buckets past retention leave the index and the change log
    local log, cutoff = KEYS[tonumber(ARGV[i + 2])], '(' .. ARGV[i + 3]
    local gone = redis.call('ZRANGEBYSCORE', key, '-inf', cutoff)
    for g = 1, #gone do
      redis.call('ZREM', log, gone[g])
    end
    redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
    i = i + 4
  elseif op == 's' then
    redis.call('SADD', key, ARGV[i + 2])
    i = i + 3
  elseif op == 'g' then
    local held = redis.call('HGET', key, ARGV[i + 2])
    local at = tonumber(ARGV[i + 4])
    if (not held) or at >= tonumber(string.match(held, ' (.+)$')) then
      redis.call('HSET', key, ARGV[i + 2], ARGV[i + 3] .. ' ' .. ARGV[i + 4])
    end
    i = i + 5
  else
    return redis.error_reply('agentguard: unknown operation ' .. tostring(op))
  end
end
redis.call('HSET', KEYS[1], pid, ARGV[2] .. ':' .. ARGV[3])
redis.call('ZADD', KEYS[2], 'GT', ARGV[4], pid)
return {1, count}
""".replace("MAX_TOTAL", repr(MAX_TOTAL)).replace("REPLICAS", _REPLICAS)

LAYOUT: Final = """#!lua
-- KEYS[1] {p}:layout. ARGV[1] the shards to register when none are (0: register nothing).
-- Returns {the registered shards (0: none), this server's replicas (-1: not counted)}.
REPLICAS
local held = redis.call('HGET', KEYS[1], 'shards')
if (not held) and tonumber(ARGV[1]) > 0 then
  redis.call('HSET', KEYS[1], 'shards', ARGV[1])
  held = ARGV[1]
end
return {tonumber(held or '0'), replicas()}
""".replace("REPLICAS", _REPLICAS)

ADMIT: Final = """#!lua
-- KEYS: registers of known label values (zsets, scored by when each was last written).
-- ARGV[1] the cap, ARGV[2] now, ARGV[3] forget values last written before it; then per key
-- the number of values asked about, and the values. Returns 1 (admitted) or 0 per value.
local cap, now, cutoff = tonumber(ARGV[1]), ARGV[2], '(' .. ARGV[3]
local out, a = {}, 4
for k = 1, #KEYS do
  local key = KEYS[k]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
  local size = redis.call('ZCARD', key)
  local n = tonumber(ARGV[a])
  a = a + 1
  for j = 1, n do
    local value = ARGV[a]
    a = a + 1
    local known = redis.call('ZSCORE', key, value)
    if known or size < cap then
      if not known then
        size = size + 1
      end
      redis.call('ZADD', key, 'GT', now, value)
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
  end
end
return out
"""

PRUNE: Final = """#!lua
-- KEYS[1] {s}:seq, KEYS[2] {s}:hb, KEYS[3..] gauge-delta hashes of one shard {s}; ARGV[1] the
-- cutoff time,
-- ARGV[2] the separator between labels and process id in a gauge-delta field.
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
if #dead == 0 then
  return 0
end
local gone = {}
for _, pid in ipairs(dead) do
  gone[pid] = true
  redis.call('HDEL', KEYS[1], pid)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
local sep = ARGV[2]
for k = 3, #KEYS do
  for _, field in ipairs(redis.call('HKEYS', KEYS[k])) do
    local at = string.find(field, sep, 1, true)
    if at and gone[string.sub(field, at + #sep)] then
      redis.call('HDEL', KEYS[k], field)
    end
  end
end
return #dead
"""

CHANGES: Final = """#!lua flags=no-writes
-- KEYS[1] {s}:meta, KEYS[2] a change log of one shard {s}; ARGV[1] a version.
-- The shard's version and epoch now, and the buckets written after ARGV[1].
local meta = redis.call('HMGET', KEYS[1], 'version', 'epoch')
local changed = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')
return {meta[1] or '0', meta[2] or '', changed}
"""

READ_HASHES: Final = """#!lua flags=no-writes
-- Every field and value of each hash in KEYS, flat, one array per key.
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('HGETALL', key)
end
return out
"""

READ_MEMBERS: Final = """#!lua flags=no-writes
-- The members of each set in KEYS, one array per key.
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('SMEMBERS', key)
end
return out
"""
