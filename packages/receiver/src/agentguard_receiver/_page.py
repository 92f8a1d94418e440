"""The HTML page that lists stored alerts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from html import escape

__all__ = ["render_page"]

_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>agentguard alerts</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
.firing{color:#b00020}.resolved{color:#1b5e20}code{font-size:.85rem}
</style></head><body><h1>agentguard alerts</h1>
"""


def _pairs(mapping: object) -> str:
    if not isinstance(mapping, Mapping):
        return ""
    return "<br>".join(
        f"<code>{escape(str(key))}={escape(str(value))}</code>"
        for key, value in sorted(mapping.items())
    )


def render_page(alerts: Sequence[Mapping[str, object]]) -> str:
    """The page for ``alerts`` (newest first); every value from a sender is escaped."""
    if not alerts:
        return _HEAD + "<p>No alerts received yet.</p></body></html>\n"
    rows = []
    for alert in alerts:
        received = alert.get("receivedAt")
        when = (
            datetime.fromtimestamp(received, tz=timezone.utc).isoformat(timespec="seconds")
            if isinstance(received, float)
            else ""
        )
        status = escape(str(alert.get("status", "")))
        rows.append(
            f'<tr><td>{escape(when)}</td><td class="{status}">{status}</td>'
            f"<td>{_pairs(alert.get('labels'))}</td><td>{_pairs(alert.get('annotations'))}</td>"
            f"<td>{escape(str(alert.get('startsAt', '')))}</td></tr>"
        )
    return (
        _HEAD
        + "<table><thead><tr><th>received</th><th>status</th><th>labels</th>"
        + "<th>annotations</th><th>starts</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>\n"
    )
