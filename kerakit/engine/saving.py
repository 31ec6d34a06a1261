"""Saving and loading models with their manifest; loading is always safe mode.

A ``model.keras`` written by kerakit carries ``kerakit_manifest.json`` inside
its zip, naming the plugins its components come from. :func:`load` reads it,
makes sure those plugins are loaded (their entry points import the modules
that define the classes), and only then asks Keras to load the file.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kerakit.errors import MissingPluginError, ModelFileError, UnsafeModelError
from kerakit.hookspecs import singular
from kerakit.keras_gate import check_keras_version, load_model

MANIFEST_MEMBER = "kerakit_manifest.json"


def versions() -> dict[str, Any]:
    """kerakit, Keras, TensorFlow and Python versions, and the Keras backend."""
    import keras

    from kerakit._version import __version__

    try:
        import tensorflow as tf

        tf_version = tf.__version__
    except ImportError:
        tf_version = None
    return {
        "kerakit": __version__,
        "keras": keras.__version__,
        "tensorflow": tf_version,
        "backend": keras.backend.backend(),
        "python": platform.python_version(),
    }


def make_manifest(components: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A manifest: versions, the plugins and components used, and ``extra``."""
    plugins: dict[str, dict[str, Any]] = {}
    for c in components:
        plugins.setdefault(c["plugin"], {"name": c["plugin"], "distribution": c["distribution"],
                                         "version": c["version"]})
    return {
        **versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "plugins": sorted(plugins.values(), key=lambda p: p["name"]),
        "components": components,
        **extra,
    }


