"""``python -m agentguard_receiver`` (and ``agentguard receive``): the command line.

Secrets and the token should not be flags: every user of the machine can read a process's
command line (``ps``). They come, besides ``--secret``/``--token``, from files
(``--secret-file``, ``--token-file``: one secret a line, ``#`` comments and blank lines
skipped) and from the environment (:data:`SECRETS_ENV`, space-separated, and
:data:`TOKEN_ENV`). Every source given is used; the environment is read only when no flag
names a secret (or a token). Anthropic's webhook signing keys come the same three ways
(``--anthropic-secret``, ``--anthropic-secret-file``, :data:`ANTHROPIC_SECRETS_ENV`).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

from agentguard.serving import (
    add_limit_arguments,
    ascii_int,
    limits_from_arguments,
    number_argument,
)
from agentguard_receiver.app import DEFAULT_MAX_BODY_BYTES, create_app
from agentguard_receiver.handlers import Handler, forward_to, load_handler, log_alerts
from agentguard_receiver.server import DEFAULT_HOST, DEFAULT_PORT, serve

__all__ = ["ANTHROPIC_SECRETS_ENV", "ENV_PREFIX", "SECRETS_ENV", "TOKEN_ENV", "main"]

ENV_PREFIX = "AGENTGUARD_RECEIVER_"
"""The prefix of every environment variable the command reads."""
SECRETS_ENV = ENV_PREFIX + "SECRETS"
"""Webhook secrets, space-separated (several during a rotation)."""
TOKEN_ENV = ENV_PREFIX + "TOKEN"
"""The bearer token."""
ANTHROPIC_SECRETS_ENV = ENV_PREFIX + "ANTHROPIC_SECRETS"
"""Anthropic webhook signing keys, space-separated (the SDK reads one from
``ANTHROPIC_WEBHOOK_SIGNING_KEY``; this command does not, so enabling the path is explicit)."""


def _lines(path: str) -> list[str]:
    """The secrets of a file: one a line, ``#`` comments and blank lines skipped."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ValueError(f"cannot read {path!r}: {reason}") from None
    found = [line.strip() for line in text.splitlines()]
    return [line for line in found if line and not line.startswith("#")]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentguard receive",
        description="Receive signed alert webhooks (Alertmanager v4 bodies) and Anthropic "
        "platform webhooks, and list them.",
    )
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="whsec_...",
        help="a Standard Webhooks secret; repeat it to accept several during a rotation "
        f"(visible in ps: prefer --secret-file or ${SECRETS_ENV}, space-separated)",
    )
    parser.add_argument(
        "--secret-file",
        action="append",
        default=[],
        metavar="FILE",
        help="a file of secrets, one a line (repeatable)",
    )
    parser.add_argument(
        "--anthropic-secret",
        action="append",
        default=[],
        metavar="whsec_...",
        help="the signing key of Anthropic platform webhooks (POST /webhooks/anthropic); "
        f"repeatable (visible in ps: prefer --anthropic-secret-file or ${ANTHROPIC_SECRETS_ENV})",
    )
    parser.add_argument(
        "--anthropic-secret-file",
        action="append",
        default=[],
        metavar="FILE",
        help="a file of Anthropic signing keys, one a line (repeatable)",
    )
    parser.add_argument(
        "--token",
        help=f"a bearer token for senders that cannot sign (Alertmanager; prefer ${TOKEN_ENV})",
    )
    parser.add_argument("--token-file", metavar="FILE", help="a file holding the bearer token")
    parser.add_argument(
        "--db", metavar="FILE", help="the SQLite file to keep alerts in (default: memory)"
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"the address to bind (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port",
        type=number_argument(
            ascii_int, "a port number", 0, 65535, "must be 0 (a free port) to 65535"
        ),
        default=DEFAULT_PORT,
        help=f"the port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=number_argument(ascii_int, "a number of bytes", 1, 2**31, "must be at least 1"),
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
    add_limit_arguments(parser, env_prefix=ENV_PREFIX)
    return parser


def _keys(flags: list[str], files: list[str], option: str, variable: str) -> list[str]:
    """Secrets from flags and files, or from the environment when neither names one."""
    secrets = list(flags)
    for path in files:
        found = _lines(path)
        if not found:
            raise ValueError(f"{option} {path!r} holds no secret")
        secrets.extend(found)
    if not flags and not files:
        secrets.extend(os.environ.get(variable, "").split())
    return secrets


def _secrets(args: argparse.Namespace) -> tuple[list[str], str | None]:
    """The webhook secrets and the token from flags, files and the environment."""
    secrets = _keys(args.secret, args.secret_file, "--secret-file", SECRETS_ENV)
    token = args.token
    if args.token_file is not None:
        if token is not None:
            raise ValueError("give --token or --token-file, not both")
        found = _lines(args.token_file)
        if len(found) != 1:
            raise ValueError(f"--token-file {args.token_file!r} must hold one token on one line")
        token = found[0]
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    return secrets, token


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
        secrets, token = _secrets(args)
        anthropic_secrets = _keys(
            args.anthropic_secret,
            args.anthropic_secret_file,
            "--anthropic-secret-file",
            ANTHROPIC_SECRETS_ENV,
        )
        limits = limits_from_arguments(args)
        handlers = _handlers(args)
        app = create_app(
            secrets=secrets,
            token=token,
            anthropic_secrets=anthropic_secrets,
            db_path=args.db,
            max_body_bytes=args.max_body_bytes,
            handlers=handlers,
        )
    except (ValueError, TypeError, ImportError) as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    serve(app, host=args.host, port=args.port, limits=limits)
    return 0
