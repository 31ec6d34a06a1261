"""Start-up cost of plugins: many light ones, and heavy ones that are installed but not used.

Every command runs as a whole process; wall and CPU time (user + system of
that process) are measured per run, and medians are reported. Runs of the two
sides of a comparison alternate, so that a busy machine slows both alike.

Three comparisons:

- ``--help``, ``components --json`` and ``kk.build`` with no plugin and with
  200 synthetic light plugins (dist-info with an entry point, a module
  registering one loss). Targets: ``kerakit --help`` < 0.5 s; 200 plugins add
  <= 150 ms to ``components --json``.
- Heavy plugins installed but not used: one that sleeps 1 s on import, and one
  that imports keras-hub and registers two of its layers (if keras-hub is not
  installed, one that imports scipy and pandas). Against a site holding only a
  light plugin ``other``, from the second run on (the first builds the
  component index and pays the imports once; it is reported as ``first_run``):
  ``kerakit components --json``, ``kerakit show other.other_loss`` and
  ``kk.build`` plus one epoch of a declaration that uses neither. Target: each
  <= 50 ms more, in wall time and in CPU time (a busy machine blurs wall time;
  a plugin that sleeps shows in wall time only). For comparison, the listing
  is also timed with every plugin imported at load (``KERAKIT_STRICT=1``), as
  without the index. Peak memory is reported too, and a probe run of each
  command records which heavy plugin modules it left imported (none, is the target).
- ``kerakit train --epochs 20`` with the heavy plugins installed, against the
  same job written by hand in Keras (load digits, split, the same CNN, fit,
  evaluate, save). Target: CPU time ratio <= 1.03.

Usage: python benchmarks/startup.py [--plugins 200] [--reps 5] [--train-reps 3]
       [--heavy-only] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = ("import kerakit as kk; kk.build(kk.Model(inputs=(4,), blocks=['dense_block'], "
         "head=kk.use('classifier', classes=3)))")
BUILD_AND_EPOCH = (
    "import numpy as np; import kerakit as kk; "
    "m = kk.build(kk.Model(inputs=(4,), blocks=['dense_block'], "
    "head=kk.use('classifier', classes=3))); "
    "m.fit(np.zeros((64, 4)), np.zeros(64), epochs=1, verbose=0)")
HAND_TRAIN = f"""
import sys, tempfile
sys.path.insert(0, {str(HERE)!r})
import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from _reference import digits_cnn_by_hand

keras.utils.set_random_seed(0)
digits = load_digits()
x = (digits.images / 16.0).astype("float32")[..., None]
x_train, x_test, y_train, y_test = train_test_split(
    x, digits.target, test_size=0.2, stratify=digits.target, random_state=0)
model = digits_cnn_by_hand(x_train)
model.fit(x_train, y_train, epochs=20, batch_size=32, validation_split=0.15, verbose=2,
          callbacks=[keras.callbacks.EarlyStopping(patience=12, restore_best_weights=True)])
print(model.evaluate(x_test, y_test, verbose=0))
with tempfile.TemporaryDirectory() as out:
    model.save(out + "/model.keras")
"""

PROBE = """
import atexit, runpy, sys
watched = ("kerakit_sleepy", "kerakit_hub", "kerakit_large", "keras_hub")
atexit.register(lambda: sys.stderr.write(
    "IMPORTED " + ",".join(m for m in watched if m in sys.modules) + "\\n"))
