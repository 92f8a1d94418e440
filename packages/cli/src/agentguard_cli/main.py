"""The ``agentguard`` command: ``demo``, ``serve``, ``top``, ``receive`` and ``--version``.

Bad flags and a busy port end with one line on standard error and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

from rich.console import Console

from agentguard.serving import (
    add_limit_arguments,
    ascii_int,
    ascii_number,
    limits_from_arguments,
    number_argument,
)

if TYPE_CHECKING:
    from agentguard_service import Token

__all__ = ["main"]

_DEFAULT_PORT = 9464

ENVIRONMENT = {
    "redis": "AGENTGUARD_REDIS_URL",
    "prefix": "AGENTGUARD_PREFIX",
    "host": "AGENTGUARD_HOST",
    "port": "AGENTGUARD_PORT",
    "rules": "AGENTGUARD_RULES",
    "budget": "AGENTGUARD_BUDGET_USD_PER_MONTH",
    "max_streams_per_client": "AGENTGUARD_MAX_STREAMS_PER_CLIENT",
    "tokens": "AGENTGUARD_TOKENS_FILE",
}
"""The environment variable each option of ``agentguard serve`` is also read from (a flag
wins); the connection limits' are ``AGENTGUARD_MAX_CONNECTIONS``, ``AGENTGUARD_HEADER_TIMEOUT``,
``AGENTGUARD_BODY_TIMEOUT`` and ``AGENTGUARD_KEEP_ALIVE_TIMEOUT``
(:func:`agentguard.serving.add_limit_arguments`)."""
_ENV_PREFIX = "AGENTGUARD_"
_TOKEN_ENV = "AGENTGUARD_TOKEN"  # noqa: S105 (the variable's name, not a secret)
"""The bearer token of ``serve`` and ``top``."""


class _Parser(argparse.ArgumentParser):
    """Reports bad flags in one line instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_positive = number_argument(
    ascii_number, "seconds", 0, 3600, "must be between 0 and 3600 seconds", low_open=True
)
_non_negative = number_argument(
    ascii_number, "seconds", 0, 86400, "must be between 0 and 86400 seconds"
)
_port = number_argument(ascii_int, "a port number", 0, 65535, "must be 0 (a free port) to 65535")
_workers = number_argument(ascii_int, "a number of processes", 1, 16, "must be 1 to 16")
_streams = number_argument(ascii_int, "a number of streams", 1, 10_000, "must be 1 to 10000")
_budget = number_argument(
    ascii_number,
    "dollars",
    0,
    sys.float_info.max,
    "must be a positive number of dollars",
    low_open=True,
)


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text!r}")
    if parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"expected the service's base URL, got {text!r}")
    try:
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port in {text!r}") from None
    return text.rstrip("/")


