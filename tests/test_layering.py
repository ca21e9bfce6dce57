"""Layering of the package: subpackages import only those below them, lazily or not, and never in a cycle.

The graph is read statically (``ast``) from every module under ``synergy_lab/``, imports inside functions
included, so a lazy import that points back up a layer fails here even though ``import synergy_lab`` would
not notice. The order is documented in docs/architecture.md.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "synergy_lab"

#: Bottom to top: a unit may import only units earlier in this list (and itself). Units are the top-level
#: modules and subpackages of synergy_lab.
LAYERS = ("_validate", "_random", "io", "pid", "data", "models", "losses", "methods", "evaluate", "train",
          "experiments", "plots", "quickstart", "cli")
#: The package root (``synergy_lab/__init__.py``): it runs before any submodule, defines ``__version__``
#: first and then imports the light units (pid, data) eagerly and train lazily, so ``from .. import
#: __version__`` below it is no edge of the graph.
TOP = "__init__"


def _unit(module: str) -> str | None:
    """``synergy_lab.a.b`` -> ``a``; None outside the package."""
    parts = module.split(".")
    if parts[0] != "synergy_lab":
        return None
    return parts[1] if len(parts) > 1 else TOP


def _module_name(path: Path, package: Path) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(name: str, package_dir: Path) -> bool:
    path = package_dir.parent.joinpath(*name.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def _imports(path: Path, package_dir: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    me = _module_name(path, package_dir)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            found.add(prefix)
            # ``from . import x`` / ``from .pkg import sub`` may name submodules: count those too.
            found.update(f"{prefix}.{alias.name}" for alias in node.names
                         if _is_module(f"{prefix}.{alias.name}", package_dir))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in (
                "import_module",) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.args[0].value
            if isinstance(name, str) and not name.startswith("."):
                found.add(name)
    return found


def import_graph(package_dir: Path = PACKAGE) -> dict[str, set[str]]:
    """``{unit: {units it imports}}`` over every module of the package (self-edges left out)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(package_dir.rglob("*.py")):
        me = _unit(_module_name(path, package_dir))
        targets = {_unit(name) for name in _imports(path, package_dir)}
        graph.setdefault(me, set()).update(t for t in targets if t not in (None, me, TOP))
    return graph


@functools.cache
def _package_graph() -> dict[str, frozenset[str]]:
    return {k: frozenset(v) for k, v in import_graph().items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of units, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_unit_is_placed_in_a_layer():
    units = set(_package_graph()) - {TOP}
    assert units <= set(LAYERS), f"place {sorted(units - set(LAYERS))} in LAYERS (and docs/architecture.md)"


def test_imports_point_down_only():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = sorted((a, b) for a, targets in _package_graph().items() if a != TOP
                    for b in targets if rank.get(b, -1) >= rank.get(a, -1))
    assert upward == [], f"upward or sideways imports (importer, imported): {upward}"


def test_the_import_graph_has_no_cycle():
    assert _cycle(_package_graph()) is None


def test_the_checks_catch_a_back_edge_and_a_cycle():
    """The detectors themselves: a lazy upward import and a two-unit cycle are found."""
    graph = {"evaluate": {"train"}, "train": {"evaluate"}}
    assert _cycle(graph) in (["evaluate", "train", "evaluate"], ["train", "evaluate", "train"])
    assert _cycle({"train": {"evaluate"}, "evaluate": {"data"}}) is None


def test_lazy_and_absolute_imports_are_read(tmp_path):
    """A copy of the old back edge (evaluate importing train inside a function) in a throw-away package."""
    package = tmp_path / "synergy_lab"
    files = {
        "__init__.py": "__version__ = '0'\nfrom . import evaluate\n",
        "evaluate/__init__.py": "",
        "evaluate/saved.py": "def f():\n    from ..train.config import load\n    return load\n",
        "train/__init__.py": "from .. import __version__\n",
        "train/config.py": "import numpy\nfrom synergy_lab.evaluate import saved\n",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text, encoding="utf-8")
    graph = import_graph(package)
    assert graph == {"__init__": {"evaluate"}, "evaluate": {"train"}, "train": {"evaluate"}}
    assert _cycle(graph) is not None


def test_the_light_units_pull_no_torch():
    """Beyond the root and pid: data, evaluate and train (configs) import torch only when used."""
    import subprocess
    import sys

    code = ("import sys, synergy_lab, synergy_lab.pid, synergy_lab.data, synergy_lab.evaluate, "
            "synergy_lab.train; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
