"""``python -m agentguard_receiver`` (and ``agentguard receive``): the command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from agentguard_receiver.app import create_app
from agentguard_receiver.server import DEFAULT_HOST, DEFAULT_PORT, serve

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentguard receive",
        description="Receive signed alert webhooks (Alertmanager v4 bodies) and list them.",
    )
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="whsec_...",
        help="a Standard Webhooks secret; repeat it to accept several during a rotation",
    )
    parser.add_argument(
        "--token", help="a bearer token for senders that cannot sign (Alertmanager)"
    )
    parser.add_argument(
        "--db", metavar="FILE", help="the SQLite file to keep alerts in (default: memory)"
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"the address to bind (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"the port (default {DEFAULT_PORT})"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (``sys.argv[1:]`` by default), then serve until interrupted.

    Returns:
        The exit status: 0 after a clean shutdown; bad options exit with 2 through argparse.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        app = create_app(secrets=args.secret, token=args.token, db_path=args.db)
    except ValueError as exc:
        parser.error(str(exc))
    serve(app, host=args.host, port=args.port)
    return 0
