"""Every name a config may give, read where it is defined, for the checks made before torch is
imported: a registry is the only list of its names. The registries' modules import torch (seconds
on a CPU), so their source is read instead, the way Python would run it: the names registered
by decorator calls (``@register_loss("bce", ...)``) or held by a dict literal
(``AUGMENTATIONS = {...}``). A registry whose module is already imported (a project's own,
through ``imports``) is read as it is, names registered by other modules included.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def module_file(module: str) -> Path | None | bool:
    """The source file of ``module`` (``a.b.c``), found on sys.path without importing it or its
    packages (``lightning``'s would take seconds): False where there is no such module, None
    where it exists without a source to read (an extension, a namespace package)."""
    top, *parts = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    origin = Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
    folders = [Path(p) for p in spec.submodule_search_locations or ()]
    for part in parts:
        if any(next(f.glob(f"{part}.*.so"), None) for f in folders):
            return None
        files = [f / f"{part}.py" for f in folders if (f / f"{part}.py").is_file()]
        folders = [f / part for f in folders if (f / part).is_dir()]
        if not files and not folders:
            return False
        inits = [f / "__init__.py" for f in folders if (f / "__init__.py").is_file()]
        origin = (files or inits or [None])[0]
    return origin


def binds(module: str, name: str) -> bool:
    """Whether ``module``'s source may bind ``name`` at module level: a class, function,
    assignment or import of it; any ``import *`` or module ``__getattr__`` may too. True where
    the source cannot be read (the import will tell)."""
    try:
        tree = parsed(module)
    except (OSError, SyntaxError, ValueError):
        return True
    if tree is None:
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name in (name, "__getattr__"):
                return True
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if any(alias.name == "*" or (alias.asname or alias.name.split(".")[0]) == name for alias in node.names):
                return True
        elif isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            return True
    return False


@functools.cache
def parsed(module: str) -> ast.Module | None:
    """``module``'s source, parsed once a process (None: no source to read)."""
    source = module_file(module)
    return ast.parse(source.read_text(encoding="utf-8")) if isinstance(source, Path) else None


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None  # a name or an expression: not needed before training


def literal(module: str, name: str) -> Any:
    """The value of ``name = <literal>`` at the top of ``module``'s source."""
    for node in parsed(module).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return _literal(node.value)
    raise LookupError(f"{module} assigns no {name}")


@dataclass(frozen=True)
class Registry:
    """A registry: the dict ``table`` of ``modules``, filled by ``decorator`` calls in their
    source or written as a dict literal."""

    modules: tuple[str, ...]
    table: str
    decorator: str | None = None

    def names(self) -> dict[str, dict[str, Any]]:
        """Each registered name, with the literal keyword arguments of its registration."""
        imported = [sys.modules[m] for m in self.modules if hasattr(sys.modules.get(m), self.table)]
        live = imported[0] if imported else None
        if live is not None:  # imported: the registry itself, with what other modules added
            return {name: _registered_with(entry) for name, entry in getattr(live, self.table).items()}
        found: dict[str, dict[str, Any]] = {}
        for module in self.modules:
            for node in ast.walk(parsed(module)):
                if self.decorator and isinstance(node, ast.Call) and getattr(node.func, "id", "") == self.decorator:
                    if node.args and isinstance(node.args[0], ast.Constant):
                        found[node.args[0].value] = {kw.arg: _literal(kw.value) for kw in node.keywords if kw.arg}
                if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    if any(isinstance(t, ast.Name) and t.id == self.table for t in targets):
                        found |= {_literal(key): {} for key in node.value.keys}
        return found


def _registered_with(entry: Any) -> dict[str, Any]:
    """What a live registry's entry says of itself (a metric's ``keys``)."""
    return {"keys": entry.keys} if hasattr(entry, "keys") and isinstance(entry.keys, tuple) else {}


def imported_by(package: str) -> tuple[str, ...]:
    """The modules ``package``'s ``__init__`` imports from itself (those that register metrics of
    their own, for ``gan_lightning.metrics``)."""
    tree = parsed(package)
    found = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == package]
    return tuple(f"{package}.{alias.name}" for node in found for alias in node.names)


LOSSES = Registry(("gan_lightning.losses",), "LOSSES", "register_loss")
AUGMENTATIONS = Registry(("gan_lightning.augment",), "AUGMENTATIONS")
# metrics/__init__.py imports the modules that register metrics of their own (prdc.py, confident.py).
METRIC_MODULES = ("gan_lightning.metrics.registry", *imported_by("gan_lightning.metrics"))
METRICS = Registry(METRIC_MODULES, "METRICS", "register_metric")
