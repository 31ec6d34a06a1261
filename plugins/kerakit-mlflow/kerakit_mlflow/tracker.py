"""The MLflow tracker: each kerakit run an MLflow run, each tuning trial a nested run."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from kerakit.base import RunOutcome, TrackedRun, Tracker

#: kerakit's run statuses -> MLflow's.
STATUS = {"finished": "FINISHED", "failed": "FAILED", "pruned": "KILLED"}
#: MLflow refuses longer parameter values.
MAX_PARAM = 6000
#: Epoch metrics are sent at most this often, and at the run's end. kerakit
#: calls a tracker off the training thread, but a store write per epoch still
#: costs more than a small model's epoch; MLflow's own autologging batches
#: metrics for the same reason.
FLUSH_SECONDS = 5.0
#: MLflow's limit on metrics per ``log_batch`` call.
MAX_BATCH = 1000
#: MLflow's HTTP settings, where the environment does not set them: one quick
#: retry and 10 s per request, not MLflow's 7 retries over about 4 minutes. A
#: closed port then fails at once and a silent server after about 20 s, with
#: MLflow's reason, well before kerakit's own limit (``KERAKIT_TRACK_TIMEOUT``).
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
_KEY = re.compile(r"[^\w\-. /]")


class MlflowTracker(Tracker):
    """Log kerakit runs to an MLflow tracking store.

    Params are the hyperparameters with their dotted names (``blocks.0.filters``)
    plus the data's name and fingerprint and the versions; metrics are logged
    per epoch (sent in batches, at most every :data:`FLUSH_SECONDS` and at the
    run's end), with the test metrics as ``test_<name>`` at the end; the
    ``.keras`` model, the run directory's records and the SavedModel (when
    exported) are artifacts. A search is a parent run; each trial a nested run.
    A training run resumed after a crash continues its MLflow run (found by
    the tag ``kerakit.run_id``, which kerakit keeps across a resume).

    Args:
        uri: The tracking URI; defaults to MLflow's (``MLFLOW_TRACKING_URI``, else
            ``sqlite:///mlflow.db`` in the working directory).
        experiment: The experiment name; defaults to ``MLFLOW_EXPERIMENT_NAME``,
            else the declaration's name.
    """

    def __init__(self, uri: str | None = None, experiment: str | None = None) -> None:
        import mlflow

        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        self.uri = uri or mlflow.get_tracking_uri()
        self._client: Any = None
        self.experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME")
        self.ids: dict[str, str] = {}  # kerakit run id -> MLflow run id
        self.buffered: dict[str, list[Any]] = {}  # kerakit run id -> epochs not yet sent
        self.sent_at: dict[str, float] = {}  # kerakit run id -> time of the last send
        self.resumed: dict[str, tuple[int, dict]] = {}  # kerakit run id -> (last step, backup)

    @property
    def client(self) -> Any:
        """The ``MlflowClient``, made at first use: making one opens the store (and may
        wait on it), which kerakit does off the training thread."""
        if self._client is None:
            from mlflow import MlflowClient

            _check_sqlite(self.uri)
            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def start_run(self, run: TrackedRun) -> None:
        experiment_id = self._experiment_id(run)
        if run.kind == "train" and self._reopen(run, experiment_id):
            return
        tags = {"kerakit.kind": run.kind, "mlflow.source.name": "kerakit",
                "kerakit.run_id": run.id}
        if run.parent is not None and run.parent.id in self.ids:
            tags["mlflow.parentRunId"] = self.ids[run.parent.id]
        if run.run_dir is not None:
            tags["kerakit.run_dir"] = str(Path(run.run_dir).absolute())
        created = self.client.create_run(experiment_id, run_name=run.name, tags=tags)
        run_id = self.ids[run.id] = created.info.run_id
        self._log_params(run_id, self.params_of(run))
        if run.declaration:
            self.client.log_dict(run_id, run.declaration, "declaration.json")

    def _reopen(self, run: TrackedRun, experiment_id: str) -> bool:
        """Continue the MLflow run of the crashed run that ``run`` resumes (same kerakit id).

        Its status goes back to ``RUNNING``; the epochs the crash kept from
        MLflow but not from the run's backup are sent at the first new epoch.
        """
        found = self.client.search_runs(
            [experiment_id], f"tags.`kerakit.run_id` = '{_key(run.id)}'", max_results=1)
        if not found:
            return False
        run_id = self.ids[run.id] = found[0].info.run_id
        self.client.update_run(run_id, status="RUNNING")
        logged = sorted(found[0].data.metrics)
        steps = [m.step for m in self.client.get_metric_history(run_id, logged[0])] \
            if logged else []
        self.resumed[run.id] = (max(steps, default=-1), run.resumed_history)
        return True

    def log_epoch(self, run: TrackedRun, epoch: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        buffer = self.buffered.setdefault(run.id, [])
        if run.id in self.resumed:  # the first epoch after a resume: fill the gap, if any
            last, history = self.resumed.pop(run.id)
            buffer.extend(Metric(_key(k), float(values[step]), now, step)
                          for step in range(last + 1, epoch)
                          for k, values in history.items() if step < len(values))
            self.client.set_tag(self.ids[run.id], "kerakit.resumed_at_epoch", str(epoch))
        buffer.extend(Metric(_key(k), float(v), now, epoch) for k, v in metrics.items())
        if time.monotonic() - self.sent_at.get(run.id, 0.0) >= FLUSH_SECONDS:
            self._send_epochs(run.id)

    def _send_epochs(self, key: str) -> None:
        """Send kerakit run ``key``'s buffered epochs."""
        metrics = self.buffered.pop(key, [])
        for start in range(0, len(metrics), MAX_BATCH):
            self.client.log_batch(self.ids[key], metrics=metrics[start:start + MAX_BATCH])
        self.sent_at[key] = time.monotonic()

    def end_run(self, run: TrackedRun, outcome: RunOutcome) -> None:
        from mlflow.entities import Metric

        run_id = self.ids[run.id]
        self.resumed.pop(run.id, None)
        self._send_epochs(run.id)
        self.sent_at.pop(run.id, None)
        prefix = "test_" if run.kind == "train" else "best_"
        now = int(time.time() * 1000)
        if outcome.metrics:
            self.client.log_batch(run_id, metrics=[
                Metric(_key(prefix + k), float(v), now, 0) for k, v in outcome.metrics.items()])
        if outcome.model is not None and Path(outcome.model).exists():
            self.client.log_artifact(run_id, str(outcome.model), "model")
        for path in outcome.files:
            path = Path(path)
            if path.exists() and path != outcome.model and path.suffix != ".keras":
                folder = "run" if run.run_dir is None else str(
                    Path("run", path.parent.relative_to(run.run_dir))) \
                    if path.is_relative_to(run.run_dir) else "run"
                self.client.log_artifact(run_id, str(path), folder)
        if outcome.export is not None:
            self.log_export(run, Path(outcome.export))
        if outcome.error:
            self.client.set_tag(run_id, "kerakit.error", outcome.error[:5000])
        self.client.set_tag(run_id, "kerakit.status", outcome.status)
        self.client.set_terminated(run_id, STATUS.get(outcome.status, "FAILED"))

    def log_export(self, run: TrackedRun, path: Path) -> None:
        self.client.log_artifacts(self.ids[run.id], str(path), "saved_model")

    @staticmethod
    def params_of(run: TrackedRun) -> dict[str, str]:
        """The run's MLflow params: hyperparameters by dotted name, data and versions."""
        params = {_key(k): _text(v) for k, v in run.hyperparameters.items()}
        for key, value in run.data.items():
            if value is not None:
                params[f"data.{key}"] = _text(value)
        for name, version in run.versions.items():
            params[f"version.{_key(name)}"] = _text(version)
        return params

    def _log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow takes 100 params per batch
            self.client.log_batch(run_id, params=items[start:start + 100])

    def _experiment_id(self, run: TrackedRun) -> str:
        root = run
        while root.parent is not None:
            root = root.parent
        name = self.experiment or root.declaration.get("name") or "kerakit"
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        return self.client.create_experiment(name, artifact_location=self._artifacts(name))

    def _artifacts(self, experiment: str) -> str | None:
        """Beside a local sqlite store: ``<its folder>/mlruns/<experiment>``.

        MLflow would otherwise put them in ``./mlruns`` of whatever directory the
        run happened to start in.
        """
        if not self.uri.startswith("sqlite:///") or self.uri == "sqlite:///:memory:":
            return None  # a server or a remote store chooses
        database = Path(self.uri[len("sqlite:///"):]).resolve()
        return (database.parent / "mlruns" / _key(experiment).replace(" ", "_")).as_uri()


def _check_sqlite(uri: str) -> None:
    """Open a local sqlite store once: fail at once where MLflow retries for about 100 s.

    Raises:
        RuntimeError: for a store that sqlite cannot open (a directory, not a database).
    """
    if not uri.startswith("sqlite:///") or uri.startswith("sqlite:///:memory:"):
        return
    import sqlite3
    from contextlib import closing

    path = Path(uri[len("sqlite:///"):].split("?", 1)[0])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(path)) as database:
            database.execute("PRAGMA schema_version")
    except (OSError, sqlite3.Error) as exc:
        raise RuntimeError(f"Invalid MLflow tracking store {uri!r}. Expected a sqlite database "
                           f"file that can be opened. Received: {type(exc).__name__}: {exc}"
                           ) from None


def _key(name: Any) -> str:
    """A metric or param key MLflow accepts: other characters become ``_``."""
    return _KEY.sub("_", str(name))


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:MAX_PARAM]
