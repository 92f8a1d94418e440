"""Where the Redis store keeps what: key names and how series are written in them.

A deployment (one prefix) has S shards; every key of shard ``i`` starts with its hash tag
(:func:`shard_tags`: shard 0's is ``{<prefix>}``, the single-slot layout's, so data written
before sharding is shard 0), and each script call names keys of one shard only.
``<res>`` is a roll-up's resolution in seconds, ``<bucket>`` a bucket start in Unix seconds,
``<labels>`` a series' label values as a compact JSON array (``[]``: the metric's total).
The table of keys and the fields of a sketch hash are in docs/architecture.md ("The Redis key
layout"); change it there with the key functions here.
"""

from __future__ import annotations

import json
import zlib
from functools import lru_cache
from typing import Final

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

__all__ = [
    "GAUGE_SEP",
    "MAX_SHARDS",
    "TOTAL_LABELS",
    "Keys",
    "decode_labels",
    "encode_labels",
    "shard_of",
    "shard_tags",
]

MAX_SHARDS: Final = 256
"""At most this many shards (each a slot; a read asks each shard)."""

TOTAL_LABELS: Final = "[]"
"""The label JSON of a metric's total over every series."""

GAUGE_SEP: Final = "\x1e"
"""Between the label JSON and the process id in a gauge-delta field."""


def encode_labels(values: tuple[str, ...]) -> str:
    """A series' label values as compact JSON (any text, exactly, and easy to compare)."""
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=65_536)
def decode_labels(text: str | bytes) -> tuple[str, ...]:
    """The label values of :func:`encode_labels`' JSON (cached: the same few come back)."""
    values = json.loads(text)
    return tuple(str(v) for v in values)


def check_prefix(prefix: str) -> str:
    """``prefix``, or a ``ValueError`` when it cannot be a hash tag."""
    if not prefix or any(c in prefix for c in "{}"):
        raise ValueError(f"prefix must be non-empty text without braces, got {prefix!r}")
    return prefix


@lru_cache(maxsize=256)
def shard_tags(prefix: str, shards: int) -> tuple[str, ...]:
    """The hash tag of each of ``shards`` shards of ``prefix``, spread evenly over the slots.

    Shard 0 is ``{prefix}``; shard ``i`` is ``{prefix:n}`` with the smallest ``n`` whose slot
    lies just after ``i/shards`` of the way round the slots from shard 0's. Masters that hold
    equal runs of slots (what ``redis-cli --cluster create`` makes) hold as many shards each.
    """
    check_prefix(prefix)
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be from 1 to {MAX_SHARDS}, got {shards!r}")
    slots = REDIS_CLUSTER_HASH_SLOTS
    first = key_slot(prefix.encode())
    width = max(1, min(32, slots // shards))
    tags = ["{" + prefix + "}"]
    n = 0
    for i in range(1, shards):
        start = (first + i * slots // shards) % slots
        while (key_slot(f"{prefix}:{n}".encode()) - start) % slots >= width:
            n += 1
        tags.append("{" + f"{prefix}:{n}" + "}")
        n += 1
    return tuple(tags)


def shard_of(process_id: str, shards: int) -> int:
    """The shard a writer process writes to (the same for every batch of the process)."""
    return zlib.crc32(process_id.encode()) % shards


class Keys:
    """The key names of one shard of a deployment (the only shard of an unsharded one).

    Args:
        prefix: The deployment's prefix.
        tag: The shard's hash tag (:func:`shard_tags`); ``{prefix}`` by default.
    """

    __slots__ = ("hb", "layout", "meta", "prefix", "seq", "tag")

    def __init__(self, prefix: str, tag: str | None = None) -> None:
        self.prefix = check_prefix(prefix)
        base = "{" + prefix + "}"
        self.tag = base if tag is None else tag
        self.seq = f"{self.tag}:seq"
        self.hb = f"{self.tag}:hb"
        self.meta = f"{self.tag}:meta"
        self.layout = f"{base}:layout"

    def series(self, metric: str) -> str:
        """The set of every series of ``metric``."""
        return f"{self.tag}:s:{metric}"

    def index(self, res: int, metric: str) -> str:
        """The buckets of roll-up ``res`` that hold data of ``metric``."""
        return f"{self.tag}:i:{res}:{metric}"

    def changes(self, res: int, metric: str) -> str:
        """The buckets of roll-up ``res`` of ``metric`` by the version that last wrote them."""
        return f"{self.tag}:l:{res}:{metric}"

    def counter(self, res: int, bucket: int, metric: str) -> str:
        """One bucket of a counter, every series in one hash."""
        return f"{self.tag}:c:{res}:{bucket}:{metric}"

    def counters(self, res: int, buckets: list[int], metric: str) -> list[str]:
        """:meth:`counter` of each bucket (a read of a day at 1m makes 1,440)."""
        head, tail = f"{self.tag}:c:{res}:", f":{metric}"
        return [f"{head}{b}{tail}" for b in buckets]

    def sketch(self, res: int, bucket: int, metric: str, labels: str) -> str:
        """One bucket of one series of a histogram (``labels`` JSON)."""
        return f"{self.tag}:h:{res}:{bucket}:{metric}:{labels}"

    def sketch_series(self, res: int, bucket: int, metric: str) -> str:
        """The series of a histogram with a sketch in one bucket."""
        return f"{self.tag}:hs:{res}:{bucket}:{metric}"

    def gauge_deltas(self, metric: str) -> str:
        """The net ``inc``/``dec`` of a gauge per series and process."""
        return f"{self.tag}:gd:{metric}"

    def known_values(self, metric: str, position: int) -> str:
        """The label values admitted at ``position`` of ``metric``'s labels (the cap).

        One register per deployment, in shard 0's slot, whatever shard asks.
        """
        return "{" + self.prefix + "}" + f":v:{metric}:{position}"

    def gauge_sets(self, metric: str) -> str:
        """The latest value set of a gauge per series."""
        return f"{self.tag}:gs:{metric}"
