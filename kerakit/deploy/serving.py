"""A TF-Serving-compatible REST server for kerakit exports, with a page to try them.

The routes, request bodies and answers follow TF Serving's REST API, so a client
written for TF Serving works unchanged; ``GET /`` adds a small page. Every export is
checked against its manifest hashes before TensorFlow loads it.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerakit.deploy.exporting import MANIFEST, check_hashes
from kerakit.errors import DataError, ExportError

DEFAULT_PORT = 8501
DEFAULT_MAX_BODY = 10 * 2**20
CONFIG_ENV = "KERAKIT_SERVE_CONFIG"
# What a client may still be sending after the limit is crossed: read and dropped, so the
# client gets the 400 instead of a reset connection.
DISCARD_FACTOR = 8
ROUTE = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?"
                   r"(?P<verb>/metadata|:predict|:classify)?$")


@dataclass
class ServedModel:
    """One export being served: its name, version, files and loaded signatures."""

    name: str
    version: int
    path: Path
    manifest: dict[str, Any]
    signature_defs: dict[str, Any] = field(default_factory=dict)
    signatures: dict[str, Any] = field(default_factory=dict)
    loaded: Any = None  # the SavedModel object: keeps the variables its signatures use alive

    @property
    def input_spec(self) -> dict[str, Any]:
        return self.manifest["inputs"][0]

    def describe(self) -> dict[str, Any]:
        """What the page shows: name, version, inputs, classes and the input kind."""
        return {"name": self.name, "version": self.version, "input": self.input_spec,
                "inputs": self.manifest["inputs"], "columns": self.manifest.get("columns"),
                "class_names": self.manifest.get("class_names"),
                "kind": input_kind(self.manifest), "signatures": sorted(self.signatures)}


def input_kind(manifest: dict[str, Any]) -> str:
    """What the page offers: ``"image"``, ``"table"`` (flat rows with column names) or ``"array"``.

    The page offers an upload box for images and a form with one field per
    column for table models (exports that record their ``columns``).
    """
    if manifest.get("columns"):
        return "table"
    shape = manifest["inputs"][0]["shape"][1:]
    if len(shape) == 3 and shape[-1] in (1, 3) and all(isinstance(d, int) for d in shape):
        return "image"
    return "array"


# -- opening exports ------------------------------------------------------------


def locate(name: str, directory: str | Path) -> tuple[int, Path]:
    """The version and directory to serve: an export, or TF Serving's ``NAME/N/`` layout.

    Raises:
        ExportError: if ``directory`` is neither an export nor holds numbered exports.
    """
    directory = Path(directory)
    if (directory / MANIFEST).is_file():
        return 1, directory
    versions = sorted(int(p.name) for p in directory.glob("*")
                      if p.is_dir() and p.name.isdigit() and (p / MANIFEST).is_file()) \
        if directory.is_dir() else []
    if not versions:
        raise ExportError(
            f"Invalid export for model {name!r}. Expected a directory written by "
            f"`kerakit export` (with {MANIFEST}) or holding numbered versions of one (1/, 2/, "
            f"...). Received: {str(directory)!r}"
        )
    return versions[-1], directory / str(versions[-1])


def open_models(sources: dict[str, str | Path], *, load: bool = True) -> dict[str, ServedModel]:
    """Locate each export and check its hashes; then load them (all checked before any load).

    Args:
        sources: Model name to export directory (or versioned base directory).
        load: Load the SavedModels with TensorFlow; ``False`` only checks.

    Returns:
        Model name to :class:`ServedModel`.

    Raises:
        ExportError: for a missing, altered or extra file, or a directory that is no export.
    """
    models = {}
    for name, directory in sources.items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ExportError(f"Invalid model name. Expected letters, digits, '_', '.' or '-'. "
                              f"Received: {name!r}")
        version, path = locate(name, directory)
        models[name] = ServedModel(name, version, path, check_hashes(path))
    if load:
        for model in models.values():
            _load(model)
    return models


def _load(model: ServedModel) -> None:
    import tensorflow as tf
    from google.protobuf import json_format
    from tensorflow.core.protobuf import saved_model_pb2

    loaded = tf.saved_model.load(str(model.path))
    model.signatures = {name: fn for name, fn in loaded.signatures.items()}
    proto = saved_model_pb2.SavedModel.FromString((model.path / "saved_model.pb").read_bytes())
    model.signature_defs = {
        name: json_format.MessageToDict(sig, preserving_proto_field_name=True)
        for name, sig in proto.meta_graphs[0].signature_def.items()
    }
    model.loaded = loaded


# -- the app --------------------------------------------------------------------


def create_app(models: dict[str, ServedModel], max_body: int = DEFAULT_MAX_BODY) -> Any:
    """The ASGI app: TF Serving's REST routes under ``/v1/models/`` and the page at ``/``.

    Example:
        >>> app = create_app(open_models({"digits": "exports/digits"}))  # doctest: +SKIP

    Args:
        models: What :func:`open_models` returned.
        max_body: The largest request body accepted, in bytes.

    Returns:
        A Starlette application.
    """
    import tensorflow as tf
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route

    from kerakit.deploy.serving_page import render_page
    from kerakit.deploy.serving_rest import (
        classify_body,
        metadata_body,
        predict_body,
        status_body,
    )

    def answer(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status, media_type="application/json")

    async def read_body(request: Request) -> bytes:
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

    def respond(handler: Any, model: ServedModel, body: bytes) -> Response:
        # Runs on a worker thread: parsing a large body must not stall the event loop.
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"Invalid request: the body is not valid JSON. Expected a JSON "
                            f"object. Received: {exc}") from exc
        return answer(handler(model, request))

    async def model_route(request: Request) -> Response:
        match = ROUTE.match(request.path_params["rest"])
        if not match:
            return answer({"error": f"Malformed request: {request.method} {request.url.path}"},
                          404)
        name, version, verb = match["name"], match["version"], match["verb"] or ""
        model = models.get(name)
        if model is None or (version is not None and int(version) != model.version):
            wanted = f"Specific({name}, {version})" if version else f"Latest({name})"
            return answer({"error": f"Servable not found for request: {wanted}"}, 404)
        expected = "POST" if verb.startswith(":") else "GET"
        if request.method != expected:
            return answer({"error": f"Invalid method. Expected {expected} for "
                                    f"{request.url.path}. Received: {request.method}"}, 405)
        try:
            if verb == "":
                return answer(status_body(model))
            if verb == "/metadata":
                return answer(metadata_body(model))
            body = await read_body(request)
            handler = predict_body if verb == ":predict" else classify_body
            return await run_in_threadpool(respond, handler, model, body)
        except (DataError, tf.errors.InvalidArgumentError) as exc:  # the request's fault
            return answer({"error": str(exc)}, 400)
        except Exception as exc:  # a fault of the server: logged in full, answered briefly
            traceback.print_exc()
            return answer({"error": f"Internal error: {type(exc).__name__}: {exc}"}, 500)

    async def page(request: Request) -> Response:
        return HTMLResponse(render_page([m.describe() for m in models.values()]))

    async def http_error(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 500)
        return answer({"error": getattr(exc, "detail", str(exc))}, code)

    return Starlette(
        routes=[Route("/", page), Route("/v1/models/{rest:path}", model_route,
                                        methods=["GET", "POST"])],
        exception_handlers={HTTPException: http_error},
    )


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

    Raises:
        ExportError: if an export is missing, altered or not an export.
    """
    import uvicorn

    for value, what in ((max_body, "max_body"), (workers, "workers")):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"Invalid value for `{what}`. Expected a positive integer. "
                             f"Received: {what}={value!r}")
    models = open_models(sources, load=workers == 1)
    for model in models.values():
        print(f"serving {model.name} version {model.version} from {model.path}", file=sys.stderr)
    print(f"listening on http://{host}:{port}/ (SIGTERM or Ctrl-C to stop)", file=sys.stderr,
          flush=True)
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "warning",
                               "access_log": False, "timeout_graceful_shutdown": 30}
    if workers == 1:
        app = create_app(models, max_body)
        _freeze_garbage_collector()
        uvicorn.run(app, **options)
        return
    # Each worker process checks and loads its own copy: uvicorn imports the app by name.
    os.environ[CONFIG_ENV] = json.dumps({"models": {m.name: str(m.path)
                                                    for m in models.values()},
                                         "max_body": max_body})
    uvicorn.run("kerakit.deploy.serving:app_from_environment", factory=True, workers=workers,
                **options)
