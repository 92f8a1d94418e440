"""The exceptions agentguard-trace raises on purpose.

The tree::

    AgentGuardError
    ├── BudgetExceededError             a call refused: a budget with stop_on_budget is spent
    ├── PriceTableError (ValueError)    a price override or a platform is wrong
    └── TokenCountError (ValueError)    a token count is not an int >= 0
"""

from __future__ import annotations

from agentguard import AgentGuardError
from agentguard.events import BudgetScope

__all__ = ["BudgetExceededError", "PriceTableError", "TokenCountError"]


class BudgetExceededError(AgentGuardError):
    """An LLM call was refused because a budget with ``stop_on_budget`` is spent.

    Attributes:
        scope: ``run`` or ``session``.
        limit_usd: The budget.
        spent_usd: What had been spent when the call was refused.
    """

    def __init__(self, scope: BudgetScope, limit_usd: float, spent_usd: float) -> None:
        super().__init__(
            f"the {scope} budget of ${limit_usd:.4f} is spent (${spent_usd:.4f}); "
            "the LLM call was not made"
        )
        self.scope: BudgetScope = scope
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd


class PriceTableError(AgentGuardError, ValueError):
    """A price override is wrong (bad value, unknown key, unreadable file), or a platform is.

    Attributes:
        model: The model whose override is wrong, or ``None`` when the whole source is.
        key: The offending key (``"provider"`` for a platform), or ``None`` when the whole
            entry or file is wrong.
    """

    def __init__(self, message: str, *, model: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.model = model
        self.key = key


class TokenCountError(AgentGuardError, ValueError):
    """A count passed to :meth:`PriceTable.cost` or :class:`CallUsage` is not an ``int`` >= 0.

    Attributes:
        field: The name of the offending argument.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field
