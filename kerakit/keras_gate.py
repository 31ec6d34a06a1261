"""The one gate in front of every place kerakit turns stored data into Keras objects.

Keras releases before :data:`SAFE_KERAS` import or run what a crafted model
file or config names, even in safe mode. Loading a ``.keras`` file and
deserialising a ``{"keras": ...}`` block of a declaration both pass here, so
an older Keras (a ``--no-deps`` install, a later downgrade) is refused before
anything named in the data is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kerakit.errors import UnsafeModelError

__all__ = ["SAFE_KERAS", "check_keras_version", "deserialize", "load_model"]

# The first Keras release with every published safe-mode and model-loading fix
# (see docs/deployment.md, "Trust"); pyproject.toml requires the same.
SAFE_KERAS = (3, 15, 1)


def check_keras_version(version: str | None = None) -> None:
    """Refuse to deserialise with a Keras older than :data:`SAFE_KERAS`.

    Args:
        version: The version to check; the installed Keras by default.

    Raises:
        UnsafeModelError: naming the installed and the required version.

    Example:
        >>> check_keras_version("3.15.1")
    """
    if version is None:
        import keras

        version = keras.__version__
    release = tuple(int(p) if p.isdigit() else 0 for p in version.split("+")[0].split(".")[:3])
    if release < SAFE_KERAS:
        floor = ".".join(map(str, SAFE_KERAS))
        raise UnsafeModelError(
            f"Refusing to deserialise Keras objects with Keras {version}: releases before "
            f"{floor} can import or run code named by a crafted model file or declaration, "
            f"even in safe mode. Expected keras>={floor}. Received: keras=={version}. "
            f"Upgrade with: pip install 'keras>={floor}'"
        )


def deserialize(config: Any) -> Any:
    """A Keras object from its serialised config, in safe mode, behind the version gate.

    Args:
        config: What ``keras.saving.serialize_keras_object`` returned.

    Returns:
        The Keras object.

    Raises:
        UnsafeModelError: if the installed Keras is older than :data:`SAFE_KERAS`.

    Example:
        >>> deserialize({"module": "keras.regularizers", "class_name": "L2",
        ...              "config": {"l2": 0.01}, "registered_name": None})  # doctest: +SKIP
    """
    check_keras_version()
    import keras

    return keras.saving.deserialize_keras_object(config, safe_mode=True)


def load_model(path: str | Path, **kwargs: Any) -> Any:
    """``keras.saving.load_model`` in safe mode, behind the version gate.

    Args:
        path: A ``.keras`` file.
        **kwargs: Passed on (``compile=``).

    Returns:
        The ``keras.Model``.

    Raises:
        UnsafeModelError: if the installed Keras is older than :data:`SAFE_KERAS`.
    """
    check_keras_version()
    import keras

    return keras.saving.load_model(path, safe_mode=True, **kwargs)
