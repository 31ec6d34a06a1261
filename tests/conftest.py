"""Shared fixtures: the fixture plugins pip-installed once, seeds, CLI runner."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_PLUGINS = sorted((ROOT / "tests" / "plugins").iterdir())
REAL_PLUGINS = sorted((ROOT / "plugins").iterdir())


def pip_install_target(target: Path, *projects: Path) -> None:
    """pip-install local projects into ``target``, with their real entry points."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--disable-pip-version-check", "--target", str(target),
         *map(str, projects)],
        check=True,
    )


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A site directory holding the fixture plugins and the real ones, installed by pip.

    Under pytest-xdist the workers share one, installed by the first that needs
    it, in the folder of this test session that holds every worker's own.
    """
    if not hasattr(request.config, "workerinput"):  # not an xdist worker
        site = tmp_path_factory.mktemp("plugin_site")
        pip_install_target(site, *FIXTURE_PLUGINS, *REAL_PLUGINS)
        return site
    shared = tmp_path_factory.getbasetemp().parent
    site = shared / "plugin_site"
    with open(shared / "plugin_site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (site / ".installed").exists():
            shutil.rmtree(site, ignore_errors=True)
            pip_install_target(site, *FIXTURE_PLUGINS, *REAL_PLUGINS)
            (site / ".installed").touch()
    return site


@pytest.fixture(scope="session", autouse=True)
def _component_index_cache(tmp_path_factory: pytest.TempPathFactory):
    """The session's own component index, never the user's cache; child processes share it."""
    patch = pytest.MonkeyPatch()
    patch.setenv("KERAKIT_CACHE_DIR", str(tmp_path_factory.mktemp("kerakit_cache")))
    yield
    patch.undo()


@pytest.fixture
def installed_plugins(plugin_site: Path, monkeypatch: pytest.MonkeyPatch):
    """Make the fixture plugins visible to this process, and forget them afterwards."""
    import kerakit.registry.discovery

    for var in ("KERAKIT_DISABLE_PLUGIN_AUTOLOAD", "KERAKIT_PLUGINS", "KERAKIT_BLOCK_PLUGINS",
                "KERAKIT_STRICT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.syspath_prepend(str(plugin_site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(plugin_site), os.environ.get("PYTHONPATH")])))  # for child processes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the broken fixture plugins warn, as they should
        kerakit.registry.discovery.load_plugins(reload=True)
    try:
        yield plugin_site
    finally:
        monkeypatch.undo()
        kerakit.registry.discovery.load_plugins(reload=True)


@pytest.fixture(autouse=True)
def _no_leaked_local_components():
    """Components a test registers with ``kerakit.register_component`` are gone after it."""
    from kerakit.registry import discovery

    before = discovery.local_component_count()
    yield
    if discovery.local_component_count() != before:
        discovery.forget_local_components(before)


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(0)


def cli_env(plugin_site: Path | None = None, **extra: str) -> dict[str, str]:
    # A child sees plugins only from ``plugin_site``: not the one a fixture put on PYTHONPATH.
    env = {k: v for k, v in os.environ.items()
           if (not k.startswith("KERAKIT_") or k == "KERAKIT_CACHE_DIR") and k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if plugin_site is not None:
        env["PYTHONPATH"] = str(plugin_site)
    env.update(extra)
    return env


def run_cli(*args: str, plugin_site: Path | None = None, cwd: Path | None = None,
            timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m kerakit ARGS`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "kerakit", *args],
        capture_output=True, text=True, env=cli_env(plugin_site, **env), cwd=cwd,
        timeout=timeout,
    )


CLI_BATCH = r"""
import contextlib, io, json, sys
from kerakit.cli import main

results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own exits
            code = exc.code if isinstance(exc.code, int) else 1
    results.append([code, out.getvalue(), err.getvalue()])
sys.__stdout__.write(json.dumps(results))
"""


def run_cli_batch(*commands: Sequence[str], plugin_site: Path | None = None,
                  cwd: Path | None = None, timeout: float = 300,
                  **env: str) -> list[subprocess.CompletedProcess]:
    """Run ``kerakit`` commands one after another in one fresh process.

    Each command gets its own stdout, stderr and exit status, as from
    :func:`run_cli`; the process imports TensorFlow once for all of them.
    """
    result = subprocess.run(
        [sys.executable, "-c", CLI_BATCH, json.dumps([list(c) for c in commands])],
        capture_output=True, text=True, env=cli_env(plugin_site, **env), cwd=cwd,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [subprocess.CompletedProcess(list(argv), code, out, err)
            for argv, (code, out, err) in zip(commands, json.loads(result.stdout), strict=True)]


def run_cli_json(*args: str, **kwargs) -> object:
    result = run_cli(*args, "--json", **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


#: The test files that take longest, longest first (measured with --durations).
LONGEST_FILES = ("test_benchmarks.py", "test_tune_engines.py", "test_tune.py", "test_export.py",
                 "test_examples.py", "test_tracking.py", "test_conformance.py", "test_serve.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the longest files first, so that none starts last on an xdist worker."""
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept
