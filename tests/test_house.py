"""House size: no module over 400 lines, no function over 60, unless its docstring says why.

A module or function that must stay long says so in its docstring with the
marker ``Long because`` followed by the reason; anything else over the limit
is listed, every offender at once.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "kerakit"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MARKER = "Long because"


def excused(node: ast.AST) -> bool:
    """Whether ``node``'s docstring carries the marker that explains its length."""
    return MARKER in (ast.get_docstring(node) or "")  # type: ignore[arg-type]


def offenders(root: Path = PACKAGE) -> list[str]:
    """Every module over the line limit and every function over its limit, unexcused."""
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        tree = ast.parse(text)
        rel = path.relative_to(root.parent).as_posix()
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES and not excused(tree):
            found.append(f"{rel}: module of {lines} lines (limit {MAX_MODULE_LINES})")
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = node.end_lineno - first + 1
            if length > MAX_FUNCTION_LINES and not excused(node):
                found.append(f"{rel}:{node.lineno}: function `{node.name}` of {length} lines "
                             f"(limit {MAX_FUNCTION_LINES})")
    return found


def test_no_module_or_function_is_too_long():
    found = offenders()
    assert not found, (f"{len(found)} offender(s); split them by concept, or say why in the "
                       f"docstring with {MARKER!r}:\n" + "\n".join(found))


def test_the_marker_excuses_and_its_absence_does_not(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (package / "long.py").write_text(f'def f():\n    """Short."""\n{body}\n')
    (package / "excused.py").write_text(
        f'def f():\n    """Long because it is one table.\n    """\n{body}\n')
    (package / "big.py").write_text("\n" * MAX_MODULE_LINES + "x = 1\n")
    found = offenders(package)
    assert len(found) == 2, found
    assert "pkg/long.py:1: function `f` of 62 lines" in found[1]
    assert f"pkg/big.py: module of {MAX_MODULE_LINES + 1} lines" in found[0]
