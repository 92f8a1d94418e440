"""The demo's support agent: tools, a long cached system prompt, and a script per run.

Every run is scripted on the fake Messages API before it starts (the model's turns are
queued steps), so a seed fixes the whole session: which tools run, which calls fail, where
the loop and the budget crossing happen.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

import anthropic

from agentguard import Bus
from agentguard_breaker import CircuitBreaker
from agentguard_fake import Fail, FakeAnthropicServer, Reply, Step, ToolUse
from agentguard_loopguard import LoopGuard
from agentguard_trace import tool, traced

if TYPE_CHECKING:
    from anthropic.types import Message, MessageParam, TextBlockParam, ToolParam

MODEL = "claude-sonnet-4-6"
BUDGET_USD = 0.08
"""The per-run budget of the escalation run, crossed on its second call."""

_POLICY = (
    "You are the support agent of Northwind Outfitters. Be brief and exact. "
    "Orders ship within 2 business days; tracking numbers arrive by email. "
    "Refunds take 5 to 7 business days after the return is scanned at the warehouse. "
    "Never promise a delivery date the carrier has not confirmed. "
    "Look an order up with lookup_order before answering about it, and search the "
    "knowledge base with search_kb before answering a policy question. "
)
SYSTEM_PROMPT = _POLICY * 16
"""Long enough (about 6,700 characters) for the fake's prompt-cache emulation to cache it."""

_TOOLS: list[ToolParam] = [
    {
        "name": "lookup_order",
        "description": "Find an order by id: status, carrier, dates.",
        "input_schema": {"type": "object", "properties": {"order_id": {"type": "integer"}}},
    },
    {
        "name": "search_kb",
        "description": "Search the help-center articles.",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
    },
    {
        "name": "check_refund_status",
        "description": "The refund state of an order.",
        "input_schema": {"type": "object", "properties": {"order_id": {"type": "integer"}}},
    },
]

_QUESTIONS = (
    "Where is my order {order}?",
    "Can I still change the address of order {order}?",
    "Order {order} arrived damaged, what now?",
    "How long does a refund take for order {order}?",
    "Was order {order} shipped already?",
)
_KB_QUERIES = ("return policy", "damaged items", "address change", "shipping times")


def lookup_order(order_id: int) -> str:
    """The order's status (canned: the demo has no database)."""
    return f"order {order_id}: shipped with UPS, tracking 1Z{order_id:08d}"


def search_kb(query: str) -> str:
    """A help-center excerpt (canned)."""
    return f"top article for {query!r}: see section 4.2 of the customer handbook"


def check_refund_status(order_id: int) -> str:
    """Always 'pending': the model asks again and again, which is the loop the guard stops."""
    return f"refund for order {order_id}: pending"


_TOOL_FUNCTIONS: dict[str, Callable[..., str]] = {
    "lookup_order": lookup_order,
    "search_kb": search_kb,
    "check_refund_status": check_refund_status,
}

_ATTEMPTS = 4
"""The agent's attempts per model turn (each one is up to three HTTP requests)."""

