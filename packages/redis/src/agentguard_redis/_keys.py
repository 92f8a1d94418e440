"""Where the Redis store keeps what: key names and how series are written in them.

Every key starts with the hash tag ``{<prefix>}``, so one deployment's keys share one hash slot
(a Redis Cluster can hold them; each script call still declares every key it touches).
``<res>`` is a roll-up's resolution in seconds, ``<bucket>`` a bucket start in Unix seconds,
``<labels>`` a series' label values as a compact JSON array (``[]``: the metric's total).
The table of keys and the fields of a sketch hash are in docs/architecture.md ("The Redis key
layout"); change it there with the key functions here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Final

__all__ = [
    "GAUGE_SEP",
    "TOTAL_LABELS",
    "Keys",
    "decode_labels",
    "encode_labels",
]

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


class Keys:
    """The key names of one deployment (one prefix)."""

    __slots__ = ("hb", "meta", "seq", "tag")

    def __init__(self, prefix: str) -> None:
        if not prefix or any(c in prefix for c in "{}"):
            raise ValueError(f"prefix must be non-empty text without braces, got {prefix!r}")
        self.tag = "{" + prefix + "}"
        self.seq = f"{self.tag}:seq"
        self.hb = f"{self.tag}:hb"
        self.meta = f"{self.tag}:meta"

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
        """The label values admitted at ``position`` of ``metric``'s labels (the cap)."""
        return f"{self.tag}:v:{metric}:{position}"

    def gauge_sets(self, metric: str) -> str:
        """The latest value set of a gauge per series."""
        return f"{self.tag}:gs:{metric}"
