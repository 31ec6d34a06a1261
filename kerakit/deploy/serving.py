"""A TF-Serving-compatible REST server for kerakit exports, with a page to try them.

The routes, request bodies and answers follow TF Serving's REST API, so a client
written for TF Serving works unchanged; ``GET /`` adds a small page. Every export is
checked against its manifest hashes before TensorFlow loads it
(:mod:`kerakit.deploy.served`). The routes are one table (:func:`_routes`), and
so are the endpoints under a model (:data:`kerakit.deploy.serving_rest.ENDPOINTS`).
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any

# What is served stays importable from here; the REST bodies never import this module.
from kerakit.deploy.served import ServedModel, input_kind, locate, open_models
from kerakit.deploy.serving_rest import ENDPOINTS
from kerakit.deploy.serving_timeouts import DEFAULT_READ_TIMEOUT, READ_TIMEOUT_ENV
from kerakit.errors import DataError, UsageError

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_PORT", "ServedModel", "app_from_environment",
           "create_app", "input_kind", "locate", "open_models", "serve"]

DEFAULT_PORT = 8501
DEFAULT_MAX_BODY = 10 * 2**20
# Levels of JSON arrays and objects a request may nest: NumPy's limit on an array's axes
MAX_DEPTH = 64
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
CONFIG_ENV = "KERAKIT_SERVE_CONFIG"
# What a client may still be sending after the limit is crossed: read and dropped, so the
# client gets the 400 instead of a reset connection.
DISCARD_FACTOR = 8
# NAME, an optional /versions/N, and one of the endpoints' verbs (none: the model's status)
ROUTE = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<verb>"
                   + "|".join(re.escape(verb) for verb in ENDPOINTS if verb) + ")?$")


# -- the app --------------------------------------------------------------------


def _routes(models: dict[str, ServedModel], max_body: int) -> list[Any]:
    """The server's routes, one row each: path, what answers it, HTTP methods."""
    from starlette.routing import Route

    return [
        Route("/", _page(models)),
        Route("/v1/models/{rest:path}", _model_route(models, max_body), methods=["GET", "POST"]),
    ]


def create_app(models: dict[str, ServedModel], max_body: int = DEFAULT_MAX_BODY) -> Any:
    """The ASGI app: TF Serving's REST routes under ``/v1/models/`` and the page at ``/``.

    The routes are :func:`_routes`; the endpoints under a model,
    :data:`~kerakit.deploy.serving_rest.ENDPOINTS`.

    Example:
        >>> app = create_app(open_models({"digits": "exports/digits"}))  # doctest: +SKIP

    Args:
        models: What :func:`open_models` returned.
        max_body: The largest request body accepted, in bytes.

    Returns:
        A Starlette application.
    """
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException

    return Starlette(routes=_routes(models, max_body),
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


def _model_route(models: dict[str, ServedModel], max_body: int) -> Any:
    """``/v1/models/NAME[/versions/N][VERB]``: find the model and the endpoint, answer."""
    import tensorflow as tf
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import ClientDisconnect

    async def model_route(request: Any) -> Any:
        match = ROUTE.match(request.path_params["rest"])
        if not match:
            return _answer({"error": f"Malformed request: {request.method} {request.url.path}"},
                           404)
        name, version = match["name"], match["version"]
        endpoint = ENDPOINTS[match["verb"] or ""]
        model = models.get(name)
        if model is None or (version is not None and int(version) != model.version):
            wanted = f"Specific({name}, {version})" if version else f"Latest({name})"
            return _answer({"error": f"Servable not found for request: {wanted}"}, 404)
        if request.method != endpoint.method:
            return _answer({"error": f"Invalid method. Expected {endpoint.method} for "
                                     f"{request.url.path}. Received: {request.method}"}, 405)
        try:
            if endpoint.method == "GET":
                return _answer(endpoint.answer(model))
            body = await _read_body(request, max_body)
            return await run_in_threadpool(_respond, endpoint.answer, model, body)
        except (DataError, tf.errors.InvalidArgumentError) as exc:  # the request's fault
            return _answer({"error": str(exc)}, 400)
        except ClientDisconnect:  # gone, or closed for sending too slowly: no one to answer
            return _answer({"error": "Client disconnected"}, 400)
        except Exception as exc:  # a fault of the server: logged in full, answered briefly
            traceback.print_exc()
            return _answer({"error": f"Internal error: {type(exc).__name__}: {exc}"}, 500)

    return model_route


async def _read_body(request: Any, max_body: int) -> bytes:
    length = request.headers.get("content-length", "")
    too_big = length.isdigit() and int(length) > max_body
    body, seen = bytearray(), 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > max_body * DISCARD_FACTOR:
            break
        if not too_big and seen <= max_body:
            body += chunk
        too_big = too_big or seen > max_body
    if too_big:
        raise DataError(f"Invalid request: the body is too large. Expected at most "
                        f"{max_body} bytes (--max-body). Received: {length or seen} bytes")
    return bytes(body)


def _respond(answer: Any, model: ServedModel, body: bytes) -> Any:
    # Runs on a worker thread: parsing a large body must not stall the event loop.
    try:
        request = json.loads(body)
    except RecursionError as exc:
        raise DataError(f"Invalid request: the JSON is nested too deeply. Expected at most "
                        f"{MAX_DEPTH} levels of arrays and objects. Received: more than "
                        f"Python's parser takes") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"Invalid request: the body is not valid JSON. Expected a JSON "
                        f"object. Received: {exc}") from exc
    check_depth(body)  # on valid JSON only: every quote there opens a string that ends
    return _answer(answer(model, request))


