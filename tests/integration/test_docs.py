"""The docs keep up with the code: each package's page names its whole public API.

A name added to a package's ``__all__`` without a word in its README (packages/<x>/README.md,
the package's page) fails here; so does a package or an example nobody links to.
"""

from __future__ import annotations

import importlib
import re

import pytest

from support.workspace import PACKAGES, ROOT, Package

PUBLIC_SUBMODULES: dict[str, tuple[str, ...]] = {
    "core": ("agentguard.events", "agentguard.testing"),
    "alerts": ("agentguard_alerts.builtin",),
    "metrics": ("agentguard_metrics.storekit",),
}
"""Modules besides the top-level one that users import, documented on the package's page."""


def _code_names(markdown: str) -> set[str]:
    """Every identifier inside an inline code span (`...`) of ``markdown``, fences left out."""
    prose = re.sub(r"^ *```.*?^ *```", "", markdown, flags=re.DOTALL | re.MULTILINE)
    spans = re.findall(r"`([^`]+)`", prose)  # a span may run over a line break
    return {name for span in spans for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span)}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.dir_name)
def test_each_readme_names_every_public_name(package: Package) -> None:
    documented = _code_names((package.path / "README.md").read_text(encoding="utf-8"))
    modules = (package.import_name, *PUBLIC_SUBMODULES.get(package.dir_name, ()))
    for module_name in modules:
        exported = importlib.import_module(module_name).__all__
        missing = sorted(set(exported) - documented)
        assert not missing, (
            f"packages/{package.dir_name}/README.md does not name {missing} "
            f"of {module_name}.__all__ (in `code`, e.g. in its Public API table)"
        )


def test_the_package_index_links_every_package_page() -> None:
    index = (ROOT / "docs" / "packages.md").read_text(encoding="utf-8")
    for package in PACKAGES:
        assert f"](../packages/{package.dir_name}/README.md)" in index, package.dist_name


def test_the_readme_lists_every_example() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for example in sorted((ROOT / "examples").glob("*.py")):
        if example.name != "check.py":
            assert f"examples/{example.name}" in readme, example.name


def test_relative_links_in_the_docs_lead_to_files() -> None:
    pages = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    pages += [p.path / "README.md" for p in PACKAGES]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links {target}"
