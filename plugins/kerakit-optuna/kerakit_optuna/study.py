"""A study in shared storage that any number of processes join, with a fixed budget.

- **The budget is enqueued once.** The process that creates the study enqueues
  exactly ``max_trials`` waiting trials; every process, here or on another
  machine, pops waiting trials one at a time. Popping is a compare-and-set in
  the storage (a row update in a serialised transaction, or the journal's
  first writer wins), so no trial runs twice and no process ever creates an
  extra one: together they run exactly ``max_trials`` trials.
- **Heartbeats.** While a trial runs, its process stamps it every
  ``heartbeat`` seconds. Any process that finds a running trial whose stamp is
  older than three heartbeats marks it failed, so a ``kill -9``'d worker's
  trial is counted and the others finish. The same rule lets a rerun resume a
  study after every process died.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kerakit.errors import DeclarationError, KerakitError, UsageError

HEARTBEAT_ATTR = "kerakit:heartbeat"
BUDGET_ATTR = "kerakit:max_trials"
SPACE_ATTR = "kerakit:declaration"
OBJECTIVE_ATTR = "kerakit:objective"
SETUP_WAIT_S = 120.0


def open_storage(url: str) -> Any:
    """An Optuna storage: ``journal:PATH`` for a journal file, else an SQLAlchemy URL.

    SQLite runs every transaction as ``BEGIN IMMEDIATE`` with a long busy
    timeout: Python's sqlite3 driver otherwise reads outside the transaction
    that then writes, and two processes could pop the same trial.

    Raises:
        UsageError: for an empty URL.
    """
    import optuna

    if not isinstance(url, str) or not url.strip():
        raise UsageError("Invalid value for argument `storage`. Expected an SQLAlchemy URL "
                         "such as 'sqlite:///study.db' or 'journal:PATH'. "
                         f"Received: storage={url!r}")
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = url[len("journal:"):]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:  # opening replays the journal: a damaged one fails here
            storage = optuna.storages.JournalStorage(JournalFileBackend(path))
            storage.get_all_studies()
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise _storage_error(url, exc) from exc
        return storage
    if not url.startswith("sqlite"):
        return _rdb(url)
    storage = _rdb(url, engine_kwargs={"connect_args": {"timeout": 120}})
    _serialise_sqlite(storage.engine)
    return storage


def _rdb(url: str, **kwargs: Any) -> Any:
    """Open an RDB storage; processes that start together race to create the schema.

    Only the race is retried (an integrity error, or a table another process
    created meanwhile); a bad URL, an unreadable path or a damaged database
    fails at once, naming the storage.
    """
    import optuna
    from sqlalchemy.exc import IntegrityError, SQLAlchemyError

    for attempt in range(10):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except (SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
            racing = isinstance(exc, IntegrityError) or any(
                words in str(exc).lower() for words in ("already exists", "locked"))
            if not racing or attempt == 9:
                raise _storage_error(url, exc) from exc
            time.sleep(0.3 * (attempt + 1))
    raise AssertionError("unreachable")


def _storage_error(url: str, exc: BaseException) -> UsageError:
    """The error for a storage that cannot be opened, naming it and why."""
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return UsageError(
        f"Cannot use the Optuna storage {_shown_storage(url)!r}. Expected an SQLAlchemy URL "
        "of a database this process can open and write (sqlite:///PATH, postgresql://...), "
        f"or journal:PATH of a journal file. Received: {type(exc).__name__}: {reason}")


def _serialise_sqlite(engine: Any) -> None:
    # The SQLAlchemy recipe for serialisable SQLite with pysqlite.
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened while Optuna set up the schema lack the listeners


def join_study(storage: Any, name: str, *, direction: str,
               sampler_for: Callable[[bool], Any], pruner: Any, budget: int,
               fingerprint: str, objective: str, overwrite: bool,
               points: list[dict[str, Any]] | None = None) -> Any:
    """Create the study with its budget, or join it; refuse a different budget or space.

    Args:
        sampler_for: ``sampler_for(joined)`` makes this process's sampler;
            ``joined`` is true when the study already existed.
        points: The trials' values, when they are fixed in advance (a grid);
            otherwise the sampler draws them.

    Raises:
        DeclarationError: if the study exists with another budget, objective
            or search space.
        KerakitError: if the process that created it never finished setting it up.
    """
    import optuna

    if overwrite:
        with contextlib.suppress(KeyError):  # nothing to delete
            optuna.delete_study(study_name=name, storage=storage)
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction=direction,
                                    sampler=sampler_for(False), pruner=pruner)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler_for(True),
                                  pruner=pruner)
    else:
        study.set_user_attr(SPACE_ATTR, fingerprint)
        study.set_user_attr(OBJECTIVE_ATTR, objective)
        for index in range(budget):
            study.enqueue_trial(points[index] if points else {})
        study.set_user_attr(BUDGET_ATTR, budget)  # last: joiners wait for it
        return study
    deadline = time.time() + SETUP_WAIT_S
    while BUDGET_ATTR not in study.user_attrs:
        if time.time() > deadline:
            raise KerakitError(f"The study `{name}` exists but its budget was never set (its "
                               "creator died while enqueuing trials). Use a new study name, "
                               "or overwrite it.")
        time.sleep(0.5)
    attrs = study.user_attrs
    for key, ours, what in ((BUDGET_ATTR, budget, "max_trials"),
                            (OBJECTIVE_ATTR, objective, "objective"),
                            (SPACE_ATTR, fingerprint, "declaration")):
        if attrs.get(key) != ours:
            shown = ours if key != SPACE_ATTR else "this declaration"
            raise DeclarationError(
                f"Invalid {what} for the study `{name}`. Expected the study's own "
                f"({attrs.get(key) if key != SPACE_ATTR else 'the declaration it was made for'}"
                f"), since a study's budget and space are fixed when it is created. "
                f"Received: {what}={shown!r}. Use a new study name, or overwrite it.")
    return study


def pop_trial(study: Any) -> int | None:
    """Claim one waiting trial for this process; ``None`` when none is left."""
    import optuna
    from optuna.trial import TrialState

    storage = study._storage  # Optuna's own pop goes through the same storage
    for trial in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        for attempt in range(5):
            try:
                if storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING):
                    stamp(study, trial._trial_id)
                    return trial._trial_id
                break
            except optuna.exceptions.UpdateFinishedTrialError:
                break
            except optuna.exceptions.StorageInternalError:
                time.sleep(0.2 * (attempt + 1))  # a busy database: try again
    return None


def stamp(study: Any, trial_id: int) -> None:
    """Record this process's heartbeat on its running trial."""
    study._storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())


