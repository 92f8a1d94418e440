"""The rules of :data:`agentguard.metricmap.RULES` compiled into one function per event class.

A subscriber that turns every event into metrics supplies a :class:`Backend` (what a rule's
update is: arithmetic on a cell, a call) and calls :func:`compile_handler` once per event
class. The handler, ``handle(event, state)``, does what :meth:`agentguard.metricmap.Rule.effect`
says, with the getters inlined; amounts are checked against :mod:`agentguard.limits` (refused
ones go to :meth:`Backend.invalid`), and rules whose labels read the same fields share one
cache lookup (a :class:`Group`, its cache ``state[i]``), applied together.
A traceback names the event class and the rule; ``AGENTGUARD_NO_CODEGEN=1`` runs
:func:`interpret_handler` instead. docs/architecture.md ("Generated code") has the reasoning.
"""

from __future__ import annotations

import keyword
import math
import typing
from collections.abc import Callable
from typing import Any, Protocol

from agentguard import _codegen, events
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

__all__ = ["Backend", "Group", "Handler", "Source", "compile_handler", "interpret_handler"]

Handler = Callable[[Event, list[Any]], None]
"""A compiled handler: ``handle(event, state)``."""


class Source:
    """The source of one handler and the names it refers to."""

    def __init__(self) -> None:
        self.names: dict[str, object] = {"INF": math.inf, "BREAKER_STATES": BREAKER_STATE_NUMBERS}
        """Names the source refers to, bound as default arguments of the handler."""
        self.lines: list[str] = []
        """The body of the handler, indented by four spaces."""

    def bind(self, prefix: str, value: object) -> str:
        """A fresh name (``prefix`` and a number) for ``value`` in the handler."""
        name = f"{prefix}_{len(self.names)}"
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
            return f"BREAKER_STATES[event.{getter.name}]"  # type: ignore[attr-defined]  # same
        if kind is Const:
            return self.bind("const", getter.value)  # type: ignore[attr-defined]  # a Const
        return f"{self.bind('getter', getter)}.get(event)"


class Backend(Protocol):
    """What a subscriber supplies to have the rules compiled (or interpreted) for it.

    :meth:`prologue`, :meth:`key_suffix` and :meth:`apply` write source for the generated
    handler; :meth:`suffix` and :meth:`update` do the same work for :func:`interpret_handler`.
    """

    def includes(self, metric: Metric) -> bool:
        """Whether the subscriber keeps ``metric`` (rules of others are left out)."""
        ...

    def prologue(self, source: Source) -> list[str]:
        """Lines the handler starts with (unindented; may set locals the suffix reads)."""
        ...

    def key_suffix(self, source: Source) -> tuple[str, ...]:
        """Source of values every group key ends with (a time bucket, say); often ``()``."""
        ...

    def suffix(self, event: Event) -> tuple[object, ...]:
        """The values of :meth:`key_suffix` for ``event`` (the interpreter's prologue)."""
        ...

    def resolve(
        self, state: list[Any], rule: Rule, labels: tuple[str, ...], suffix: tuple[object, ...]
    ) -> tuple[object, bool]:
        """The target of ``rule`` for a key, and whether it may be cached for the key.

        ``labels`` are the rule's label values (``None`` read as ``""``), ``suffix`` the
        values of :meth:`key_suffix`. A target that must not be kept (one a cap folded, a
        scratch cell for a dropped series) is resolved again next time.
        """
        ...

    def apply(self, source: Source, rule: Rule, target: str) -> list[str]:
        """Lines (unindented) that apply the checked ``amount`` to ``target``."""
        ...

    def update(self, target: Any, rule: Rule, amount: float, event: Event) -> None:
        """Apply the checked ``amount`` to ``target``, as the lines of :meth:`apply` do."""
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

    The cache of the group is ``state[index]``; it maps a key to a list of targets, one slot
    per rule, resolved on first use. A key none of whose targets may be cached is dropped from
    the cache again, so a cache never holds more keys than the backend allows series.
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
        state: list[Any],
        cache: dict[object, list[object]],
        key: object,
        slots: list[object],
        index: int,
    ) -> object:
        """Resolve rule ``index`` for ``key`` in ``state`` through the backend."""
        rule = self.rules[index]
        # a key of one part is the value itself, of several a tuple
        one = len(self.varying) + self.suffix == 1
        parts: tuple[object, ...] = (key,) if one else key  # type: ignore[assignment]
        cut = len(parts) - self.suffix
        values = [_label(g.value) if isinstance(g, Const) else "" for g in rule.labels]
        for position, value in zip(self.varying, parts[:cut], strict=True):
            values[position] = _label(value)
        target, keep = self.backend.resolve(state, rule, tuple(values), tuple(parts[cut:]))
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


