"""Request batching for ``kerakit serve``: concurrent requests to one signature, one call.

Each request is parsed and checked on its own thread, as without batching, and
only then handed to its model's :class:`Batcher` as a dict of NumPy arrays
(one per input, rows first). A request with nothing to be batched with (no
call of its signature running, none waiting, none on its way) runs at once on
its own thread, so a lone client never waits. Otherwise it queues for the
signature's worker thread, which takes the oldest request waiting, adds the
alike requests behind it (same inputs, shapes and dtypes beyond the rows) up
to ``max_batch`` rows in all, concatenates them, calls the signature once and
hands each request its own rows of every output.

How long a batch waits for more requests: while a call of its signature is
still running or other requests to the model are on their way (the server
has begun reading them but they have not reached the batcher), and at most
``timeout`` seconds after its first request arrived. Requests arriving while
a batch runs form the next one.

Failures stay with the request that caused them: a batched call that raises
is run again one request at a time, so a request whose values the graph
refuses fails alone and the others get their answers; and whatever goes
wrong, every waiting request is answered, with its outputs or an exception.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kerakit.errors import UsageError

if TYPE_CHECKING:  # NumPy is imported where arrays are joined: the command line reads defaults
    import numpy as np

__all__ = ["DEFAULT_BATCH_TIMEOUT", "DEFAULT_MAX_BATCH", "Batcher", "call_signature",
           "check_batching"]

# The defaults were measured with benchmarks/serve.py (docs/deployment.md has the numbers).
#: Rows in one signature call at most; 1 turns batching off.
DEFAULT_MAX_BATCH = 32
#: Seconds a batch may wait for more requests after its first arrived.
DEFAULT_BATCH_TIMEOUT = 0.002

Arrays = dict[str, "np.ndarray"]
# The request the current thread or task is answering, while it is on its way to a batcher.
_ARRIVAL: ContextVar[_Arrival | None] = ContextVar("kerakit_serve_arrival", default=None)


def check_batching(max_batch: Any, timeout: Any) -> None:
    """Refuse batch settings that are not a positive row count and a finite non-negative wait.

    Example:
        >>> check_batching(32, 0.002)

    Args:
        max_batch: Rows in one signature call at most (1: no batching).
        timeout: Seconds a batch may wait for more requests.

    Raises:
        UsageError: naming the argument and the value received.
    """
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise UsageError(f"Invalid value for `max_batch`. Expected a positive integer (rows "
                         f"per signature call; 1 turns batching off). Received: "
                         f"max_batch={max_batch!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
            or not math.isfinite(timeout) or timeout < 0:
        raise UsageError(f"Invalid value for `batch_timeout`. Expected a finite number of "
                         f"seconds, 0 or more. Received: batch_timeout={timeout!r}")


def call_signature(model: Any, signature: str, arrays: Arrays) -> Arrays:
    """Call one of a served model's signatures on NumPy inputs; its outputs as NumPy arrays.

    Text inputs are object arrays of ``str``, which TensorFlow takes as strings.

    Example:
        >>> call_signature(model, "serving_default", {"inputs": x})  # doctest: +SKIP

    Args:
        model: A loaded :class:`~kerakit.deploy.served.ServedModel`.
        signature: The signature's name.
        arrays: Input name to array, rows first.

    Returns:
        Output name to array, rows first.
    """
    import tensorflow as tf

    outputs = model.signatures[signature](**{k: tf.constant(v) for k, v in arrays.items()})
    return {k: v.numpy() for k, v in outputs.items()}


@dataclass(eq=False)
class _Request:
    arrays: Arrays
    rows: int
    # only requests with the same inputs, shapes beyond the rows and dtypes concatenate
    kind: tuple[Any, ...]
    arrived: float = field(default_factory=time.monotonic)
    future: Future = field(default_factory=Future)


@dataclass(eq=False)
class _Line:
    """One signature's requests waiting for its worker, and its calls running."""

    queue: deque[_Request] = field(default_factory=deque)
    running: int = 0


@dataclass(eq=False)
class _Arrival:
    """A request the server is reading or parsing, counted until it reaches the batcher."""

    batcher: Batcher
    open: bool = True


