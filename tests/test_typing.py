"""Types as part of the API: ``py.typed``, an annotated public API, the mypy baseline."""

from __future__ import annotations

import importlib.util
import inspect
from collections import Counter

from conftest import ROOT

import kerakit as kk

#: Public callables still missing an annotation; fix them and take them out.
KNOWN_GAPS: set[str] = set()


def baseline_script():
    spec = importlib.util.spec_from_file_location("mypy_baseline", ROOT / ".ci/mypy_baseline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_ships_py_typed():
    assert (ROOT / "kerakit" / "py.typed").is_file()
    # tomllib arrives in Python 3.11; kerakit supports 3.10
    config = (ROOT / "pyproject.toml").read_text()
    assert '[tool.setuptools.package-data]\nkerakit = ["py.typed"]' in config


def test_every_public_function_and_method_is_annotated():
    gaps = set()
    for name in kk.__all__:
        obj = getattr(kk, name)
        if inspect.isfunction(obj):
            callables = [(name, obj)]
        elif inspect.isclass(obj):
            callables = [(f"{name}.{m}", f) for m, f in vars(obj).items()
                         if inspect.isfunction(f) and (not m.startswith("_") or m == "__init__")]
        else:
            continue
        for qualified, function in callables:
            signature = inspect.signature(function)
            gaps |= {f"{qualified}({p.name})" for p in signature.parameters.values()
                     if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty}
            if signature.return_annotation is inspect.Signature.empty:
                gaps.add(f"{qualified} -> return")
    assert gaps <= KNOWN_GAPS, sorted(gaps - KNOWN_GAPS)


def test_the_baseline_fails_on_a_rise_and_reports_a_fall():
    compare = baseline_script().compare
    rose, fell = compare(Counter({"kerakit/a.py": 3, "kerakit/new.py": 1}),
                         {"kerakit/a.py": 2, "kerakit/b.py": 4})
    assert rose == ["kerakit/a.py: 3 errors, baseline 2", "kerakit/new.py: 1 errors, baseline 0"]
    assert fell == ["kerakit/b.py"]
    assert compare(Counter({"kerakit/a.py": 2}), {"kerakit/a.py": 2}) == ([], [])


def test_the_baseline_lists_only_files_that_exist():
    import json

    baseline = json.loads((ROOT / ".ci" / "mypy-baseline.json").read_text())
    assert all(count > 0 for count in baseline.values())
    assert all(path.startswith("kerakit/") for path in baseline)
