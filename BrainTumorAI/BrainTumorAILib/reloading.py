"""Reload BrainTumorAILib in dependency order (the module's "Reload" button).

Reloading a module re-runs its imports, so a module must be reloaded after the modules it
imports from, or it keeps the old functions. The order is read from the package's own
relative imports (``from .x import y``), so it stays right as files are added.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

PACKAGE = "BrainTumorAILib"
PACKAGE_DIR = Path(__file__).resolve().parent


def _relative_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names.update([node.module] if node.module else [alias.name for alias in node.names])
    return names


def reload_order(package_dir: Path = PACKAGE_DIR, package: str = PACKAGE) -> list[str]:
    """Module names of the package, each after every module it imports; the package last."""
    modules = {p.stem: _relative_imports(p) for p in sorted(package_dir.glob("*.py")) if p.stem != "__init__"}
    order: list[str] = []

    def visit(name: str, path: tuple) -> None:
        if name in order or name not in modules:
            return
        if name in path:
            raise ImportError(f"{package}.{name} imports itself through {' -> '.join(path)}")
        for dependency in sorted(modules[name]):
            visit(dependency, path + (name,))
        order.append(name)

    for name in modules:
        visit(name, ())
    return [f"{package}.{name}" for name in order] + [package]


def reload_package() -> list[str]:
    """Reload every loaded module of BrainTumorAILib in dependency order; returns their names."""
    reloaded = [name for name in reload_order() if name in sys.modules]
    for name in reloaded:
        importlib.reload(sys.modules[name])
    return reloaded
