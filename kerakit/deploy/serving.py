"""A TF-Serving-compatible REST server for kerakit exports, with a page to try them.

The routes, request bodies and answers follow TF Serving's REST API, so a client
written for TF Serving works unchanged; ``GET /`` adds a small page and
``GET /metrics`` Prometheus metrics (:mod:`kerakit.deploy.serving_metrics`).
Every export is checked against its manifest hashes before TensorFlow loads it
(:mod:`kerakit.deploy.served`). Concurrent requests to a model are batched into
one signature call (:mod:`kerakit.deploy.batching`). The routes are one table
(:func:`_routes`), and so are the endpoints under a model
(:data:`kerakit.deploy.serving_rest.ENDPOINTS`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
import traceback
from functools import partial
from pathlib import Path
from typing import Any

from kerakit.deploy.batching import (
    DEFAULT_BATCH_TIMEOUT,
    DEFAULT_MAX_BATCH,
    Batcher,
    call_signature,
    check_batching,
)

# What is served stays importable from here; the REST bodies never import this module.
from kerakit.deploy.served import ServedModel, input_kind, locate, open_models
from kerakit.deploy.serving_body import check_depth, check_nesting, parse_body, read_body
from kerakit.deploy.serving_metrics import MULTIPROC_ENV, ServingMetrics, metrics_page
from kerakit.deploy.serving_page import card_route
from kerakit.deploy.serving_rest import ENDPOINTS, Endpoint
from kerakit.deploy.serving_timeouts import DEFAULT_READ_TIMEOUT, READ_TIMEOUT_ENV
from kerakit.errors import DataError, UsageError

__all__ = ["DEFAULT_BATCH_TIMEOUT", "DEFAULT_MAX_BATCH", "DEFAULT_MAX_BODY", "DEFAULT_PORT",
           "ServedModel", "app_from_environment", "check_depth", "create_app", "input_kind",
           "locate", "open_models", "serve"]

DEFAULT_PORT = 8501
DEFAULT_MAX_BODY = 10 * 2**20
CONFIG_ENV = "KERAKIT_SERVE_CONFIG"
# NAME, an optional /versions/N, and one of the endpoints' verbs (none: the model's status)
ROUTE = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<verb>"
                   + "|".join(re.escape(verb) for verb in ENDPOINTS if verb) + ")?$")


# -- the app --------------------------------------------------------------------


def _routes(models: dict[str, ServedModel], max_body: int, metrics: ServingMetrics
            ) -> list[Any]:
    """The server's routes, one row each: path, what answers it, HTTP methods."""
    from starlette.routing import Route

    return [
        Route("/", _page(models)),
        Route("/metrics", metrics_page(metrics)),
        Route("/models/{name}/{file}", card_route(models)),
        Route("/v1/models/{rest:path}", _model_route(models, max_body, metrics),
              methods=["GET", "POST"]),
    ]


def create_app(models: dict[str, ServedModel], max_body: int = DEFAULT_MAX_BODY, *,
               max_batch: int = DEFAULT_MAX_BATCH,
               batch_timeout: float = DEFAULT_BATCH_TIMEOUT) -> Any:
    """The ASGI app: TF Serving's REST routes under ``/v1/models/``, the page, the metrics.

    The routes are :func:`_routes`; the endpoints under a model,
    :data:`~kerakit.deploy.serving_rest.ENDPOINTS`. Each model gets a
    :class:`~kerakit.deploy.batching.Batcher` of its own, and the app a
    metrics registry of its own.

    Example:
        >>> app = create_app(open_models({"digits": "exports/digits"}))  # doctest: +SKIP

    Args:
        models: What :func:`open_models` returned.
        max_body: The largest request body accepted, in bytes.
        max_batch: Rows in one signature call at most, across the requests
            batched together; 1 turns batching off.
        batch_timeout: Seconds a batch may wait for requests on their way.

    Returns:
        A Starlette application.

    Raises:
        UsageError: for a ``max_batch`` or ``batch_timeout`` out of range.
    """
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException

    check_batching(max_batch, batch_timeout)
    metrics = ServingMetrics({m.name: m.load_seconds for m in models.values()
                              if m.load_seconds is not None})
    for model in models.values():
        model.batcher = Batcher(partial(call_signature, model), max_batch, batch_timeout,
                                metrics.batch_observer(model.name))
    return Starlette(routes=_routes(models, max_body, metrics),
                     exception_handlers={HTTPException: _http_error})


