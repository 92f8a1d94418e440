"""The rules of :data:`agentguard.metricmap.RULES` compiled into one function per event class.

:func:`agentguard.metricmap.effects` reads the rules for every event and builds a tuple of
effect objects; that costs more than the metric updates themselves (about 17 us for an
``LLMCallFinished``). A subscriber that turns every event into metrics (the Prometheus
subscriber, the metrics aggregator) compiles the rules instead, once, into the source of one
function per event class with the getters inlined: a :class:`~agentguard.metricmap.Field`
becomes an attribute read, :class:`~agentguard.metricmap.Status` a conditional, a
:class:`~agentguard.metricmap.Const` a constant. A getter of any other class is called as
``getter.get(event)``, so a new kind of getter in the map still works, only slower.

The compiled function does what :func:`~agentguard.metricmap.effects` says, in the same order
(each subscriber's tests check it against ``effects`` for every kind):

- a rule whose ``when`` does not hold, or whose amount reads ``None``, does nothing;
- the amount is checked (``inc``, ``dec`` and ``observe`` need a number in the range
  :func:`agentguard.limits.limit_for` gives the field it reads, or a finite number >= 0 when
  it has none; ``set`` a finite one); a refused amount goes to the backend's
  :meth:`Backend.invalid`, so an extreme value (``1e308``) is never summed;
- rules whose labels read the same fields share one cache lookup (a *group*): all the
  ``model``-labelled rules of an ``LLMCallFinished`` cost one dict lookup, not fifteen. The
  cache maps the group's *key* (the label values that are not constants, then the backend's
  :meth:`Backend.key_suffix` values) to one *target* per rule, resolved on first use by
  :meth:`Backend.resolve` (so a rule whose condition never holds never creates its series);
- the update itself is the source the backend gives (:meth:`Backend.apply`), applied to the
  resolved target: plain arithmetic on a cell, so an event costs no call per rule.

The function is ``handle(event, t)``: ``t`` is a list the backend owns (``t[0]`` for its own
use, ``t[i]`` the cache of group ``i``, a dict), so a backend decides what a cache is shared
by: one thread (the Prometheus subscriber) or one buffer swapped at each flush (the metrics
aggregator).
"""

from __future__ import annotations

import keyword
import math
import typing
from collections.abc import Callable
from typing import Any, Protocol

from agentguard import events
from agentguard.events import Event
from agentguard.limits import Limit, limit_for
from agentguard.metricmap import (
    BREAKER_STATE_NUMBERS,
    EVENTS_PUBLISHED,
    Const,
    Field,
    Getter,
    Metric,
    Rule,
    StateNumber,
    Status,
)

__all__ = ["Backend", "Group", "Handler", "Source", "compile_handler"]

Handler = Callable[[Event, list[Any]], None]
"""A compiled handler: ``handle(event, t)``."""


class Source:
    """The source of one handler and the names it refers to."""

    def __init__(self) -> None:
        self.names: dict[str, object] = {"INF": math.inf, "STATE": BREAKER_STATE_NUMBERS}
        """Names the source refers to, bound as default arguments of the handler."""
        self.lines: list[str] = []
        """The body of the handler, indented by four spaces."""

    def bind(self, prefix: str, value: object) -> str:
        """A fresh name for ``value`` in the handler."""
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


class Backend(Protocol):
    """What a subscriber supplies to have the rules compiled for it."""

    def includes(self, metric: Metric) -> bool:
        """Whether the subscriber keeps ``metric`` (rules of others are left out)."""
        ...

    def prologue(self, source: Source) -> list[str]:
        """Lines the handler starts with (unindented; may set locals the suffix reads)."""
        ...

    def key_suffix(self, source: Source) -> tuple[str, ...]:
        """Source of values every group key ends with (a time bucket, say); often ``()``."""
        ...

    def resolve(
        self, t: list[Any], rule: Rule, labels: tuple[str, ...], suffix: tuple[object, ...]
    ) -> tuple[object, bool]:
        """The target of ``rule`` for a key, and whether it may be cached for the key.

        ``labels`` are the rule's label values (``None`` read as ``""``), ``suffix`` the
        values of :meth:`key_suffix`. A target that must not be kept (one a cap folded, a
        scratch cell for a dropped series) is resolved again next time.
        """
        ...

    def apply(self, source: Source, rule: Rule, target: str) -> list[str]:
        """Lines (unindented) that apply the checked amount ``a`` to ``target``."""
        ...

    def invalid(self, rule: Rule, where: str) -> Callable[[object], None]:
        """What to call with an amount ``rule`` refused; ``where`` names the event and field."""
        ...


