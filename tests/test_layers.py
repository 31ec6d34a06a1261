"""The package's layers: no import cycles, no upward imports (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kerakit"

#: module prefix -> layer; a module may import its own layer and the ones below
LAYERS = [
    ("kerakit._version", 0), ("kerakit.errors", 0), ("kerakit.hookspecs", 0),
    ("kerakit.base", 0), ("kerakit.data", 0), ("kerakit.curves", 0), ("kerakit.fileops", 0),
    ("kerakit.keras_gate", 0),
    ("kerakit.builtins", 1),
    ("kerakit.registry", 2),
    ("kerakit.sources", 3),
    ("kerakit.declaration", 4), ("kerakit.hp", 4),
    ("kerakit.engine", 5),
    ("kerakit.runs", 6),
    ("kerakit.deploy", 7), ("kerakit.tuning", 7),
    ("kerakit.testing", 8), ("kerakit.authoring", 8),
    ("kerakit.estimators", 8), ("kerakit.estimator_data", 8),  # kk.fit behind scikit-learn
    ("kerakit", 9),  # the public facade: only the command line may go through it
    ("kerakit.cli", 10), ("kerakit.__main__", 10),
]


def layer_of(module: str) -> int:
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return dict(LAYERS)[best]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every kerakit module ``path`` imports, at any depth, ``TYPE_CHECKING`` blocks included.

    An import made only for type hints still ties two modules together: a cycle
    hidden behind ``TYPE_CHECKING`` is a cycle in the design.
    """
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("kerakit")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("kerakit"):
            for alias in node.names:  # `from kerakit.engine import builder` imports a module
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(paths)
    return {name: imports_of(path, known) - {name} for name, path in paths.items()}


def test_every_module_has_a_layer(graph):
    for name in graph:
        assert layer_of(name) is not None, name


def test_no_upward_imports(graph):
    upward = [f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
              for m, deps in graph.items() for d in deps
              if m != "kerakit" and layer_of(d) > layer_of(m)]
    assert not upward, "\n".join(sorted(upward))


def test_builtins_use_only_the_foundation(graph):
    wrong = [f"{m} imports {d}" for m, deps in graph.items() if m.startswith("kerakit.builtins")
             for d in deps if layer_of(d) not in (0, 1)]
    assert not wrong, wrong


def test_no_import_cycles(graph):
    # Tarjan's strongly connected components; the facade's lazy map is not an import
    deps = {m: {d for d in ds if d in graph and d != "kerakit"} for m, ds in graph.items()}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in deps[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in deps:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_shipped_plugins_use_only_public_modules():
    public = {"kerakit", "kerakit.base", "kerakit.hookspecs", "kerakit.errors", "kerakit.hp",
              "kerakit.data", "kerakit.testing", "kerakit.tuning"}
    plugins = PACKAGE.parent / "plugins"
    offenders = []
    for path in plugins.rglob("*.py"):
        if "build" in path.relative_to(plugins).parts:  # pip's build copies
            continue
        for name in imports_of(path, set()):
            if name.startswith("kerakit.") and name not in public:
                offenders.append(f"{path.relative_to(plugins)}: {name}")
    assert not offenders, offenders


def test_the_data_layer_never_imports_what_runs_the_model(graph):
    """kerakit/sources/ hands plain facts to the plan; it never reaches back into it."""
    above = ("kerakit.engine", "kerakit.runs", "kerakit.deploy", "kerakit.tuning",
             "kerakit.declaration")
    wrong = [f"{m} imports {d}" for m, deps in graph.items() if m.startswith("kerakit.sources")
             for d in deps if d.startswith(above)]
    assert not wrong, wrong
    assert any(m.startswith("kerakit.sources.") for m in graph)  # the layer exists
