"""The rules of :data:`agentguard.metricmap.RULES` compiled into one function per event class.

:func:`agentguard.metricmap.effects` reads the rules for every event and builds a tuple of
effect objects; that costs more than the metric updates themselves. Here the rules of each
event class are read once, when a subscriber is made, and turned into the source of one
function with the getters inlined: a :class:`~agentguard.metricmap.Field` becomes an
attribute read, :class:`~agentguard.metricmap.Status` a conditional, a
:class:`~agentguard.metricmap.Const` a constant. A getter of any other class is called as
``getter.get(event)``, so a new kind of getter in the map still works, only slower. The
compiled function does what :func:`~agentguard.metricmap.effects` says, in the same order
(``tests/prometheus/test_subscriber.py`` checks it against ``effects`` for every kind):

- a rule whose ``when`` does not hold, or whose amount reads ``None``, does nothing;
- the amount is checked (``inc``, ``dec`` and ``observe`` need a finite number >= 0, ``set``
  a finite one); a refused amount goes to :meth:`SeriesTable.invalid`;
- rules whose labels read the same fields share one cache lookup (:class:`_Group`): all the
  ``model``-labelled rules of an ``LLMCallFinished`` cost one dict lookup, not fifteen; the
  targets are filled on first use through :meth:`_Group.resolve` (caps by
  :meth:`SeriesTable.admit`). Values a cap folds into ``other`` are not cached, so a cache
  never holds more keys than the caps allow series;
- an update is plain arithmetic on the calling thread's cell, no call and no lock (DESIGN.md
  P3, see :mod:`agentguard_prometheus._families`): ``cell[0] += a`` for ``inc``, ``-=`` for
  ``dec``, and for ``observe`` one to the bucket ``bisect_left(buckets, a)`` (the first
  bound ``>= a``, or ``+Inf``) and ``a`` to the sum. Only gauges that some rule sets go
  through a call, which takes the store's lock (last writer wins across threads).

The handler is ``handle(event, t)``: ``t`` is the calling thread's state, which the subscriber
finds through a ``threading.local`` once per event (``t[0]`` the thread's cells, ``t[i]`` the
cache of group ``i``), so caches and cells are never shared between threads.
"""

from __future__ import annotations

import keyword
import math
import typing
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from agentguard import events
from agentguard.events import Event
from agentguard.metricmap import (
    BREAKER_STATE_NUMBERS,
    EVENTS_PUBLISHED,
    RULES,
    Const,
    Field,
    Getter,
    Rule,
    StateNumber,
    Status,
)
from agentguard_prometheus._series import SeriesTable

__all__ = ["compile_handler"]

Handler = Callable[[Event, list[Any]], None]


