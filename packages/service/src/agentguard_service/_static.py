"""The dashboard page and its files, served from the package's ``static`` folder only.

Every file is one the package ships (the wheel includes ``static/``): no CDN, no web font,
nothing fetched from elsewhere, and the page's Content-Security-Policy says so to the
browser too. Files are revalidated on every load (``Cache-Control: no-cache`` with the
``ETag`` and ``Last-Modified`` that ``StaticFiles`` sets, so an unchanged file costs a 304):
their names carry no version, and an upgraded package must not run yesterday's script.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import TYPE_CHECKING, Final

from starlette.exceptions import HTTPException
from starlette.staticfiles import PathLike, StaticFiles

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import Scope

MEDIA_TYPES: Final = {
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
"""The only kinds of file served, with their content types (not guessed from the system's
``mime.types``, which differ between machines: a module script refused by the browser for
its type is a blank page)."""

CACHE_CONTROL: Final = "no-cache"

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
"""The page may load and call its own origin only."""

PAGE_HEADERS: Final = {
    "Cache-Control": CACHE_CONTROL,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def page_html() -> str:
    """The page itself, ``static/index.html``."""
    return resources.files("agentguard_service").joinpath("static/index.html").read_text("utf-8")


class PageFiles(StaticFiles):
    """``StaticFiles`` over the package's ``static`` folder, with the headers above.

    ``StaticFiles`` already refuses paths that leave the folder (``..``, absolute paths,
    symbolic links out of it); a file whose suffix is not in :data:`MEDIA_TYPES` is not
    found either, whatever else lands in the folder.
    """

    def __init__(self) -> None:
        super().__init__(packages=[("agentguard_service", "static")])

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        media_type = MEDIA_TYPES.get(os.path.splitext(full_path)[1].lower())
        if media_type is None:
            raise HTTPException(404)
        response = super().file_response(full_path, stat_result, scope, status_code)
        if response.status_code != 304:
            response.headers["Content-Type"] = media_type
        response.headers["Cache-Control"] = CACHE_CONTROL
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
