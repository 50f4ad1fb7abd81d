"""The registry's HTTP side: a Starlette application served by uvicorn.

Routes (the pull side of the OCI distribution API; everything under ``/v2``):

=====================================  ==============================================================
``GET|HEAD /v2/``                      200, ``Docker-Distribution-API-Version: registry/2.0``
``GET|HEAD /v2/<name>/manifests/<tag>`` build (or find) the image the name and tag ask for; answer
                                       its OCI or Docker manifest, by ``Accept``
``GET|HEAD /v2/<name>/manifests/<dg>``  a manifest served before, by digest
``GET|HEAD /v2/<name>/blobs/<digest>``  the blob from the store (``Range`` honoured), or a redirect
                                       to ``<blob_url>/sha256/<hex>``
anything that writes                   ``UNSUPPORTED``
=====================================  ==============================================================

Every answer carries ``Docker-Distribution-API-Version``; manifests carry
``Docker-Content-Digest`` and their media type.  Errors are the
specification's JSON (:mod:`.protocol`).  Every request is logged as one JSON
line (method, path, status, bytes, ms) when its answer is complete.

Example:
    >>> import tempfile
    >>> from starlette.testclient import TestClient  # doctest: +SKIP
    >>> app = create_app(ServeSettings(source="path!nix/testpkgs", store=tempfile.mkdtemp()))  # doctest: +SKIP
    >>> TestClient(app).get("/v2/").headers["docker-distribution-api-version"]  # doctest: +SKIP
    'registry/2.0'
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import IO, Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from ..image import BlobStore
from ..sources.nix import parse_source
from .builds import Builds, clean_stale_tmp
from .names import image_request
from .protocol import ApiError, check_name, check_reference, choose_format, is_digest
from .settings import ServeSettings

__all__ = ["create_app", "json_log", "resolve_settings", "run"]

API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}
#: A blob is named by its digest: caches may keep it for good.
IMMUTABLE = "public, max-age=31536000, immutable"
_PATH = re.compile(r"^(?P<name>.+?)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")
_UPLOAD = re.compile(r"^(?P<name>.+?)/blobs/uploads(?:/.*)?$")


class BlobResponse(FileResponse):
    """A blob from the store, read in 1 MiB chunks (fewer trips to the file thread than the default 64 KiB)."""

    chunk_size = 1 << 20


def json_log(stream: IO[str]) -> Callable[[dict[str, Any]], None]:
    """A logger writing each event as one JSON line (with a ``time`` field) to ``stream``.

    Example:
        >>> import io
        >>> s = io.StringIO(); json_log(s)({"event": "x"}); s.getvalue().startswith('{"time":')
        True
    """

    def log(event: dict[str, Any]) -> None:
        stream.write(orjson.dumps({"time": round(time.time(), 3), **event}).decode() + "\n")
        stream.flush()

    return log


def _error(err: ApiError, head: bool = False) -> Response:
    body = err.body()
    headers = {**API_VERSION, "Content-Length": str(len(body))}
    return Response(b"" if head else body, err.status, headers=headers, media_type="application/json")


class AccessLog:
    """ASGI middleware: one log event per HTTP request, when its answer is complete."""

    def __init__(self, app: Any, log: Callable[[dict[str, Any]], None]) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state = {"status": 0, "bytes": 0}

        async def counting_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            elif message["type"] == "http.response.body":
                state["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
            self.log(
                {
                    "event": "request",
                    "method": scope["method"],
                    "path": path,
                    "status": state["status"] or 500,
                    "bytes": state["bytes"],
                    "ms": round((time.perf_counter() - start) * 1000, 3),
                }
            )


def resolve_settings(settings: ServeSettings) -> ServeSettings:
    """Settings with the package source and the store made absolute (workers may run anywhere).

    Example:
        >>> import os, tempfile
        >>> s = resolve_settings(ServeSettings(source="path!nix/testpkgs", store=tempfile.mkdtemp()))
        >>> s.source.startswith("path!/"), os.path.isabs(s.store)
        (True, True)
    """
    store = BlobStore(settings.store)
    return replace(settings, source=parse_source(settings.source).spec, store=str(store.root.resolve()))


def create_app(settings: ServeSettings, *, log: Callable[[dict[str, Any]], None] | None = None) -> Starlette:
    """The registry application for ``settings``.

    Stale in-progress blobs of killed builds are removed from the store first.

    Example:
        >>> import tempfile
        >>> from starlette.testclient import TestClient
        >>> app = create_app(ServeSettings(source="path!nix/testpkgs", store=tempfile.mkdtemp()), log=lambda e: None)
        >>> client = TestClient(app)
        >>> client.get("/v2/").headers["docker-distribution-api-version"]
        'registry/2.0'
        >>> client.get("/v2/Hello/manifests/latest").json()["errors"][0]["code"]
        'NAME_INVALID'
        >>> client.put("/v2/hello/manifests/latest").status_code
        405
    """
    settings = resolve_settings(settings)
    log = log or json_log(sys.stderr)
    builds = Builds(settings, log=log)
    store, cache = builds.store, builds.cache
    source = parse_source(settings.source)
    blob_url = settings.blob_url.rstrip("/") if settings.blob_url else None
    for name in clean_stale_tmp(store):
        log({"event": "cleanup", "removed": name})

    async def base(request: Request) -> Response:
        return Response(b"{}", headers=API_VERSION, media_type="application/json")

    async def manifest(request: Request, name: str, ref: str) -> Response:
        head = request.method == "HEAD"
        check_name(name)
        check_reference(ref)
        accept = ", ".join(request.headers.getlist("accept"))
        if is_digest(ref):
            hit = cache.manifest(ref)
            if hit is None:
                raise ApiError.of("MANIFEST_UNKNOWN", f"no manifest {ref} was served here", {"digest": ref})
            data, media = hit
            digest = ref
        else:
            img = await builds.image(image_request(name, ref, source))
            fmt = choose_format(accept, settings.format, allowed=img.formats)
            if fmt is None:
                raise ApiError.of(
                    "MANIFEST_UNKNOWN",
                    f"the client accepts none of this image's manifest types "
                    f"({', '.join(img.manifests[f][1] for f in img.formats)})",
                )
            digest, media, data = img.manifests[fmt]
        headers = {
            **API_VERSION,
            "Docker-Content-Digest": digest,
            "Content-Length": str(len(data)),
            "ETag": f'"{digest}"',
        }
        return Response(b"" if head else data, 200, headers=headers, media_type=media)

    async def blob(request: Request, name: str, ref: str) -> Response:
        check_name(name)
        if not is_digest(ref):
            raise ApiError.of("DIGEST_INVALID", f"invalid digest {ref[:80]!r}; expected sha256:<64 hex>")
        path = store.blob_path(ref)
        try:
            st = path.stat()
        except OSError:
            raise ApiError.of("BLOB_UNKNOWN", f"blob {ref} is not in the store", {"digest": ref}) from None
        headers = {**API_VERSION, "Docker-Content-Digest": ref, "Cache-Control": IMMUTABLE}
        if blob_url and request.method == "GET":
            return RedirectResponse(f"{blob_url}/sha256/{ref[7:]}", 307, headers=headers)
        return BlobResponse(path, headers=headers, media_type="application/octet-stream", stat_result=st)

    async def dispatch(request: Request) -> Response:
        rest = request.path_params["rest"]
        head = request.method == "HEAD"
        try:
            if _UPLOAD.match(rest) or request.method not in ("GET", "HEAD"):
                raise ApiError.of(
                    "UNSUPPORTED",
                    "this registry builds images on demand; it accepts no uploads, deletions or other changes",
                )
            m = _PATH.match(rest)
            if m is None:
                raise ApiError.of("UNSUPPORTED", f"/v2/{rest[:80]} is not part of the pull API this registry serves")
            handler = manifest if m["kind"] == "manifests" else blob
            return await handler(request, m["name"], m["ref"])
        except ApiError as err:
            return _error(err, head)
        except Exception as err:  # noqa: BLE001 - a client gets the registry's JSON error, the log the cause
            log({"event": "error", "path": request.url.path, "error": f"{type(err).__name__}: {err}"})
            return _error(ApiError.of("UNKNOWN", f"internal error: {type(err).__name__}"), head)

    methods = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"]
    routes = [
        Route("/v2", base, methods=["GET", "HEAD"]),
        Route("/v2/", base, methods=["GET", "HEAD"]),
        Route("/v2/{rest:path}", dispatch, methods=methods),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await builds.prepare()
        try:
            yield
        finally:
            await builds.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.builds = builds
    app.add_middleware(AccessLog, log=log)
    return app


def run(settings: ServeSettings, *, log_stream: IO[str] | None = None) -> None:
    """Serve until interrupted (uvicorn on ``settings.host:settings.port``), logging to
    ``log_stream``, else the ``log`` file of the settings, else stderr.

    Example:
        >>> run(ServeSettings(source="path!nix/testpkgs", offline=True, port=8080))  # doctest: +SKIP
    """
    import uvicorn

    if log_stream is None and settings.log:
        print(
            f"layerlab serve: listening on http://{settings.host}:{settings.port}, log in {settings.log}",
            file=sys.stderr,
        )
        with open(settings.log, "a", encoding="utf-8") as stream:
            run(settings, log_stream=stream)
        return
    log = json_log(log_stream or sys.stderr)
    app = create_app(settings, log=log)
    log(
        {
            "event": "listening",
            "url": f"http://{settings.host}:{settings.port}",
            "source": parse_source(settings.source).spec,
            "strategy": settings.make_strategy().to_json(),
            "budget": settings.budget,
        }
    )
    # a build in progress does not hold up a shutdown: its worker is stopped with the server
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level="warning",
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()