def _attribute(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


class _Source:
    """The source of one handler and the names it refers to."""

    def __init__(self) -> None:
        self.names: dict[str, object] = {"INF": math.inf, "STATE": BREAKER_STATE_NUMBERS}
        self.lines: list[str] = []

    def bind(self, prefix: str, value: object) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def expression(self, getter: Getter) -> str:
        """Source that reads what ``getter.get(event)`` reads."""
        kind = type(getter)
        if kind is Field and _attribute(getter.name):  # type: ignore[attr-defined]  # a Field
            return f"event.{getter.name}"  # type: ignore[attr-defined]  # same
        if kind is Status:
            return '("ok" if event.ok else "error")'
        if kind is StateNumber and _attribute(getter.name):  # type: ignore[attr-defined]  # a StateNumber
            return f"STATE[event.{getter.name}]"  # type: ignore[attr-defined]  # same
        if kind is Const:
            return self.bind("K", getter.value)  # type: ignore[attr-defined]  # a Const
        return f"{self.bind('G', getter)}.get(event)"


def _label(value: object) -> str:
    return "" if value is None else str(value)


class _Group:
    """The rules of one handler that share a label key: one cache lookup serves them all.

    Each thread has its own cache for the group (``t[index]`` of the handler's thread state),
    mapping a key to a list of targets, one slot per rule, resolved on first use (so a rule
    whose condition never holds never creates its series). A target is the calling thread's
    cell of the series, or for a shared gauge an update that runs under the store's lock. A
    key that a cap folds into ``other`` is dropped from the cache again, so a cache never
    holds more keys than the caps allow series.
    """

    def __init__(
        self, rules: list[Rule], table: SeriesTable, index: int, shared: frozenset[str]
    ) -> None:
        self.rules = rules
        self.table = table
        self.index = index
        self.shared = shared
        first = rules[0]
        self.varying = tuple(i for i, g in enumerate(first.labels) if not isinstance(g, Const))

    @staticmethod
    def slots(cache: dict[object, list[object]], key: object, size: int) -> list[object]:
        """A fresh list of ``size`` unresolved targets for ``key``, cached."""
        slots: list[object] = [None] * size
        cache[key] = slots
        return slots

    def resolve(
        self,
        t: list[Any],
        cache: dict[object, list[object]],
        key: object,
        slots: list[object],
        index: int,
    ) -> object:
        """Resolve rule ``index`` for ``key`` in thread state ``t``: labels, caps, target."""
        rule = self.rules[index]
        values = [_label(g.value) if isinstance(g, Const) else "" for g in rule.labels]
        if len(self.varying) == 1:
            values[self.varying[0]] = _label(key)
        else:
            for position, value in zip(self.varying, key, strict=True):  # type: ignore[call-overload]  # a tuple when several labels vary
                values[position] = _label(value)
        labels, folded = self.table.admit(rule.metric, tuple(values))
        store = self.table.store
        target: object
        if rule.metric.name in self.shared:
            target = store.shared(rule.metric, rule.op, labels)
        else:
            target = store.cell(t[0], rule.metric, labels)
        if folded:
            cache.pop(key, None)
        else:
            slots[index] = target
        return target


def _valid(op: str, amount: float) -> bool:
    if op == "set":
        return -math.inf < amount < math.inf
    return 0.0 <= amount < math.inf


def _key(source: _Source, rule: Rule) -> str:
    """Source of the label key of ``rule``: the labels that are not constants."""
    varying = [g for g in rule.labels if not isinstance(g, Const)]
    if not varying:
        return "()"
    if len(varying) == 1:
        return source.expression(varying[0])
    return "(" + ", ".join(source.expression(g) for g in varying) + ",)"


def _field_type(cls: type[Event], getter: Getter) -> object:
    """The declared type of what ``getter`` reads from ``cls``, or ``None`` when not known."""
    if type(getter) is not Field:
        return None
    name = getter.name
    hints = typing.get_type_hints(cls, vars(events))
    if name in hints:
        return hints[name]
    prop = getattr(cls, name, None)
    if isinstance(prop, property) and prop.fget is not None:
        return typing.get_type_hints(prop.fget).get("return")
    return None


def _apply(source: _Source, rule: Rule, target: str, shared: bool) -> list[str]:
    """Source that applies amount ``a`` to ``target``, the resolved cell or update."""
    if shared:
        return [f"{target}(a)"]
    if rule.op == "observe":
        bounds = source.bind("B", rule.metric.buckets)
        total = len(rule.metric.buckets) + 1  # the sum's slot, after the +Inf bucket
        return [f"{target}[BISECT({bounds}, a)] += 1.0", f"{target}[{total}] += a"]
    return [f"{target}[0] {'-=' if rule.op == 'dec' else '+='} a"]


def _rule(
    source: _Source,
    rule: Rule,
    group: _Group,
    cls: type[Event],
    slot: tuple[str, str, str, int],
) -> None:
    table = group.table
    where = cls.kind
    lines = source.lines
    indent = "    "
    if rule.when is not None:
        getter, expected = rule.when
        # ``is`` for None and the booleans: cheaper than ``==`` and the same for them.
        compare = "is" if expected is None or isinstance(expected, bool) else "=="
        wanted = repr(expected) if compare == "is" else source.bind("W", expected)
        lines.append(f"{indent}if {source.expression(getter)} {compare} {wanted}:")
        indent += "    "
    cache, key, slots, index = slot
    resolve = source.bind("R", group.resolve)
    target = f"{slots}_{index}"
    apply = [
        f"if {target} is None:",
        f"    {target} = {resolve}(t, {cache}, {key}, {slots}, {index})",
        *_apply(source, rule, target, rule.metric.name in group.shared),
    ]
    refuse = source.bind(
        "X", lambda amount: table.invalid(rule.metric, f"{where} {rule.value.describe()}", amount)
    )
    if isinstance(rule.value, Const):
        amount = rule.value.value
        if isinstance(amount, str) or not _valid(rule.op, amount):
            lines.append(f"{indent}{refuse}({source.bind('A', amount)})")
            return
        lines.append(f"{indent}a = {source.bind('A', amount)}")
        lines.extend(indent + line for line in apply)
        return
    declared = _field_type(cls, rule.value)
    lines.append(f"{indent}a = {source.expression(rule.value)}")
    if declared is not int:  # an int field is never None, NaN or infinite by the catalog
        check = "-INF < a < INF" if rule.op == "set" else "0.0 <= a < INF"
        lines.append(f"{indent}if a is not None:")
        indent += "    "
    else:
        check = "a >= 0" if rule.op != "set" else "True"
    # A value of the wrong type (the catalog does not check at runtime) raises here; the bus
    # isolates it and counts it against the subscriber.
    lines.append(f"{indent}if {check}:")
    lines.extend(f"{indent}    {line}" for line in apply)
    lines.append(f"{indent}else:")
    lines.append(f"{indent}    {refuse}(a)")


SHARED: frozenset[str] = frozenset(
    rule.metric.name
    for rules in RULES.values()
    for rule in rules
    if rule.op == "set" and rule.metric.type == "gauge"
)
"""The gauges some rule sets: their cells are shared by all threads (last writer wins)."""


def compile_handler(
    cls: type[Event],
    rules: tuple[Rule, ...],
    table: SeriesTable,
    groups: list[object],
    shared: frozenset[str] = SHARED,
) -> Handler:
    """One function ``handle(event, t)`` that applies ``rules`` (the rules of ``cls``).

    ``t`` is the calling thread's state: ``t[0]`` its
    :class:`~agentguard_prometheus._families.Cells`, ``t[i]`` the cache of group ``i``. Each
    group of this handler is appended to ``groups`` (shared by the handlers of one subscriber)
    and takes index ``len(groups)`` after the append.
    """
    source = _Source()
    source.names["BISECT"] = bisect_left
    every = list(rules)
    if table.has(EVENTS_PUBLISHED):
        every.insert(0, Rule(metric=EVENTS_PUBLISHED, op="inc", labels=(Const(cls.kind),)))
    grouped: dict[str, list[Rule]] = {}
    for rule in every:
        if table.has(rule.metric):
            grouped.setdefault(_key(source, rule), []).append(rule)
    for number, (key_source, group_rules) in enumerate(grouped.items()):
        groups.append(None)
        group = _Group(group_rules, table, len(groups), shared)
        groups[-1] = group
        fresh = source.bind("N", group.slots)
        cache, key, slots = f"c{number}", f"k{number}", f"u{number}"
        # The targets of the group unpacked into locals at once: one step, not one per rule.
        targets = ", ".join(f"{slots}_{index}" for index in range(len(group_rules)))
        source.lines += [
            f"    {cache} = t[{group.index}]",
            f"    {key} = {key_source}",
            f"    {slots} = {cache}.get({key})",
            f"    if {slots} is None:",
            f"        {slots} = {fresh}({cache}, {key}, {len(group_rules)})",
            f"    {targets}{',' if len(group_rules) == 1 else ''} = {slots}",
        ]
        for index, rule in enumerate(group_rules):
            _rule(source, rule, group, cls, (cache, key, slots, index))
    # Every name is bound as a default argument: a fast local instead of a global lookup.
    bound = ", ".join(f"{name}={name}" for name in source.names)
    text = "\n".join([f"def handle(event, t, *, {bound}):", *source.lines, "    return None", ""])
    code = compile(text, f"<agentguard_prometheus: {cls.__name__}>", "exec")
    exec(code, source.names)  # noqa: S102 (source built above from the metric map, no outside text)
    handler: Handler = source.names["handle"]  # type: ignore[assignment]  # defined by the exec above
    return handler