def _answer(body: Any, status: int = 200) -> Any:
    """A JSON response; never NaN or Infinity, which are not JSON (a 500 saying so instead)."""
    from starlette.responses import Response

    try:
        text = json.dumps(body, allow_nan=False)
    except ValueError as exc:  # the REST bodies refuse non-finite outputs first: a bug
        traceback.print_exc()
        text, status = json.dumps({"error": f"Internal error: the answer is not valid JSON "
                                            f"({exc})"}), 500
    return Response(text, status, media_type="application/json")


async def _http_error(request: Any, exc: Exception) -> Any:
    return _answer({"error": getattr(exc, "detail", str(exc))}, getattr(exc, "status_code", 500))


def _page(models: dict[str, ServedModel]) -> Any:
    from starlette.responses import HTMLResponse

    from kerakit.deploy.serving_page import render_page

    async def page(request: Any) -> Any:
        return HTMLResponse(render_page([m.describe() for m in models.values()]))

    return page


def _model_route(models: dict[str, ServedModel], max_body: int, metrics: ServingMetrics
                 ) -> Any:
    """``/v1/models/NAME[/versions/N][VERB]``: find the model and the endpoint, answer, count."""

    async def model_route(request: Any) -> Any:
        started = time.perf_counter()
        match = ROUTE.match(request.path_params["rest"])
        if not match:
            return _answer({"error": f"Malformed request: {request.method} {request.url.path}"},
                           404)
        name, version = match["name"], match["version"]
        endpoint = ENDPOINTS[match["verb"] or ""]
        model = models.get(name)
        if model is None:  # not counted: a client must not make up label values at will
            wanted = f"Specific({name}, {version})" if version else f"Latest({name})"
            return _answer({"error": f"Servable not found for request: {wanted}"}, 404)
        response = await _answer_model(request, model, version, endpoint, max_body)
        metrics.request(name, endpoint.label, response.status_code, time.perf_counter() - started)
        return response

    return model_route


async def _answer_model(request: Any, model: ServedModel, version: str | None,
                        endpoint: Endpoint, max_body: int) -> Any:
    import tensorflow as tf
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import ClientDisconnect

    if version is not None and int(version) != model.version:
        return _answer({"error": f"Servable not found for request: Specific({model.name}, "
                                 f"{version})"}, 404)
    if request.method != endpoint.method:
        return _answer({"error": f"Invalid method. Expected {endpoint.method} for "
                                 f"{request.url.path}. Received: {request.method}"}, 405)
    try:
        if endpoint.method == "GET":
            return _answer(endpoint.answer(model))
        # on its way to the batcher from now: a batch being gathered may wait for it
        with model.batcher.expecting() if model.batcher else contextlib.nullcontext():
            body = await read_body(request, max_body)
            return await run_in_threadpool(_respond, endpoint.answer, model, body)
    except (DataError, tf.errors.InvalidArgumentError) as exc:  # the request's fault
        return _answer({"error": str(exc)}, 400)
    except ClientDisconnect:  # gone, or closed for sending too slowly: no one to answer
        return _answer({"error": "Client disconnected"}, 400)
    except Exception as exc:  # a fault of the server: logged in full, answered briefly
        traceback.print_exc()
        return _answer({"error": f"Internal error: {type(exc).__name__}: {exc}"}, 500)


def _respond(answer: Any, model: ServedModel, body: bytes) -> Any:
    # Runs on a worker thread: parsing a large body must not stall the event loop.
    check_nesting(body, model.manifest["inputs"])  # before the parser pays for them
    return _answer(answer(model, parse_body(body)))


def app_from_environment() -> Any:
    """The app for each ``--workers`` process: configured by the parent through the environment."""
    config = json.loads(os.environ[CONFIG_ENV])
    app = create_app(open_models(config["models"]), config["max_body"],
                     max_batch=config["max_batch"], batch_timeout=config["batch_timeout"])
    _freeze_garbage_collector()
    return app


def _freeze_garbage_collector() -> None:
    """Exempt what is loaded so far (TensorFlow, the models) from garbage collection.

    A request's JSON creates thousands of lists, which trigger full collections;
    with TensorFlow loaded, each walked about 465,000 objects and took 0.2-0.9 s,
    stalling every request in flight.
    """
    import gc

    gc.collect()
    gc.freeze()


