"""The tuning directory: what marks one, and when it may be started afresh."""

from __future__ import annotations

from pathlib import Path

#: Where a local distributed search keeps the checked search for its processes.
SPEC_DIR = ".kerakit_search"
#: What makes a directory recognisably a tuning directory, safe to start afresh.
TUNING_MARKERS = ("best_declaration.json", "search", SPEC_DIR, "time_spent.json")


def check_tuning_dir(directory: Path, overwrite: bool) -> None:
    """Refuse to start a search afresh over anything but an earlier tuning directory.

    Without ``overwrite`` a search resumes and deletes nothing, so any
    directory will do.

    Example:
        >>> check_tuning_dir(Path("tuning/new"), overwrite=False)

    Args:
        directory: The tuning directory.
        overwrite: Whether the search starts afresh there.

    Raises:
        FileExistsError: if ``overwrite`` would delete something that is not a
            kerakit tuning directory; the message says what is there.
    """
    from kerakit.runs.rundir import check_target

    if overwrite:
        check_target(directory, True, what="tuning directory", markers=TUNING_MARKERS)