flag, target, *rest = sys.argv[1:]
if flag == "-m":
    sys.argv = [target, *rest]
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    exec(compile(target, "<command>", "exec"), {"__name__": "__main__"})
"""

SLEEPY = '''"""Sleeps 1 s on import, as a plugin with a slow import does."""
import time

import kerakit

time.sleep(1.0)


def sleepy_loss():
    """A loss from a plugin with a slow import."""
    return "mse"


@kerakit.hookimpl
def kerakit_losses(register):
    register("sleepy_loss", sleepy_loss)
'''
HUB = '''"""Registers two keras-hub layers, written the natural way: import keras_hub at the top."""
import keras_hub

import kerakit


@kerakit.hookimpl
def kerakit_blocks(register):
    register("transformer_encoder", keras_hub.layers.TransformerEncoder)
    register("position_embedding", keras_hub.layers.PositionEmbedding)
'''
LARGE_LIBRARY = '''"""Imports large libraries at the top (keras-hub is not installed here)."""
import pandas
import scipy.optimize
import scipy.signal

import kerakit


def savgol(window_length: int = 5, polyorder: int = 2):
    """A Savitzky-Golay smoother, from scipy."""
    return scipy.signal.savgol_coeffs(window_length, polyorder)


@kerakit.hookimpl
def kerakit_preprocessors(register):
    register("savgol", savgol, pandas_version=pandas.__version__)
'''
OTHER = '''"""A light plugin: one loss."""
import kerakit


def other_loss(delta: float = 1.0):
    """A Huber loss from a light plugin."""
    return "huber"


@kerakit.hookimpl
def kerakit_losses(register):
    register("other_loss", other_loss)
'''


def write_plugin(site: Path, name: str, source: str) -> None:
    """A distribution ``kerakit-<name>`` with one entry point, written as pip would."""
    (site / f"kerakit_{name}.py").write_text(source)
    info = site / f"kerakit_{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: kerakit-{name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[kerakit]\n{name} = kerakit_{name}\n")
    (info / "RECORD").write_text("")


def make_synthetic(site: Path, count: int) -> None:
    for i in range(count):
        name = f"synthetic{i:03d}"
        write_plugin(site, name, (
            "import kerakit\n\n"
            "def loss():\n    \"\"\"A synthetic loss.\"\"\"\n    return 'mse'\n\n"
            "@kerakit.hookimpl\ndef kerakit_losses(register):\n"
            f"    register('{name}_loss', loss)\n"))


def has_keras_hub() -> bool:
    probe = [sys.executable, "-c", "import importlib.util as u; "
             "raise SystemExit(u.find_spec('keras_hub') is None)"]
    return subprocess.run(probe, capture_output=True).returncode == 0


class Site:
    """A plugin site with its own component index, run as whole processes."""

    def __init__(self, root: Path, name: str) -> None:
        self.path = root / name
        self.path.mkdir()
        self.cache = root / f"{name}-cache"
        self.env = {**os.environ, "PYTHONPATH": str(self.path), "TF_CPP_MIN_LOG_LEVEL": "3",
                    "KERAKIT_CACHE_DIR": str(self.cache)}
        for var in ("KERAKIT_PLUGINS", "KERAKIT_BLOCK_PLUGINS", "KERAKIT_STRICT",
                    "KERAKIT_DISABLE_PLUGIN_AUTOLOAD"):
            self.env.pop(var, None)

    def run(self, argv: list[str], cwd: Path | None = None,
            **env: str) -> tuple[float, float, float]:
        """Wall seconds, CPU seconds and peak resident MiB of one process."""
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env={**self.env, **env}, cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            raise RuntimeError(f"{argv} failed with {proc.returncode} in {self.path}")
        return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024

    def imported(self, argv: list[str]) -> list[str]:
        """Which heavy plugin modules ``python ARGV[1:]`` left imported."""
        probe = [argv[0], "-c", PROBE, *argv[1:]]
        result = subprocess.run(probe, env=self.env, capture_output=True, text=True, check=True)
        line = [t for t in result.stderr.splitlines() if t.startswith("IMPORTED ")][-1]
        return [m for m in line.removeprefix("IMPORTED ").split(",") if m]


def alternate(reps: int, *runs: Callable[[], tuple[float, float, float]]
              ) -> list[dict[str, float]]:
    """Run each side ``reps`` times, alternating; median wall, CPU and peak memory per side."""
    samples: list[list[tuple[float, float, float]]] = [[] for _ in runs]
    for _ in range(reps):
        for side, run in zip(samples, runs, strict=True):
            side.append(run())
    return [{"wall_s": round(statistics.median(w for w, _, _ in side), 3),
             "cpu_s": round(statistics.median(c for _, c, _ in side), 3),
             "rss_mib": round(statistics.median(m for _, _, m in side))} for side in samples]


def light_plugins(root: Path, count: int, reps: int) -> dict:
    py = sys.executable
    empty, full = Site(root, "empty"), Site(root, "synthetic")
    make_synthetic(full.path, count)
    commands = {
        "kerakit --help": [py, "-m", "kerakit", "--help"],
        "kerakit components --json": [py, "-m", "kerakit", "components", "--json"],
        "import kerakit; build": [py, "-c", BUILD],
    }
    full.run(commands["kerakit components --json"])  # builds the index of the 200
    baseline = alternate(reps, lambda: empty.run([py, "-c", "import keras"]))[0]
    rows = []
    for label, argv in commands.items():
        zero, many = alternate(reps, lambda a=argv: empty.run(a), lambda a=argv: full.run(a))
        rows.append({"command": label, "0_plugins_s": zero["wall_s"],
                     f"{count}_plugins_s": many["wall_s"],
                     "added_ms": round(1000 * (many["wall_s"] - zero["wall_s"])),
                     "ratio_to_import_keras": round(zero["wall_s"] / baseline["wall_s"], 3)})
    return {"import_keras_s": baseline["wall_s"], "plugins": count, "rows": rows,
            "targets": {"help_under_0.5_s": rows[0]["0_plugins_s"] < 0.5,
                        "plugins_add_at_most_150_ms": rows[1]["added_ms"] <= 150}}


def heavy_plugins(root: Path, reps: int, train_reps: int, epochs: int,
                  quick: bool = False) -> dict:
    py = sys.executable
    light, heavy = Site(root, "light"), Site(root, "heavy")
    hub = has_keras_hub()
    for site in (light, heavy):
        write_plugin(site.path, "other", OTHER)
    write_plugin(heavy.path, "sleepy", SLEEPY)
    write_plugin(heavy.path, "hub" if hub else "large", HUB if hub else LARGE_LIBRARY)
    commands = {
        "kerakit components --json": [py, "-m", "kerakit", "components", "--json"],
        "kerakit show other.other_loss": [py, "-m", "kerakit", "show", "other.other_loss"],
        "kk.build + 1 epoch, heavy plugins unused": [py, "-c", BUILD_AND_EPOCH],
    }
    first = {"heavy": heavy.run(commands["kerakit components --json"])}  # builds its index
    imported = {label: heavy.imported(argv) for label, argv in commands.items()}
    if quick:  # a smoke run: the first run and the import check only
        return {"heavy_plugin": "keras-hub" if hub else "scipy + pandas (keras-hub not installed)",
                "heavy_modules_imported": imported, "rows": [],
                "targets": {"unused_heavy_plugins_not_imported": not any(imported.values())}}
    first["light"] = light.run(commands["kerakit components --json"])
    rows = []
    for label, argv in commands.items():
        without, with_heavy = alternate(reps, lambda a=argv: light.run(a),
                                        lambda a=argv: heavy.run(a))
        rows.append(_added(label, without, with_heavy))
    # The same listing with every plugin imported at load, as before the index
    # (strict mode imports everything): what the index saves.
    listing = commands["kerakit components --json"]
    without, eager = alternate(reps, lambda: light.run(listing, KERAKIT_STRICT="1"),
                               lambda: heavy.run(listing, KERAKIT_STRICT="1"))
    eager_row = _added("kerakit components --json, every plugin imported (no index)",
                       without, eager)
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "run"
        train = [py, "-m", "kerakit", "train", "--epochs", str(epochs), "--out", str(out),
                 "--overwrite", "--json"]
        hand = [py, "-c", HAND_TRAIN.replace("epochs=20", f"epochs={epochs}")]
        kerakit_side, hand_side = alternate(train_reps, lambda: heavy.run(train, cwd=Path(work)),
                                            lambda: heavy.run(hand, cwd=Path(work)))
    train_row = {"epochs": epochs, "kerakit_train": kerakit_side, "hand_written": hand_side,
                 "cpu_ratio": round(kerakit_side["cpu_s"] / hand_side["cpu_s"], 3),
                 "wall_ratio": round(kerakit_side["wall_s"] / hand_side["wall_s"], 3)}
    return {
        "heavy_plugin": "keras-hub" if hub else "scipy + pandas (keras-hub not installed)",
        "first_run_components_s": {k: round(w, 3) for k, (w, _, _) in first.items()},
        "heavy_modules_imported": imported,
        "rows": rows, "eager_for_comparison": eager_row, "train": train_row,
        "targets": {"unused_heavy_plugins_not_imported": not any(imported.values()),
                    "unused_heavy_plugins_add_at_most_50_ms_wall": all(
                        r["added_ms"] <= 50 for r in rows),
                    "unused_heavy_plugins_add_at_most_50_ms_cpu": all(
                        r["added_cpu_ms"] <= 50 for r in rows),
                    "train_cpu_ratio_at_most_1.03": train_row["cpu_ratio"] <= 1.03},
    }


def _added(label: str, without: dict[str, float], with_heavy: dict[str, float]) -> dict:
    return {"command": label, "without_s": without["wall_s"], "with_heavy_s": with_heavy["wall_s"],
            "added_ms": round(1000 * (with_heavy["wall_s"] - without["wall_s"])),
            "without_cpu_s": without["cpu_s"], "with_heavy_cpu_s": with_heavy["cpu_s"],
            "added_cpu_ms": round(1000 * (with_heavy["cpu_s"] - without["cpu_s"])),
            "added_rss_mib": with_heavy["rss_mib"] - without["rss_mib"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=200)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--train-reps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--heavy-only", action="store_true", help="skip the 200 light plugins")
    args = parser.parse_args()
    if args.quick:  # checks the script runs: the heavy-plugin half, no timing
        args.plugins, args.reps, args.train_reps, args.epochs = 10, 1, 1, 1
        args.heavy_only = True
    with tempfile.TemporaryDirectory() as tmp:
        result = {"reps": args.reps, "train_reps": args.train_reps}
        if not args.heavy_only:
            result["light_plugins"] = light_plugins(Path(tmp), args.plugins, args.reps)
        result["heavy_plugins"] = heavy_plugins(Path(tmp), args.reps, args.train_reps,
                                                args.epochs, quick=args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    light = result.get("light_plugins", {"rows": [], "targets": {}})
    heavy = result["heavy_plugins"]
    if "import_keras_s" in light:
        print(f"python -c 'import keras': {light['import_keras_s']:.3f} s")
    eager = [heavy["eager_for_comparison"]] if "eager_for_comparison" in heavy else []
    for rows in (light["rows"], heavy["rows"] + eager):
        if not rows:
            continue
        keys = list(rows[0])
        print("  ".join(keys))
        for row in rows:
            print("  ".join(str(row[k]) for k in keys))
    print(f"heavy plugin: {heavy['heavy_plugin']}; first run of components --json: "
          f"{heavy.get('first_run_components_s', '-')}; heavy modules imported: "
          f"{heavy['heavy_modules_imported']}")
    print("train:", heavy.get("train", "- (not run with --quick)"))
    print("targets:", {**light["targets"], **heavy["targets"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