def _admits(rule: Rule, amount: float) -> bool:
    """Whether the generated check of ``rule`` lets ``amount`` through (the interpreter's)."""
    limit = _limit(rule)
    if limit is not None:
        return limit.low <= amount <= limit.high
    return _valid(rule.op, amount)


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


def _describe(rule: Rule) -> str:
    """The rule as a traceback shows it, after the failing line."""
    labels = ", ".join(
        f"{name}={getter.describe()}"
        for name, getter in zip(rule.metric.labels, rule.labels, strict=True)
    )
    return f"{rule.metric.name}{{{labels}}} {rule.op} {rule.value.describe()}"


def _rule(
    source: Source,
    rule: Rule,
    group: Group,
    cls: type[Event],
    slot: tuple[str, str, str, int],
) -> None:
    backend = group.backend
    lines: list[str] = []
    indent = "    "
    if rule.when is not None:
        getter, expected = rule.when
        # ``is`` for None and the booleans: cheaper than ``==`` and the same for them.
        compare = "is" if expected is None or isinstance(expected, bool) else "=="
        wanted = repr(expected) if compare == "is" else source.bind("expected", expected)
        lines.append(f"{indent}if {source.expression(getter)} {compare} {wanted}:")
        indent += "    "
    cache, key, slots, index = slot
    resolve = source.bind("resolve", group.resolve)
    target = f"{slots}_{index}"
    apply = [
        f"if {target} is None:",
        f"    {target} = {resolve}(state, {cache}, {key}, {slots}, {index})",
        *backend.apply(source, rule, target),
    ]
    refuse = source.bind("refuse", backend.invalid(rule, f"{cls.kind} {rule.value.describe()}"))
    comment = f"  # {_describe(rule)}"
    if isinstance(rule.value, Const):
        amount = rule.value.value
        if isinstance(amount, str) or not _valid(rule.op, amount):
            lines.append(f"{indent}{refuse}({source.bind('amount', amount)})")
        else:
            lines.append(f"{indent}amount = {source.bind('amount', amount)}")
            lines.extend(indent + line for line in apply)
        source.lines += [line + comment for line in lines]
        return
    declared = _field_type(cls, rule.value)
    lines.append(f"{indent}amount = {source.expression(rule.value)}")
    limit = _limit(rule)
    # The bounds are literals: a bound name would be one more keyword default to fill in on
    # every call. An int field gets int bounds: comparing an int with a float is slower.
    if limit is not None and declared is int:
        check = f"{int(limit.low)!r} <= amount <= {int(limit.high)!r}"
    elif limit is not None:
        check = f"{float(limit.low)!r} <= amount <= {float(limit.high)!r}"
    elif rule.op == "set":
        check = "-INF < amount < INF"
    else:
        check = "0.0 <= amount < INF"
    if declared is not int:  # an int field is never None by the catalog
        lines.append(f"{indent}if amount is not None:")
        indent += "    "
    # A value of the wrong type (the catalog does not check at runtime) raises here; the bus
    # isolates it and counts it against the subscriber.
    lines.append(f"{indent}if {check}:")
    lines.extend(f"{indent}    {line}" for line in apply)
    lines.append(f"{indent}else:")
    lines.append(f"{indent}    {refuse}(amount)")
    source.lines += [line + comment for line in lines]