def worker_name() -> str:
    """``host:pid``: where a trial ran, for ``trials.csv``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """Stamps a running trial from a background thread until stopped."""

    def __init__(self, study: Any, trial_id: int, interval: float) -> None:
        self.study, self.trial_id, self.interval = study, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="kerakit-heartbeat")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            # the trial may have been failed by another process, or the storage blipped
            with contextlib.suppress(Exception):
                stamp(self.study, self.trial_id)


def fail_stale_trials(study: Any, grace: float) -> list[int]:
    """Mark failed every running trial whose heartbeat is older than ``grace`` seconds."""
    import optuna
    from optuna.trial import TrialState

    storage, now, failed = study._storage, time.time(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        last = trial.system_attrs.get(HEARTBEAT_ATTR)
        if last is None and trial.datetime_start is not None:
            last = trial.datetime_start.timestamp()
        if last is None or now - float(last) <= grace:
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, "reason",
                                        f"worker lost: no heartbeat for {now - last:.0f} s")
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                failed.append(trial.number)
        except (optuna.exceptions.UpdateFinishedTrialError,
                optuna.exceptions.StorageInternalError):
            pass  # it finished meanwhile, or another process failed it first
    return failed


#: The file that binds a tuning directory to one study: its outputs are that study's.
CLAIM_FILE = "optuna_study.json"
#: How the claim names the default storage, ``optuna.db`` in the tuning directory.
DEFAULT_STORAGE = "<out>/optuna.db"


def claim_directory(directory: Path, *, storage: str, name: str, fingerprint: str,
                    overwrite: bool) -> None:
    """Bind ``directory`` to one study, so two different searches cannot share its outputs.

    Every process of a study writes ``best_declaration.json``, ``trials.csv`` and
    ``tuning.png`` into the same directory: that is safe only when they all
    belong to the same study. The first process writes :data:`CLAIM_FILE`
    (created once, atomically: of two racing processes one wins); every other
    process must name the same storage, study and search space.

    Args:
        directory: The tuning directory.
        storage: The study's storage URL, as given.
        name: The study's name.
        fingerprint: The search space's fingerprint.
        overwrite: Whether this search replaces whatever the directory held.

    Raises:
        UsageError: if the directory belongs to another study.

    Example:
        >>> claim_directory(Path("tuning/a"), storage="sqlite:///a.db", name="a",
        ...                 fingerprint="f", overwrite=False)  # doctest: +SKIP
    """
    path = directory / CLAIM_FILE
    ours = {"storage": _shown_storage(storage), "study": name, "declaration": fingerprint}
    if overwrite:
        path.unlink(missing_ok=True)
    _create_once(path, json.dumps(ours, indent=2) + "\n")
    try:
        theirs = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"Invalid tuning directory {str(directory)!r}: its {CLAIM_FILE} "
                         f"is unreadable ({exc}). Expected the record of the study it "
                         "belongs to. Use overwrite=True (--overwrite) to start afresh, or "
                         "another directory.") from exc
    for key, what in (("storage", "storage"), ("study", "study"),
                      ("declaration", "search space")):
        if theirs.get(key) != ours[key]:
            shown = ("this declaration's" if key == "declaration" else repr(ours[key]))
            raise UsageError(
                f"Invalid output directory {str(directory)!r} for the study `{name}`. "
                f"Expected a directory of its own, or one holding the same study: two "
                f"searches writing one directory would overwrite each other's "
                f"best_declaration.json, trials.csv and tuning.png. Received: a directory "
                f"that belongs to another {what} "
                f"({theirs.get(key) if key != 'declaration' else 'another declaration'}), "
                f"not {shown}. Use another out=, or overwrite=True (--overwrite).")


def _create_once(path: Path, text: str) -> None:
    """Write ``path`` whole unless it exists; of two racing processes, one writes it."""
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    tmp.write_text(text)
    try:
        os.link(tmp, path)  # atomic, and fails if another process claimed it first
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: exclusive creation instead
        with contextlib.suppress(FileExistsError), open(path, "x") as file:
            file.write(text)
    finally:
        tmp.unlink(missing_ok=True)


def _shown_storage(url: str) -> str:
    """The storage URL with any password left out, as it is stored in the claim."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
