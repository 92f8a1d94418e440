"""Every check of the monorepo. ``nox`` runs the default sessions; see README.md.

The list of packages is the uv workspace's ``members`` in the root pyproject.toml, read here
and by the tests (tests/support/workspace.py). Environments are made with ``uv sync`` from the
lock file, so each ``tests`` run holds exactly one package's declared dependencies plus the
``test`` dependency group.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT / "tests"))

from support.workspace import PACKAGES  # noqa: E402 (needs the path set just above)

nox.options.default_venv_backend = "uv"
nox.options.sessions = [
    "lint",
    "typecheck",
    "tests",
    "tests_interpreted",
    "oldest",
    "integration",
    "examples",
]
nox.options.error_on_missing_interpreters = True

PYTHON = os.environ.get("AGENTGUARD_PYTHON", "3.11")


def _sync(session: nox.Session, *args: str) -> None:
    """Install into the session's environment from uv.lock with ``uv sync``."""
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--no-python-downloads",
        *args,
        env={"UV_PROJECT_ENVIRONMENT": str(session.virtualenv.location)},
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: the rule set in pyproject.toml, and formatting."""
    _sync(session, "--only-group", "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package, the tests, the benchmarks, the examples and scripts."""
    _sync(session, "--all-packages", "--all-extras", "--group", "typecheck")
    sources = [f"packages/{p.dir_name}/src" for p in PACKAGES]
    packages = [f"{source}/{p.import_name}" for source, p in zip(sources, PACKAGES, strict=True)]
    session.run(
        "mypy",
        *packages,
        "tests",
        "bench",
        "examples",
        "docs/gen_metrics.py",
        "noxfile.py",
        env={"MYPYPATH": os.pathsep.join([*sources, "tests"])},
    )


@nox.session(python=PYTHON)
@nox.parametrize("package", [p.dir_name for p in PACKAGES], ids=[p.dir_name for p in PACKAGES])
def tests(session: nox.Session, package: str) -> None:
    """One package's tests, in an environment holding only its declared dependencies.

    The package's extras are included: they are declared dependencies too.
    """
    chosen = next(p for p in PACKAGES if p.dir_name == package)
    _sync(session, "--package", chosen.dist_name, "--all-extras", "--group", "test")
    session.run("pytest", str(chosen.tests_path.relative_to(ROOT)), *session.posargs)


INTERPRETED = (
    "tests/core",
    "tests/prometheus",
    "tests/metrics",
    "tests/redis_store",
    "tests/service/test_exposition.py",
)
"""The tests whose behaviour runs through generated code (agentguard.compiler, the events'
``__init__``): the core, the two backends of the compiler, the store fed by one, and the
exposition of what it stored."""
NOT_INTERPRETED = ("tests/redis_store/test_processes.py",)
"""The multi-process tests: their flushes must not time out under four busy workers, which the
interpreter's extra microseconds per event change; what they check does not depend on how the
rules are applied, and the ``tests`` session runs them."""


@nox.session(python=PYTHON)
def tests_interpreted(session: nox.Session) -> None:
    """The tests of :data:`INTERPRETED` with ``AGENTGUARD_NO_CODEGEN=1``: the plain interpreter."""
    _sync(session, "--all-packages", "--all-extras", "--group", "test")
    session.run(
        "pytest",
        *INTERPRETED,
        *(f"--ignore={path}" for path in NOT_INTERPRETED),
        *session.posargs,
        env={"AGENTGUARD_NO_CODEGEN": "1"},
    )


@nox.session(python=PYTHON)
def oldest(session: nox.Session) -> None:
    """The tracer's tests against the oldest anthropic SDK we support (DESIGN.md section 9).

    The fake server's own tests (tests/fake) are not run here: they check it against what the
    newest SDK parses (typed error codes, ``api_message``, Managed Agents sessions).
    """
    _sync(session, "--package", "agentguard-trace", "--all-extras", "--group", "test")
    session.install("anthropic==1.0.0")
    session.run("pytest", "tests/trace", *session.posargs)


@nox.session(python=PYTHON)
def integration(session: nox.Session) -> None:
    """Tests across packages, with real servers (redis-server, HTTP, Prometheus, ...)."""
    _sync(session, "--all-packages", "--all-extras", "--group", "test")
    session.run("pytest", "tests/integration", *session.posargs)


@nox.session(python=PYTHON)
def examples(session: nox.Session) -> None:
    """Run every example and check what it prints (examples/check.py holds the expectations)."""
    _sync(session, "--all-packages", "--all-extras")
    session.run("python", "examples/check.py", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The benchmarks of DESIGN.md section 7: prints each ratio and the command behind it.

    Every benchmark module is imported first, the ones not named included: the environment
    holds the packages and the ``bench`` group, not the tests' (pytest is not there).
    """
    _sync(session, "--all-packages", "--all-extras", "--group", "bench")
    session.run("python", "-m", "bench", "--imports")
    session.run("python", "-m", "bench", *session.posargs)
