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
  bound updates (``child.inc`` ...) are filled on first use through
  :meth:`SeriesTable.update`. Values a cap folds into ``other`` are not cached, so the cache
  never holds more keys than the caps allow series.
"""

from __future__ import annotations

import keyword
import math
import typing
from collections.abc import Callable

from agentguard import events
from agentguard.events import Event
from agentguard.metricmap import (
    BREAKER_STATE_NUMBERS,
    EVENTS_PUBLISHED,
    Const,
    Field,
    Getter,
    Rule,
    StateNumber,
    Status,
)
from agentguard_prometheus._series import SeriesTable, Update

__all__ = ["compile_handler"]

Handler = Callable[[Event], None]


def _attribute(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


class _Source:
    """The source of one handler and the names it refers to."""

    def __init__(self) -> None:
        self.names: dict[str, object] = {"INF": math.inf, "STATE": BREAKER_STATE_NUMBERS}
        self.lines: list[str] = []
        self.pending: list[tuple[str, int]] = []

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

    The cache maps a key to a list of bound updates, one slot per rule, resolved on first use
    (so a rule whose condition never holds never creates its series). A key that a cap folds
    into ``other`` is dropped from the cache again, so the cache never holds more keys than
    the caps allow series.
    """

    def __init__(self, rules: list[Rule], table: SeriesTable) -> None:
        self.rules = rules
        self.table = table
        self.cache: dict[object, list[Update | None]] = {}
        first = rules[0]
        self.varying = tuple(i for i, g in enumerate(first.labels) if not isinstance(g, Const))

    def slots(self, key: object) -> list[Update | None]:
        """A fresh list of unresolved updates for ``key``, cached."""
        slots: list[Update | None] = [None] * len(self.rules)
        self.cache[key] = slots
        return slots

    def resolve(self, key: object, slots: list[Update | None], index: int) -> Update:
        """Resolve rule ``index`` for ``key``: full label values, caps, child."""
        rule = self.rules[index]
        values = [_label(g.value) if isinstance(g, Const) else "" for g in rule.labels]
        if len(self.varying) == 1:
            values[self.varying[0]] = _label(key)
        else:
            for position, value in zip(self.varying, key, strict=True):  # type: ignore[call-overload]  # a tuple when several labels vary
                values[position] = _label(value)
        update, folded = self.table.update(rule.metric, rule.op, tuple(values))
        if folded:
            self.cache.pop(key, None)
        else:
            slots[index] = update
        return update


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


def _rule(
    source: _Source,
    rule: Rule,
    table: SeriesTable,
    cls: type[Event],
    slot: tuple[str, str, int],
) -> None:
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
    key, slots, index = slot
    resolve = source.bind("R", None)
    update = f"{slots}_{index}"
    apply = [
        f"if {update} is None:",
        f"    {update} = {resolve}({key}, {slots}, {index})",
        f"{update}(a)",
    ]
    source.pending.append((resolve, index))
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


def compile_handler(cls: type[Event], rules: tuple[Rule, ...], table: SeriesTable) -> Handler:
    """One function that applies ``rules`` (the rules of ``cls``) to an event of ``cls``."""
    source = _Source()
    if table.has(EVENTS_PUBLISHED):
        published, _ = table.update(EVENTS_PUBLISHED, "inc", (cls.kind,))
        source.lines.append(f"    {source.bind('P', published)}(1.0)")
    grouped: dict[str, list[Rule]] = {}
    for rule in rules:
        if table.has(rule.metric):
            grouped.setdefault(_key(source, rule), []).append(rule)
    for number, (key_source, group_rules) in enumerate(grouped.items()):
        group = _Group(group_rules, table)
        cache, fresh = source.bind("C", group.cache), source.bind("N", group.slots)
        key, slots = f"k{number}", f"u{number}"
        # The updates of the group unpacked into locals at once: one step, not one per rule.
        updates = ", ".join(f"{slots}_{index}" for index in range(len(group_rules)))
        source.lines += [
            f"    {key} = {key_source}",
            f"    {slots} = {cache}.get({key})",
            f"    if {slots} is None:",
            f"        {slots} = {fresh}({key})",
            f"    {updates}{',' if len(group_rules) == 1 else ''} = {slots}",
        ]
        for index, rule in enumerate(group_rules):
            source.pending.clear()
            _rule(source, rule, table, cls, (key, slots, index))
            for name, _ in source.pending:
                source.names[name] = group.resolve
    # Every name is bound as a default argument: a fast local instead of a global lookup.
    bound = ", ".join(f"{name}={name}" for name in source.names)
    text = "\n".join([f"def handle(event, *, {bound}):", *source.lines, "    return None", ""])
    code = compile(text, f"<agentguard_prometheus: {cls.__name__}>", "exec")
    exec(code, source.names)  # noqa: S102 (source built above from the metric map, no outside text)
    handler: Handler = source.names["handle"]  # type: ignore[assignment]  # defined by the exec above
    return handler
