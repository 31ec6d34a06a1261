"""The W&B tracker: each kerakit run a W&B run; a search a group with one run per trial."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from kerakit.base import RunOutcome, TrackedRun, Tracker

#: Run-directory files logged as images (the curves, the tuning plot).
IMAGES = (".png",)
_NAME = re.compile(r"[^\w\-.]")


class WandbTracker(Tracker):
    """Log kerakit runs to Weights & Biases, online or offline.

    The config holds the hyperparameters by dotted name (``blocks.0.units``),
    ``data.name``, ``data.fingerprint``, ``version.<package>`` and
    ``kerakit.kind``; each epoch's metrics are logged with ``step`` = epoch;
    at the end, test metrics go to the summary as ``test_<name>`` (a search's
    and a trial's objective as ``best_<name>``), the run directory's plots
    (``curves.png``, ``tuning.png``) as images, the ``.keras`` file as a
    ``model`` artifact and the run's records as a ``run-files`` artifact. A
    search is a W&B group: one run for the search, one per trial. An export
    (``--export``) comes after its run has finished, so it is a short run of
    job type ``export`` in the run's group, holding a ``saved_model`` artifact.

    Args:
        project: The project; defaults to ``WANDB_PROJECT``, else the
            declaration's name.
        entity: The team or user; defaults to ``WANDB_ENTITY``.
        mode: ``"online"``, ``"offline"`` or ``"disabled"``; defaults to ``WANDB_MODE``.
        directory: Where W&B writes; defaults to ``WANDB_DIR``.
    """

    def __init__(self, project: str | None = None, entity: str | None = None,
                 mode: str | None = None, directory: str | None = None) -> None:
        import wandb

        self.wandb = wandb
        self.project = project or os.environ.get("WANDB_PROJECT")
        self.entity = entity or os.environ.get("WANDB_ENTITY")
        self.mode = mode or os.environ.get("WANDB_MODE")
        self.directory = directory or os.environ.get("WANDB_DIR")
        self.runs: dict[str, Any] = {}  # kerakit run id -> W&B run
        self.groups: dict[str, str] = {}  # kerakit run id -> W&B group

    def start_run(self, run: TrackedRun) -> None:
        group = self.groups[run.parent.id] if run.parent is not None and \
            run.parent.id in self.groups else f"{run.name}-{run.id[:8]}"
        self.groups[run.id] = group
        self.runs[run.id] = self._init(run, name=run.name, group=group, job_type=run.kind,
                                       config=self.config_of(run))

    def log_epoch(self, run: TrackedRun, epoch: int, metrics: dict[str, float]) -> None:
        self.runs[run.id].log(dict(metrics), step=epoch)

    def end_run(self, run: TrackedRun, outcome: RunOutcome) -> None:
        wb = self.runs.pop(run.id)
        prefix = "test_" if run.kind == "train" else "best_"
        for key, value in outcome.metrics.items():
            wb.summary[prefix + key] = float(value)
        wb.summary["kerakit.status"] = outcome.status
        if outcome.error:
            wb.summary["kerakit.error"] = outcome.error[:5000]
        files = [Path(p) for p in outcome.files if Path(p).is_file()]
        images = {p.stem: self.wandb.Image(str(p)) for p in files if p.suffix in IMAGES}
        if images:
            wb.log(images)
        model = Path(outcome.model) if outcome.model is not None else None
        if model is not None and model.is_file():
            self._artifact(wb, f"model-{run.name}", "model", [model])
        records = [p for p in files if p.suffix != ".keras" and p.suffix not in IMAGES]
        if records:
            self._artifact(wb, f"run-{run.name}", "run-files", records, run.run_dir)
        if outcome.export is not None:
            self._artifact(wb, f"export-{run.name}", "saved_model", [Path(outcome.export)])
        wb.finish(exit_code=1 if outcome.status == "failed" else 0)

    def log_export(self, run: TrackedRun, path: Path) -> None:
        wb = self._init(run, name=f"{run.name}-export", group=self.groups.get(run.id),
                        job_type="export", config={"kerakit.run": run.name})
        self._artifact(wb, f"export-{run.name}", "saved_model", [Path(path)])
        wb.finish()

    @staticmethod
    def config_of(run: TrackedRun) -> dict[str, Any]:
        """The run's W&B config: hyperparameters by dotted name, data, versions, kind."""
        config: dict[str, Any] = {str(k): _plain(v) for k, v in run.hyperparameters.items()}
        for key, value in run.data.items():
            if value is not None:
                config[f"data.{key}"] = _plain(value)
        for name, version in run.versions.items():
            config[f"version.{name}"] = str(version)
        config["kerakit.kind"] = run.kind
        if run.declaration:
            config["declaration"] = _plain(run.declaration)
        return config

    def _init(self, run: TrackedRun, **settings: Any) -> Any:
        root = run
        while root.parent is not None:
            root = root.parent
        project = self.project or root.declaration.get("name") or "kerakit"
        if self.directory:
            Path(self.directory).mkdir(parents=True, exist_ok=True)
        # several runs at once (a search and its trials): each init makes a new run
        return self.wandb.init(project=project, entity=self.entity, mode=self.mode,
                               dir=self.directory, reinit="create_new", **settings)

    def _artifact(self, wb: Any, name: str, kind: str, paths: list[Path],
                  root: Path | None = None) -> None:
        artifact = self.wandb.Artifact(_NAME.sub("_", name), type=kind)
        for path in paths:
            if path.is_dir():
                artifact.add_dir(str(path))
            elif root is not None and path.is_relative_to(root):
                artifact.add_file(str(path), name=path.relative_to(root).as_posix())
            else:
                artifact.add_file(str(path))
        wb.log_artifact(artifact)


def _plain(value: Any) -> Any:
    """A JSON value W&B's config takes as is: anything else becomes its JSON text."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return json.dumps(value, default=str)
