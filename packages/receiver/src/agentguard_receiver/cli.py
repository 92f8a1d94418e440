"""``python -m agentguard_receiver`` (and ``agentguard receive``): the command line."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from agentguard_receiver.app import DEFAULT_MAX_BODY_BYTES, create_app
from agentguard_receiver.handlers import Handler, forward_to, load_handler, log_alerts
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
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help=f"the largest body accepted (default {DEFAULT_MAX_BODY_BYTES}, 64 KiB)",
    )
    handling = parser.add_argument_group(
        "handlers", "run after each notification is acknowledged, in this order"
    )
    handling.add_argument(
        "--log-alerts", action="store_true", help="log every alert received (INFO)"
    )
    handling.add_argument(
        "--handler",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help="call FUNCTION(received) of MODULE (importable) for each notification",
    )
    handling.add_argument(
        "--forward",
        action="append",
        default=[],
        metavar="URL",
        help="forward each notification to URL, signed with --forward-secret (https only)",
    )
    handling.add_argument(
        "--forward-secret",
        action="append",
        default=[],
        metavar="whsec_...",
        help="a secret forwarded notifications are signed with (repeatable)",
    )
    handling.add_argument(
        "--forward-allow-http", action="store_true", help="allow plain-http forward URLs"
    )
    handling.add_argument(
        "--forward-allow-private",
        action="store_true",
        help="allow forward URLs on loopback and private networks",
    )
    return parser


def _handlers(args: argparse.Namespace) -> list[Handler]:
    handlers: list[Handler] = []
    if args.log_alerts:
        handlers.append(log_alerts)
    handlers.extend(load_handler(spec) for spec in args.handler)
    if args.forward and not args.forward_secret:
        raise ValueError("--forward needs --forward-secret whsec_... to sign what it forwards")
    handlers.extend(
        forward_to(
            url,
            secrets=args.forward_secret,
            allow_http=args.forward_allow_http,
            allow_private=args.forward_allow_private,
        )
        for url in args.forward
    )
    return handlers


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (``sys.argv[1:]`` by default), then serve until interrupted.

    Returns:
        The exit status: 0 after a clean shutdown; bad options exit with 2 through argparse.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        handlers = _handlers(args)
        app = create_app(
            secrets=args.secret,
            token=args.token,
            db_path=args.db,
            max_body_bytes=args.max_body_bytes,
            handlers=handlers,
        )
    except (ValueError, TypeError, ImportError) as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    serve(app, host=args.host, port=args.port)
    return 0