def _attribute(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _label(value: object) -> str:
    return "" if value is None else str(value)


class Group:
    """The rules of one handler that share a key: one cache lookup serves them all.

    The cache of the group is ``t[index]``; it maps a key to a list of targets, one slot per
    rule, resolved on first use. A key none of whose targets may be cached is dropped from the
    cache again, so a cache never holds more keys than the backend allows series.
    """

    def __init__(self, rules: list[Rule], backend: Backend, index: int, suffix: int) -> None:
        self.rules = rules
        self.backend = backend
        self.index = index
        self.varying = tuple(i for i, g in enumerate(rules[0].labels) if not isinstance(g, Const))
        self.suffix = suffix

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
        """Resolve rule ``index`` for ``key`` in state ``t`` through the backend."""
        rule = self.rules[index]
        # a key of one part is the value itself, of several a tuple
        one = len(self.varying) + self.suffix == 1
        parts: tuple[object, ...] = (key,) if one else key  # type: ignore[assignment]
        cut = len(parts) - self.suffix
        values = [_label(g.value) if isinstance(g, Const) else "" for g in rule.labels]
        for position, value in zip(self.varying, parts[:cut], strict=True):
            values[position] = _label(value)
        target, keep = self.backend.resolve(t, rule, tuple(values), tuple(parts[cut:]))
        if keep:
            slots[index] = target
        else:
            cache.pop(key, None)
        return target


def _limit(rule: Rule) -> Limit | None:
    """The range of the field ``rule`` reads its amount from (:mod:`agentguard.limits`)."""
    if rule.op == "set":
        return None
    name = getattr(rule.value, "name", None)
    return limit_for(name) if isinstance(name, str) else None


def _valid(op: str, amount: float) -> bool:
    if op == "set":
        return -math.inf < amount < math.inf
    return 0.0 <= amount < math.inf


def _key(source: Source, rule: Rule, suffix: tuple[str, ...]) -> str:
    """Source of the key of ``rule``: the labels that are not constants, then the suffix."""
    parts = [source.expression(g) for g in rule.labels if not isinstance(g, Const)]
    parts += suffix
    if not parts:
        return "()"
    if len(parts) == 1:
        return parts[0]
    return "(" + ", ".join(parts) + ",)"


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
    source: Source,
    rule: Rule,
    group: Group,
    cls: type[Event],
    slot: tuple[str, str, str, int],
) -> None:
    backend = group.backend
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
        *backend.apply(source, rule, target),
    ]
    refuse = source.bind("X", backend.invalid(rule, f"{cls.kind} {rule.value.describe()}"))
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
    limit = _limit(rule)
    # The bounds are literals: a bound name would be one more keyword default to fill in on
    # every call. An int field gets int bounds: comparing an int with a float is slower.
    if limit is not None and declared is int:
        check = f"{int(limit.low)!r} <= a <= {int(limit.high)!r}"
    elif limit is not None:
        check = f"{float(limit.low)!r} <= a <= {float(limit.high)!r}"
    elif rule.op == "set":
        check = "-INF < a < INF"
    else:
        check = "0.0 <= a < INF"
    if declared is not int:  # an int field is never None by the catalog
        lines.append(f"{indent}if a is not None:")
        indent += "    "
    # A value of the wrong type (the catalog does not check at runtime) raises here; the bus
    # isolates it and counts it against the subscriber.
    lines.append(f"{indent}if {check}:")
    lines.extend(f"{indent}    {line}" for line in apply)
    lines.append(f"{indent}else:")
    lines.append(f"{indent}    {refuse}(a)")


def compile_handler(
    cls: type[Event],
    rules: tuple[Rule, ...],
    backend: Backend,
    groups: list[Group],
) -> Handler:
    """One function ``handle(event, t)`` that applies ``rules`` (the rules of ``cls``).

    ``agentguard_events_published_total`` is counted first when the backend includes it.
    Each group of this handler is appended to ``groups`` (shared by the handlers of one
    subscriber) and takes index ``len(groups)`` after the append: ``t[i]`` is its cache.
    """
    source = Source()
    every = list(rules)
    if backend.includes(EVENTS_PUBLISHED):
        every.insert(0, Rule(metric=EVENTS_PUBLISHED, op="inc", labels=(Const(cls.kind),)))
    suffix = backend.key_suffix(source)
    grouped: dict[str, list[Rule]] = {}
    for rule in every:
        if backend.includes(rule.metric):
            grouped.setdefault(_key(source, rule, suffix), []).append(rule)
    source.lines += ["    " + line for line in backend.prologue(source)]
    for number, (key_source, group_rules) in enumerate(grouped.items()):
        group = Group(group_rules, backend, len(groups) + 1, len(suffix))
        groups.append(group)
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
    code = compile(text, f"<agentguard.compiler: {cls.__name__}>", "exec")
    exec(code, source.names)  # noqa: S102 (source built above from the metric map, no outside text)
    handler: Handler = source.names["handle"]  # type: ignore[assignment]  # defined by the exec above
    return handler