def check_depth(body: bytes, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit``.

    What comes after the parser (NumPy, TensorFlow) recurses once per level.
    Brackets inside strings do not count. Call it on valid JSON only: there
    the string pattern matches each string once, in linear time (on arbitrary
    bytes, a run of escaped quotes would make it quadratic).

    Example:
        >>> check_depth(b'{"instances": [[1, "]]]"]]}', limit=3)

    Raises:
        DataError: naming the limit and the depth received.
    """
    import numpy as np

    bare = re.sub(rb'"(?:[^"\\]|\\.)*"', b"", body)
    brackets = np.frombuffer(bare.translate(None, _NOT_BRACKETS), dtype=np.uint8)
    if not brackets.size:
        return
    depth = int(np.cumsum(np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)).max())
    if depth > limit:
        raise DataError(f"Invalid request: the JSON is nested too deeply. Expected at most "
                        f"{limit} levels of arrays and objects. Received: {depth} levels")


def app_from_environment() -> Any:
    """The app for each ``--workers`` process: configured by the parent through the environment."""
    config = json.loads(os.environ[CONFIG_ENV])
    app = create_app(open_models(config["models"]), config["max_body"])
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
) -> None:
    """Serve exports over TF Serving's REST API until SIGTERM or Ctrl-C.

    On SIGTERM the server stops accepting connections, finishes the requests in
    flight (for up to 30 s), then returns.

    Example:
        >>> serve({"digits": "exports/digits"}, port=8501)  # doctest: +SKIP

    Args:
        sources: Model name to export directory, or to a directory of numbered versions.
        host: The address to bind; loopback by default.
        port: The port.
        max_body: The largest request body accepted, in bytes.
        workers: Processes, each with its own copy of the models.
        read_timeout: Seconds a client has to send a whole request, headers
            and body; a connection still sending then is closed.

    Raises:
        ExportError: if an export is missing, altered or not an export.
        UsageError: for a bad number, or an address that cannot be bound.
    """
    import uvicorn

    _check_numbers(max_body, workers, read_timeout)
    os.environ[READ_TIMEOUT_ENV] = str(float(read_timeout))  # read by every worker's protocol
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
            # uvicorn binds for its worker processes itself: release ours just before
            sock.close()
            os.environ[CONFIG_ENV] = json.dumps({"models": {m.name: str(m.path)
                                                            for m in models.values()},
                                                 "max_body": max_body})
        _listening(host, port)
        if workers == 1:
            server = uvicorn.Server(uvicorn.Config(create_app(models, max_body), **options))
            _freeze_garbage_collector()
            server.run(sockets=[sock])
            return
        # Each worker process checks and loads its own copy: uvicorn imports the app by name.
        uvicorn.run("kerakit.deploy.serving:app_from_environment", factory=True,
                    workers=workers, **options)
    finally:
        sock.close()


def _check_numbers(max_body: int, workers: int, read_timeout: float) -> None:
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
        sock = socket.socket(family, socket.SOCK_STREAM)
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
