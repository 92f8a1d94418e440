"""Alerts, delivery ids and Anthropic events in SQLite, on one thread of their own."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agentguard_receiver._anthropic import AnthropicEvent
from agentguard_receiver._payload import Notification

__all__ = ["AlertStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    webhook_id TEXT PRIMARY KEY,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    webhook_id TEXT,
    group_key TEXT NOT NULL,
    receiver TEXT NOT NULL,
    status TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_received_at ON alerts (received_at);
CREATE INDEX IF NOT EXISTS deliveries_received_at ON deliveries (received_at);
CREATE TABLE IF NOT EXISTS anthropic_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    webhook_id TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    alerted INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS anthropic_events_type ON anthropic_events (type);
"""

_PRUNE_EVERY_S = 60.0


class AlertStore:
    """Stores notifications once per ``webhook-id``; every call runs on the store's thread.

    sqlite3 blocks, so the event loop hands each call to a single worker thread that owns the
    connection; one thread also serialises the writes.

    Delivery ids are kept ``keep_ids_s`` after they were received, then pruned (at most once
    a minute, when a notification is stored). The trap: a *replay* of a delivery carries its
    old timestamp and turns stale within minutes, but a sender's *retry* (its answer was lost)
    is signed anew with a fresh timestamp and the same ``webhook-id``, possibly hours later
    (Standard Webhooks senders retry for a day or more; ours for ``max_horizon_s``), so the
    ids must outlive every retry, not the timestamp tolerance. The alerts themselves are kept.
    """

    def __init__(self, path: str | Path | None, *, keep_ids_s: float) -> None:
        """Open (or create) the database at ``path``; ``None`` keeps it in memory.

        Raises:
            ValueError: the file cannot be opened, created or written (a read-only file
                system, a missing folder, a file that is not a database), said in one line.
        """
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="agentguard-receiver-db"
        )
        try:
            self._connection = self._executor.submit(self._open, path).result()
        except sqlite3.Error as exc:
            self._executor.shutdown()
            raise ValueError(
                f"cannot keep alerts in {str(path)!r}: {exc} "
                "(give a writable file in a folder that exists, or leave out --db)"
            ) from None
        self._closed = False
        self._keep_ids_s = keep_ids_s
        self._pruned_at = -float("inf")

    @staticmethod
    def _open(path: str | Path | None) -> sqlite3.Connection:
        connection = sqlite3.connect(
            ":memory:" if path is None else str(path), isolation_level=None
        )
        try:
            if path is not None:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
            # Fails now, not at the first alert, when the file is there but read-only.
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
        except BaseException:
            connection.close()
            raise
        return connection

    async def record(
        self, webhook_id: str | None, notification: Notification, now_s: float
    ) -> bool:
        """Store the notification; ``False`` when ``webhook_id`` was stored before (a replay)."""
        future = self._executor.submit(self._record, webhook_id, notification, now_s)
        return await asyncio.wrap_future(future)

    def _record(self, webhook_id: str | None, notification: Notification, now_s: float) -> bool:
        connection = self._connection
        if now_s - self._pruned_at >= _PRUNE_EVERY_S:
            self._pruned_at = now_s
            connection.execute(
                "DELETE FROM deliveries WHERE received_at < ?", (now_s - self._keep_ids_s,)
            )
        connection.execute("BEGIN IMMEDIATE")
        try:
            if webhook_id is not None:
                cursor = connection.execute(
                    "INSERT OR IGNORE INTO deliveries (webhook_id, received_at) VALUES (?, ?)",
                    (webhook_id, now_s),
                )
                if cursor.rowcount == 0:
                    connection.execute("ROLLBACK")
                    return False
            _insert_alerts(connection, webhook_id, notification, now_s)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return True

    async def record_anthropic(
        self,
        webhook_id: str,
        event: AnthropicEvent,
        notification: Notification | None,
        now_s: float,
    ) -> bool:
        """Store the event and its alerts; ``False`` when its id or ``webhook_id`` was stored.

        A retry is signed with a new timestamp (Standard Webhooks) and may come hours later,
        so these ids are kept as long as the event, not pruned as delivery ids are.
        """
        future = self._executor.submit(
            self._record_anthropic, webhook_id, event, notification, now_s
        )
        return await asyncio.wrap_future(future)

    def _record_anthropic(
        self,
        webhook_id: str,
        event: AnthropicEvent,
        notification: Notification | None,
        now_s: float,
    ) -> bool:
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            cursor = connection.execute(
                "INSERT OR IGNORE INTO anthropic_events (received_at, webhook_id, event_id, type,"
                " created_at, alerted, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    now_s,
                    webhook_id,
                    event.event_id,
                    event.type,
                    event.created_at,
                    notification is not None,
                    json.dumps(event.data, sort_keys=True),
                ),
            )
            if cursor.rowcount == 0:
                connection.execute("ROLLBACK")
                return False
            if notification is not None:
                _insert_alerts(connection, webhook_id, notification, now_s)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return True

    async def query_anthropic(
        self, *, event_type: str | None, since_s: float | None, limit: int
    ) -> tuple[list[dict[str, object]], dict[str, int]]:
        """The newest ``limit`` Anthropic events, newest first, and the count of each type."""
        future = self._executor.submit(self._query_anthropic, event_type, since_s, limit)
        return await asyncio.wrap_future(future)

    def _query_anthropic(
        self, event_type: str | None, since_s: float | None, limit: int
    ) -> tuple[list[dict[str, object]], dict[str, int]]:
        rows = self._connection.execute(
            "SELECT id, received_at, webhook_id, event_id, type, created_at, alerted, data"
            " FROM anthropic_events"
            " WHERE (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR received_at >= ?2)"
            " ORDER BY id DESC LIMIT ?3",
            (event_type, since_s, limit),
        ).fetchall()
        counts = self._connection.execute(
            "SELECT type, COUNT(*) FROM anthropic_events GROUP BY type ORDER BY type"
        ).fetchall()
        events: list[dict[str, object]] = [
            {
                "id": row[0],
                "receivedAt": row[1],
                "webhookId": row[2],
                "eventId": row[3],
                "type": row[4],
                "createdAt": row[5],
                "alerted": bool(row[6]),
                "data": json.loads(row[7]),
            }
            for row in rows
        ]
        return events, {str(kind): int(count) for kind, count in counts}

    async def query(
        self, *, status: str | None, since_s: float | None, limit: int
    ) -> list[dict[str, object]]:
        """The newest ``limit`` alerts received at or after ``since_s``, newest first."""
        future = self._executor.submit(self._query, status, since_s, limit)
        return await asyncio.wrap_future(future)

    def _query(
        self, status: str | None, since_s: float | None, limit: int
    ) -> list[dict[str, object]]:
        rows = self._connection.execute(
            "SELECT id, received_at, webhook_id, group_key, receiver, status, fingerprint,"
            " labels, annotations, starts_at, ends_at FROM alerts"
            " WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR received_at >= ?2)"
            " ORDER BY id DESC LIMIT ?3",
            (status, since_s, limit),
        ).fetchall()
        return [
            {
                "id": row[0],
                "receivedAt": row[1],
                "webhookId": row[2],
                "groupKey": row[3],
                "receiver": row[4],
                "status": row[5],
                "fingerprint": row[6],
                "labels": json.loads(row[7]),
                "annotations": json.loads(row[8]),
                "startsAt": row[9],
                "endsAt": row[10],
            }
            for row in rows
        ]

    def close(self) -> None:
        """Close the connection and stop the thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._executor.submit(self._connection.close).result()
        self._executor.shutdown()


def _insert_alerts(
    connection: sqlite3.Connection,
    webhook_id: str | None,
    notification: Notification,
    now_s: float,
) -> None:
    connection.executemany(
        "INSERT INTO alerts (received_at, webhook_id, group_key, receiver, status,"
        " fingerprint, labels, annotations, starts_at, ends_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                now_s,
                webhook_id,
                notification.group_key,
                notification.receiver,
                alert.status,
                alert.fingerprint,
                json.dumps(alert.labels, sort_keys=True),
                json.dumps(alert.annotations, sort_keys=True),
                alert.starts_at,
                alert.ends_at,
            )
            for alert in notification.alerts
        ],
    )
