"""Checking a breaker's configuration, and connecting its shared state."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import redis as redis_py

    from agentguard_breaker._shared import SharedState

__all__ = ["check_config", "shared_state"]


def check_config(name: object, fail_max: object, reset_timeout_s: object, retry: object) -> None:
    """Raise ``TypeError``/``ValueError`` naming the first bad parameter."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")
    if not name:
        raise ValueError("name must not be empty: it names the breaker in events and errors")
    if not isinstance(fail_max, int) or isinstance(fail_max, bool):
        raise TypeError(f"fail_max must be an int, got {fail_max!r}")
    if fail_max < 1:
        raise ValueError(f"fail_max must be >= 1, got {fail_max!r}")
    for param, value in (("reset_timeout_s", reset_timeout_s), ("redis_retry_s", retry)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"{param} must be a number of seconds, got {value!r}")
    assert isinstance(reset_timeout_s, (int, float))
    assert isinstance(retry, (int, float))
    if not (reset_timeout_s > 0 and math.isfinite(reset_timeout_s)):
        raise ValueError(f"reset_timeout_s must be > 0 and finite, got {reset_timeout_s!r}")
    if not (retry >= 0 and math.isfinite(retry)):
        raise ValueError(f"redis_retry_s must be >= 0 and finite, got {retry!r}")


def shared_state(redis: object, name: str, fail_max: int, reset_timeout_s: float) -> SharedState:
    """The Redis side of a breaker; redis-py is imported only here, when asked for."""
    try:
        from agentguard_breaker import _shared
    except ImportError as exc:
        raise ImportError("redis= needs redis-py: pip install 'agentguard-breaker[redis]'") from exc
    if not isinstance(redis, str) and not callable(getattr(redis, "register_script", None)):
        raise TypeError(f"redis must be a redis-py client or a redis:// URL, got {redis!r}")
    client = _shared.connect(cast("str | redis_py.Redis", redis))
    return _shared.SharedState(client, name, fail_max=fail_max, reset_timeout_s=reset_timeout_s)
