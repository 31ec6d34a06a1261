"""The model card: a page for people about an export, written into the export.

:func:`write_model_card` writes ``MODEL_CARD.md`` from the export manifest
and, when the model came from a run, the run's records (``manifest.json``,
``metrics.json``, ``declaration.json``) and its ``curves.png``, copied
beside the card. A fact neither holds is written as ``unknown``, never
guessed. Names that come from the user (columns, classes, the data's path)
are written as code spans, so ``|``, ``<`` or backticks in them neither
break a table nor turn into markup.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerakit.runs.rundir import RUN_LAYOUT

__all__ = ["CURVES", "MODEL_CARD", "UNKNOWN", "write_model_card"]

MODEL_CARD = "MODEL_CARD.md"
CURVES = RUN_LAYOUT.curves
UNKNOWN = "unknown"
NOT_APPLICABLE = "n/a"
CONFUSION_MAX_CLASSES = 30  # a wider confusion matrix is no longer readable as a table
LISTED_MAX_CLASSES = 100
PARAM_MAX_CHARS = 40  # a longer parameter value (a list of class names, say) is cut
UNQUANTIZED = ("saved_model", "keras", "onnx")  # formats kerakit writes in float only


@dataclass(frozen=True)
class _Run:
    """What a run directory recorded; empty where it recorded nothing readable."""

    manifest: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    declaration: dict[str, Any] = field(default_factory=dict)
    curves: Path | None = None


def write_model_card(directory: Path, manifest: Mapping[str, Any], run_dir: Path | None) -> None:
    """Write ``MODEL_CARD.md`` (and the run's ``curves.png``) into an export's directory.

    Called on the export's work directory before its files are hashed, so the
    card and the plot are part of what the export's manifest vouches for.

    Example:
        >>> write_model_card(Path(".export.tmp"), manifest, Path("runs/digits"))  # doctest: +SKIP

    Args:
        directory: The export's directory (it must exist).
        manifest: The export manifest (see :mod:`kerakit.deploy.exporting`),
            with the verification fields the format's writer measured.
        run_dir: The run the model came from, or ``None`` for a model
            exported without one.

    Returns:
        None. ``directory / MODEL_CARD`` is written, and ``directory / CURVES``
        when the run has a training-curves plot.

    Raises:
        OSError: if the card or the plot cannot be written.
    """
    run = _read_run(run_dir)
    if run.curves is not None:
        shutil.copyfile(run.curves, directory / CURVES)
    (directory / MODEL_CARD).write_text(_render(manifest, run), encoding="utf-8")


def _read_run(run_dir: Path | None) -> _Run:
    if run_dir is None or not Path(run_dir).is_dir():
        return _Run()
    run_dir = Path(run_dir)
    curves = run_dir / RUN_LAYOUT.curves
    return _Run(_read_json(run_dir / RUN_LAYOUT.manifest), _read_json(run_dir / RUN_LAYOUT.metrics),
                _read_json(run_dir / RUN_LAYOUT.declaration),
                curves if curves.is_file() else None)


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object file, or ``{}``: a record the run lacks makes its facts unknown."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _render(manifest: Mapping[str, Any], run: _Run) -> str:
    """The card's Markdown, one section after another."""
    declaration = manifest.get("declaration") or run.declaration or {}
    sections = [_title(declaration), _model_section(manifest, run),
                _inputs_section(manifest, run), _data_section(run),
                _metrics_section(manifest, run), _curves_section(run),
                _settings_section(declaration, run), _software_section(manifest),
                _export_section(manifest), INTENDED_USE]
    return "\n\n".join(s.rstrip() for s in sections) + "\n"


# -- sections -------------------------------------------------------------------


def _title(declaration: Mapping[str, Any]) -> str:
    name = declaration.get("name")
    return f"# Model card: {_code(name, cell=False) if name else UNKNOWN}"


def _model_section(manifest: Mapping[str, Any], run: _Run) -> str:
    task = manifest.get("task") or run.manifest.get("task")
    rows = [("Task", task or UNKNOWN)]
    names = manifest.get("class_names") or run.manifest.get("class_names")
    if task == "classification" or (task is None and names):
        rows.append(("Classes", _class_list(names)))
    if task != "classification":  # a model without a run may be either: its outputs, then
        rows.append(("Targets" if task else "Outputs", _targets(manifest, run)))
    return "## Model\n\n" + _table(("", ""), rows)


def _class_list(names: Sequence[Any] | None) -> str:
    if not names:
        return UNKNOWN
    more = len(names) - LISTED_MAX_CLASSES
    shown = ", ".join([*map(_code, names[:LISTED_MAX_CLASSES]), *([f"… {more} more"] * (more > 0))])
    return f"{len(names)}: {shown}"


def _targets(manifest: Mapping[str, Any], run: _Run) -> str:
    names = (run.manifest.get("data") or {}).get("targets")
    outputs = manifest.get("outputs") or []
    shape = outputs[0].get("shape") if outputs and isinstance(outputs[0], dict) else None
    count = shape[-1] if shape and isinstance(shape[-1], int) else None
    if names:
        return ", ".join(_code(n) for n in names)
    return f"{count} output{'s' if count != 1 else ''}, names {UNKNOWN}" if count else UNKNOWN


def _inputs_section(manifest: Mapping[str, Any], run: _Run) -> str:
    columns = _columns(manifest, run)
    if columns:
        rows = [(_code(c.get("name")), c.get("kind") or UNKNOWN, _vocabulary(c))
                for c in columns]
        return "## Inputs\n\nOne row of a table:\n\n" + _table(
            ("Column", "Kind", "Vocabulary size"), rows)
    inputs = manifest.get("inputs") or []
    if len(inputs) != 1 or not isinstance(inputs[0], dict):
        return f"## Inputs\n\n{UNKNOWN}"
    spec = inputs[0]
    shape = list(spec.get("shape") or [])[1:]  # the batch axis first
    return f"## Inputs\n\n{_shape_text(shape)}, dtype {_code(spec.get('dtype'), cell=False)}."


def _columns(manifest: Mapping[str, Any], run: _Run) -> list[dict[str, Any]]:
    """The run's columns with their vocabularies, else the declared kinds alone."""
    recorded = (run.manifest.get("data") or {}).get("columns")
    if recorded:
        return [c for c in recorded if isinstance(c, dict)]
    declared = manifest.get("columns") or run.declaration.get("columns") or {}
    if declared:
        return [{"name": name, "kind": kind} for name, kind in declared.items()]
    inputs = manifest.get("inputs") or []  # named inputs of a table model: kinds unknown
    return [{"name": i.get("name")} for i in inputs if isinstance(i, dict)] \
        if len(inputs) > 1 else []


def _vocabulary(column: Mapping[str, Any]) -> str:
    if column.get("kind") not in ("categorical", None):
        return NOT_APPLICABLE
    size = column.get("vocabulary")
    return f"{size} categories" if isinstance(size, int) else UNKNOWN


def _shape_text(shape: list[Any]) -> str:
    dims = ["any" if d is None else str(d) for d in shape]
    if len(shape) == 3 and shape[-1] in (1, 3, 4):
        channels = shape[-1]
        return (f"An image of {dims[0]} by {dims[1]} pixels, {channels} "
                f"channel{'s' if channels != 1 else ''}")
    if len(shape) == 1:
        return f"A vector of {dims[0]} features"
    return f"A tensor of shape ({', '.join(dims)})" if shape else UNKNOWN


def _data_section(run: _Run) -> str:
    data = run.manifest.get("data") or {}
    source = data.get("source") or run.manifest.get("dataset")
    rows = data.get("rows") or {}
    counts = [rows.get(part) for part in ("train", "validation", "test")]
    known = [n for n in counts if isinstance(n, int)]
    total = str(sum(known)) if len(known) == 3 else UNKNOWN
    table = [("Source", _code(source) if source else UNKNOWN),
             *[(f"{part.capitalize()} rows", str(n) if isinstance(n, int) else UNKNOWN)
               for part, n in zip(("train", "validation", "test"), counts, strict=True)],
             ("All rows", total)]
    return "## Training data\n\n" + _table(("", ""), table)


def _metrics_section(manifest: Mapping[str, Any], run: _Run) -> str:
    metrics = dict(manifest.get("test_metrics") or run.metrics.get("test") or {})
    for key in ("balanced_accuracy", "roc_auc"):  # what accuracy alone hides
        if isinstance(run.metrics.get(key), (int, float)):
            metrics.setdefault(key, run.metrics[key])
    if not metrics:
        return f"## Test metrics\n\n{UNKNOWN}"
    parts = ["## Test metrics\n\n" + _table(("Metric", "Value"), [
        (_code(k), _number(v)) for k, v in metrics.items()])]
    if run.metrics.get("confusion_matrix"):
        parts.append(_confusion(run.metrics["confusion_matrix"],
                                run.metrics.get("class_names") or manifest.get("class_names")))
    if run.metrics.get("residuals"):
        parts.append(_residuals(run.metrics["residuals"],
                                (run.manifest.get("data") or {}).get("targets")))
    return "\n\n".join(parts)


def _confusion(matrix: Sequence[Sequence[int]], names: Sequence[Any] | None) -> str:
    if len(matrix) > CONFUSION_MAX_CLASSES:
        return (f"### Confusion matrix\n\n{len(matrix)} classes: too many to show as a table.")
    labels = [_code(n) for n in names] if names and len(names) == len(matrix) else [
        str(i) for i in range(len(matrix))]
    rows = [(labels[i], *map(str, counts)) for i, counts in enumerate(matrix)]
    return ("### Confusion matrix\n\nTest rows; each row is the true class, each column "
            "the predicted one.\n\n" + _table(("true \u2193 predicted \u2192", *labels), rows))


def _residuals(residuals: Sequence[Mapping[str, Any]], targets: Sequence[Any] | None) -> str:
    names = [_code(t) for t in targets] if targets and len(targets) == len(residuals) else [
        f"output {i}" for i in range(len(residuals))]
    keys = ("mean", "std", "mean_abs", "median_abs", "p90_abs", "max_abs")
    rows = [(name, *(_number(r.get(k)) for k in keys))
            for name, r in zip(names, residuals, strict=True)]
    return ("### Residuals\n\nPrediction minus truth, on the test rows.\n\n"
            + _table(("Target", "Mean", "Std", "Mean absolute", "Median absolute",
                      "90th percentile absolute", "Largest absolute"), rows))


def _curves_section(run: _Run) -> str:
    body = f"![Training curves]({CURVES})" if run.curves is not None else UNKNOWN
    return f"## Training curves\n\n{body}"


def _settings_section(declaration: Mapping[str, Any], run: _Run) -> str:
    fit = declaration.get("fit") or {}
    rows = [(label, _refs(declaration.get(key), empty) if declaration else UNKNOWN)
            for label, key, empty in (
                ("Blocks", "blocks", "none"), ("Head", "head", UNKNOWN),
                ("Loss", "loss", "the task's default"),
                ("Optimizer", "optimizer", "the default"),
                ("Preprocess", "preprocess", "none"), ("Augment", "augment", "none"))]
    epochs, declared = run.metrics.get("epochs_run"), fit.get("epochs")
    rows += [("Epochs run", f"{epochs} of {declared}" if isinstance(epochs, int) and declared
              else _value(epochs)),
             ("Best epoch", _best_epoch(run.metrics)),
             ("Batch size", _value(fit.get("batch_size"))), ("Seed", _value(fit.get("seed"))),
             ("Trained", _value(run.manifest.get("created")))]
    return "## Training settings\n\n" + _table(("", ""), rows)


def _best_epoch(metrics: Mapping[str, Any]) -> str:
    best = metrics.get("best_epoch")
    if not isinstance(best, int):
        return UNKNOWN
    kept = metrics.get("kept")
    held = "kept: unknown" if not isinstance(kept, bool) else \
        "kept: the model holds its weights" if kept else \
        "not kept: the model holds the last epoch's weights"
    return f"{best + 1} ({held})"  # metrics.json counts epochs from 0, people from 1


def _software_section(manifest: Mapping[str, Any]) -> str:
    plugins = [p for p in manifest.get("plugins") or [] if isinstance(p, dict)]
    rows = [(_code(p.get("name")), _code(p.get("distribution")), _value(p.get("version")))
            for p in plugins]
    needed = _table(("Plugin", "Distribution", "Version"), rows) if rows else UNKNOWN
    versions = [(name, _value(manifest.get(key))) for name, key in (
        ("kerakit", "kerakit"), ("Keras", "keras"), ("TensorFlow", "tensorflow"),
        ("Keras backend", "backend"), ("Python", "python"))]
    return ("## Software\n\nPlugins the model needs to load:\n\n" + needed
            + "\n\nExported with:\n\n" + _table(("", ""), versions))


def _export_section(manifest: Mapping[str, Any]) -> str:
    format = manifest.get("format")
    quantization = manifest.get("quantization") or ("none" if format in UNQUANTIZED else None)
    rows = [("Format", _value(format)), ("Quantization", _value(quantization))]
    if manifest.get("int8_io") is not None:
        rows.append(("Integer inputs and outputs", _value(manifest["int8_io"])))
    verification = manifest.get("verification")
    verification = verification if isinstance(verification, dict) else {}
    rows += [("Exported", _value(manifest.get("created"))),
             ("Largest difference from the Keras model", _number(manifest.get(
                 "verified_max_abs_diff", verification.get("max_abs_diff")))),
             *_verification_rows(verification)]
    return ("## Export\n\nMeasured when the export was checked against the model it came "
            "from.\n\n" + _table(("", ""), rows))


def _verification_rows(verification: Mapping[str, Any]) -> list[tuple[str, str]]:
    metric = verification.get("metric")
    agreement = ("Same predicted class as the float model" if metric in (None, "accuracy")
                 else f"{_code(metric)} against the float model")
    labels = {"runtime": "Checked with", "rows": "Rows compared",
              "rows_labelled": "Rows with known labels", "tolerance": "Tolerance",
              "agreement": agreement, "class_agreement": agreement,
              "min_agreement": "Least agreement accepted",
              "metric_float": f"Test {_code(metric)}, float model",
              "metric_export": f"Test {_code(metric)}, this export",
              "metric_tolerance": "Largest metric change accepted"}
    skip = {"metric", "max_abs_diff"}  # the metric names its rows; the difference is above
    return [(labels.get(k) or _code(k), _value(v)) for k, v in verification.items()
            if k not in skip]


INTENDED_USE = """## Intended use and limits

_To fill in before the model is shared._

- **Intended use:** _who uses the model, for which decisions._
- **Out of scope:** _uses it was not trained or tested for._
- **Data limits:** _people, places, conditions or inputs the training data does not cover._
- **Known failure modes:** _where it is wrong most often (see the confusion matrix or residuals)._
- **Ethical considerations:** _harms a wrong prediction can cause, and to whom._"""


# -- formatting -----------------------------------------------------------------


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table; its cells are formatted already (see :func:`_code`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _code(value: Any, cell: bool = True) -> str:
    """``value`` as a code span: shown as it is, whatever Markdown or HTML it holds.

    The fence is one backtick longer than any run of backticks inside; line
    breaks become spaces, and in a table cell ``|`` is escaped (GFM unescapes
    it inside code spans).
    """
    if value is None:
        return UNKNOWN
    text = " ".join(str(value).splitlines())
    if not text.strip():
        return "(empty)"
    if cell:
        text = text.replace("|", "\\|")
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}"


def _value(value: Any) -> str:
    """A plain fact (a version, a count) for a cell, ``unknown`` when missing."""
    if value is None or value == "":
        return UNKNOWN
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _number(value) if isinstance(value, (int, float)) else _code(value)


def _number(value: Any) -> str:
    """Four decimals, or three significant digits for very small or large values."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return UNKNOWN if value is None else _code(value)
    if isinstance(value, int) or value == 0:
        return str(int(value))
    return f"{value:.4f}" if 1e-3 <= abs(value) < 1e6 else f"{value:.3e}"


def _refs(value: Any, empty: str) -> str:
    """Declared components, e.g. ``conv_block(filters=32)``; ``empty`` for none."""
    if value is None or value == []:
        return empty
    refs = value if isinstance(value, list) else [value]
    return ", ".join(_code(_ref(r)) for r in refs)


def _ref(ref: Any) -> str:
    if not isinstance(ref, dict):
        return str(ref)
    if "name" in ref:
        params = ", ".join(f"{k}={_short(v)}" for k, v in (ref.get("params") or {}).items()
                           if k != "class_names")  # listed under Model already
        return f"{ref['name']}({params})" if params else str(ref["name"])
    if "keras" in ref:  # a Keras object the declaration holds as Keras' config
        return f"Keras {(ref['keras'] or {}).get('class_name', 'object')}"
    if "live" in ref:
        return f"live {ref['live']}"
    return "placeholder" if "hp" in ref else json.dumps(ref, default=str)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= PARAM_MAX_CHARS else text[:PARAM_MAX_CHARS - 1] + "…"
