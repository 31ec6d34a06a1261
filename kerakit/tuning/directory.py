"""The tuning directory: marked as a search's when it starts, started afresh only then.

A search marks its directory (:mod:`kerakit.runs.marker`, kind ``"search"``)
before any engine writes in it, so even a search killed at once leaves a
directory that ``overwrite`` may replace. A directory that held something
else when the search began is not marked: kerakit did not create it.
"""

from __future__ import annotations

from pathlib import Path

from kerakit.runs.marker import check_replaceable, read_marker, write_marker
from kerakit.tuning.budget import SPENT_FILE

__all__ = ["SPEC_DIR", "TUNING_LAYOUT", "check_tuning_dir", "remark_tuning_dir",
           "start_tuning_dir"]

#: Where a local distributed search keeps the checked search for its processes.
SPEC_DIR = ".kerakit_search"
#: What a tuning directory may hold: kerakit's outputs and spec, KerasTuner's
#: project folder (``kerakit.tuning.adapter.PROJECT``), the retrained best run (with
#: its partial directory and lock), the TensorBoard tracker's logs
#: (``kerakit.builtins.trackers.LOG_FOLDER``; not imported, it imports Keras), and the
#: kerakit-optuna plugin's default SQLite storage with its journal files and its
#: record of the study the directory belongs to.
TUNING_LAYOUT = (
    "search", SPEC_DIR, "best_declaration.json", "best_hyperparameters.json", "trials.csv",
    "tuning.png", SPENT_FILE, "best_run", ".best_run.partial", ".best_run.lock", "tensorboard",
    "optuna.db", "optuna.db-journal", "optuna.db-wal", "optuna.db-shm", "optuna_study.json",
)


def check_tuning_dir(directory: Path, overwrite: bool) -> None:
    """Refuse to start a search afresh over anything but a kerakit tuning directory.

    Without ``overwrite`` a search resumes and deletes nothing, so any
    directory will do. With it, the directory must be empty, or carry a
    search's marker and hold nothing but :data:`TUNING_LAYOUT`.

    Example:
        >>> check_tuning_dir(Path("tuning/new"), overwrite=False)

    Args:
        directory: The tuning directory.
        overwrite: Whether the search starts afresh there.

    Raises:
        FileExistsError: if ``overwrite`` would delete something kerakit did
            not write; the message says what is there.
    """
    if overwrite:
        check_replaceable(directory, "search", True, known=TUNING_LAYOUT)


def start_tuning_dir(directory: Path, overwrite: bool) -> bool:
    """Check the tuning directory, then mark it as a search's before anything is written.

    A missing or empty directory is created and marked; a marked one stays
    marked. A directory already holding other things (a search resumed over
    a folder kerakit did not create) is used as it is, unmarked.

    Example:
        >>> start_tuning_dir(Path("tuning/new"), overwrite=False)
        True

    Args:
        directory: The tuning directory.
        overwrite: Whether the search starts afresh there.

    Returns:
        Whether the directory is marked as a search's.

    Raises:
        FileExistsError: as :func:`check_tuning_dir`.
    """
    check_tuning_dir(directory, overwrite)
    if directory.exists() and not directory.is_dir():  # refused whatever overwrite says
        check_replaceable(directory, "search", overwrite, known=TUNING_LAYOUT)
    marker = read_marker(directory)
    if marker is not None:
        return marker["kind"] == "search"
    if directory.is_dir() and any(directory.iterdir()):
        return False
    directory.mkdir(parents=True, exist_ok=True)
    write_marker(directory, "search")
    return True


def remark_tuning_dir(directory: Path) -> None:
    """Mark a search's directory again if an engine removed its marker (and left the rest).

    Example:
        >>> remark_tuning_dir(Path("tuning/gone"))

    Args:
        directory: A tuning directory :func:`start_tuning_dir` marked.
    """
    if directory.is_dir() and read_marker(directory) is None:
        write_marker(directory, "search")
