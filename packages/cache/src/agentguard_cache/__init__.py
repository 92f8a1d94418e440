"""agentguard-cache: prompt-cache hit ratio, tokens and dollars saved, regression detection.

:class:`PromptCacheTracker` turns every ``LLMCallFinished`` on a bus into a
``PromptCacheUsage`` event, keeps totals per model and per agent, and publishes
``PromptCacheRegressed`` when a model's hit ratio falls well below its baseline::

    from agentguard_cache import PromptCacheTracker

    tracker = PromptCacheTracker(window_s=300.0, regression_fraction=0.5)
    tracker.attach()  # the default bus, where instrumented clients publish
    run_my_agent()
    print(tracker.stats(model="claude-sonnet-4-6").hit_ratio)
"""

from __future__ import annotations

from agentguard_cache.errors import TrackerAttachedError
from agentguard_cache.stats import CacheStats
from agentguard_cache.tracker import PromptCacheTracker

__all__ = ["CacheStats", "PromptCacheTracker", "TrackerAttachedError"]
