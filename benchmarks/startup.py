"""Start-up cost: `kerakit --help`, listing components and building, with 0 and 200 plugins.

200 synthetic plugin distributions (dist-info with an entry point, and a
module registering one loss) are written to a temporary site directory. Each
command runs in a fresh process, several times; the median wall time is
reported, next to `python -c "import keras"` measured in the same run.

Targets: `kerakit --help` < 0.5 s (it does not import TensorFlow); 200 plugins
add <= 150 ms to `kerakit components --json` over 0 plugins.

Usage: python benchmarks/startup.py [--plugins 200] [--reps 5] [--quick] [--json]
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
from pathlib import Path

BUILD = ("import kerakit as kk; kk.build(kk.Model(inputs=(4,), blocks=['dense_block'], "
         "head=kk.use('classifier', classes=3)))")


def make_plugins(site: Path, count: int) -> None:
    for i in range(count):
        name = f"synthetic{i:03d}"
        (site / f"kerakit_{name}.py").write_text(
            "import kerakit\n\n"
            "def loss():\n    \"\"\"A synthetic loss.\"\"\"\n    return 'mse'\n\n"
            "@kerakit.hookimpl\ndef kerakit_losses(register):\n"
            f"    register('{name}_loss', loss)\n")
        info = site / f"kerakit_{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: kerakit-{name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[kerakit]\n{name} = kerakit_{name}\n")
        (info / "RECORD").write_text("")


def wall(argv: list[str], site: Path, reps: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "3"}
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=200)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.plugins, args.reps = 10, 1
    py = sys.executable
    commands = {
        "kerakit --help": [py, "-m", "kerakit", "--help"],
        "kerakit components --json": [py, "-m", "kerakit", "components", "--json"],
        "import kerakit; build": [py, "-c", BUILD],
    }
    with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as full:
        make_plugins(Path(full), args.plugins)
        baseline = wall([py, "-c", "import keras"], Path(empty), args.reps)
        rows = []
        for label, argv in commands.items():
            zero = wall(argv, Path(empty), args.reps)
            many = wall(argv, Path(full), args.reps)
            rows.append({"command": label, "0_plugins_s": round(zero, 3),
                         f"{args.plugins}_plugins_s": round(many, 3),
                         "added_ms": round(1000 * (many - zero)),
                         "ratio_to_import_keras": round(zero / baseline, 3)})
    help_s = rows[0]["0_plugins_s"]
    added = rows[1]["added_ms"]
    result = {
        "import_keras_s": round(baseline, 3), "plugins": args.plugins, "reps": args.reps,
        "rows": rows,
        "targets": {"help_under_0.5_s": help_s < 0.5,
                    "plugins_add_at_most_150_ms": added <= 150},
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"python -c 'import keras': {baseline:.3f} s")
        keys = list(rows[0])
        print("  ".join(keys))
        for row in rows:
            print("  ".join(str(row[k]) for k in keys))
        print("targets:", result["targets"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
