"""Shared fixtures: the fixture plugins pip-installed once, seeds, CLI runner."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
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


def sources_digest(*projects: Path) -> str:
    """A digest of the projects' source files: equal digests, equal installs."""
    digest = hashlib.sha256()
    for project in projects:
        for path in sorted(project.rglob("*")):
            parts = set(path.relative_to(project).parts)
            if path.is_file() and "build" not in parts and "__pycache__" not in parts \
                    and not any(p.endswith(".egg-info") for p in parts):
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site directory holding the fixture plugins and the real ones, installed by pip.

    It is installed once for the plugins' current sources, by the first test
    session (or xdist worker) that needs it, in pytest's folder for this user;
    later sessions with the same sources, such as CI's JAX run, reuse it.
    """
    root = tmp_path_factory.getbasetemp()
    while root.name.startswith(("pytest-", "popen-")) and not root.name.startswith("pytest-of-"):
        root = root.parent  # from .../pytest-of-USER/pytest-N[/popen-gwK] to pytest-of-USER
    projects = (*FIXTURE_PLUGINS, *REAL_PLUGINS)
    site = root / f"kerakit-plugin-site-{sources_digest(*projects)}"
    with open(root / "kerakit-plugin-site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (site / ".installed").exists():
            shutil.rmtree(site, ignore_errors=True)
            pip_install_target(site, *projects)
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


def wait_for(condition, timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout} s")
        time.sleep(0.05)


def run_cli(*args: str, plugin_site: Path | None = None, cwd: Path | None = None,
            timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m kerakit ARGS`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "kerakit", *args],
        capture_output=True, text=True, env=cli_env(plugin_site, **env), cwd=cwd,
        timeout=timeout,
    )


BATCH = r"""
import contextlib, io, json, os, runpy, sys, traceback

items, results_path, results = json.loads(sys.argv[1]), sys.argv[2], []
for target, argv, cwd in items:
    env, path, start = dict(os.environ), list(sys.path), os.getcwd()
    os.chdir(cwd or start)
    sys.argv = [target, *argv]
    if target.endswith(".py"):
        sys.path[0] = os.path.dirname(target)  # as `python SCRIPT` has it
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if target.endswith(".py"):
                runpy.run_path(target, run_name="__main__")
            else:
                runpy.run_module(target, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    results.append([code, out.getvalue(), err.getvalue()])
    os.chdir(start)  # the next one starts from the same folder, environment and Keras state
    os.environ.clear()
    os.environ.update(env)
    sys.path[:] = path
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
with open(results_path, "w") as f:  # not stdout: a script's child processes share that
    json.dump(results, f)
"""


def run_batch(*items: tuple[str | Path, Sequence[str], Path | None],
              plugin_site: Path | None = None, timeout: float = 900,
              **env: str) -> list[subprocess.CompletedProcess]:
    """Run scripts or ``-m`` modules one after another in one fresh process.

    Each ``(target, argv, cwd)`` runs as ``python TARGET ARGV`` (a ``.py``
    file) or ``python -m TARGET ARGV`` (a module) would in ``cwd``, with its
    own stdout, stderr and exit status. The process imports TensorFlow once
    for all of them.
    """
    batch = [[str(target), list(argv), cwd and str(cwd)] for target, argv, cwd in items]
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results.json"
        ran = subprocess.run([sys.executable, "-c", BATCH, json.dumps(batch), str(results)],
                             capture_output=True, text=True, env=cli_env(plugin_site, **env),
                             timeout=timeout)
        assert ran.returncode == 0 and results.is_file(), ran.stderr[-3000:]
        outcomes = json.loads(results.read_text())
    return [subprocess.CompletedProcess(argv, code, out, err)
            for (_, argv, _), (code, out, err) in zip(batch, outcomes, strict=True)]


def run_cli_batch(*commands: Sequence[str], plugin_site: Path | None = None,
                  cwd: Path | None = None, timeout: float = 300,
                  **env: str) -> list[subprocess.CompletedProcess]:
    """Run ``kerakit`` commands one after another in one fresh process.

    Each command gets its own stdout, stderr and exit status, as from
    :func:`run_cli`; the process imports TensorFlow once for all of them.
    """
    return run_batch(*[("kerakit", command, cwd) for command in commands],
                     plugin_site=plugin_site, timeout=timeout, **env)


def run_script_files(scripts: Sequence[Path], argv: Sequence[str],
                     tmp_path_factory: pytest.TempPathFactory, plugin_site: Path,
                     need_plugins: set[str]) -> dict[str, subprocess.CompletedProcess]:
    """Run each script with ``argv`` in its own folder: those named in ``need_plugins``
    in one process that sees ``plugin_site``, the others in one that does not.

    Returns:
        Each script's file name -> its outcome.
    """
    results = {}
    for site in (None, plugin_site):
        chosen = [p for p in scripts if (p.name in need_plugins) == (site is not None)]
        if chosen:
            runs = run_batch(*[(p, argv, tmp_path_factory.mktemp(p.stem)) for p in chosen],
                             plugin_site=site)
            results.update(zip((p.name for p in chosen), runs, strict=True))
    return results


def run_cli_json(*args: str, **kwargs) -> object:
    result = run_cli(*args, "--json", **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


#: The test files that take longest, longest first (measured with --durations).
LONGEST_FILES = ("test_tune.py", "test_plugin_suites.py", "test_benchmarks.py", "test_export.py",
                 "test_examples.py", "test_cli_catalog.py", "test_data_inputs.py",
                 "test_conformance.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the longest files first, so that none starts last on an xdist worker."""
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept
