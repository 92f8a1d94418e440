"""The batch query (``POST /api/v1/metrics/batch``): one JSON body, one section per item.

:func:`parse_batch` turns a body into a :class:`BatchQuery` or raises
:class:`~agentguard_service.params.InvalidParameter` (a 400 naming the key or the item). The
body is bounded twice: :data:`MAX_BATCH_BODY_BYTES` while it is read (413), and
:data:`MAX_BATCH_ITEMS` counted before any item is looked at, so 10,000 names cost one count.
The query parameters are those of ``GET /api/v1/metrics`` (each a string, or a list of
strings for a comma list), checked by :func:`~agentguard_service.params.parse_query` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import orjson

from agentguard_service.params import (
    PARAMETERS,
    InvalidParameter,
    QueryParams,
    check_name,
    check_steps,
    parse_query,
    shown,
)

__all__ = [
    "BODY_KEYS",
    "ENDPOINT_KINDS",
    "ITEM_KEYS",
    "MAX_BATCH_BODY_BYTES",
    "MAX_BATCH_ITEMS",
    "BatchItem",
    "BatchQuery",
    "parse_batch",
]

MAX_BATCH_BODY_BYTES: Final = 128 * 1024
"""The largest body read; a larger one answers 413 as soon as the limit is passed."""

MAX_BATCH_ITEMS: Final = 50
"""Items one batch may name; more answer 400 before any is read."""

ITEM_KEYS: Final = ("agents", "endpoints", "endpointIds")
"""Where items are listed: agent names; ``llm:<model>``/``tool:<name>``; either (the seed's
``endpointIds``: an item without an endpoint prefix is an agent)."""

ENDPOINT_KINDS: Final = ("llm", "tool")
"""The endpoint prefixes: ``llm:<model>``, ``tool:<name>``."""

BODY_KEYS: Final = (*ITEM_KEYS, *PARAMETERS)
"""Every key a batch body may have."""

_ENDPOINT_LABEL = {"llm": "model", "tool": "tool"}


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One item of a batch: an agent, or an endpoint."""

    id: str
    """The item as the body gave it (``support``, ``llm:claude-opus-4-8``)."""
    endpoint: tuple[str, str] | None = None
    """``(label, value)`` of an endpoint (``("model", "claude-opus-4-8")``); ``None`` for an
    agent."""


@dataclass(frozen=True, slots=True)
class BatchQuery:
    """A valid batch: its items, in order, and the parameters they share."""

    items: tuple[BatchItem, ...]
    params: QueryParams

    def agents_of(self, item: BatchItem) -> tuple[str, ...] | None:
        """The agents ``item`` reads: itself, or for an endpoint ``agent`` (``None``: all)."""
        return (item.id,) if item.endpoint is None else self.params.agents

    @property
    def agents(self) -> tuple[str, ...] | None:
        """Every agent the batch reads (``None``: every agent, as an endpoint over all does).

        With :attr:`QueryParams.agents` and :meth:`agents_of`, the one place a request's
        agents are parsed: a token's scope is checked against it.
        """
        found: list[str] = []
        for item in self.items:
            agents = self.agents_of(item)
            if agents is None:
                return None
            found += agents
        return tuple(dict.fromkeys(found))


def _refuse(parameter: str, value: str, allowed: tuple[str, ...], message: str) -> InvalidParameter:
    return InvalidParameter(parameter, shown(value), allowed, message)


def _strings(key: str, value: object) -> list[str]:
    """A key's value as strings: a string, or a list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise _refuse(
        key,
        orjson.dumps(value).decode(),
        (),
        f"Invalid {key}: give a string or a list of strings",
    )


def _item(key: str, text: str) -> BatchItem:
    """An item, or the 400 naming it (its ``value`` cut, as a body may hold 128 KiB)."""
    try:
        return _parse_item(key, text)
    except InvalidParameter as exc:
        exc.value = shown(text)
        raise


def _parse_item(key: str, text: str) -> BatchItem:
    kind, colon, name = text.partition(":")
    if colon and kind in ENDPOINT_KINDS:
        check_name(key, name, f"{kind}:<name> with a name")
        return BatchItem(text, (_ENDPOINT_LABEL[kind], name))
    if key == "endpoints":
        allowed = tuple(f"{k}:<name>" for k in ENDPOINT_KINDS)
        raise _refuse(
            key, text, allowed, f"Invalid endpoint {shown(text)!r}: use llm:<model> or tool:<name>"
        )
    check_name(key, text)
    return BatchItem(text)


def parse_batch(body: bytes) -> BatchQuery:
    """A :class:`BatchQuery` from a request body (JSON, at most the body limit).

    Raises:
        InvalidParameter: not JSON, not an object, an unknown key, no item or too many, a bad
            or repeated item, a bad parameter, ``format`` other than ``json``, or ``agent``
            with agent items (it narrows endpoints only).
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _refuse(
            "body", "", (), 'The body is not JSON: send an object such as {"agents": ["a"]}'
        ) from None
    if not isinstance(document, dict):
        raise _refuse(
            "body",
            type(document).__name__,
            BODY_KEYS,
            'The body must be a JSON object such as {"agents": ["a"], "timeframe": "1h"}',
        )
    for key in document:
        if key not in BODY_KEYS:
            raise _refuse(
                key, key, BODY_KEYS, f"Unknown key {shown(key)!r}: use {', '.join(BODY_KEYS)}"
            )
    listed = {key: _strings(key, document[key]) for key in ITEM_KEYS if key in document}
    total = sum(len(v) for v in listed.values())
    if not 1 <= total <= MAX_BATCH_ITEMS:
        raise _refuse(
            "items",
            str(total),
            (),
            f"A batch names 1 to {MAX_BATCH_ITEMS} items (in {', '.join(ITEM_KEYS)}); "
            f"this one names {total}",
        )
    items: dict[str, BatchItem] = {}
    for key, texts in listed.items():
        for text in texts:
            if text in items:
                raise _refuse(key, text, (), f"Item {shown(text)!r} is named twice: name it once")
            items[text] = _item(key, text)
    pairs = [(k, ",".join(_strings(k, v))) for k, v in document.items() if k in PARAMETERS]
    params = parse_query(pairs)
    check_steps("items", str(total), total, params)
    if params.format != "json":
        raise _refuse("format", params.format, ("json",), "A batch answers JSON only")
    if params.agent is not None and any(i.endpoint is None for i in items.values()):
        raise _refuse(
            "agent",
            params.agent,
            (),
            "agent narrows endpoint items only: list agents as items, or leave agent out",
        )
    return BatchQuery(tuple(items.values()), params)
