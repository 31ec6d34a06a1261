"""Type-check ``kerakit/`` with mypy against a baseline that only shrinks.

``.ci/mypy-baseline.json`` holds each file's error count when the check was
introduced. A run fails when any file has more errors than its baseline (a
file not listed has a baseline of 0), so new code is typed and old code can
only get better. When counts fall, ``--update`` writes the lower numbers; it
refuses to raise any.

Usage:
    python .ci/mypy_baseline.py            # check
    python .ci/mypy_baseline.py --update   # after fixing errors: lower the baseline
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / ".ci" / "mypy-baseline.json"
_ERROR = re.compile(r"^(?P<path>[^:\s]+\.py):\d+(?::\d+)?: error:")


def error_counts() -> tuple[Counter[str], str]:
    """Each file's mypy error count, and mypy's output."""
    result = subprocess.run(
        # no cache: a cold run takes about 10 s, and leaves nothing in the tree
        [sys.executable, "-m", "mypy", "kerakit", "--cache-dir", os.devnull,
         "--no-error-summary", "--hide-error-context", "--no-color-output"],
        cwd=ROOT, capture_output=True, text=True)
    if result.returncode not in (0, 1):  # 2: mypy itself failed (bad config, crash)
        raise SystemExit(f"mypy failed to run:\n{result.stdout}{result.stderr}")
    counts: Counter[str] = Counter()
    for line in result.stdout.splitlines():
        found = _ERROR.match(line)
        if found:
            counts[Path(found["path"]).as_posix()] += 1
    return counts, result.stdout


def compare(counts: Counter[str], baseline: dict[str, int]) -> tuple[list[str], list[str]]:
    """Files whose count rose (with the numbers), and files whose count fell."""
    rose = [f"{path}: {count} errors, baseline {baseline.get(path, 0)}"
            for path, count in sorted(counts.items()) if count > baseline.get(path, 0)]
    fell = [path for path, count in sorted(baseline.items()) if counts.get(path, 0) < count]
    return rose, fell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="lower the baseline")
    args = parser.parse_args(argv)
    started = time.monotonic()
    counts, output = error_counts()
    first = not BASELINE.exists()  # --update then records today's counts
    baseline = json.loads(BASELINE.read_text()) if not first else {}
    rose, fell = compare(counts, baseline)
    if args.update and first:
        rose = []
    seconds = time.monotonic() - started
    if rose:
        files = {line.split(":")[0] for line in rose}
        print("\n".join(line for line in output.splitlines() if line.split(":")[0] in files))
        print("mypy: more errors than the baseline (.ci/mypy-baseline.json) in:\n  "
              + "\n  ".join(rose), file=sys.stderr)
        return 1
    if args.update:
        BASELINE.write_text(json.dumps(dict(sorted(counts.items())), indent=2) + "\n")
        print(f"mypy: baseline written, {sum(counts.values())} errors in {len(counts)} files")
    elif fell:
        print("mypy: fewer errors than the baseline in " + ", ".join(fell)
              + "; run `python .ci/mypy_baseline.py --update` to lower it", file=sys.stderr)
    print(f"mypy: {sum(counts.values())} errors in {len(counts)} files, none above the "
          f"baseline ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
