"""The loop guard: watches each run's tool calls, warns about a loop, then stops it."""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final, ParamSpec, TypeVar, cast, overload

from agentguard import Bus, FailureEpisodes, default_bus
from agentguard.context import current_run
from agentguard.events import LoopAction, LoopDetected
from agentguard_loopguard._canonical import Key, canonical_key, error_key
from agentguard_loopguard.errors import ToolLoopDetected
from agentguard_loopguard.policies import Detection, Policy, default_policy
from agentguard_loopguard.state import LoopState, ToolCall

__all__ = ["LoopGuard"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_logger = logging.getLogger("agentguard_loopguard")


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Final = _Unset()
_MAX_WARNINGS = 64
"""Warnings remembered per run (oldest forgotten first); one per (pattern, tool)."""


class LoopGuard:
    """Watches the tool calls of each agent run and stops the ones that loop.

    A call is the tool's name plus its arguments, canonicalized (JSON with sorted keys; what
    JSON cannot carry falls back to a type-tagged ``repr``, long texts to a digest; never
    raises; bounded work, so huge arguments are cut, noted in the key, and cost well under a
    millisecond), optionally with its result or error. The policy (by default
    ``max_repeated_errors(3) | max_polls(5) | max_repeats(4) | max_cycle(6)``) is asked about
    the run after each thing the guard learns: when a call is *admitted* (about to run) and
    when it is *settled* (its result or error known). :meth:`check` does both at once.

    Warn, then stop. Each detection names a pattern, a tool and ``repeats``, which grows by
    one with each call that continues the loop. Per run and per (pattern, tool):

    - the first detection *warns*: it publishes ``LoopDetected(action="warn")`` and the call
      goes on (:meth:`check` and :meth:`after` return the detection);
    - a later call whose detection has a larger ``repeats`` than the warning had (the loop
      went on) *stops*: it publishes ``LoopDetected(action="stop")`` and raises
      :class:`ToolLoopDetected`;
    - a detection with no larger ``repeats`` (the loop was broken and a new one reached the
      threshold again) warns again;
    - the same call judged twice (admitted, then settled) warns at most once.

    With the default policy (and no overlapping calls): the 4th identical call in a row warns
    and the 5th is stopped when admitted; the 6th call of an A-B cycle warns and the 7th is
    stopped; the 5th identical result of a poll with varying calls between the polls warns and
    the 6th identical poll is stopped when admitted; the 3rd identical error in a row from a
    tool warns and the 4th call stops: when admitted if it repeats the failing call exactly
    (refused before it runs), else when it has failed the same way again.

    With ``warn_then_stop=False`` the first detection stops. Once stopped, every call that
    continues the loop stops again. Repeats and polling of allow-listed tools are never
    reported, nor cycles through them.

    State is kept per run (``agentguard.context.current_run()``; calls outside any run share
    one anonymous state), at most ``max_history`` calls each and at most ``max_runs`` runs
    (the least recently used is forgotten). One guard may serve many threads and tasks.
    Publishing never changes a decision: a failing bus is logged once per episode.

    Args:
        policy: The policy that tells a loop (see :mod:`agentguard_loopguard.policies`).
        allow: Tools that legitimately poll: never reported for repeats or polling.
        bus: Where ``LoopDetected`` goes; the default bus when ``None``.
        max_history: The newest calls kept per run (also the most calls between two polls).
        max_runs: The runs whose state is kept.
        warn_then_stop: Warn at the first detection (``True``) or stop at once.

    Raises:
        TypeError: ``policy`` is not a :class:`Policy`, or ``allow`` is not tool names.
        ValueError: ``max_history`` or ``max_runs`` is not a positive int, or ``max_history``
            is shorter than the longest cycle period the policy looks for.
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        allow: Iterable[str] = (),
        bus: Bus | None = None,
        max_history: int = 100,
        max_runs: int = 1000,
        warn_then_stop: bool = True,
    ) -> None:
        if policy is None:
            policy = default_policy()
        elif not isinstance(policy, Policy):
            raise TypeError(
                f"policy must be a Policy such as max_repeats(4) | max_cycle(6), got {policy!r}"
            )
        if isinstance(allow, (str, bytes)) or not isinstance(allow, Iterable):
            raise TypeError(f"allow must be a collection of tool names, got {allow!r}")
        given: frozenset[object] = frozenset(allow)
        if not all(isinstance(tool, str) and tool for tool in given):
            raise TypeError(f"allow must hold non-empty tool names, got {sorted(given, key=repr)}")
        if type(max_history) is not int or max_history < 2:
            raise ValueError(f"max_history must be an int of at least 2, got {max_history!r}")
        if max_history <= policy.periods:
            raise ValueError(
                f"max_history must exceed the longest cycle period the policy looks for "
                f"({policy.periods}), got {max_history!r}"
            )
        if type(max_runs) is not int or max_runs < 1:
            raise ValueError(f"max_runs must be an int of at least 1, got {max_runs!r}")
        if not isinstance(warn_then_stop, bool):
            raise TypeError(f"warn_then_stop must be a bool, got {warn_then_stop!r}")
        if bus is not None and not isinstance(bus, Bus):
            raise TypeError(f"bus must be an agentguard.Bus, got {bus!r}")
        self.policy: Final = policy
        self.allow: Final = cast("frozenset[str]", given)
        self.warn_then_stop: Final = warn_then_stop
        self._bus = bus or default_bus
        self._max_history = max_history
        self._max_runs = max_runs
        self._periods = policy.periods
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, LoopState] = OrderedDict()
        self._anonymous = self._new_state(None)
        self._episodes = FailureEpisodes(_logger)

    def __repr__(self) -> str:
        return f"LoopGuard({self.policy!r}, allow={sorted(self.allow)!r})"

    # -- the plain API --------------------------------------------------------------------

    def check(
        self,
        tool: str,
        args: object = None,
        *,
        result: object = _UNSET,
        error: BaseException | str | None = None,
    ) -> Detection | None:
        """Record one call (finished when ``result`` or ``error`` is given) and judge it.

        For frameworks that see tool calls one at a time. Without ``result`` and ``error``
        only repeats and cycles can be told; call it before running the tool to have a
        stopped call refused, or after, with its outcome, to catch polling and repeated
        errors as well. Use :meth:`before` and :meth:`after` for both.

        Args:
            tool: The tool's name.
            args: Its arguments (any value; usually the JSON input of a ``tool_use`` block).
            result: What it returned.
            error: The exception it raised, or an error message.

        Returns:
            The loop this call is part of while the guard only warns, else ``None``.

        Raises:
            ToolLoopDetected: The guard stopped the loop.
        """
        key = (_tool_name(tool), canonical_key(args))
        outcome = _outcome(result, error)
        with self._lock:
            state = self._state()
            call = state._admit(key)
            if outcome is not None or error is not None:
                state._settle(call, outcome, failed=error is not None)
            detection = self.policy(state)
            action = self._decide(state, call, detection)
        return self._act(detection, action, state)

    def before(self, tool: str, args: object = None) -> ToolCall:
        """Admit a call that is about to run; pass what it returns to :meth:`after`.

        Raises:
            ToolLoopDetected: The guard stopped the loop: do not run the call.
        """
        key = (_tool_name(tool), canonical_key(args))
        with self._lock:
            state = self._state()
            call = state._admit(key)
            detection = self.policy(state)
            action = self._decide(state, call, detection)
        self._act(detection, action, state)
        return call

    def after(
        self,
        call: ToolCall,
        *,
        result: object = _UNSET,
        error: BaseException | str | None = None,
    ) -> Detection | None:
        """Settle a call admitted by :meth:`before` with its result or error, and judge it.

        With neither, the call is settled with an unknown outcome.

        Returns:
            The loop this call is part of while the guard only warns, else ``None``.

        Raises:
            ToolLoopDetected: The guard stopped the loop (the call has run; drop its result).
            ValueError: ``call`` was settled already.
        """
        if not isinstance(call, ToolCall):
            raise TypeError(f"after() takes the ToolCall that before() returned, got {call!r}")
        outcome = _outcome(result, error)
        with self._lock:
            if call.settled:
                raise ValueError(f"{call!r} was settled already; call after() once per before()")
            run_id = call._run_id
            state = self._anonymous if run_id is None else self._runs.get(run_id)
            if state is None or call._seq > state._seq:  # its run was forgotten meanwhile
                call._settled = True
                return None
            state._settle(call, outcome, failed=error is not None)
            detection = self.policy(state)
            action = self._decide(state, call, detection)
        return self._act(detection, action, state)

    # -- the decorator --------------------------------------------------------------------

    @overload
    def watch(self, fn: Callable[_P, _R], /) -> Callable[_P, _R]: ...

    @overload
    def watch(
        self, name: str | None = None, /
    ) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]: ...

    def watch(self, target: Callable[..., Any] | str | None = None, /) -> Any:
        """Watch a tool function: ``@guard.watch`` or ``@guard.watch("name")``.

        Each call is admitted with its arguments (bound to the function's parameters, defaults
        applied) and settled with its return value or exception; works on functions and
        coroutine functions. A call the guard stops is refused before it runs, or, when only
        its outcome completes the loop, :class:`ToolLoopDetected` replaces its result (chained
        to its exception, if any).
        """
        if target is None or isinstance(target, str):
            if isinstance(target, str) and not target:
                raise ValueError("watch(name): the tool name must not be empty")
            name = target

            def decorate(fn: Callable[_P, _R]) -> Callable[_P, _R]:
                return self._wrap(fn, name)

            return decorate
        if callable(target):
            return self._wrap(target, None)
        raise TypeError(f"watch takes a function or a tool name, got {target!r}")

    def _wrap(self, fn: Callable[_P, _R], name: str | None) -> Callable[_P, _R]:
        if not callable(fn):
            raise TypeError(f"watch decorates a function, got {fn!r}")
        tool = name or getattr(fn, "__name__", None) or repr(fn)
        arguments = _binder(fn)
        if inspect.iscoroutinefunction(fn):
            coroutine_fn = cast("Callable[_P, Awaitable[Any]]", fn)

            @functools.wraps(fn)
            async def watched_async(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                call = self.before(tool, arguments(args, kwargs))
                try:
                    result = await coroutine_fn(*args, **kwargs)
                except Exception as exc:
                    self.after(call, error=exc)
                    raise
                except BaseException:
                    self.after(call)
                    raise
                self.after(call, result=result)
                return result

            return cast("Callable[_P, _R]", watched_async)

        @functools.wraps(fn)
        def watched(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            call = self.before(tool, arguments(args, kwargs))
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                self.after(call, error=exc)
                raise
            except BaseException:
                self.after(call)
                raise
            self.after(call, result=result)
            return result

        return watched

    # -- introspection --------------------------------------------------------------------

    def state(self, run_id: str | None = None) -> LoopState | None:
        """The state kept for ``run_id`` (``None``: calls outside any run), if any. Read-only."""
        with self._lock:
            return self._anonymous if run_id is None else self._runs.get(run_id)

    def tracked_runs(self) -> int:
        """How many runs have state (the anonymous one not counted); at most ``max_runs``."""
        with self._lock:
            return len(self._runs)

    def forget(self, run_id: str | None = None) -> None:
        """Drop the state of ``run_id`` (``None``: the anonymous one), e.g. when a run ends."""
        with self._lock:
            if run_id is None:
                self._anonymous = self._new_state(None)
            else:
                self._runs.pop(run_id, None)

    # -- mechanics ------------------------------------------------------------------------

    def _new_state(self, run_id: str | None) -> LoopState:
        return LoopState(
            run_id=run_id, max_history=self._max_history, periods=self._periods, allow=self.allow
        )

    def _state(self) -> LoopState:
        run = current_run()
        if run is None:
            return self._anonymous
        runs = self._runs
        state = runs.get(run.run_id)
        if state is None:
            state = runs[run.run_id] = self._new_state(run.run_id)
            if len(runs) > self._max_runs:
                runs.popitem(last=False)
        else:
            runs.move_to_end(run.run_id)
        return state

    def _decide(
        self, state: LoopState, call: ToolCall, detection: Detection | None
    ) -> LoopAction | None:
        if detection is None:
            return None
        if self._exempt(detection):
            return None
        warned = state._warned
        key = (detection.pattern, detection.tool)
        previous = warned.get(key)
        action: LoopAction
        if previous is not None and previous[1] == call.seq and detection.repeats <= previous[0]:
            return None
        if not self.warn_then_stop or (previous is not None and detection.repeats > previous[0]):
            action = "stop"
        else:
            action = "warn"
        warned.pop(key, None)
        warned[key] = (detection.repeats, call.seq)
        if len(warned) > _MAX_WARNINGS:
            del warned[next(iter(warned))]
        return action

    def _act(
        self, detection: Detection | None, action: LoopAction | None, state: LoopState
    ) -> Detection | None:
        if detection is None:
            return None
        if action is not None:
            self._publish(detection, action)
            if action == "stop":
                raise ToolLoopDetected(
                    tool=detection.tool,
                    pattern=detection.pattern,
                    repeats=detection.repeats,
                    run_id=state.run_id,
                )
        return None if self._exempt(detection) else detection

    def _exempt(self, detection: Detection) -> bool:
        """Repeats and polling of allow-listed tools, whatever policy reported them."""
        return detection.pattern in ("repeat", "polling") and detection.tool in self.allow

    def _publish(self, detection: Detection, action: LoopAction) -> None:
        try:
            self._bus.publish(
                LoopDetected(
                    tool=detection.tool,
                    pattern=detection.pattern,
                    repeats=detection.repeats,
                    action=action,
                )
            )
        except Exception as exc:  # noqa: BLE001 (a broken bus must not change the decision)
            self._episodes.failed("loopguard.publish", "publishing LoopDetected failed", exc)
        else:
            if self._episodes.failing("loopguard.publish"):
                self._episodes.recovered("loopguard.publish")


def _tool_name(tool: object) -> str:
    if not isinstance(tool, str):
        raise TypeError(f"tool must be the tool's name as a str, got {tool!r}")
    if not tool:
        raise ValueError("tool must be a non-empty name")
    return tool


def _outcome(result: object, error: BaseException | str | None) -> Key | None:
    if error is not None:
        if result is not _UNSET:
            raise ValueError("give result or error, not both")
        if not isinstance(error, (BaseException, str)):
            raise TypeError(
                f"error must be an exception or a message, got a {type(error).__qualname__}"
            )
        return error_key(error)
    if result is _UNSET:
        return None
    return canonical_key(result)


def _binder(fn: Callable[..., Any]) -> Callable[[tuple[Any, ...], dict[str, Any]], object]:
    """How to turn one call's arguments into the value the guard canonicalizes."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        signature = None

    def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> object:
        if signature is not None:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                pass  # the function itself will say what is wrong
            else:
                bound.apply_defaults()
                return bound.arguments
        return {"args": args, "kwargs": kwargs}

    return arguments
