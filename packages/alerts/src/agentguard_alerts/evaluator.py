"""``Evaluator``: runs rules over a metric store, keeps alert states, hands out notifications.

It runs in the agent's process (:func:`embedded`) or centrally over any store
(``load(FILE).evaluator(store)``). Each alert is a rule's state for one group of its ``by``
labels (``fingerprint``): pending, firing, resolved, each change an ``AlertStateChanged``.
Notifications are per ``group_by`` group, on a change and every ``repeat_interval_s`` while
one fires. Replicas share a :mod:`~agentguard_alerts.lease`: all evaluate (their ids agree),
the holder alone publishes and notifies (packages/alerts/README.md, "Rules", "Replicas").

The trap: a failing store read is logged once per episode and counted
(:attr:`Evaluator.failed_reads`); alerts keep their states, so an outage neither fires nor
resolves anything.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from agentguard import Bus, FailureEpisodes, default_bus
from agentguard.events import AlertState, AlertStateChanged
from agentguard_alerts.lease import Lease, SoleLease
from agentguard_alerts.notification import Alert, Notification, Notifier, fingerprint
from agentguard_alerts.rules import Rule
from agentguard_metrics import Aggregator, MemoryStore, Store

if TYPE_CHECKING:
    from agentguard.events import Event

__all__ = ["DEFAULT_INTERVAL_S", "DEFAULT_REPEAT_INTERVAL_S", "Evaluator", "embedded"]

DEFAULT_INTERVAL_S = 15.0
"""How often the background evaluator runs the rules."""
DEFAULT_REPEAT_INTERVAL_S = 4 * 3600.0
"""How long before a still-firing group is notified again (Alertmanager's default)."""

_logger = logging.getLogger("agentguard_alerts")


@dataclass(slots=True)
class _State:
    rule: Rule
    labels: dict[str, str]
    fingerprint: str
    active_since_s: float
    value: float | None
    firing_since_s: float | None = None


@dataclass(slots=True)
class _Group:
    labels: dict[str, str]
    resolved: list[Alert] = field(default_factory=list)
    changed: bool = False
    last_sent_s: float | None = None
    sent: int = 0


class Evaluator:
    """Evaluates rules over a store and notifies on state changes.

    Args:
        store: What the rules read: an ``agentguard_metrics.Store`` (memory, Redis, ...).
        rules: The rules; names must be unique.
        notifiers: Where notifications go (a :class:`WebhookSender`, several, or none).
        bus: Where ``AlertStateChanged`` is published (the default bus).
        clock: Unix seconds now.
        interval_s: Time between evaluations of the background thread (:meth:`start`).
        repeat_interval_s: Time before a group that still fires is notified again, unless
            its rules say otherwise (the smallest ``repeat_interval_s`` of its alerts wins).
        group_by: The labels notifications are grouped by.
        receiver: The ``receiver`` field of the bodies sent.
        external_url: The ``externalURL`` of the bodies sent (a dashboard, say).
        before_evaluation: Called before each evaluation (the embedded default flushes its
            aggregator into the store here); an exception is logged and evaluation goes on.
        on_close: Called once by :meth:`close`, after the notifiers are closed.
        lease: Which replica evaluates (:class:`~agentguard_alerts.RedisLease`); alone, a
            :class:`~agentguard_alerts.SoleLease` (always the holder). Give the senders
            ``fence=lease.valid`` too (``AlertsConfig.evaluator`` does).

    Raises:
        ValueError: two rules share a name, or an option is out of range.
    """

    def __init__(
        self,
        store: Store,
        rules: Iterable[Rule],
        notifiers: Notifier | Sequence[Notifier] = (),
        *,
        bus: Bus | None = None,
        clock: Callable[[], float] = time.time,
        interval_s: float = DEFAULT_INTERVAL_S,
        repeat_interval_s: float = DEFAULT_REPEAT_INTERVAL_S,
        group_by: Sequence[str] = ("alertname",),
        receiver: str = "agentguard",
        external_url: str = "",
        before_evaluation: Callable[[], object] | None = None,
        on_close: Callable[[], object] | None = None,
        lease: Lease | None = None,
    ) -> None:
        self._rules = list(rules)
        for rule in self._rules:
            if not isinstance(rule, Rule):
                raise TypeError(f"rules must be Rule objects, got {rule!r}")
        names = [rule.name for rule in self._rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(duplicates)}")
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        if not repeat_interval_s > 0:
            raise ValueError(f"repeat_interval_s must be > 0, got {repeat_interval_s!r}")
        if isinstance(group_by, str):
            raise TypeError("group_by is a list of label names, not one str")
        self._store = store
        self._notifiers: tuple[Notifier, ...] = (
            tuple(notifiers) if isinstance(notifiers, Sequence) else (notifiers,)
        )
        self._bus = default_bus if bus is None else bus
        self._clock = clock
        self._interval_s = interval_s
        self._repeat_s = repeat_interval_s
        self._group_by = tuple(group_by)
        self._receiver = receiver
        self._external_url = external_url
        self._before = before_evaluation
        self._on_close = on_close
        self._states: dict[tuple[str, tuple[str, ...]], _State] = {}
        self._groups: dict[tuple[tuple[str, str], ...], _Group] = {}
        self._lock = threading.Lock()
        self._episodes = FailureEpisodes(_logger)
        self._failed_reads = 0
        self._evaluations = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lease: Lease = SoleLease() if lease is None else lease
        self._token: int | None = None
        self._withheld: list[tuple[float, list[Notification], list[Event]]] = []

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules evaluated."""
        return tuple(self._rules)

    @property
    def failed_reads(self) -> int:
        """How many rule evaluations failed because the store did."""
        return self._failed_reads

    @property
    def evaluations(self) -> int:
        """How many evaluations ran."""
        return self._evaluations

    @property
    def lease(self) -> Lease:
        """The lease this evaluator holds or waits for."""
        return self._lease

    def firing(self) -> list[Alert]:
        """The alerts firing now, oldest first."""
        with self._lock:
            states = [s for s in self._states.values() if s.firing_since_s is not None]
        return [self._alert(s, "firing", None) for s in sorted(states, key=_started)]

    # --- one evaluation -----------------------------------------------------------------------

    def evaluate(self, *, at_unix_s: float | None = None) -> list[Notification]:
        """Evaluate every rule once; publish state changes, notify; what was notified.

        ``at_unix_s`` is the evaluation's time (the clock's now by default). The background
        thread passes its tick, a multiple of ``interval_s``, so replicas with the same
        interval evaluate at the same instants, agree on start times, and so on
        notification ids. Without the lease nothing is published nor notified (``[]``);
        on taking it, what was withheld in the last term and two intervals is notified first
        (equal ids: receivers dedupe), and its state changes after the last evaluation a
        holder published are published first.
        """
        if self._before is not None:
            try:
                self._before()
            except Exception as exc:  # noqa: BLE001 (a hook's failure must not stop alerting)
                self._episodes.failed("agentguard_alerts: before_evaluation", repr(exc), exc)
        token = self._lease.acquire()
        with self._lock:
            now = self._clock() if at_unix_s is None else at_unix_s
            events: list[Event] = []
            for rule in self._rules:
                self._evaluate_rule(rule, now, events)
            notifications = self._notifications(now)
            self._evaluations += 1
            since = now - self._lease.ttl_s - 2 * self._interval_s
            self._withheld = [held for held in self._withheld if held[0] >= since]
            if token is None or not self._lease.valid(token):  # a pause can outlast a term
                self._withheld.append((now, notifications, events))
                self._token = None
                return []
            if token != self._token:  # a new term: what the last holder may not have done
                done = self._lease.state().completed_unix_s
                notifications = [n for _, made, _ in self._withheld for n in made] + notifications
                events = [
                    e for at, _, found in self._withheld if done is None or at > done for e in found
                ] + events
            self._withheld = []
            self._token = token
        for event in events:
            self._bus.publish(event)
        notifications = [replace(n, fencing_token=token) for n in notifications]
        for notification in notifications:
            for notifier in self._notifiers:
                try:
                    notifier.notify(notification)
                except Exception as exc:  # noqa: BLE001 (a notifier must not raise; isolate it)
                    key = f"agentguard_alerts: notifier {type(notifier).__name__}"
                    self._episodes.failed(key, "notify raised", exc)
        self._lease.completed(token, now)
        return notifications

    def _evaluate_rule(self, rule: Rule, now: float, events: list[Event]) -> None:
        key = f"agentguard_alerts: rule {rule.name}"
        try:
            values = rule.evaluate(self._store, now)
        except Exception as exc:  # noqa: BLE001 (any store's failure: states kept, logged, counted)
            self._failed_reads += 1
            self._episodes.failed(key, f"reading the store failed: {type(exc).__name__}", exc)
            return
        if self._episodes.failing(key):
            self._episodes.recovered(key)
        holding: set[tuple[str, tuple[str, ...]]] = set()
        for group, value in values.items():
            if not rule.holds(value):
                continue
            state_key = (rule.name, group)
            holding.add(state_key)
            state = self._states.get(state_key)
            if state is None:
                labels = rule.alert_labels(group)
                state = _State(rule, labels, fingerprint(labels), now, value)
                self._states[state_key] = state
            state.value = value
            if state.firing_since_s is None and now - state.active_since_s >= rule.for_s:
                state.firing_since_s = now
                events.append(self._event(state, "firing", value))
                self._group(state.labels).changed = True
        for state_key in [k for k in self._states if k[0] == rule.name and k not in holding]:
            state = self._states.pop(state_key)
            if state.firing_since_s is None:
                continue  # pending, never fired: nothing to resolve
            state.value = values.get(state_key[1])
            resolved_in = self._group(state.labels)
            resolved_in.resolved.append(self._alert(state, "resolved", now))
            resolved_in.changed = True
            events.append(self._event(state, "resolved", state.value))

    def _group(self, labels: dict[str, str]) -> _Group:
        wanted = tuple((name, labels[name]) for name in self._group_by if name in labels)
        group = self._groups.get(wanted)
        if group is None:
            group = self._groups[wanted] = _Group(dict(wanted))
        return group

    def _notifications(self, now: float) -> list[Notification]:
        firing_by_group: dict[int, list[_State]] = {}
        for state in self._states.values():
            if state.firing_since_s is not None:
                firing_by_group.setdefault(id(self._group(state.labels)), []).append(state)
        found: list[Notification] = []
        for wanted, group in list(self._groups.items()):
            firing = sorted(firing_by_group.get(id(group), []), key=_started)
            repeat_s = min(
                (s.rule.repeat_interval_s or self._repeat_s for s in firing), default=self._repeat_s
            )
            due = firing and group.last_sent_s is not None and now - group.last_sent_s >= repeat_s
            if group.changed or due:
                alerts = [self._alert(s, "firing", None) for s in firing] + group.resolved
                found.append(
                    Notification(
                        group_labels=dict(group.labels),
                        alerts=tuple(alerts),
                        receiver=self._receiver,
                        external_url=self._external_url,
                        sequence=group.sent,
                    )
                )
                group.last_sent_s = now
                group.sent += 1
            group.changed = False
            group.resolved = []
            if not firing:
                del self._groups[wanted]
        return found

    def _alert(self, state: _State, status: AlertState, ended_s: float | None) -> Alert:
        assert state.firing_since_s is not None
        return Alert(
            status=status,
            labels=dict(state.labels),
            annotations=state.rule.annotations(state.value, state.labels),
            starts_at_unix_s=state.firing_since_s,
            ends_at_unix_s=ended_s,
            value=state.value,
            fingerprint=state.fingerprint,
        )

    def _event(self, state: _State, status: AlertState, value: float | None) -> AlertStateChanged:
        return AlertStateChanged(
            rule=state.rule.name,
            state=status,
            value=value,
            labels=dict(state.labels),
            at_unix_s=self._clock(),
        )

    # --- the background thread ----------------------------------------------------------------

    def start(self) -> Evaluator:
        """Evaluate now and then every ``interval_s`` on a daemon thread; returns ``self``.

        Each evaluation is timed at a multiple of ``interval_s`` on the clock (the first at
        the latest one before now), so replicas agree on when alerts start.

        Raises:
            RuntimeError: already started, or closed.
        """
        if self._closed:
            raise RuntimeError("this evaluator is closed; make a new one")
        if self._thread is not None:
            raise RuntimeError("this evaluator is started already")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="agentguard-alerts", daemon=True)
        self._thread.start()
        return self

    def _tick(self) -> float:
        """The latest multiple of ``interval_s`` on the clock (the same in every replica)."""
        now = self._clock()
        return now - now % self._interval_s

    def _run(self) -> None:
        tick = self._tick()
        while True:
            try:
                self.evaluate(at_unix_s=tick)
            except Exception as exc:  # noqa: BLE001 (the thread must outlive any bug)
                self._episodes.failed("agentguard_alerts: evaluation", repr(exc), exc)
            tick = max(tick + self._interval_s, self._tick())  # skips ticks missed, if any
            if self._stop.wait(max(0.0, tick - self._clock())):
                return

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the background thread (it finishes the evaluation under way)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def flush(self, timeout_s: float = 2.0) -> bool:
        """Flush every notifier; whether all of them delivered everything in time."""
        deadline = time.monotonic() + timeout_s
        flushed = [n.flush(max(0.0, deadline - time.monotonic())) for n in self._notifiers]
        return all(flushed)

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop, give the lease up, close the notifiers (each delivers what it can in bound)."""
        if self._closed:
            return
        self._closed = True
        self.stop(timeout_s)
        for notifier in self._notifiers:
            try:
                notifier.close()
            except Exception as exc:  # noqa: BLE001 (close the others whatever one does)
                self._episodes.failed("agentguard_alerts: notifier close", repr(exc), exc)
        self._lease.release()
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Evaluator rules={len(self._rules)} firing={len(self.firing())}>"


