"""Message Batches of the fake: what was created, its state, and its results as JSONL.

Results are computed when the batch is created (each request answered as a plain request
would be, or as its :class:`Batch` step scripts it). The create answer says
``in_progress``; ``polls_in_progress`` retrievals after it say so too, and anything after
those (or, by default, anything after the create answer) sees the batch ended.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final

from agentguard_fake._script import Batch

EXPIRY_S: Final = 24 * 3600.0
"""A batch expires 24 hours after it was created."""
MAX_REQUESTS: Final = 100_000
"""The API's limit on requests in one batch."""
_CUSTOM_ID: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")


class BatchError(ValueError):
    """A batch request the API rejects; the message is its ``error.message``."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _rfc3339(unix_s: float | None) -> str | None:
    if unix_s is None:
        return None
    return datetime.fromtimestamp(unix_s, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def parse_requests(body: object) -> list[tuple[str, object]]:
    """The ``(custom_id, params)`` of a create request.

    Raises:
        BatchError: The body is not a list of requests with unique, well-formed ids.
    """
    if not isinstance(body, dict):
        raise BatchError("Input should be a valid dictionary")
    requests = body.get("requests")
    if not isinstance(requests, list):
        raise BatchError("requests: Input should be a valid list")
    if not 1 <= len(requests) <= MAX_REQUESTS:
        raise BatchError(f"requests: a batch holds 1 to {MAX_REQUESTS} requests")
    parsed: list[tuple[str, object]] = []
    seen: set[str] = set()
    for i, request in enumerate(requests):
        if not isinstance(request, dict):
            raise BatchError(f"requests.{i}: Input should be a valid dictionary")
        custom_id = request.get("custom_id")
        if not isinstance(custom_id, str) or not _CUSTOM_ID.fullmatch(custom_id):
            raise BatchError(f"requests.{i}.custom_id: 1 to 64 letters, digits, '_' or '-'")
        if custom_id in seen:
            raise BatchError(f"requests.{i}.custom_id: {custom_id!r} is not unique")
        seen.add(custom_id)
        if not isinstance(request.get("params"), dict):
            raise BatchError(f"requests.{i}.params: Input should be a valid dictionary")
        parsed.append((custom_id, request["params"]))
    return parsed


@dataclass(slots=True, kw_only=True)
class StoredBatch:
    """One batch and its precomputed results (one JSONL object per request)."""

    id: str
    created_at: float
    results: list[dict[str, object]]
    scripted: frozenset[str]
    """The custom ids whose outcome a :class:`Batch` step named: cancelling keeps them."""
    polls_left: int
    cancel_initiated_at: float | None = None
    ended_at: float | None = None

    def _end(self, now: float) -> None:
        if self.cancel_initiated_at is not None:
            for line in self.results:
                if line["custom_id"] not in self.scripted:
                    line["result"] = {"type": "canceled"}
        self.ended_at = now

    def observe(self, now: float) -> None:
        """Anything after the create answer: a batch with no polls left ends now."""
        if self.ended_at is None and (self.polls_left == 0 or self.cancel_initiated_at):
            self._end(now)

    def poll(self, now: float) -> None:
        """A retrieval: one fewer answer in progress, or the end of processing."""
        if self.ended_at is None and self.polls_left > 0 and self.cancel_initiated_at is None:
            self.polls_left -= 1
        else:
            self.observe(now)

    def cancel(self, now: float) -> None:
        """Start cancelling, unless processing already ended."""
        self.observe(now)
        if self.ended_at is None and self.cancel_initiated_at is None:
            self.cancel_initiated_at = now

    def as_json(self, results_url: str) -> dict[str, object]:
        """The ``message_batch`` object."""
        total = len(self.results)
        counts = {"processing": total, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if self.ended_at is not None:
            counts["processing"] = 0
            for line in self.results:
                result = line["result"]
                assert isinstance(result, dict)
                counts[str(result["type"])] += 1
            status = "ended"
        else:
            status = "in_progress" if self.cancel_initiated_at is None else "canceling"
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "created_at": _rfc3339(self.created_at),
            "expires_at": _rfc3339(self.created_at + EXPIRY_S),
            "ended_at": _rfc3339(self.ended_at),
            "cancel_initiated_at": _rfc3339(self.cancel_initiated_at),
            "archived_at": None,
            "results_url": results_url if self.ended_at is not None else None,
        }

    def jsonl(self) -> bytes:
        """The results file: one JSON object a line."""
        lines = (
            json.dumps(line, separators=(",", ":"), ensure_ascii=False) for line in self.results
        )
        return "".join(f"{line}\n" for line in lines).encode()


class BatchStore:
    """The batches of one fake server, newest last; thread-safe."""

    def __init__(self, *, wall_clock: Callable[[], float]) -> None:
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._batches: dict[str, StoredBatch] = {}

    def clear(self) -> None:
        """Forget every batch."""
        with self._lock:
            self._batches.clear()

    def add(
        self, batch_id: str, results: list[dict[str, object]], script: Batch | None
    ) -> StoredBatch:
        """Store a new batch in progress."""
        scripted = frozenset(script.outcomes) if script is not None else frozenset()
        stored = StoredBatch(
            id=batch_id,
            created_at=self._wall_clock(),
            results=results,
            scripted=scripted,
            polls_left=script.polls_in_progress if script is not None else 0,
        )
        with self._lock:
            self._batches[batch_id] = stored
        return stored

    def get(self, batch_id: str) -> StoredBatch:
        """The batch with that id, as anyone but its creator sees it.

        Raises:
            BatchError: 404, there is none.
        """
        return self._apply(batch_id, StoredBatch.observe)

    def retrieve(self, batch_id: str) -> StoredBatch:
        """The batch, after one poll."""
        return self._apply(batch_id, StoredBatch.poll)

    def cancel(self, batch_id: str) -> StoredBatch:
        """The batch, cancelling."""
        return self._apply(batch_id, StoredBatch.cancel)

    def _apply(self, batch_id: str, change: Callable[[StoredBatch, float], None]) -> StoredBatch:
        with self._lock:
            stored = self._batches.get(batch_id)
            if stored is None:
                raise BatchError(f"No message batch with id {batch_id!r}", status=404)
            change(stored, self._wall_clock())
            return stored

    def as_json(self, stored: StoredBatch, results_url: str) -> dict[str, object]:
        """The ``message_batch`` object, read while no other request changes it."""
        with self._lock:
            return stored.as_json(results_url)

    def delete(self, batch_id: str) -> None:
        """Forget an ended batch.

        Raises:
            BatchError: It does not exist, or is still processing.
        """
        stored = self.get(batch_id)
        with self._lock:
            if stored.ended_at is None:
                raise BatchError(
                    f"Batch {batch_id!r} cannot be deleted while it is processing; cancel it first"
                )
            del self._batches[batch_id]

    def page(
        self, *, limit: int, after_id: str | None, before_id: str | None
    ) -> tuple[list[StoredBatch], bool]:
        """A page of the list, newest first, and whether there are more beyond it.

        Raises:
            BatchError: ``limit`` is out of range.
        """
        if not 1 <= limit <= 1000:
            raise BatchError("limit: Input should be between 1 and 1000")
        with self._lock:
            newest_first = list(reversed(self._batches.values()))
            now = self._wall_clock()
            for batch in newest_first:
                batch.observe(now)
        ids = [batch.id for batch in newest_first]
        if after_id is not None:
            start = ids.index(after_id) + 1 if after_id in ids else len(ids)
            chosen, has_more = newest_first[start : start + limit], start + limit < len(ids)
        elif before_id is not None:
            end = ids.index(before_id) if before_id in ids else 0
            chosen, has_more = newest_first[max(0, end - limit) : end], end - limit > 0
        else:
            chosen, has_more = newest_first[:limit], limit < len(ids)
        return chosen, has_more