Kind: TypeAlias = Literal["support", "burst", "loop", "budget"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPlan:
    """One scripted run: the question, the model's turns, and the run's budget."""

    kind: Kind
    """What the run shows."""
    question: str
    """The customer's message."""
    steps: tuple[Step, ...]
    """The fake API's answers, queued before the run starts."""
    max_cost_usd: float | None = None
    """The run's budget."""


def plan_runs(seed: int, support_runs: int) -> list[RunPlan]:
    """The session: ``support_runs`` ordinary runs with the three special ones spread in.

    The burst comes after the first quarter, the loop at the middle, the budget crossing
    after three quarters; the run after the burst is the breaker's probe.
    """
    rng = random.Random(seed)  # noqa: S311 (a script for a demo, not a secret)
    plans = [_support(rng) for _ in range(support_runs)]
    n = len(plans)
    plans.insert(max(1, (3 * n) // 4), _budget(rng))
    plans.insert(max(1, n // 2), _loop(rng))
    plans.insert(max(1, n // 4), _burst(rng))
    return plans


def _support(rng: random.Random) -> RunPlan:
    order = rng.randint(1000, 9999)
    question = rng.choice(_QUESTIONS).format(order=order)
    steps: list[Step] = []
    if rng.random() < 0.5:
        query = rng.choice(_KB_QUERIES)
        steps.append(Reply(tool_use=ToolUse(name="search_kb", input={"query": query})))
    steps.append(Reply(tool_use=ToolUse(name="lookup_order", input={"order_id": order})))
    steps.append(Reply())  # the final answer, text derived by the fake from the seed
    return RunPlan(kind="support", question=question, steps=tuple(steps))


def _burst(rng: random.Random) -> RunPlan:
    # Three calls of three attempts each (max_retries=2) fail: the breaker opens after the
    # third; the fourth call is rejected without a request.
    fails = tuple(Fail(status=rng.choice((429, 529)), retry_after_s=0.01) for _ in range(3 * 3))
    return RunPlan(kind="burst", question="Where is my order 4242?", steps=fails)


def _loop(rng: random.Random) -> RunPlan:
    order = rng.randint(1000, 9999)
    # The 4th identical call warns, the 5th is refused before it runs.
    again = Reply(tool_use=ToolUse(name="check_refund_status", input={"order_id": order}))
    return RunPlan(
        kind="loop", question=f"Is the refund for order {order} done?", steps=(again,) * 5
    )


def _budget(rng: random.Random) -> RunPlan:
    order = rng.randint(1000, 9999)
    # A customer with a long email thread: big prompts, priced exactly (input scripted).
    steps: tuple[Step, ...] = (
        Reply(
            tool_use=ToolUse(name="lookup_order", input={"order_id": order}),
            input_tokens=12_000,
            output_tokens=900,
        ),
        Reply(
            tool_use=ToolUse(name="search_kb", input={"query": "escalation"}),
            input_tokens=12_000,
            output_tokens=900,
        ),
        Reply(
            text="I have escalated your case to a supervisor.",
            input_tokens=12_000,
            output_tokens=900,
        ),
    )
    return RunPlan(
        kind="budget",
        question=f"This is my fifth email about order {order}. Escalate it.",
        steps=steps,
        max_cost_usd=BUDGET_USD,
    )


class SupportAgent:
    """A tool-using agent on the real SDK, its LLM calls behind a breaker, its tools guarded."""

    def __init__(
        self,
        client: anthropic.Anthropic,
        server: FakeAnthropicServer | None,
        breaker: CircuitBreaker,
        guard: LoopGuard,
        bus: Bus,
        *,
        model: str = MODEL,
    ) -> None:
        self._client = client
        self._server = server
        self._model = model
        self._breaker = breaker
        self._guard = guard
        self._bus = bus

    def run(self, plan: RunPlan) -> str:
        """Script the fake API (when there is one), then run the agent in one traced run.

        Raises:
            CircuitOpenError, ToolLoopDetected, anthropic.APIError: The run failed (the
                traced run records it as failed with the exception's kind).
        """
        if self._server is not None:  # the real API (--live) is not scripted
            self._server.enqueue(*plan.steps)
        with traced(agent="support", bus=self._bus, max_cost_usd=plan.max_cost_usd):
            return self._converse(plan.question)

    def _ask(self, system: list[TextBlockParam], history: list[MessageParam]) -> Message:
        """One model turn, behind the breaker; a provider error is tried again a few times.

        The SDK already retried each call twice; the agent's own attempts are what the
        breaker counts, and once it is open the next attempt fails fast.
        """
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self._breaker:
                    return self._client.messages.create(
                        model=self._model,
                        max_tokens=512,
                        system=system,
                        tools=_TOOLS,
                        messages=history,
                    )
            except (anthropic.APIStatusError, anthropic.APIConnectionError):
                if attempt == _ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _converse(self, question: str) -> str:
        history: list[MessageParam] = [{"role": "user", "content": question}]
        system: list[TextBlockParam] = [
            {"type": "text", "text": SYSTEM_PROMPT, "cache_control": {"type": "ephemeral"}}
        ]
        while True:
            reply = self._ask(system, history)
            if reply.stop_reason != "tool_use":
                return "".join(b.text for b in reply.content if b.type == "text")
            call = next(b for b in reply.content if b.type == "tool_use")
            arguments = dict(call.input)
            self._guard.check(call.name, arguments)  # raises ToolLoopDetected when it stops
            with tool(call.name, bus=self._bus):
                result = _TOOL_FUNCTIONS[call.name](**arguments)
            history += [
                {"role": "assistant", "content": reply.content},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": call.id, "content": result}],
                },
            ]
