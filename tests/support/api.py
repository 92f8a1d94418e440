"""Checks that a module's ``__all__`` is exactly its public names."""

from __future__ import annotations

import ast
import inspect
from types import ModuleType


def public_names(module: ModuleType) -> set[str]:
    """Public names ``module`` defines at top level; for a package, also what it re-exports.

    Read from the source, so names a plain module merely imports do not count.
    """
    tree = ast.parse(inspect.getsource(module))
    is_package = hasattr(module, "__path__")
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom) and is_package and node.module != "__future__":
            names.update(alias.asname or alias.name for alias in node.names)
    return {name for name in names if not name.startswith("_")}


def assert_all_is_public_api(module: ModuleType) -> None:
    """``__all__`` lists every public name of ``module`` once, and nothing that is missing."""
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{module.__name__}.__all__ repeats a name"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"{module.__name__}.__all__ names what is not there: {missing}"
    public = public_names(module)
    unlisted = public - set(exported)
    assert not unlisted, f"{module.__name__} has public names missing from __all__: {unlisted}"
    extra = set(exported) - public
    assert not extra, f"{module.__name__}.__all__ lists names it does not define: {extra}"