def _started(state: _State) -> float:
    return state.firing_since_s or 0.0


def embedded(
    rules: Iterable[Rule] | None = None,
    notifiers: Notifier | Sequence[Notifier] = (),
    *,
    bus: Bus | None = None,
    clock: Callable[[], float] = time.time,
    **options: object,
) -> Evaluator:
    """The embedded default: rules over this process's events, no server needed.

    Attaches an ``agentguard_metrics.Aggregator`` to ``bus`` feeding a new ``MemoryStore``
    and returns an evaluator over it that flushes the aggregator before each evaluation;
    :meth:`Evaluator.close` detaches and closes it. Call :meth:`Evaluator.start` to evaluate
    on a background thread. ``rules`` defaults to :func:`~agentguard_alerts.default_rules`;
    other options are :class:`Evaluator`'s.
    """
    from agentguard_alerts.builtin import default_rules

    store = MemoryStore(clock=clock)
    aggregator = Aggregator(store, clock=clock)
    aggregator.attach(bus)
    return Evaluator(
        store,
        default_rules() if rules is None else rules,
        notifiers,
        bus=bus,
        clock=clock,
        before_evaluation=aggregator.flush,
        on_close=aggregator.close,
        **options,  # type: ignore[arg-type]  # the remaining keyword options are Evaluator's
    )
