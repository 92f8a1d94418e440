"""The exceptions agentguard-metrics raises on purpose.

The tree::

    AgentGuardError
    └── InvalidBatch (ValueError)   a store refused a batch for its content; nothing was written
"""

from __future__ import annotations

from agentguard import AgentGuardError

__all__ = ["InvalidBatch"]


class InvalidBatch(AgentGuardError, ValueError):  # noqa: N818 (reads as what the batch is)
    """A store refused a batch for its content (not for an outage); nothing of it was written.

    Sending it again cannot succeed: the aggregator quarantines it (keeps it aside, counts it
    in ``agentguard_events_dropped_total{reason="batch_quarantined"}``, logs it) and goes on.
    """

    def __init__(self, batch_id: str, metric: str, why: str) -> None:
        super().__init__(f"batch {batch_id} refused: {metric} {why}")
        self.batch_id = batch_id
        """The refused batch's ``process_id:sequence``."""
        self.metric = metric
        """The metric whose amount was refused."""
