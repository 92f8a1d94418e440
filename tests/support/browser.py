"""Headless Chromium (Debian's ``chromium``) driven by playwright, for the pages we serve.

Playwright's own browser download is never used: the tests launch the system binary found
by the ``binary`` fixture. The flags keep Chromium off the network: no background
requests, no component updates, and a host resolver that knows no name, so a page that
tried to reach anything but the loopback address would fail (and :class:`PageWatch` would
see it). As root, Chromium needs ``--no-sandbox``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import (
        BrowserContext,
        ConsoleMessage,
        Page,
        Playwright,
        Request,
        Response,
    )

FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def launch(
    playwright: Playwright, executable: str, profile: Path, **options: Any
) -> BrowserContext:
    """A headless Chromium with a fresh profile in ``profile`` (a new, empty directory).

    ``options`` go to playwright's ``launch_persistent_context`` (viewport, locale,
    ``color_scheme``, ...).
    """
    profile.mkdir(parents=True, exist_ok=False)
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=executable, headless=True, args=list(FLAGS), **options
    )


@dataclass
class PageWatch:
    """What went wrong on a page, as a user's developer tools would show it.

    Attach it before the page loads anything. ``origin`` is the only ``scheme://host:port``
    the page may request (``data:`` URLs aside).
    """

    origin: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    error_responses: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> PageWatch:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("request", lambda request: self.requests.append(request.url))
        return self

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.console_errors.append(f"{message.type}: {message.text}")

    def _failed(self, request: Request) -> None:
        failure = request.failure or "failed"
        # The event stream is cut when the page unloads or reconnects: not a failure.
        if not (request.url.endswith("/api/v1/stream") and "ERR_ABORTED" in failure):
            self.failed_requests.append(f"{request.url}: {failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.error_responses.append(f"{response.status} {response.url}")

    @property
    def foreign_requests(self) -> list[str]:
        """Requests to anything but :attr:`origin`."""
        return [
            url
            for url in self.requests
            if not url.startswith("data:")
            and f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" != self.origin
        ]

    def assert_clean(self) -> None:
        """No console error or warning, no script error, no failed or foreign request."""
        assert self.page_errors == []
        assert self.console_errors == []
        assert self.failed_requests == []
        assert self.error_responses == []
        assert self.foreign_requests == []
