"""What an export is checked with: held-out rows, their labels, and calibration rows.

A format's writer gets an :class:`ExportJob`. Its rows are the run's own test
rows where they can be had: given as ``data=``, or re-read from the data the
run recorded in its manifest (:func:`held_out`). Otherwise they are the
export's small sample, and checks that need labels say they were not made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.errors import ExportError, KerakitError

__all__ = ["QUANTIZATIONS", "ExportJob", "HeldOut", "held_out", "seal"]

#: ``--quantize`` values: LiteRT's post-training quantizations
QUANTIZATIONS = ("none", "dynamic", "float16", "int8")
#: held-out rows an export is compared on, at most (a test split is rarely larger)
VERIFY_ROWS = 2000
#: training rows an int8 export is calibrated on, at most
CALIBRATION_ROWS = 500


@dataclass
class HeldOut:
    """The run's test rows with their labels, and training rows for calibration."""

    x_test: Any
    y_test: np.ndarray
    x_train: Any
    task: str


@dataclass
class ExportJob:
    """Everything a format's writer needs besides the model, the target and the manifest.

    Attributes:
        sample: Raw inputs to compare the export with the model on.
        labels: Their labels, when they are the run's test rows, else ``None``.
        calibration: Raw training inputs, for an int8 export, else ``None``.
        run_dir: The run the model came from, for the model card.
        quantize: One of :data:`QUANTIZATIONS` (LiteRT only).
        int8_io: Integer inputs and outputs for an int8 LiteRT model.
        task: ``"classification"`` or ``"regression"`` when known: how a
            quantized model's agreement is measured.
    """

    sample: Any
    labels: np.ndarray | None = None
    calibration: Any = None
    run_dir: Path | None = None
    quantize: str = "none"
    int8_io: bool = False
    task: str | None = None


def held_out(info: dict[str, Any], data: Any, model: Any) -> HeldOut | None:
    """The run's test and training rows: from ``data``, or re-read from what the run recorded.

    Args:
        info: What is known of the model: its run manifest and declaration.
        data: Anything :func:`kerakit.fit` takes, or ``None`` to re-read the run's data.
        model: The inference model, whose inputs the rows must fit.

    Returns:
        A :class:`HeldOut`, or ``None`` when no data is given or recorded, or it
        can no longer be read.

    Raises:
        ExportError: when ``data`` is given and does not fit the model.

    Example:
        >>> held_out({"manifest": {}}, None, model) is None  # doctest: +SKIP
        True
    """
    from kerakit.data import Dataset, Streams
    from kerakit.declaration.model import Model
    from kerakit.engine.inputs import model_x
    from kerakit.runs.train import load_data
    from kerakit.sources.source import as_source, with_target

    declaration = info.get("declaration")
    given = data is not None
    if declaration is None and not given:
        return None
    if not given:
        record = (info.get("manifest") or {}).get("data") or {}
        source = record.get("source") or (info.get("manifest") or {}).get("dataset")
        if source is None:
            return None
        targets = record.get("targets") or None
        data = with_target(source, targets[0] if targets and len(targets) == 1 else targets)
    try:
        # a bare model has no declaration: the data is split as kerakit.fit splits it
        dataset = load_data(data, Model.from_dict(declaration)) if declaration is not None \
            else as_source(data).dataset()
        if isinstance(dataset, Streams):  # a streamed image folder: its first batches
            if dataset.test is None:
                return None
            x_test, y_test = _first_rows(dataset.test, VERIFY_ROWS)
            x_train = _first_rows(dataset.train, CALIBRATION_ROWS)[0]
        elif isinstance(dataset, Dataset):
            x_test, y_test = dataset.x_test[:VERIFY_ROWS], dataset.y_test[:VERIFY_ROWS]
            x_train = dataset.x_train[:CALIBRATION_ROWS]
        else:
            return None
        if not len(y_test):
            return None
        rows = HeldOut(model_x(x_test), np.asarray(y_test), model_x(x_train), dataset.task)
        _check_fits(rows.x_test, model)
        return rows
    except (KerakitError, ValueError, OSError) as exc:
        if given:
            raise ExportError(f"Invalid `data` for the export's checks: {exc}") from exc
        return None  # the run's data moved or changed: the export's own sample is used


def _first_rows(pipeline: Any, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` rows of a batched ``(x, y)`` pipeline, as arrays."""
    xs, ys, seen = [], [], 0
    for x, y in pipeline.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
        seen += len(x)
        if seen >= count:
            break
    if not xs:
        return np.zeros((0,)), np.zeros((0,))
    return np.concatenate(xs)[:count], np.concatenate(ys)[:count]


def _check_fits(x: Any, model: Any) -> None:
    if isinstance(model.input, dict):
        missing = sorted(set(model.input) - set(x if isinstance(x, dict) else {}))
        if missing:
            raise ValueError(f"Expected the model's columns. Received rows without {missing}")
        return
    want = tuple(model.inputs[0].shape[1:])
    got = tuple(np.shape(x)[1:])
    if len(want) != len(got) or any(w not in (None, g) for w, g in zip(want, got, strict=True)):
        raise ValueError(f"Expected rows of shape {want}. Received: {got}")


def seal(work: Path, manifest: dict[str, Any], run_dir: Path | None) -> None:
    """Finish an export's work directory: its model card, then its manifest and marker.

    Example:
        >>> seal(Path(".export.tmp-1-0badc0de"), manifest, None)  # doctest: +SKIP
    """
    from kerakit.deploy.export_files import write_manifest
    from kerakit.deploy.model_card import write_model_card

    write_model_card(work, manifest, run_dir)
    write_manifest(work, manifest)