def _grouped(cls: type[Event], rules: tuple[Rule, ...], backend: Backend) -> list[list[Rule]]:
    """The rules the backend keeps, by the label getters that are not constants (a group's key).

    ``agentguard_events_published_total`` comes first when the backend keeps it. Groups keep
    the order of their first rule, rules their order within a group: this is the order the
    generated handler applies them in, and the interpreter follows it (the order decides which
    series a cap admits first).
    """
    every = [rule for rule in rules if backend.includes(rule.metric)]
    if backend.includes(EVENTS_PUBLISHED):
        every.insert(0, Rule(metric=EVENTS_PUBLISHED, op="inc", labels=(Const(cls.kind),)))
    grouped: dict[tuple[object, ...], list[Rule]] = {}
    for rule in every:
        key = tuple(_hashable(g) for g in rule.labels if not isinstance(g, Const))
        grouped.setdefault(key, []).append(rule)
    return list(grouped.values())


def _hashable(getter: Getter) -> object:
    try:
        hash(getter)
    except TypeError:
        return id(getter)
    return getter


def compile_handler(
    cls: type[Event],
    rules: tuple[Rule, ...],
    backend: Backend,
    groups: list[Group],
) -> Handler:
    """One function ``handle(event, state)`` that applies ``rules`` (the rules of ``cls``).

    ``agentguard_events_published_total`` is counted first when the backend includes it.
    Each group of this handler is appended to ``groups`` (shared by the handlers of one
    subscriber) and takes index ``len(groups)`` after the append: ``state[i]`` is its cache.
    With generated code switched off (``AGENTGUARD_NO_CODEGEN=1``) this is
    :func:`interpret_handler`, and no group is added.
    """
    if not _codegen.ENABLED:
        return interpret_handler(cls, rules, backend)
    source = Source()
    suffix = backend.key_suffix(source)
    source.lines += ["    " + line for line in backend.prologue(source)]
    for number, group_rules in enumerate(_grouped(cls, rules, backend)):
        key_source = _key(source, group_rules[0], suffix)
        group = Group(group_rules, backend, len(groups) + 1, len(suffix))
        groups.append(group)
        fresh = source.bind("new_slots", group.slots)
        cache, key, slots = f"cache_{number}", f"key_{number}", f"target_{number}"
        # The targets of the group unpacked into locals at once: one step, not one per rule.
        targets = ", ".join(f"{slots}_{index}" for index in range(len(group_rules)))
        names = ", ".join(dict.fromkeys(rule.metric.name for rule in group_rules))
        source.lines += [
            f"    # group {group.index}: {names}",
            f"    {cache} = state[{group.index}]",
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
    name = f"{cls.__name__}_rules"
    text = "\n".join(
        [f"def {name}(event, state, *, {bound}):", *source.lines, "    return None", ""]
    )
    handler: Handler = _codegen.define(
        text, f"<agentguard rules for {cls.__name__}>", name, source.names
    )
    return handler


def interpret_handler(cls: type[Event], rules: tuple[Rule, ...], backend: Backend) -> Handler:
    """``handle(event, state)`` that does what :func:`compile_handler`'s does, interpreted.

    Each rule, in the generated handler's order, is applied by
    :meth:`~agentguard.metricmap.Rule.effect`, its amount checked as the generated code checks
    it, its target resolved by the backend on every event (nothing is cached: ``state`` needs
    only its first item) and updated by :meth:`Backend.update`.
    """
    plan = [
        (rule, backend.invalid(rule, f"{cls.kind} {rule.value.describe()}"))
        for group in _grouped(cls, rules, backend)
        for rule in group
    ]
    suffix_of, resolve, update = backend.suffix, backend.resolve, backend.update

    def handle(event: Event, state: list[Any]) -> None:
        suffix = suffix_of(event)
        for rule, refuse in plan:
            effect = rule.effect(event)
            if effect is None:
                continue
            if not _admits(rule, effect.value):
                refuse(effect.value)
                continue
            target, _ = resolve(state, rule, effect.labels, suffix)
            update(target, rule, effect.value, event)

    handle.__qualname__ = handle.__name__ = f"{cls.__name__}_rules_interpreted"
    return handle