class Batcher:
    """Gathers concurrent requests to one model into one call per signature.

    Example:
        >>> import numpy as np
        >>> batcher = Batcher(lambda signature, arrays: {"y": arrays["x"] * 2}, 8, 0.002)
        >>> batcher.run("serving_default", {"x": np.ones((2, 3))})["y"].shape
        (2, 3)

    Args:
        call: ``call(signature, arrays)``: the model's signature on NumPy inputs
            (such as :func:`call_signature`), returning arrays with the same rows.
        max_batch: Rows in one call at most; 1 calls ``call`` for each request.
        timeout: Seconds a batch waits for requests on their way, at most.
        observe: Called with the rows of every call (for the batch-size metric).

    Raises:
        UsageError: for a ``max_batch`` or ``timeout`` :func:`check_batching` refuses.
    """

    def __init__(self, call: Callable[[str, Arrays], Arrays], max_batch: int, timeout: float,
                 observe: Callable[[int], None] | None = None) -> None:
        check_batching(max_batch, timeout)
        self.max_batch, self.timeout = max_batch, float(timeout)
        self._call, self._observe = call, observe or (lambda rows: None)
        self._lock = threading.Condition()
        self._lines: dict[str, _Line] = {}
        self._arriving = 0

    @contextlib.contextmanager
    def expecting(self) -> Iterator[None]:
        """Count the request being answered in this block as on its way, until it is submitted.

        The server enters it as soon as a request to the model comes in, before
        reading its body; :meth:`run` (in the same context, or a thread started
        from it with the context copied, as Starlette's threadpool does) ends it.
        """
        arrival = _Arrival(self)
        with self._lock:
            self._arriving += 1
        token = _ARRIVAL.set(arrival)
        try:
            yield
        finally:
            _ARRIVAL.reset(token)
            with self._lock:
                self._arrived(arrival)

    def run(self, signature: str, arrays: Arrays) -> Arrays:
        """The signature's outputs for these inputs, called alone or batched with others.

        A request runs alone, on the calling thread, when it fills a batch by
        itself or when there is nothing to batch it with: no call of the
        signature running, no request waiting and none on its way. Otherwise it
        waits for the signature's worker.

        Args:
            signature: The signature's name.
            arrays: Input name to array, rows first, already checked.

        Returns:
            Output name to array: this request's rows only.

        Raises:
            Exception: what the signature raised for these rows.
        """
        rows = len(next(iter(arrays.values())))
        arrival = _ARRIVAL.get()
        with self._lock:
            if arrival is not None:
                self._arrived(arrival)
            line = self._line(signature)
            alone = rows >= self.max_batch or not (line.queue or line.running or self._arriving)
            if alone:
                line.running += 1
            else:
                request = _Request(arrays, rows, tuple(
                    (k, v.shape[1:], v.dtype.str) for k, v in sorted(arrays.items())))
                line.queue.append(request)
                self._lock.notify_all()
        if not alone:
            return request.future.result()
        try:
            return self._observed(signature, arrays, rows)
        finally:
            with self._lock:
                line.running -= 1
                self._lock.notify_all()

    def _line(self, signature: str) -> _Line:
        # Called with the lock held: the first request to a signature starts its worker.
        if signature not in self._lines:
            self._lines[signature] = _Line()
            threading.Thread(target=self._work, args=(signature, self._lines[signature]),
                             daemon=True, name=f"kerakit-batch-{signature}").start()
        return self._lines[signature]

    def _arrived(self, arrival: _Arrival) -> None:
        # Called with the lock held; an arrival ends once, at submission or when its block ends.
        if arrival.open and arrival.batcher is self:
            arrival.open = False
            self._arriving -= 1
            self._lock.notify_all()

    def _work(self, signature: str, line: _Line) -> None:
        while True:
            batch: list[_Request] = []
            try:
                batch = self._gather(line)
                self._dispatch(signature, batch)
            except BaseException as exc:  # never leave a request waiting on a dead worker
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)
            finally:
                with self._lock:
                    line.running -= bool(batch)

    def _gather(self, line: _Line) -> list[_Request]:
        """The oldest request waiting and the alike ones behind it, up to ``max_batch`` rows.

        It waits for more while a call of the signature runs or requests are on
        their way, until ``timeout`` after the first request arrived.
        """
        queue = line.queue
        with self._lock:
            self._lock.wait_for(lambda: queue)
            first = queue.popleft()
            batch, rows = [first], first.rows
            while True:
                left: deque[_Request] = deque()
                while queue:  # in arrival order; what does not fit keeps its place in line
                    request = queue.popleft()
                    if request.kind == first.kind and rows + request.rows <= self.max_batch:
                        batch.append(request)
                        rows += request.rows
                    else:
                        left.append(request)
                queue.extend(left)
                remaining = first.arrived + self.timeout - time.monotonic()
                if rows >= self.max_batch or left or remaining <= 0 \
                        or not (line.running or self._arriving):
                    line.running += 1
                    return batch
                self._lock.wait(remaining)

    def _dispatch(self, signature: str, batch: list[_Request]) -> None:
        if len(batch) == 1:
            request = batch[0]
            try:
                request.future.set_result(self._observed(signature, request.arrays,
                                                         request.rows))
            except Exception as exc:
                request.future.set_exception(exc)
            return
        import numpy as np

        try:
            joined = {name: np.concatenate([r.arrays[name] for r in batch])
                      for name in batch[0].arrays}
            total = sum(r.rows for r in batch)
            parts = _split(self._observed(signature, joined, total), [r.rows for r in batch])
        except Exception:
            # One request's values may be what the graph refuses: alone, only it fails.
            for request in batch:
                self._dispatch(signature, [request])
            return
        for request, part in zip(batch, parts, strict=True):
            request.future.set_result(part)

    def _observed(self, signature: str, arrays: Arrays, rows: int) -> Arrays:
        # counted once answered: a batch that fails is counted as the calls it is rerun as
        outputs = self._call(signature, arrays)
        self._observe(rows)
        return outputs


def _split(outputs: Arrays, rows: list[int]) -> list[Arrays]:
    """Each request's rows of every output.

    Raises:
        ValueError: for an output without one row per input row, which cannot be split.
    """
    import numpy as np

    total = sum(rows)
    for name, value in outputs.items():
        if np.ndim(value) == 0 or len(value) != total:
            raise ValueError(f"Invalid output `{name}` for a batch. Expected {total} rows. "
                             f"Received: shape {np.shape(value)}")
    bounds = np.cumsum([0, *rows])
    return [{name: value[start:stop] for name, value in outputs.items()}
            for start, stop in itertools.pairwise(bounds)]
