"""Where :class:`FailureEpisodes` lived; import it from :mod:`agentguard.episodes` instead.

Kept so branches written against the old private path still import; nothing here uses it.
"""

from __future__ import annotations

from agentguard.episodes import FailureEpisodes

__all__ = ["FailureEpisodes"]
