"""The exports being served: located, checked against their manifest hashes, loaded.

Every export is checked against its manifest hashes before TensorFlow loads
it. A directory may be one export or TF Serving's ``NAME/N/`` layout of
numbered versions, the newest of which is served.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerakit.deploy.export_files import MANIFEST, check_hashes
from kerakit.deploy.model_card import CURVES, MODEL_CARD
from kerakit.errors import ExportError

__all__ = ["ServedModel", "input_kind", "locate", "open_models"]


@dataclass
class ServedModel:
    """One export being served: its name, version, files, loaded signatures and batcher."""

    name: str
    version: int
    path: Path
    manifest: dict[str, Any]
    signature_defs: dict[str, Any] = field(default_factory=dict)
    signatures: dict[str, Any] = field(default_factory=dict)
    loaded: Any = None  # the SavedModel object: keeps the variables its signatures use alive
    load_seconds: float | None = None  # how long loading took, for the metrics
    # a kerakit.deploy.batching.Batcher, set by the app serving the model: every call goes through
    batcher: Any = None

    @property
    def input_spec(self) -> dict[str, Any]:
        return self.manifest["inputs"][0]

    def describe(self) -> dict[str, Any]:
        """What the page shows: name, version, inputs, classes and the input kind."""
        return {"name": self.name, "version": self.version, "input": self.input_spec,
                "inputs": self.manifest["inputs"], "columns": self.manifest.get("columns"),
                "class_names": self.manifest.get("class_names"),
                "kind": input_kind(self.manifest), "signatures": sorted(self.signatures),
                "card": f"/models/{self.name}/{MODEL_CARD}" if self.card is not None else None}

    @property
    def card(self) -> Path | None:
        """The export's model card, when it has one (exports before cards did not)."""
        path = self.path / MODEL_CARD
        return path if path.is_file() else None

    def card_file(self, name: str) -> Path | None:
        """The card or its plot by file name; ``None`` for any other name, or one not there."""
        path = self.path / name
        return path if name in (MODEL_CARD, CURVES) and path.is_file() else None


def input_kind(manifest: dict[str, Any]) -> str:
    """What the page offers: ``"image"``, ``"table"`` (flat rows with column names) or ``"array"``.

    The page offers an upload box for images and a form with one field per
    column for table models (exports that record their ``columns``).
    """
    if manifest.get("columns"):
        return "table"
    shape = manifest["inputs"][0]["shape"][1:]
    if len(shape) == 3 and shape[-1] in (1, 3) and all(isinstance(d, int) for d in shape):
        return "image"
    return "array"


def locate(name: str, directory: str | Path) -> tuple[int, Path]:
    """The version and directory to serve: an export, or TF Serving's ``NAME/N/`` layout.

    Raises:
        ExportError: if ``directory`` is neither an export nor holds numbered exports.
    """
    directory = Path(directory)
    if (directory / MANIFEST).is_file():
        return 1, directory
    versions = sorted(int(p.name) for p in directory.glob("*")
                      if p.is_dir() and p.name.isdigit() and (p / MANIFEST).is_file()) \
        if directory.is_dir() else []
    if not versions:
        raise ExportError(
            f"Invalid export for model {name!r}. Expected a directory written by "
            f"`kerakit export` (with {MANIFEST}) or holding numbered versions of one (1/, 2/, "
            f"...). Received: {str(directory)!r}"
        )
    return versions[-1], directory / str(versions[-1])


def open_models(sources: dict[str, str | Path], *, load: bool = True) -> dict[str, ServedModel]:
    """Locate each export and check its hashes; then load them (all checked before any load).

    Args:
        sources: Model name to export directory (or versioned base directory).
        load: Load the SavedModels with TensorFlow; ``False`` only checks.

    Returns:
        Model name to :class:`ServedModel`.

    Raises:
        ExportError: for a missing, altered or extra file, or a directory that is no export.
    """
    models = {}
    for name, directory in sources.items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ExportError(f"Invalid model name. Expected letters, digits, '_', '.' or '-'. "
                              f"Received: {name!r}")
        version, path = locate(name, directory)
        manifest = check_hashes(path)
        if manifest.get("format", "saved_model") != "saved_model":
            raise ExportError(
                f"Cannot serve model {name!r}: {str(path)!r} is a {manifest['format']} export. "
                "Expected a SavedModel export (kerakit export --format saved_model); run "
                f"{manifest['format']} exports with `kerakit predict` or their own runtime")
        models[name] = ServedModel(name, version, path, manifest)
    if load:
        for model in models.values():
            _load(model)
    return models


def _load(model: ServedModel) -> None:
    import tensorflow as tf
    from google.protobuf import json_format
    from tensorflow.core.protobuf import saved_model_pb2

    started = time.perf_counter()  # after the imports: the first model must not pay for them
    loaded = tf.saved_model.load(str(model.path))
    model.signatures = {name: fn for name, fn in loaded.signatures.items()}
    proto = saved_model_pb2.SavedModel.FromString((model.path / "saved_model.pb").read_bytes())
    model.signature_defs = {
        name: json_format.MessageToDict(sig, preserving_proto_field_name=True)
        for name, sig in proto.meta_graphs[0].signature_def.items()
    }
    model.loaded = loaded
    model.load_seconds = time.perf_counter() - started
