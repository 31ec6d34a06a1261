"""kerakit-wandb in W&B's offline mode, nothing mocked: what it wrote is read back.

One `kerakit tune --track wandb` with 3 trials (one of them failing) and one
`kerakit train --track wandb --export` run once, through the command line's
entry point in this process; every test reads the runs' transaction logs
(``run-<id>.wandb``, the records `wandb sync` would upload) back.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
from kerakit_wandb.tracker import WandbTracker
from wandb.proto import wandb_internal_pb2

from kerakit.base import TrackedRun

RECIPE = '''
import kerakit as kk
from kerakit import hp

data = "iris"
model = kk.Model(
    (4,), [kk.use("dense_block", units=hp.Choice([8], default=8))],
    kk.use("classifier", classes=3),
    # a grid over three optimizers: three trials; a NaN learning rate fails the third
    optimizer=hp.OneOf(kk.use("adam", learning_rate=1e-2), kk.use("rmsprop", learning_rate=1e-2),
                       kk.use("sgd", learning_rate=float("nan"))),
    epochs=2, batch_size=32, name="iris_wandb",
)
'''


def read_records(path: Path) -> list[wandb_internal_pb2.Record]:
    """The records of a W&B transaction log (LevelDB's log format, 32 KiB blocks)."""
    data, block, records, pending = path.read_bytes(), 32768, [], b""
    assert data[:4] == b":W&B", path
    offset = 7
    while offset + 7 <= len(data):
        left = block - offset % block
        if left < 7:  # a block's tail too short for a header is padding
            offset += left
            continue
        _, length, kind = struct.unpack("<IHB", data[offset:offset + 7])
        chunk = data[offset + 7:offset + 7 + length]
        offset += 7 + length
        if kind == 0 and length == 0:
            break
        pending += chunk
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def summarise(path: Path) -> dict:
    """One run's log as plain data: run settings, config, history, summary, artifacts."""
    found: dict = {"config": {}, "history": [], "summary": {}, "artifacts": {}, "exit": None}
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            found.update(name=record.run.display_name, group=record.run.run_group,
                         job_type=record.run.job_type, project=record.run.project)
            found["config"].update({i.key: json.loads(i.value_json)
                                    for i in record.run.config.update})
        elif kind == "config":
            found["config"].update({i.key: json.loads(i.value_json)
                                    for i in record.config.update})
        elif kind == "history":
            found["history"].append({i.key or ".".join(i.nested_key): json.loads(i.value_json)
                                     for i in record.history.item})
        elif kind == "summary":
            found["summary"].update({i.key or ".".join(i.nested_key): json.loads(i.value_json)
                                     for i in record.summary.update})
        elif kind == "artifact":
            found["artifacts"][record.artifact.type] = sorted(
                e.path for e in record.artifact.manifest.contents)
        elif kind == "exit":
            found["exit"] = record.exit.exit_code
    return found


def kerakit(*args: str) -> None:
    """Run the installed `kerakit` command's entry point, in this process."""
    from importlib.metadata import entry_points

    [command] = entry_points(group="console_scripts", name="kerakit")
    assert command.load()(list(args)) == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path]:
    """One tuning search and one exported training run, logged offline."""
    tmp = tmp_path_factory.mktemp("wandb")
    (tmp / "recipe.py").write_text(RECIPE)
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith(("KERAKIT_", "WANDB_"))]:
            patch.delenv(name)
        for name, folder in (("WANDB_DIR", "wb"), ("WANDB_DATA_DIR", "data"),
                             ("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config")):
            patch.setenv(name, str(tmp / folder))
        patch.setenv("WANDB_MODE", "offline")
        patch.setenv("WANDB_SILENT", "true")
        patch.chdir(tmp)
        kerakit("tune", "recipe.py", "--tuner", "grid", "--max-trials", "3", "--max-epochs",
                "2", "--out", "tuning", "--track", "wandb")
        kerakit("train", "recipe.py", "--out", "runs/one", "--export", "export", "--track",
                "wandb")
        import wandb

        wandb.teardown()  # W&B's service writes the logs: wait until it has written them all
    logs = sorted((tmp / "wb" / "wandb").glob("offline-run-*/run-*.wandb"))
    return [summarise(path) for path in logs], tmp


def by_job(runs: list[dict], job: str) -> list[dict]:
    return [r for r in runs if r["job_type"] == job]


def test_a_search_is_a_group_with_one_run_per_trial(runs):
    found, _ = runs
    [search] = by_job(found, "search")
    trials = by_job(found, "trial")
    assert len(trials) == 3
    assert {t["group"] for t in trials} == {search["group"]}
    assert search["project"] == "iris_wandb"
    assert search["config"]["objective"] == "val_accuracy"
    assert 0 <= search["summary"]["best_val_accuracy"] <= 1
    assert search["summary"]["tuning._type"] == "image-file"  # the tuning plot
    assert "trials.csv" in search["artifacts"]["run-files"]


def test_trials_carry_dotted_config_epochs_and_models(runs):
    found, _ = runs
    trials = {t["config"]["optimizer"]: t for t in by_job(found, "trial")}
    assert set(trials) == {"adam", "rmsprop", "sgd"}
    for name in ("adam", "rmsprop"):
        trial = trials[name]
        assert trial["exit"] == 0 and trial["summary"]["kerakit.status"] == "finished"
        assert trial["config"]["blocks.0.units"] == 8
        assert trial["config"]["data.name"] == "iris"
        assert len(trial["config"]["data.fingerprint"]) == 16
        assert "version.kerakit" in trial["config"]
        epochs = [row["_step"] for row in trial["history"] if "val_loss" in row]
        assert epochs == [0, 1]
        assert trial["artifacts"]["model"] == ["model.keras"]


def test_a_failed_trial_is_a_failed_run_with_its_reason(runs):
    found, _ = runs
    [failed] = [t for t in by_job(found, "trial") if t["config"]["optimizer"] == "sgd"]
    assert failed["exit"] == 1
    assert "NaN" in failed["summary"]["kerakit.error"]
    assert "model" not in failed["artifacts"]


def test_a_training_run_logs_test_metrics_curves_files_and_its_export(runs):
    found, tmp = runs
    [run] = by_job(found, "train")
    assert run["name"] == "one" and run["exit"] == 0
    assert 0 <= run["summary"]["test_accuracy"] <= 1
    assert [row["_step"] for row in run["history"] if "loss" in row] == [0, 1]
    assert run["summary"]["curves._type"] == "image-file"
    assert run["artifacts"]["model"] == ["model.keras"]
    assert {"metrics.json", "manifest.json", "history.csv", "declaration.json"} <= set(
        run["artifacts"]["run-files"])
    [export] = by_job(found, "export")
    assert export["group"] == run["group"]
    exported = {p.relative_to(tmp / "export").as_posix()
                for p in (tmp / "export").rglob("*") if p.is_file()}
    assert "saved_model.pb" in exported
    assert exported <= set(export["artifacts"]["saved_model"])


def test_config_values_that_are_not_json_become_text():
    run = TrackedRun("1", "odd", "train", hyperparameters={"a.b": {1, 2}, "c": [1, 2]},
                     versions={"kerakit": "0.2"})
    config = WandbTracker.config_of(run)
    assert config["c"] == [1, 2] and isinstance(config["a.b"], str)
    assert config["version.kerakit"] == "0.2" and config["kerakit.kind"] == "train"
