"""Logging failures once per episode instead of once per event.

:class:`FailureEpisodes` is what every subscriber and server of the workspace uses when an
infrastructure failure (Redis down, a collector unreachable) would otherwise log one line per
event: the first failure of a key is logged with its traceback, later ones are summed into one
line every ``quiet_s`` seconds, and :meth:`~FailureEpisodes.recovered` ends the episode.
Also exported as ``agentguard.FailureEpisodes``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FailureEpisodes"]


@dataclass(slots=True)
class _Episode:
    started_s: float
    last_logged_s: float
    failures: int = 1
    unlogged: int = 0


class FailureEpisodes:
    """Logs the failures of many things (keys) once per episode each, thread-safely.

    An episode of a key starts with its first failure, which is logged at ERROR with its
    traceback. Later failures of the same key are not logged one by one: at most once every
    ``quiet_s`` seconds one WARNING line says how many there were since the last line. The
    episode ends with :meth:`recovered`, which logs how many failures it had.

    Counting failures for metrics is the caller's business; this only keeps logs readable.
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        quiet_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not quiet_s >= 0:
            raise ValueError(f"quiet_s must be >= 0, got {quiet_s!r}")
        self._logger = logger
        self._quiet_s = quiet_s
        self._clock = clock
        self._lock = threading.Lock()
        self._episodes: dict[str, _Episode] = {}

    def failed(self, key: str, message: str, exc: BaseException | None = None) -> None:
        """Record one failure of ``key``; log it if it starts an episode or the quiet time is up.

        ``message`` must not contain secrets: it is logged as given.
        """
        now = self._clock()
        with self._lock:
            episode = self._episodes.get(key)
            if episode is None:
                self._episodes[key] = _Episode(started_s=now, last_logged_s=now)
                first, repeats = True, 0
            else:
                episode.failures += 1
                if now - episode.last_logged_s < self._quiet_s:
                    episode.unlogged += 1
                    return
                first, repeats = False, episode.unlogged + 1
                episode.last_logged_s, episode.unlogged = now, 0
        if first:
            self._logger.error("%s: %s", key, message, exc_info=exc)
        else:
            self._logger.warning(
                "%s: still failing, %d more failure(s) since the last report; latest: %s",
                key,
                repeats,
                message,
            )

    def recovered(self, key: str) -> None:
        """End the episode of ``key``, if one is open, and log how many failures it had."""
        with self._lock:
            episode = self._episodes.pop(key, None)
        if episode is not None:
            self._logger.warning(
                "%s: recovered after %d failure(s) over %.1f s",
                key,
                episode.failures,
                self._clock() - episode.started_s,
            )

    def failing(self, key: str) -> bool:
        """Whether ``key`` is in an open episode."""
        with self._lock:
            return key in self._episodes
