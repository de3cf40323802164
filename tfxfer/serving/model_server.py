"""A local model server for an export directory, on KServe's Python model server, speaking TF
Serving's REST API.

Every ``EXPORT_DIR/NAME/`` with a complete version is a model, served at its newest version.
The directory is polled as TF Serving's file-system source polls it: a newer version is loaded
and warmed up beside the served one, then swapped in (requests never wait for a load); a
version removed, or a model folder removed, is unloaded; a new model folder is picked up.

Routes, on KServe's FastAPI application before KServe's own (which answer the rest: ``GET
/v1/models``, the Open Inference Protocol under ``/v2/``, ``/metrics``):

- ``POST /v1/models/NAME[/versions/N]:predict``: TF Serving's predict
  (:mod:`tfxfer.serving.rest_api`), through KServe's model pipeline and a batcher per version;
- ``GET /v1/models/NAME[/versions/N]``: the versions' states;
- ``GET /v1/models/NAME[/versions/N]/metadata``: the serving signature.

A client mistake is answered with 400 and ``{"error": ...}`` (a model or version not served:
404, as TF Serving answers it), never 500.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tfxfer.errors import TfxferError, first_line
from tfxfer.serving import engine
from tfxfer.serving.export_dir import model_folders
from tfxfer.serving.rest_api import BadRequest, NotFound, metadata, parse_predict_body, version_status
from tfxfer.serving.served_model import BatchingOptions, PredictCall, ServedModel

log = logging.getLogger("tfxfer")


@dataclass(frozen=True)
class ServerOptions:
    """``python -m tfxfer.serve``'s settings, TF Serving's names where it has one."""

    batching: BatchingOptions = field(default_factory=BatchingOptions)
    poll_seconds: float = 1.0  # TF Serving's --file_system_poll_wait_seconds
    max_request_bytes: int = 8_000_000
    verbose: bool = False


class ExportDirServer:
    """Serves ``export_dir``: :meth:`load` loads every model's newest version, :meth:`run`
    answers requests on a bound socket until interrupted.

    Example:

    ```python
    # not run here: needs an export directory, and serves until Ctrl-C
    import socket
    from pathlib import Path

    from tfxfer.serving.model_server import ExportDirServer, ServerOptions

    server = ExportDirServer(Path("saved_models"), ServerOptions())
    for model in server.load():
        print(model.name, model.current.number)
    sock = socket.create_server(("127.0.0.1", 8501))
    server.run(sock)
    ```
    """

    def __init__(self, export_dir: Path, options: ServerOptions):
        self.export_dir, self.options = export_dir, options
        self.registry = engine.ModelRepository(models_dir=str(export_dir))
        self.dataplane = engine.DataPlane(model_registry=self.registry)
        self._loader = ThreadPoolExecutor(1, thread_name_prefix="loader")

    @property
    def models(self) -> dict[str, ServedModel]:
        return self.registry.get_models()

    def load(self) -> list[ServedModel]:
        """Loads the newest version of every model (an older one where the newest fails);
        TfxferError when none loads."""
        for folder in model_folders(self.export_dir):
            model = ServedModel(folder.name, folder, self.options.batching)
            while (number := model.wanted_version()) is not None:
                loaded = model.load_version(number)
                if loaded is not None:
                    model.serve_version(loaded)
                    break
            self.registry.update(model)
        served = [m for m in self.models.values() if m.current is not None]
        if not served:
            reasons = "; ".join(error for m in self.models.values() for _, error in m.states.values() if error)
            raise TfxferError(f"no model under {self.export_dir} loads: {reasons}")
        return served

    def run(self, sock: socket.socket) -> None:
        """Answers requests on ``sock`` (bound, not yet listening) until SIGINT or SIGTERM."""
        asyncio.run(self._serve(sock))

    async def _serve(self, sock: socket.socket) -> None:
        import uvicorn

        rest = engine.RESTServer(engine.FASTAPI_APP_IMPORT_STRING, self.dataplane,
                                 engine.ModelRepositoryExtension(model_registry=self.registry), sock.getsockname()[1])
        if not self.options.verbose:  # one line a request (uvicorn), its timings and KServe's start-up notes
            for name in ("uvicorn.access", "kserve.trace", "kserve"):
                logging.getLogger(name).setLevel(logging.WARNING)
            # KServe's v2 routes answer with FastAPI's ORJSONResponse, deprecated in FastAPI 0.13x:
            # KServe's to change, said on the first request.
            warnings.filterwarnings("ignore", message=".*ORJSONResponse is deprecated")
        self._add_routes(rest)
        server = uvicorn.Server(rest.config)
        poller = asyncio.create_task(self._poll())
        try:
            await server.serve(sockets=[sock])
        finally:
            poller.cancel()
            self._loader.shutdown(wait=False, cancel_futures=True)

    def _add_routes(self, rest) -> None:
        """TF Serving's routes and error bodies on KServe's application (the module-level FastAPI
        app its RESTServer serves), ahead of KServe's own routes for the same paths."""
        app = engine.app
        # One handler a path: a handler with an optional ``version`` argument would also take it
        # from the query string on the paths without /versions/N.
        for path, handler, method in (
                ("/v1/models/{name}:predict", self._predict_served, "POST"),
                ("/v1/models/{name}/versions/{version}:predict", self._predict, "POST"),
                # Ahead of the status routes, which would take NAME:predict for a model's name.
                ("/v1/models/{name}:predict", _predict_by_get, "GET"),
                ("/v1/models/{name}/versions/{version}:predict", _predict_by_get, "GET"),
                ("/v1/models/{name}/metadata", self._metadata_served, "GET"),
                ("/v1/models/{name}/versions/{version}/metadata", self._metadata, "GET"),
                ("/v1/models/{name}", self._status_all, "GET"),
                ("/v1/models/{name}/versions/{version}", self._status, "GET")):
            app.add_api_route(path, handler, methods=[method], response_model=None)
        app.add_middleware(_BodyLimit, limit=self.options.max_request_bytes)
        rest.create_application()
        app.add_exception_handler(BadRequest, _error_response(400))
        app.add_exception_handler(NotFound, _error_response(404))
        app.add_exception_handler(HTTPException, _http_error)
        app.add_exception_handler(RequestValidationError, _validation_error)

    def _model(self, name: str) -> ServedModel:
        model = self.models.get(name)
        if model is None:
            raise NotFound(f"no model named {name!r} is served (from {self.export_dir}: "
                           f"{', '.join(sorted(self.models)) or 'none yet'})")
        return model

    async def _predict_served(self, name: str, request: Request) -> JSONResponse:
        return await self._predict(name, request, None)

    async def _metadata_served(self, name: str) -> JSONResponse:
        return await self._metadata(name, None)

    async def _status_all(self, name: str) -> JSONResponse:
        return await self._status(name, None)

    async def _predict(self, name: str, request: Request, version: str | None) -> JSONResponse:
        model = self._model(name)
        served = model.version(_version_number(version))
        body = parse_predict_body(await request.body(), served.input_key, served.servable.task)
        call = PredictCall(served, body.values, columnar=body.columnar, pinned=version is not None)
        response, _ = await model(call, headers=dict(request.headers))
        return JSONResponse(response)

    async def _status(self, name: str, version: str | None) -> JSONResponse:
        states = self._model(name).states
        if version is not None:
            number = _version_number(version)
            if number not in states:
                raise NotFound(f"model {name} has no version {number} (versions seen: "
                               f"{', '.join(map(str, sorted(states))) or 'none'})")
            states = {number: states[number]}
        return JSONResponse(version_status(states))

    async def _metadata(self, name: str, version: str | None) -> JSONResponse:
        served = self._model(name).version(_version_number(version))
        return JSONResponse(metadata(name, served.number, served.signature))

    async def _poll(self) -> None:
        """Every ``poll_seconds``: new models, new or removed versions, removed models."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.options.poll_seconds)
            try:
                await self._update(loop)
            except Exception as e:  # noqa: BLE001 - a transient file-system error must not stop the server
                log.warning("watching %s: %s", self.export_dir, first_line(e))

    async def _update(self, loop) -> None:
        folders = {p.name: p for p in model_folders(self.export_dir)} if self.export_dir.is_dir() else {}
        for name in [n for n in self.models if n not in folders]:
            old = self.models[name].unload()
            self.registry.unload(name)
            log.info("%s: its folder holds no version any more; unloaded", name)
            if old is not None:
                await old.batcher.close()
        for name, folder in folders.items():
            if name not in self.models:
                self.registry.update(ServedModel(name, folder, self.options.batching))
            model = self.models[name]
            number = model.wanted_version()
            if number is None or number == getattr(model.current, "number", None):
                continue
            loaded = await loop.run_in_executor(self._loader, model.load_version, number)
            if loaded is not None:
                old = model.serve_version(loaded)
                log.info("%s: serving version %d%s", name, loaded.number,
                         f" (version {old.number} unloaded)" if old else "")
                if old is not None:
                    await old.batcher.close()


def _version_number(version: str | None) -> int | None:
    if version is None:
        return None
    if not version.isdigit():
        raise BadRequest(f"version {version!r} is not a number: /v1/models/NAME/versions/N takes N = 1, 2, ...")
    return int(version)


def _error_response(status: int):
    async def handler(_request, error: Exception) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=status)

    return handler


async def _predict_by_get(request: Request) -> JSONResponse:
    """A predict URL fetched with GET (curl without -d): 405, saying what the route takes."""
    return JSONResponse({"error": f"{request.url.path} takes POST with a JSON body, e.g. curl -d "
                                  "'{\"instances\": [...]}' URL (got GET)"}, status_code=405, headers={"Allow": "POST"})


async def _http_error(request, error: HTTPException) -> JSONResponse:
    """Starlette's own answers (no such route, a wrong method) in TF Serving's error body."""
    message = error.detail
    if error.status_code in (404, 405):
        message = (f"no such route: {request.method} {request.url.path} (this server answers POST "
                   "/v1/models/NAME[/versions/N]:predict, GET /v1/models/NAME[/versions/N][/metadata] and KServe's "
                   "/v2/ routes)")
    return JSONResponse({"error": str(message)}, status_code=error.status_code, headers=error.headers)


async def _validation_error(_request, error: RequestValidationError) -> JSONResponse:
    """A body KServe's Open Inference Protocol routes cannot read: 400, not FastAPI's 422."""
    first = error.errors()[0] if error.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return JSONResponse({"error": f"the body is not an Open Inference Protocol request: {where}: "
                                  f"{first.get('msg', error)}"}, status_code=400)


class _BodyLimit:
    """Refuses a body over ``limit`` bytes with 400, before reading it into memory: one that
    declares its length is read and dropped, then refused (a client writing its whole body
    before it reads the answer would otherwise see the connection reset); a chunked one is
    refused once it passes the limit."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    def _message(self, size: str) -> str:
        return (f"the request body holds {size} bytes, over the limit of {self.limit:,} "
                f"(python -m tfxfer.serve --max-request-mb)")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            while (await receive()).get("more_body", False):
                pass
            return await JSONResponse({"error": self._message(f"{int(declared):,}")}, status_code=400)(
                scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise BadRequest(self._message(f"over {self.limit:,}"))
            return message

        await self.app(scope, counted, send)
