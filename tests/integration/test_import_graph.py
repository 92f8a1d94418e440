"""The import graph stays a tree of rooms: no cycles within a package, no private core imports.

Imports are read with ``ast`` from the sources, so a lazy import inside a function counts as
much as one at module level; an import under ``if TYPE_CHECKING:`` does not (it never runs).
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.workspace import PACKAGES, Package


def _modules(package: Package) -> dict[str, Path]:
    """``{dotted module name: file}`` of the package's sources (a package is its __init__)."""
    source = package.path / "src"
    modules = {}
    for path in sorted(source.rglob("*.py")):
        parts = path.relative_to(source).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that can run: anywhere in the module but under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                stack.extend(child.orelse)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child
            else:
                stack.append(child)


def _imported(module: str, path: Path, known: set[str]) -> Iterator[str]:
    """The modules ``module`` imports: ``from a import b`` is ``a.b`` when that is a module."""
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            parent = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            parent = parent[: len(parent) - node.level + 1]
            base = ".".join([*parent, base] if base else parent)
        for alias in node.names:
            name = f"{base}.{alias.name}"
            yield name if name in known else base


def _graph(package: Package) -> dict[str, set[str]]:
    modules = _modules(package)
    known = set(modules)
    return {
        module: {name for name in _imported(module, path, known) if name in known} - {module}
        for module, path in modules.items()
    }


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.dir_name)
def test_no_module_imports_itself_back_through_another(package: Package) -> None:
    graph = _graph(package)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as cycle:
        pytest.fail(f"import cycle in {package.dist_name}: {' -> '.join(cycle.args[1])}")


def test_the_cycle_finder_sees_lazy_imports_and_skips_type_checking_ones(tmp_path: Path) -> None:
    source = tmp_path / "src" / "agentguard_x"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("")
    (source / "a.py").write_text("def f():\n    from agentguard_x import b\n")
    (source / "b.py").write_text("from .a import f\n")
    (source / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import agentguard_x.a\n"
    )

    class _Here(Package):
        @property
        def path(self) -> Path:
            return tmp_path

    graph = _graph(_Here("x"))
    assert graph["agentguard_x.a"] == {"agentguard_x.b"}
    assert graph["agentguard_x.b"] == {"agentguard_x.a"}
    assert graph["agentguard_x.c"] == set()


CORE = next(p for p in PACKAGES if p.dir_name == "core")


@pytest.mark.parametrize(
    "package", [p for p in PACKAGES if p.dir_name != "core"], ids=lambda p: p.dir_name
)
def test_no_package_imports_a_private_module_of_the_core(package: Package) -> None:
    core = set(_modules(CORE))
    private = [
        f"{module} imports {name}"
        for module, path in _modules(package).items()
        for name in _imported(module, path, core)
        if name.split(".")[0] == "agentguard" and any(p.startswith("_") for p in name.split("."))
    ]
    assert private == [], "import the public name instead (agentguard.episodes, ...)"