def save_model(model: Any, path: Path, manifest: Mapping[str, Any]) -> None:
    """Save ``model`` to ``path`` (.keras) with the manifest inside the archive."""
    model.save(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(MANIFEST_MEMBER, json.dumps(manifest, indent=2, default=str))


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The manifest of a run directory or a ``.keras`` file, or ``None``.

    Raises:
        ModelFileError: for a manifest that is not a JSON object, or whose
            ``components`` are not objects naming a kind, a name and a plugin.
    """
    path = Path(path)
    if path.is_dir():
        candidate = path / "manifest.json"
        if candidate.exists():
            return check_manifest(parse_json_object(candidate.read_bytes(), str(candidate)),
                                  str(candidate))
        path = path / "model.keras"
    try:
        with zipfile.ZipFile(path) as archive:
            if MANIFEST_MEMBER in archive.namelist():
                where = f"{path}:{MANIFEST_MEMBER}"
                return check_manifest(parse_json_object(archive.read(MANIFEST_MEMBER), where),
                                      where)
    except (zipfile.BadZipFile, FileNotFoundError, IsADirectoryError):
        return None
    return None


def parse_json_object(text: str | bytes, where: str) -> dict[str, Any]:
    """Parse a JSON object read from ``where``.

    Example:
        >>> parse_json_object('{"task": "classification"}', "manifest.json")
        {'task': 'classification'}

    Raises:
        ModelFileError: naming ``where``, for invalid JSON or anything but an object.
    """
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"Invalid JSON in {where!r}: {exc}. Expected the JSON object "
                             "kerakit wrote there.") from exc
    if not isinstance(value, dict):
        raise ModelFileError(f"Invalid {where!r}. Expected a JSON object. "
                             f"Received: a JSON {type(value).__name__}")
    return value


def check_manifest(manifest: dict[str, Any], where: str) -> dict[str, Any]:
    """Return ``manifest`` if its ``components`` are well formed.

    Raises:
        ModelFileError: naming ``where`` and the first malformed entry.
    """
    components = manifest.get("components", [])
    if not isinstance(components, list):
        raise ModelFileError(f"Invalid `components` in {where!r}. Expected a list. "
                             f"Received: {type(components).__name__}")
    for i, c in enumerate(components):
        if not (isinstance(c, dict) and all(isinstance(c.get(k), str)
                                            for k in ("kind", "name", "plugin"))):
            raise ModelFileError(
                f"Invalid `components[{i}]` in {where!r}. Expected an object with string "
                f"`kind`, `name` and `plugin`. Received: {json.dumps(c, default=str)[:200]}"
            )
    return manifest


def load(path: str | Path, *, compile: bool = True) -> Any:
    """Load a run directory or a ``.keras`` file, in any process, with its plugins.

    The plugins the manifest names are activated first, so no import and no
    ``custom_objects`` are needed. Loading always uses Keras safe mode.

    Args:
        path: A run directory (holding ``model.keras``) or a ``.keras`` file.
        compile: Restore the training configuration too.

    Returns:
        The ``keras.Model``.

    Raises:
        FileNotFoundError: if there is no model at ``path``.
        ModelFileError: for a truncated or corrupted file, or a malformed manifest.
        MissingPluginError: naming the component, distribution and version needed.
        UnsafeModelError: if the file holds code, such as a ``Lambda`` layer, or
            the installed Keras is older than :data:`kerakit.keras_gate.SAFE_KERAS`.

    Example:
        >>> model = load("runs/digits")  # doctest: +SKIP
    """
    path = Path(path)
    model_path = path / "model.keras" if path.is_dir() else path
    if not model_path.is_file():
        raise FileNotFoundError(
            f"No model at {str(path)!r}. Expected a run directory holding model.keras, or a "
            ".keras file."
        )
    check_keras_version()  # before anything in the file is read
    check_model_file(model_path)
    manifest = read_manifest(path) or {}
    require_plugins(manifest.get("components", []))
    from kerakit.engine import tables  # noqa: F401  (registers the table layers, FillMissing)

    try:
        return load_model(model_path, compile=compile)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "lambda" in text.lower():
            raise UnsafeModelError(
                f"Refused to load {str(model_path)!r}: it contains a Lambda layer or other "
                "serialized code, which could run anything when loaded. kerakit always loads in "
                "Keras safe mode; rebuild the model from registered components instead."
            ) from exc
        raise ModelFileError(f"Cannot load {str(model_path)!r}: {text}") from exc
    except OSError as exc:  # h5py: damaged weights inside an intact archive
        raise ModelFileError(f"Cannot load {str(model_path)!r}: its weights are unreadable "
                             f"({exc}). Expected a .keras file written by Keras.") from exc
    except TypeError as exc:
        if "Could not locate" in str(exc):
            raise MissingPluginError(
                f"Cannot load {str(model_path)!r}: {exc}. A class it uses is not registered; "
                "install the plugin that provides it, or import the module that defines it."
            ) from exc
        raise


def check_model_file(path: Path) -> None:
    """Check that ``path`` is a whole ``.keras`` archive before Keras reads it.

    Raises:
        ModelFileError: for a file that is not a zip, is truncated, or fails its CRCs.
    """
    problem = None
    try:
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                problem = "it has no config.json"
            elif (bad := archive.testzip()) is not None:
                problem = f"its member {bad} is corrupted"
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        problem = f"{exc}"
    if problem:
        raise ModelFileError(
            f"Cannot load {str(path)!r}: {problem}. Expected a complete .keras file (a zip "
            "archive written by Keras). Received: a truncated or corrupted file"
        )


def require_plugins(components: list[Mapping[str, Any]]) -> None:
    """Raise :class:`MissingPluginError` for a component that cannot be found now.

    Args:
        components: ``components`` entries of a manifest.
    """
    from kerakit.registry.discovery import current_registry, import_all_plugins

    registry = current_registry()
    if not components:  # a file without a manifest: any plugin may define its classes
        import_all_plugins()
    for c in components:
        if (c["kind"], c["name"]) in registry:
            registry.import_plugin(c["plugin"])  # Keras finds its classes only once imported
            continue
        dist = c.get("distribution")
        info = registry.plugins.get(c["plugin"])
        if c["plugin"] == "local":
            hint = "it was defined in a script: import that script before loading"
        elif info is not None and info.status != "loaded":
            hint = f"plugin `{c['plugin']}` is installed but {info.status}" + (
                f" ({info.error})" if info.error else "")
        else:
            hint = f"install it with: pip install '{dist}=={c.get('version')}'" if dist else \
                "install the plugin that provides it"
        raise MissingPluginError(
            f"The model needs the {singular(c['kind'])} "
            f"`{c['name']}` from plugin `{c['plugin']}` (distribution {dist} "
            f"{c.get('version')}), which is not available: {hint}."
        )
