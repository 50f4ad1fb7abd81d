"""Builds on demand: one build per image however many ask, a few at a time, each within its time.

:meth:`Builds.image` answers a request from the manifest cache, or starts a
build and waits for it:

* **single flight**: requests for an image whose build is running wait for
  that build (keyed like the cache), and all get its result or its error;
  a client that goes away does not stop a build others wait for;
* **off the event loop**: each build runs in a worker process
  (:mod:`layerlab.serve.worker`), so blobs and cached manifests keep being
  served while it runs; one worker is started ahead of time (at start-up and
  shortly after each build), its modules imported, so a build starts at once;
* **a limit on concurrent builds** (a semaphore; later builds queue) and
  **a build timeout**: a worker past its time is interrupted (SIGTERM, so Nix
  stops its builders), killed after a grace period, and its blobs in
  progress are removed; waiting clients get ``UNAVAILABLE``.

Every build writes two log events, ``build-start`` and ``build-end``.

Example:
    >>> import asyncio, tempfile
    >>> from layerlab.serve.settings import ServeSettings
    >>> b = Builds(ServeSettings(source="path!nix/testpkgs", store=tempfile.mkdtemp()), log=lambda e: None)
    >>> b.running
    0
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from ..image import BlobStore
from .cache import CachedImage, ManifestCache
from .names import ImageRequest
from .protocol import ApiError
from .settings import ServeSettings
from .worker import worker_tmp

__all__ = ["Builds", "clean_stale_tmp"]

#: Seconds between SIGTERM and SIGKILL for a worker past its time.
GRACE = 10.0

#: Seconds after a build before the next worker is started (its start-up would compete with the blob downloads
#: that follow a build).
SPARE_DELAY = 2.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_tmp(store: BlobStore) -> list[str]:
    """Remove the in-progress directories of workers that are no longer running; return their names.

    Example:
        >>> import tempfile
        >>> s = BlobStore(tempfile.mkdtemp()); (s.root / "tmp" / "serve-999999999").mkdir()
        >>> clean_stale_tmp(s)
        ['serve-999999999']
    """
    removed = []
    for entry in sorted((store.root / "tmp").glob("serve-*")):
        pid = entry.name[len("serve-") :]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


class Builds:
    """The build side of one server (see the module doc).

    Args:
        settings: the server's settings (``store`` resolved to a directory).
        log: called with one dict per event.
    """

    def __init__(self, settings: ServeSettings, *, log: Callable[[dict[str, Any]], None]) -> None:
        self.settings = settings
        self.store = BlobStore(settings.store)
        self.cache = ManifestCache(self.store, settings.configuration(), ttl=settings.ttl)
        self.log = log
        self.running = 0
        self._inflight: dict[str, asyncio.Future[CachedImage]] = {}
        self._slots: asyncio.Semaphore | None = None
        self._spare: asyncio.subprocess.Process | None = None

    async def image(self, request: ImageRequest) -> CachedImage:
        """The image for ``request``, built now if it is not cached.

        Raises:
            ApiError: missing packages (``MANIFEST_UNKNOWN``), a failed build
                (``UNKNOWN``, with the tail of Nix's message) or a timeout
                (``UNAVAILABLE``).

        Example:
            >>> from layerlab.serve.names import image_request
            >>> request = image_request("hello", "latest", parse_source("path!nix/testpkgs"))  # doctest: +SKIP
            >>> asyncio.run(builds.image(request)).formats  # doctest: +SKIP
            ('oci', 'docker')
        """
        key = self.cache.key(request)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        fut = self._inflight.get(key)
        if fut is None:
            fut = asyncio.ensure_future(self._build(key, request))
            self._inflight[key] = fut
            fut.add_done_callback(functools.partial(self._done, key))
        return await asyncio.shield(fut)

    def _done(self, key: str, fut: asyncio.Future) -> None:
        self._inflight.pop(key, None)
        if not fut.cancelled():
            fut.exception()  # retrieved: nobody may be waiting any more

    async def _build(self, key: str, request: ImageRequest) -> CachedImage:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.max_builds)
        async with self._slots:
            hit = self.cache.get(key)  # finished by another server on the same store meanwhile
            if hit is not None:
                return hit
            self.running += 1
            try:
                return await self._run_worker(key, request)
            finally:
                self.running -= 1

    async def _run_worker(self, key: str, request: ImageRequest) -> CachedImage:
        start = time.monotonic()
        self.log(
            {
                "event": "build-start",
                "key": key[:16],
                "image": request.name,
                "tag": request.tag,
                "packages": list(request.packages),
                "source": request.source.spec,
            }
        )
        doc = {
            "settings": _settings_doc(self.settings),
            "configuration": self.cache.configuration,
            "request": request.to_json(),
            "key": key,
            "parent": os.getpid(),
        }
        proc = await self._take_worker()
        outcome = "failed"
        steps: dict[str, Any] = {}
        try:
            try:
                out, err = await asyncio.wait_for(proc.communicate(orjson.dumps(doc)), self.settings.build_timeout)
            except TimeoutError:
                outcome = "timeout"
                await self._stop(proc)
                raise ApiError.of(
                    "UNAVAILABLE",
                    f"build timed out after {self.settings.build_timeout:g} s",
                    {"packages": list(request.packages)},
                ) from None
            except asyncio.CancelledError:
                outcome = "cancelled"
                await self._stop(proc)
                raise
            result = _last_json(out)
            if result is None:
                tail = err.decode("utf-8", "replace").strip().splitlines()[-5:]
                raise ApiError.of(
                    "UNKNOWN", f"build failed: the build process exited with status {proc.returncode}", {"stderr": tail}
                )
            if "error" in result:
                e = result["error"]
                outcome = "not-found" if e.get("code") == "MANIFEST_UNKNOWN" else "failed"
                raise ApiError.of(e.get("code", "UNKNOWN"), e.get("message", "build failed"), e.get("detail"))
            steps = result.get("seconds") or {}
            hit = self.cache.get(key)
            if hit is None:
                raise ApiError.of("UNKNOWN", "build finished but its manifest is not in the cache")
            outcome = "ok"
            return hit
        finally:
            shutil.rmtree(worker_tmp(self.store.root, proc.pid), ignore_errors=True)
            self.log(
                {
                    "event": "build-end",
                    "key": key[:16],
                    "image": request.name,
                    "outcome": outcome,
                    "ms": round((time.monotonic() - start) * 1000, 1),
                    "steps": steps,
                }
            )
            if outcome != "cancelled":  # the next worker starts when this image's blobs have likely been fetched
                asyncio.get_running_loop().call_later(SPARE_DELAY, self._prepare_later)

    @staticmethod
    async def _spawn() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "layerlab.serve.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )

    def _prepare_later(self) -> None:
        task = asyncio.ensure_future(self.prepare())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def prepare(self) -> None:
        """Start a worker ahead of time (when none is waiting), so the next build need not start one.

        Example:
            >>> import tempfile
            >>> b = Builds(ServeSettings(source="path!nix/testpkgs", store=tempfile.mkdtemp()), log=lambda e: None)
            >>> async def ready_then_close():
            ...     await b.prepare()
            ...     waiting = b._spare is not None and b._spare.returncode is None
            ...     await b.close()
            ...     return waiting, b._spare
            >>> asyncio.run(ready_then_close())
            (True, None)
        """
        if self._spare is None or self._spare.returncode is not None:
            self._spare = await self._spawn()

    async def _take_worker(self) -> asyncio.subprocess.Process:
        spare, self._spare = self._spare, None
        if spare is not None and spare.returncode is None:
            return spare
        return await self._spawn()

    async def close(self) -> None:
        """Let the worker started ahead of time go (it ends when its stdin closes).

        Example:
            >>> import tempfile
            >>> b = Builds(ServeSettings(source="path!nix/testpkgs", store=tempfile.mkdtemp()), log=lambda e: None)
            >>> asyncio.run(b.close())  # no worker waiting: nothing to do
        """
        spare, self._spare = self._spare, None
        if spare is not None and spare.returncode is None and spare.stdin is not None:
            spare.stdin.close()
            with contextlib.suppress(asyncio.TimeoutError, ProcessLookupError):
                await asyncio.wait_for(spare.wait(), GRACE)

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                await asyncio.wait_for(proc.wait(), GRACE)
                return
            except TimeoutError:
                continue


def _settings_doc(settings: ServeSettings) -> dict[str, Any]:
    doc = dataclasses.asdict(settings)
    doc["params"] = dict(settings.params)
    return doc


def _last_json(out: bytes) -> dict[str, Any] | None:
    for line in reversed(out.strip().splitlines()):
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            return doc
    return None
