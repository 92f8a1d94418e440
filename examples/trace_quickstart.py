"""An agent on the real anthropic SDK, measured: runs, tool calls, tokens, cost, a summary.

Runs against the project's fake Messages API (no API key, no network).
"""

from __future__ import annotations

import anthropic

from agentguard_fake import FakeAnthropicServer, Reply, ToolUse
from agentguard_trace import SessionRecorder, instrument, print_summary, tool, traced


@tool
def lookup_order(order_id: int) -> str:
    return f"order {order_id}: shipped"


def main() -> None:
    with FakeAnthropicServer(seed=1) as server, SessionRecorder() as recorder:
        client = instrument(anthropic.Anthropic(base_url=server.url, api_key="demo"))

        @traced(agent="support")
        def answer(question: str) -> str:
            history: list[anthropic.types.MessageParam] = [{"role": "user", "content": question}]
            while True:
                reply = client.messages.create(
                    model="claude-sonnet-4-6", max_tokens=512, messages=history
                )
                if reply.stop_reason != "tool_use":
                    return "".join(b.text for b in reply.content if b.type == "text")
                call = next(b for b in reply.content if b.type == "tool_use")
                result = lookup_order(**call.input)  # type: ignore[arg-type]  # the fake's input
                history += [
                    {"role": "assistant", "content": reply.content},
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": call.id, "content": result}
                        ],
                    },
                ]

        server.enqueue(
            Reply(tool_use=ToolUse(name="lookup_order", input={"order_id": 1234})),
            Reply(text="Your order 1234 shipped yesterday."),
        )
        print(answer("Where is my order 1234?"))
        client.close()
    print_summary(recorder)


if __name__ == "__main__":
    main()
