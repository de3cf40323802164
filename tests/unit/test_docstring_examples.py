"""Every fenced ```python example in tfxfer's docstrings runs as written.

Each example is pasted code: it imports what it uses and runs in an empty directory. One
that cannot run here (it downloads weights, or needs a trained model) starts with a line
``# not run here: REASON``, and shows as skipped with that reason.
"""

from __future__ import annotations

import ast
import re
import textwrap

import pytest

from tests.conftest import REPO

_FENCE = re.compile(r"^[ \t]*```python[ \t]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
_NOT_RUN = re.compile(r"^# not run here: (.+)$")


def _docstrings(tree: ast.Module, module: str):
    """(qualified name, docstring) of the module and of every class and function in it."""
    yield module, ast.get_docstring(tree, clean=False)
    stack = [(node, module) for node in tree.body]
    while stack:
        node, prefix = stack.pop()
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}.{node.name}"
            yield name, ast.get_docstring(node, clean=False)
            stack.extend((child, name) for child in node.body)


def _all_docstrings():
    for path in sorted((REPO / "tfxfer").rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for name, doc in _docstrings(ast.parse(path.read_text(encoding="utf-8")), module):
            if doc:
                yield name, doc


EXAMPLES = [pytest.param(textwrap.dedent(match.group(1)), id=f"{name}[{index}]")
            for name, doc in _all_docstrings() for index, match in enumerate(_FENCE.finditer(doc))]


def test_every_example_is_fenced():
    """An ``Example:`` section without a fence (or with one the pattern misses) would run nothing."""
    unfenced = [name for name, doc in _all_docstrings() if "Example:" in doc and "```" not in doc]
    assert not unfenced, f"Example: sections without a ``` fence: {unfenced}"
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize("code", EXAMPLES)
def test_docstring_example_runs(code, tmp_path, monkeypatch):
    first = code.strip().splitlines()[0]
    reason = _NOT_RUN.match(first)
    if reason:
        pytest.skip(reason.group(1))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "<docstring example>", "exec"), {"__name__": "__docstring_example__"})