def _version() -> str:
    try:
        return version("agentguard-cli")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _parser() -> _Parser:
    parser = _Parser(prog="agentguard", description="Observability and safety for LLM agents.")
    parser.add_argument("--version", action="version", version=f"agentguard {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo",
        help="run a scripted support agent against a fake API and show every module at work",
        description=(
            "Runs a support agent on the real anthropic SDK against a local fake Messages API "
            "(no API key, no network): tools, prompt caching, a burst of 429/529 errors that "
            "opens and closes the circuit breaker, a tool loop the loop guard stops, a "
            "budget that is crossed, and alert rules whose signed webhooks land in a "
            "receiver. Serves the dashboard, /metrics and the query API while it runs."
        ),
    )
    demo.add_argument(
        "--duration", type=_positive, default=20.0, metavar="S", help="seconds (default 20)"
    )
    demo.add_argument(
        "--port",
        type=_port,
        default=_DEFAULT_PORT,
        metavar="P",
        help=f"the dashboard and /metrics port (default {_DEFAULT_PORT}; 0 picks a free one)",
    )
    demo.add_argument("--seed", type=int, default=1, metavar="N", help="the seed (default 1)")
    demo.add_argument("--no-color", action="store_true", help="plain output")
    demo.add_argument(
        "--hold",
        type=_non_negative,
        default=0.0,
        metavar="S",
        help="keep the servers up S seconds after the summary, to scrape or browse them",
    )
    demo.add_argument(
        "--live",
        action="store_true",
        help="talk to the real Messages API with $ANTHROPIC_API_KEY (a few runs; it costs money)",
    )
    demo.add_argument("--model", help="the model the agent asks (default: the demo's own)")
    demo.add_argument(
        "--redis",
        metavar="URL",
        help="with --workers: run the agents in worker processes that aggregate into this Redis",
    )
    demo.add_argument(
        "--workers",
        type=_workers,
        default=0,
        metavar="N",
        help="worker processes (1 to 16, with --redis)",
    )
    serve = commands.add_parser(
        "serve",
        help="serve the metrics of every worker from Redis (dashboard, /metrics, query API)",
        description=(
            "The shared metrics service: the dashboard, Prometheus /metrics, the snapshot, "
            "query and stream APIs, over the Redis aggregates every worker's RedisSubscriber "
            "writes; with --rules, the alert rules evaluated centrally. Every option can also "
            "come from the environment variable named in its help."
        ),
    )
    serve.add_argument(
        "--redis",
        metavar="URL",
        default=os.environ.get(ENVIRONMENT["redis"]),
        help=f"the workers' Redis, redis://host:6379/0 (${ENVIRONMENT['redis']})",
    )
    serve.add_argument(
        "--prefix",
        default=os.environ.get(ENVIRONMENT["prefix"], "agentguard"),
        help=f"the workers' key prefix (default agentguard; ${ENVIRONMENT['prefix']})",
    )
    serve.add_argument(
        "--host",
        default=os.environ.get(ENVIRONMENT["host"], "127.0.0.1"),
        help=f"address to serve on (default 127.0.0.1; ${ENVIRONMENT['host']})",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=os.environ.get(ENVIRONMENT["port"], str(_DEFAULT_PORT)),
        metavar="P",
        help=f"port (default {_DEFAULT_PORT}, 0 picks a free one; ${ENVIRONMENT['port']})",
    )
    serve.add_argument(
        "--rules",
        metavar="FILE",
        default=os.environ.get(ENVIRONMENT["rules"]),
        help=f"a TOML file of alert rules to evaluate (${ENVIRONMENT['rules']})",
    )
    serve.add_argument(
        "--token",
        default=os.environ.get(_TOKEN_ENV),
        help=f"a bearer token the data routes need (${_TOKEN_ENV}; prefer it)",
    )
    serve.add_argument(
        "--tokens",
        metavar="FILE",
        default=os.environ.get(ENVIRONMENT["tokens"]) or None,
        help=(
            "a TOML file of bearer tokens and their scopes, mode 600 "
            f"(${ENVIRONMENT['tokens']}; packages/service/README.md has the format)"
        ),
    )
    serve.add_argument(
        "--budget-usd-per-month",
        type=_budget,
        default=os.environ.get(ENVIRONMENT["budget"]),
        metavar="USD",
        help=f"the monthly budget of the costs view (${ENVIRONMENT['budget']})",
    )
    serve.add_argument(
        "--max-streams-per-client",
        type=_streams,
        default=os.environ.get(ENVIRONMENT["max_streams_per_client"]),
        metavar="N",
        help=(
            "/api/v1/stream responses one client address may hold open "
            f"(default 8; ${ENVIRONMENT['max_streams_per_client']})"
        ),
    )
    add_limit_arguments(serve, env_prefix=_ENV_PREFIX)
    top = commands.add_parser(
        "top",
        help="a live terminal dashboard of a metrics service",
        description=(
            "Shows the figures of a metrics service (agentguard serve, or an agent's in-process "
            "service) live: calls, errors, cost, rates, endpoints, breakers, loops, tokens. "
            "q or Ctrl-C quits."
        ),
    )
    top.add_argument(
        "--url",
        type=_url,
        default=f"http://127.0.0.1:{_DEFAULT_PORT}",
        metavar="URL",
        help=f"the service's base URL (default http://127.0.0.1:{_DEFAULT_PORT})",
    )
    top.add_argument(
        "--token",
        default=None,
        metavar="T",
        help=f"the service's bearer token (default: ${_TOKEN_ENV})",
    )
    commands.add_parser(
        "receive",
        help="receive signed alert webhooks and Anthropic platform webhooks "
        "(agentguard receive --help for its options)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``agentguard`` command with ``argv`` (``sys.argv[1:]`` by default).

    Returns:
        The exit status: 0 on success; 2 for bad flags, a busy port or ``top`` without a
        terminal; 130 when the demo's runs were interrupted (the summary is printed all the
        same); 143 when ``top`` was ended by ``SIGTERM``.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["receive"]:
        from agentguard_receiver import main as receive

        try:
            return receive(args_list[1:])
        except OSError as exc:
            print(f"agentguard receive: {_bind_message(exc)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 0
    parser = _parser()
    args = parser.parse_args(args_list)
    if args.command == "serve":
        return _serve(parser, args)
    if args.command == "top":
        from agentguard_cli._top import TopOptions, run_top

        console = Console()
        if not console.is_terminal:
            print(
                "agentguard top: standard output is not a terminal; "
                f"scripts can read {args.url}/api/v1/snapshot instead",
                file=sys.stderr,
            )
            return 2
        token = args.token if args.token is not None else os.environ.get(_TOKEN_ENV) or None
        return run_top(TopOptions(url=args.url, token=token), console)
    from agentguard_cli._demo import DemoOptions, run_demo

    if args.live and not os.environ.get("ANTHROPIC_API_KEY"):
        parser.error("--live calls the real API: set ANTHROPIC_API_KEY first")
    if args.live and args.workers:
        parser.error("--live runs in one process; leave out --redis and --workers")
    if bool(args.redis) != bool(args.workers):
        parser.error("--redis URL and --workers N go together")
    if args.redis:
        _check_redis_url(parser, args.redis)
    options = DemoOptions(
        duration_s=args.duration,
        port=args.port,
        seed=args.seed,
        color=not args.no_color,
        hold_s=args.hold,
        redis_url=args.redis,
        workers=args.workers,
        live=args.live,
        model=args.model,
    )
    console = Console(no_color=args.no_color, highlight=not args.no_color)
    try:
        if options.workers:
            from agentguard_cli._workers import run_workers

            return run_workers(options, console)
        return run_demo(options, console)
    except OSError as exc:
        message = str(exc) if exc.errno is None else _bind_message(exc, args.port)
        print(f"agentguard demo: {message}", file=sys.stderr)
        return 2


def _serve(parser: _Parser, args: argparse.Namespace) -> int:
    from agentguard_alerts import RuleConfigError
    from agentguard_cli._serve import ServeOptions, run_serve
    from agentguard_redis import RedisSetupError

    if not args.redis:
        parser.error(f"serve needs --redis URL (or ${ENVIRONMENT['redis']})")
    _check_redis_url(parser, args.redis)
    if args.token == "":
        parser.error("--token may not be empty")
    tokens = _load_tokens(args.tokens, args.token)
    if tokens is None:
        return 2
    options = ServeOptions(
        redis_url=args.redis,
        prefix=args.prefix,
        host=args.host,
        port=args.port,
        rules=args.rules,
        token=args.token,
        tokens=tokens,
        budget_usd_per_month=args.budget_usd_per_month,
        limits=limits_from_arguments(args),
    )
    if args.max_streams_per_client is not None:
        options = dataclasses.replace(options, max_streams_per_client=args.max_streams_per_client)
    try:
        return run_serve(options, Console(stderr=True))
    except (RuleConfigError, RedisSetupError) as exc:
        print(f"agentguard serve: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"agentguard serve: {_bind_message(exc, args.port)}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a prefix or option the service refuses
        print(f"agentguard serve: {exc}", file=sys.stderr)
        return 2


def _load_tokens(path: str | None, token: str | None) -> tuple[Token, ...] | None:
    """The tokens of ``--tokens``, checked with ``--token``; ``None`` once refused (one line).

    Checked here, before anything starts: a refused token never leaves threads behind.
    """
    from agentguard_service import Token, TokenFileError, check_tokens, load_tokens

    try:
        tokens = () if path is None else load_tokens(path)
        if token is not None:
            check_tokens([Token(name="--token", secret=token), *tokens])
    except (TokenFileError, ValueError) as exc:
        print(f"agentguard serve: {exc}", file=sys.stderr)
        return None
    return tokens


def _check_redis_url(parser: _Parser, url: str) -> None:
    """Fail with one line unless ``url`` is a Redis URL of a form the project takes."""
    from agentguard.redisconnect import parse

    try:
        parse(url)
    except ValueError as exc:
        parser.error(f"--redis: {exc}")


def _bind_message(exc: OSError, port: int | None = None) -> str:
    if exc.errno == errno.EADDRINUSE:
        where = "the port" if port is None else f"port {port}"
        return f"{where} is already in use; pass --port 0 for a free port, or another --port"
    return f"cannot start a server: {exc.strerror or exc}"
