"""A tracker's calls on a thread of its own: training never waits for a tracking backend.

:class:`~kerakit.runs.tracking.Tracking` gives each tracker a
:class:`TrackerThread`. Calls are queued (at most :data:`BACKLOG`) and made
in order on a daemon thread, which ends after :data:`IDLE` seconds without
calls. The thread never reports by itself: it records the first call that
raised, and the caller asks :meth:`TrackerThread.problem` between calls, so
warnings are raised in the training thread.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any

from kerakit.errors import UsageError

__all__ = ["BACKLOG", "IDLE", "TIMEOUT", "TIMEOUT_VAR", "TrackerThread", "timeout_setting"]

#: Seconds a tracker may take over one call, and kerakit waits at most for its
#: calls left when a run ends, before it is switched off. Generous: a local
#: MLflow store's first use (its migrations) took 8-9 s on 2 busy cores, and
#: over 10 s beside training; a stalled server is caught sooner by the
#: tracker's own timeouts (the MLflow plugin's give up after about 20 s).
TIMEOUT = 60.0
#: Overrides :data:`TIMEOUT` (seconds).
TIMEOUT_VAR = "KERAKIT_TRACK_TIMEOUT"
#: Calls a tracker may fall behind the run before it is switched off.
BACKLOG = 10_000
#: Seconds an idle tracker's thread waits for a call before it ends.
IDLE = 1.0


def timeout_setting(timeout: float | None = None) -> float:
    """``timeout``, else ``KERAKIT_TRACK_TIMEOUT``, else :data:`TIMEOUT`.

    Example:
        >>> timeout_setting(2)
        2.0

    Args:
        timeout: Seconds, or ``None`` for the environment's or the default.

    Returns:
        The timeout in seconds.

    Raises:
        UsageError: for a value that is not a positive number.
    """
    given = timeout if timeout is not None else os.environ.get(TIMEOUT_VAR) or TIMEOUT
    try:
        seconds = float(given)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0:
        raise UsageError(f"Invalid tracker timeout. Expected a positive number of seconds "
                         f"(argument `timeout` or {TIMEOUT_VAR}). Received: {given!r}")
    return seconds


class TrackerThread:
    """One tracker's calls, made in order on a daemon thread of their own.

    Example:
        >>> from kerakit.base import TrackedRun, Tracker
        >>> thread = TrackerThread("demo", Tracker())
        >>> thread.submit("start_run", (TrackedRun("1", "demo", "train"),))
        >>> thread.wait(time.monotonic() + 5, 5), thread.problem(5)
        (True, None)

    Args:
        name: The tracker's qualified name.
        tracker: The tracker; each of its methods is optional.
    """

    def __init__(self, name: str, tracker: Any) -> None:
        self.name, self.tracker = name, tracker
        self.calls: queue.Queue[tuple[str, tuple[Any, ...]]] = queue.Queue(BACKLOG)
        self.error: tuple[str, BaseException] | None = None  # (method, why): it is off
        self.method, self.since = "", 0.0  # the call in progress and when it began
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, method: str, args: tuple[Any, ...]) -> None:
        """Queue ``tracker.method(*args)``; nothing once the tracker failed."""
        if self.error is not None:
            return
        with self._lock:
            try:
                self.calls.put_nowait((method, args))
            except queue.Full:
                self.error = (method, RuntimeError(f"it fell {BACKLOG} calls behind the run"))
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name=f"kerakit-tracker-{self.name}")
                self._thread.start()

    def problem(self, timeout: float) -> tuple[str, BaseException] | None:
        """``(method, error)`` if a call failed, or has run for over ``timeout`` seconds."""
        since = self.since
        if self.error is None and since and time.monotonic() - since > timeout:
            self.error = (self.method, TimeoutError(f"no answer within {timeout:g} s"))
        return self.error

    def wait(self, deadline: float, timeout: float) -> bool:
        """Wait for the queued calls until ``deadline``, or until one runs over ``timeout`` s.

        Args:
            deadline: A ``time.monotonic()`` value.
            timeout: Seconds a single call may take.

        Returns:
            Whether every queued call is done (or one failed).
        """
        with self.calls.all_tasks_done:
            while self.calls.unfinished_tasks and self.problem(timeout) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.calls.all_tasks_done.wait(min(left, 0.1))
        return True

    def _loop(self) -> None:
        while True:
            try:
                method, args = self.calls.get(timeout=IDLE)
            except queue.Empty:
                with self._lock:
                    if self.calls.empty():
                        self._thread = None
                        return
                continue
            call = getattr(self.tracker, method, None)
            if call is not None and self.error is None:  # after a failure: skipped
                self.method, self.since = method, time.monotonic()
                try:
                    call(*args)
                except Exception as exc:
                    self.error = self.error or (method, exc)
                self.since = 0.0
            self.calls.task_done()