def serve(
    sources: dict[str, str | Path],
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    max_body: int = DEFAULT_MAX_BODY,
    workers: int = 1,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    max_batch: int = DEFAULT_MAX_BATCH,
    batch_timeout: float = DEFAULT_BATCH_TIMEOUT,
) -> None:
    """Serve exports over TF Serving's REST API until SIGTERM or Ctrl-C.

    On SIGTERM the server stops accepting connections, finishes the requests in
    flight (for up to 30 s), then returns.

    Example:
        >>> serve({"digits": "exports/digits"}, port=8501)  # doctest: +SKIP

    Args:
        sources: Model name to export directory, or to a directory of numbered versions.
        host, port: The address to bind (loopback by default) and the port.
        max_body: The largest request body accepted, in bytes.
        workers: Processes, each with its own copy of the models.
        read_timeout: Seconds a client has to send a whole request, headers
            and body; a connection still sending then is closed.
        max_batch: Rows in one signature call at most, across the concurrent
            requests batched together; 1 turns batching off.
        batch_timeout: Seconds a batch may wait for requests on their way.

    Raises:
        ExportError: if an export is missing, altered or not an export.
        UsageError: for a bad number, or an address that cannot be bound.
    """
    import uvicorn

    _check_numbers(max_body, workers, read_timeout, max_batch, batch_timeout)
    os.environ[READ_TIMEOUT_ENV] = str(float(read_timeout))  # read by every worker's protocol
    settings: dict[str, Any] = {"max_body": max_body, "max_batch": max_batch,
                                "batch_timeout": batch_timeout}
    sock = _bind(host, port)  # before loading: a busy port fails at once
    try:
        models = open_models(sources, load=workers == 1)
        print("\n".join(f"serving {m.name} version {m.version} from {m.path}"
                        for m in models.values()), file=sys.stderr)
        port = sock.getsockname()[1]  # the real one, also for --port 0
        options: dict[str, Any] = {"host": host, "port": port, "log_level": "warning",
                                   "access_log": False, "timeout_graceful_shutdown": 30,
                                   "http": "kerakit.deploy.serving_timeouts:TimedH11Protocol"}
        if workers > 1:
            sock.close()  # uvicorn binds for its worker processes itself: release ours before
            _listening(host, port)
            _serve_workers(models, settings, workers, options)
            return
        _listening(host, port)
        server = uvicorn.Server(uvicorn.Config(create_app(models, **settings), **options))
        _freeze_garbage_collector()
        server.run(sockets=[sock])
    finally:
        sock.close()


def _serve_workers(models: dict[str, ServedModel], settings: dict[str, Any], workers: int,
                   options: dict[str, Any]) -> None:
    """uvicorn's worker processes, configured through the environment; metrics shared in files.

    Each worker checks and loads its own copy of the models (uvicorn imports the
    app by name) and writes its metrics to a folder made here, which ``/metrics``
    on every worker adds up; the folder goes once the workers are gone.
    """
    import shutil
    import tempfile

    import uvicorn

    saved = {name: os.environ.get(name) for name in (CONFIG_ENV, MULTIPROC_ENV)}
    metrics_dir = tempfile.mkdtemp(prefix="kerakit-serve-metrics-")
    os.environ[CONFIG_ENV] = json.dumps({"models": {m.name: str(m.path)
                                                    for m in models.values()}, **settings})
    os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        uvicorn.run("kerakit.deploy.serving:app_from_environment", factory=True,
                    workers=workers, **options)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _check_numbers(max_body: int, workers: int, read_timeout: float, max_batch: int,
                   batch_timeout: float) -> None:
    check_batching(max_batch, batch_timeout)
    for value, what in ((max_body, "max_body"), (workers, "workers")):
        if not isinstance(value, int) or value < 1:
            raise UsageError(f"Invalid value for `{what}`. Expected a positive integer. "
                             f"Received: {what}={value!r}")
    if not isinstance(read_timeout, (int, float)) or not read_timeout > 0:
        raise UsageError(f"Invalid value for `read_timeout`. Expected a positive number of "
                         f"seconds. Received: read_timeout={read_timeout!r}")


def _bind(host: str, port: int) -> Any:
    """A listening TCP socket on ``host:port``; port 0 picks a free one.

    Raises:
        UsageError: if the port is out of range or the address cannot be bound
            (in use, or not this machine's), naming it.
    """
    import socket

    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise UsageError(f"Invalid value for `port`. Expected a port from 0 to 65535. "
                         f"Received: port={port!r}")
    try:
        # the family as uvicorn picks it for its own workers: IPv6 only for an IPv6 literal
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that name it, and
        # without it each answer waited about 40 ms for the client's delayed ACK
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        address = (host, port)
        try:
            sock.bind(address)
            sock.listen(2048)
        except OSError:
            sock.close()
            raise
    except OSError as exc:
        raise UsageError(f"Cannot listen on {host}:{port}. Expected a free port on an address "
                         f"of this machine (--port 0 picks a free one). Received: "
                         f"{exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def _listening(host: str, port: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    print(f"listening on http://{shown}:{port}/ (SIGTERM or Ctrl-C to stop)", file=sys.stderr,
          flush=True)
