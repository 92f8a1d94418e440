"""The workspace keeps its conventions (DESIGN.md section 2, STYLE.md layout)."""

from __future__ import annotations

import importlib
import importlib.metadata
import sys

import pytest

from support.workspace import PACKAGES, ROOT, Package

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover (Python 3.10)
    import tomli as tomllib


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.dir_name)
def test_each_package_has_its_files_and_names(package: Package) -> None:
    pyproject = tomllib.loads((package.path / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == package.dist_name
    assert pyproject["project"]["requires-python"] == ">=3.10"
    source = package.path / "src" / package.import_name
    assert (source / "py.typed").is_file()
    assert (package.path / "README.md").is_file()
    assert package.tests_path.is_dir()
    module = importlib.import_module(package.import_name)
    assert module.__doc__, f"{package.import_name} needs a module docstring"


EXTENDS = {
    "redis": "agentguard-metrics",
    "service": "agentguard-metrics",
    "alerts": "agentguard-metrics",
}
"""Packages built on the metrics model (agentguard-metrics, which has no web stack): the Redis
store is one of its stores, the service serves its stores, alert rules read its protocol."""
INTEGRATES = {"claude_agent": {"agentguard-trace", "agentguard-loopguard"}}
"""Integrations that bring producers to someone else's agent loop: the Claude Agent SDK's
hooks price through the tracer and act through the loop guard instead of writing either twice."""


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.dir_name)
def test_packages_depend_on_the_core_never_on_each_other(package: Package) -> None:
    if package.dir_name == "cli":
        pytest.skip("the command-line package is the one that brings the others together")
    pyproject = tomllib.loads((package.path / "pyproject.toml").read_text(encoding="utf-8"))
    allowed = {"agentguard", package.dist_name, EXTENDS.get(package.dir_name, "")}
    allowed |= INTEGRATES.get(package.dir_name, set())
    others = {p.dist_name for p in PACKAGES} - allowed
    for requirement in pyproject["project"]["dependencies"]:
        name = requirement.split(";")[0].split("[")[0].split(">")[0].split("=")[0].strip()
        assert name not in others, f"{package.dist_name} depends on {name}"


def test_no_tests_directory_is_named_like_an_installed_module() -> None:
    # tests/ is a source root (pytest's pythonpath, ruff's src): a tests/redis read as redis-py.
    installed = importlib.metadata.packages_distributions()
    tests = ROOT / "tests"
    assert sorted(d.name for d in tests.iterdir() if d.is_dir() and d.name in installed) == []


def test_the_template_is_not_a_workspace_member() -> None:
    assert "_template" not in {p.dir_name for p in PACKAGES}
    assert (ROOT / "packages" / "_template" / "pyproject.toml").is_file()
