"""Prometheus metrics for ``kerakit serve``, answered at ``GET /metrics``.

Every app has its own :class:`prometheus_client.CollectorRegistry`, so several
apps in one process (tests, embedding) count apart. With ``--workers N``,
:func:`kerakit.deploy.serving.serve` points ``PROMETHEUS_MULTIPROC_DIR`` at a
folder of its own before the worker processes start: each worker then writes
its values there, and ``/metrics`` on any of them adds up all of them
(prometheus_client's multiprocess mode).

The metrics:

- ``kerakit_serve_requests_total{model, method, code}``: requests answered,
  by model, method (``predict``, ``classify``, ``metadata``, ``status``) and
  HTTP status code. Requests to a model that is not served are not counted,
  so a client cannot add label values at will.
- ``kerakit_serve_request_seconds{model, method}``: a histogram of the time
  from a request's headers to its answer.
- ``kerakit_serve_batch_rows{model}``: a histogram of the rows in each
  signature call (more than the rows of one request when requests are batched).
- ``kerakit_serve_model_load_seconds{model}``: how long loading the model
  took (with several workers, the slowest worker's).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["MULTIPROC_ENV", "ServingMetrics", "metrics_page"]

#: Where prometheus_client's multiprocess mode keeps every process's values.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServingMetrics:
    """The metrics of one app, in a registry of its own.

    Example:
        >>> metrics = ServingMetrics()
        >>> metrics.request("digits", "predict", 200, 0.004)
        >>> b'kerakit_serve_requests_total{code="200",method="predict",model="digits"} 1.0' \\
        ...     in metrics.exposition()
        True

    Args:
        load_seconds: Model name to the seconds its loading took, for the gauge.
    """

    def __init__(self, load_seconds: dict[str, float] | None = None) -> None:
        import prometheus_client as prom

        self.registry = prom.CollectorRegistry()
        # values go to files only if the variable was set before prometheus_client was imported
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.requests = prom.Counter(
            "kerakit_serve_requests", "Requests answered, by model, method and HTTP status code.",
            ("model", "method", "code"), registry=self.registry)
        self.latency = prom.Histogram(
            "kerakit_serve_request_seconds", "Seconds from a request's headers to its answer.",
            ("model", "method"), registry=self.registry, buckets=_LATENCY_BUCKETS)
        self.batch_rows = prom.Histogram(
            "kerakit_serve_batch_rows", "Rows in each call of a model's signature (requests "
            "batched together count together).", ("model",), registry=self.registry,
            buckets=_ROW_BUCKETS)
        self.load_seconds = prom.Gauge(
            "kerakit_serve_model_load_seconds", "Seconds loading the model took (with several "
            "workers, the slowest worker's).", ("model",), registry=self.registry,
            multiprocess_mode="max")
        for model, seconds in (load_seconds or {}).items():
            self.load_seconds.labels(model).set(seconds)

    def request(self, model: str, method: str, code: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        self.requests.labels(model, method, str(code)).inc()
        self.latency.labels(model, method).observe(seconds)

    def batch_observer(self, model: str) -> Callable[[int], None]:
        """What a model's batcher calls with the rows of each signature call."""
        histogram = self.batch_rows.labels(model)
        return histogram.observe

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format: this app's, or every worker's added up."""
        import prometheus_client as prom
        from prometheus_client import multiprocess

        if not self.multiprocess:
            return prom.generate_latest(self.registry)
        registry = prom.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return prom.generate_latest(registry)


def metrics_page(metrics: ServingMetrics) -> Any:
    """The ``GET /metrics`` handler."""
    from prometheus_client import CONTENT_TYPE_LATEST
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    async def page(request: Any) -> Any:
        # off the event loop: with several workers it reads every worker's files
        return Response(await run_in_threadpool(metrics.exposition),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})

    return page
