"""What runs and sessions have spent, and their budgets."""

from __future__ import annotations

import contextvars
import math
import threading
from collections import OrderedDict

from agentguard import Bus
from agentguard.context import RunContext
from agentguard.events import BudgetExceeded, BudgetScope
from agentguard_trace.errors import BudgetExceededError

CURRENT_LEDGER: contextvars.ContextVar[RunLedger | None] = contextvars.ContextVar(
    "agentguard_run_ledger", default=None
)

_MAX_SESSIONS = 10_000


class _Account:
    """Spending against one budget (or none), thread-safely."""

    __slots__ = ("_lock", "crossed", "limit_usd", "scope", "spent_usd", "stop", "unpriced")

    def __init__(self, scope: BudgetScope, limit_usd: float | None, *, stop: bool) -> None:
        self.scope: BudgetScope = scope
        self.limit_usd = limit_usd
        self.stop = stop
        self.spent_usd = 0.0
        self.unpriced = 0
        self.crossed = False
        self._lock = threading.Lock()

    def add(self, cost_usd: float | None, bus: Bus, run: RunContext) -> None:
        with self._lock:
            if cost_usd is None:
                self.unpriced += 1
                return
            self.spent_usd = math.fsum((self.spent_usd, cost_usd))
            crossing = (
                self.limit_usd is not None and not self.crossed and self.spent_usd > self.limit_usd
            )
            if crossing:
                self.crossed = True
            spent = self.spent_usd
        if crossing and self.limit_usd is not None:
            bus.publish(
                BudgetExceeded(
                    run_id=run.run_id,
                    agent=run.agent,
                    session_id=run.session_id,
                    scope=self.scope,
                    limit_usd=self.limit_usd,
                    spent_usd=spent,
                )
            )

    def check(self) -> None:
        if self.stop and self.crossed and self.limit_usd is not None:
            raise BudgetExceededError(self.scope, self.limit_usd, self.spent_usd)


_sessions: OrderedDict[str, _Account] = OrderedDict()
_sessions_lock = threading.Lock()


def session_account(session_id: str, limit_usd: float | None, *, stop: bool) -> _Account:
    """The account of a session, made on first use; a given limit replaces the one it had.

    The most recent sessions are kept (at most 10,000), so a long-lived process stays bounded.
    """
    with _sessions_lock:
        account = _sessions.get(session_id)
        if account is None:
            account = _sessions[session_id] = _Account("session", limit_usd, stop=stop)
            if len(_sessions) > _MAX_SESSIONS:
                _sessions.popitem(last=False)
        else:
            _sessions.move_to_end(session_id)
            if limit_usd is not None:
                account.limit_usd, account.stop = limit_usd, stop
                account.crossed = account.spent_usd > limit_usd
        return account


class RunLedger:
    """The spending of one run, which also counts toward its enclosing runs and its session."""

    __slots__ = ("_bus", "account", "parent", "run", "session")

    def __init__(
        self,
        run: RunContext,
        *,
        parent: RunLedger | None,
        limit_usd: float | None,
        session: _Account,
        stop: bool,
        bus: Bus,
    ) -> None:
        self.run = run
        self.parent = parent
        self.account = _Account("run", limit_usd, stop=stop)
        self.session = session
        self._bus = bus

    @property
    def cost_usd(self) -> float | None:
        """What the run's LLM calls cost; ``None`` if any of them was unpriced."""
        return None if self.account.unpriced else self.account.spent_usd

    def spent(self, cost_usd: float | None) -> None:
        """Count one LLM call's cost (``None`` when unpriced) toward every account it is in."""
        ledger: RunLedger | None = self
        while ledger is not None:
            ledger.account.add(cost_usd, ledger._bus, ledger.run)
            ledger = ledger.parent
        self.session.add(cost_usd, self._bus, self.run)

    def check(self) -> None:
        """Raise :class:`BudgetExceededError` if a budget that stops calls is spent."""
        ledger: RunLedger | None = self
        while ledger is not None:
            ledger.account.check()
            ledger = ledger.parent
        self.session.check()
