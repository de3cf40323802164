"""The house plan, checked: each stage of ``tfxfer/`` imports only itself and stages below it,
and no modules import each other in a circle. Reads the source (no TensorFlow), in a second."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "tfxfer"

# Lowest first. A module may import its own stage and any stage before it, never one after.
# recipe sits below finetune: fine_tune asks it for every setting the caller left unset, so
# the Python API and the CLI train alike; --time-budget, which measures a real fine-tuning
# step, lives in finetune/budget.py.
STAGES = [
    ("shared", ["tfxfer", "tfxfer.errors", "tfxfer.io", "tfxfer.config"]),
    ("data", ["tfxfer.data"]),
    ("models", ["tfxfer.models"]),
    ("recipe", ["tfxfer.recipe"]),
    ("finetune", ["tfxfer.finetune"]),
    ("serving", ["tfxfer.serving"]),
    ("reports", ["tfxfer.reports"]),
    ("run", ["tfxfer.run"]),
    ("cli", ["tfxfer.cli"]),
    ("commands", ["tfxfer.train", "tfxfer.predict", "tfxfer.evaluate", "tfxfer.launch", "tfxfer.quickstart",
                  "tfxfer.serve", "tfxfer.export_litert"]),
]
COMMANDS = dict(STAGES)["commands"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage_of(module: str) -> int:
    """Index in STAGES of the stage ``module`` belongs to (the longest matching prefix wins)."""
    best, best_len = None, -1
    for rank, (_, prefixes) in enumerate(STAGES):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = rank, len(prefix)
    if best is None:
        raise AssertionError(f"{module} belongs to no stage: add it to STAGES in {__file__}")
    return best


def _resolve(name: str) -> str:
    """The tfxfer module a dotted name refers to: the module itself, or the one defining it."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports_of(module: str, top_level_only: bool = False) -> set[str]:
    """The tfxfer modules ``module`` imports, inside functions too unless ``top_level_only``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}".rstrip(".")
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(_resolve(n) for n in names if n == "tfxfer" or n.startswith("tfxfer."))
    found.discard(module)
    found.discard("")
    return found


def test_every_module_has_a_stage():
    for module in MODULES:
        stage_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_lower_stages(module):
    rank = stage_of(module)
    upward = {other: STAGES[stage_of(other)][0] for other in imports_of(module) if stage_of(other) > rank}
    assert not upward, f"{module} (stage {STAGES[rank][0]}) imports later stages: {upward}"


def test_nothing_imports_a_command():
    for module in MODULES:
        if module not in COMMANDS:
            assert not imports_of(module) & set(COMMANDS), f"{module} imports a command"


def test_no_import_cycles():
    """Among imports at module level (an import inside a function, such as a registry loading
    its backbone families on demand, runs after both modules exist and is no cycle)."""
    graph = {module: imports_of(module, top_level_only=True) for module in MODULES}
    done, path = set(), []

    def visit(module):
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        path.append(module)
        for other in sorted(graph[module]):
            visit(other)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_the_guard_sees_imports():
    """The guard itself reads imports (a parser that found none would pass everything)."""
    assert "tfxfer.finetune.distribution" in imports_of("tfxfer.finetune.budget")
    assert "tfxfer.models.backbones" in imports_of("tfxfer.recipe.facts")
    assert "tfxfer.data.sources" in imports_of("tfxfer.run", top_level_only=True)
