"""``kerakit runs`` over folders where some run records are damaged."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli


def fake_run(root: Path, name: str, created: str, accuracy: float) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "metrics.json").write_text(json.dumps({"test": {"accuracy": accuracy},
                                                   "epochs_run": 3, "seconds": 1.5}))
    (path / "manifest.json").write_text(json.dumps({"created": created, "dataset": "iris"}))
    return path


def test_kerakit_runs_lists_the_other_runs_when_one_record_is_unreadable(tmp_path):
    root = tmp_path / "runs"
    fake_run(root, "a", "2026-01-01T10:00:00", 0.9)
    broken = fake_run(root, "b", "2026-01-02T10:00:00", 0.8)
    fake_run(root, "c", "2026-01-03T10:00:00", 0.7)
    (broken / "metrics.json").write_text('{"test": {"accuracy": 0.8')  # torn by a full disk
    table = run_cli("runs", str(root))
    assert table.returncode == 0, table.stderr[-2000:]
    assert "a " in table.stdout and "accuracy=0.7" in table.stdout
    assert "(unreadable)" in table.stdout
    assert f"Invalid run record. Expected JSON in {str(broken / 'metrics.json')!r}" \
        in table.stderr
    listed = run_cli("runs", str(root), "--json")
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {"a", "b", "c"}
    assert rows["a"]["test"] == {"accuracy": 0.9} and "error" not in rows["a"]
    assert "Expected JSON" in rows["b"]["error"]
