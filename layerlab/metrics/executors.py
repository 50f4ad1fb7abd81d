"""Where the pieces of a sweep run: this process, a local pool, or a Dask cluster.

:func:`run_pieces` calls ``fn(shared, piece)`` for every piece and yields
``(index, result)`` as pieces finish, so a caller can move a progress bar
piece by piece.  ``shared`` is the data every piece needs (an image set, a
context); it is sent to each worker **once** where the executor allows it:

* ``"serial"``: in this process, one piece after the other;
* ``"thread"``, ``"process"``: a pool created here (``workers`` wide); a
  process pool receives ``shared`` once per worker process, through its
  initializer;
* ``"dask://HOST:PORT"`` (or ``"tcp://HOST:PORT"``): a
  :class:`distributed.Client` connected to that scheduler, closed at the end;
* a :class:`distributed.Client`: its cluster (the client stays open);
  ``shared`` is scattered to every worker once, pieces refer to it;
* any other :class:`concurrent.futures.Executor`: ``shared`` travels with
  every piece.

Stopping early (an exception, Ctrl-C, or closing the generator) cancels every
piece not yet started, so keep pieces small: cancellation and progress are
as fine-grained as the pieces.  A process pool created here also kills its
running workers at once, and its workers die with this process
(:mod:`layerlab.procs`).  Results are the same whatever the executor,
as long as ``fn`` is a pure function of its arguments.

Example:
    >>> def add(shared, piece):
    ...     return shared + piece
    >>> sorted(run_pieces("serial", add, 10, [1, 2, 3]))
    [(0, 11), (1, 12), (2, 13)]
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ConfigError
from ..procs import process_pool, stop_pool

__all__ = ["run_pieces", "ExecutorSpec", "check_executor", "is_dask_client", "dask_address", "worker_count"]

S = TypeVar("S")
P = TypeVar("P")
R = TypeVar("R")

#: What ``executor=`` accepts: a name, a ``dask://`` address, an Executor or a dask Client.
ExecutorSpec = Any

_NAMES = ("serial", "thread", "process")


def is_dask_client(obj: object) -> bool:
    """Whether ``obj`` is a :class:`distributed.Client` (without importing Dask otherwise).

    Example:
        >>> is_dask_client("dask://localhost:8786")
        False
    """
    return type(obj).__module__.startswith("distributed") and hasattr(obj, "scatter") and hasattr(obj, "submit")


def dask_address(spec: str) -> str | None:
    """The scheduler address of a ``dask://HOST:PORT`` or ``tcp://HOST:PORT`` spec, else ``None``.

    Example:
        >>> dask_address("dask://10.0.0.5:8786"), dask_address("process")
        ('tcp://10.0.0.5:8786', None)
    """
    for prefix in ("dask://", "tcp://", "tls://"):
        if spec.startswith(prefix):
            rest = spec[len(prefix) :]
            if not rest:
                raise ConfigError(f"{spec!r} names no scheduler (expected dask://HOST:PORT)", source="executor")
            return ("tcp://" if prefix == "dask://" else prefix) + rest
    return None


def check_executor(executor: ExecutorSpec) -> ExecutorSpec:
    """Validate an ``executor=`` value early; return it unchanged.

    Raises:
        ConfigError: not a known name, ``dask://HOST:PORT``, an Executor or a Client.

    Example:
        >>> check_executor("gpu")
        Traceback (most recent call last):
        ...
        layerlab.errors.ConfigError: executor: executor must be an Executor, a dask Client, ... not 'gpu'
    """
    if executor is None or isinstance(executor, cf.Executor) or is_dask_client(executor):
        return executor
    if isinstance(executor, str) and (executor in _NAMES or dask_address(executor) is not None):
        return executor
    raise ConfigError(
        f"executor must be an Executor, a dask Client, dask://HOST:PORT or process/thread/serial, not {executor!r}",
        source="executor",
    )


def worker_count(executor: ExecutorSpec, workers: int | None = None) -> int:
    """How many pieces run at once: one for ``"serial"``, the threads of a Dask
    client's workers, else ``workers`` or the CPU count.

    Work is cut into pieces by this number, so the same count decides the
    pieces for every kind of executor.

    Example:
        >>> worker_count("serial", 8), worker_count("thread", 3), worker_count(None) >= 1
        (1, 3, True)
    """
    if executor == "serial":
        return 1
    if workers is None and is_dask_client(executor):
        return max(1, sum(executor.nthreads().values()))
    return workers or os.cpu_count() or 1


# ------------------------------------------------------------ worker side
@dataclass(frozen=True)
class _Installed:
    """A reference to shared data installed in a worker process by the pool's initializer."""

    token: str


#: Shared data installed by a process pool's initializer, by token (worker processes only).
_INSTALLED: dict[str, Any] = {}
_INSTALL_LOCK = threading.Lock()


def _install(token: str, shared: Any) -> None:
    with _INSTALL_LOCK:
        _INSTALLED.clear()  # a worker process serves one pool
        _INSTALLED[token] = shared


def _call(fn: Callable[[Any, Any], Any], shared: Any, piece: Any) -> Any:
    if isinstance(shared, _Installed):
        shared = _INSTALLED[shared.token]
    return fn(shared, piece)


# ------------------------------------------------------------- driver side
def run_pieces(
    executor: ExecutorSpec,
    fn: Callable[[S, P], R],
    shared: S,
    pieces: Sequence[P],
    *,
    workers: int | None = None,
) -> Iterator[tuple[int, R]]:
    """Run ``fn(shared, piece)`` for every piece; yield ``(index, result)`` as each finishes.

    ``fn`` must be a module-level function (it is pickled for process pools
    and Dask).  ``executor`` is one of the forms of the module documentation;
    ``None`` means ``"process"``.  A pool of one worker, or a single piece,
    runs in this process.

    Raises:
        ConfigError: an unknown executor.

    Example:
        >>> def square(shared, piece):
        ...     return piece * piece
        >>> dict(run_pieces("thread", square, None, [2, 3], workers=2))
        {0: 4, 1: 9}
    """
    check_executor(executor)
    n_workers = workers or os.cpu_count() or 1
    if executor is None:
        executor = "process"
    if executor == "serial" or (executor in ("thread", "process") and (n_workers == 1 or len(pieces) <= 1)):
        for n, piece in enumerate(pieces):
            yield n, fn(shared, piece)
        return
    if isinstance(executor, str) and executor in ("thread", "process"):
        yield from _run_own_pool(executor, fn, shared, pieces, min(n_workers, len(pieces)))
    elif isinstance(executor, str):
        from distributed import Client

        address = dask_address(executor)
        try:
            client = Client(address, set_as_default=False, timeout="10s")
        except OSError as err:
            raise ConfigError(f"cannot reach the Dask scheduler at {address}: {err}", source="executor") from None
        try:
            yield from _run_dask(client, fn, shared, pieces)
        finally:
            client.close()
    elif is_dask_client(executor):
        yield from _run_dask(executor, fn, shared, pieces)
    else:
        yield from _run_futures(executor, [executor.submit(_call, fn, shared, piece) for piece in pieces])


def _run_own_pool(
    kind: str, fn: Callable[[Any, Any], Any], shared: Any, pieces: Sequence[Any], size: int
) -> Iterator[tuple[int, Any]]:
    if kind == "process":
        token = uuid.uuid4().hex
        # workers die with this process and leave Ctrl-C to it (layerlab.procs)
        pool: cf.Executor = process_pool(size, initializer=_install, initargs=(token, shared))
        handle: Any = _Installed(token)
    else:
        pool = cf.ThreadPoolExecutor(max_workers=size)
        handle = shared
    try:
        yield from _run_futures(pool, [pool.submit(_call, fn, handle, piece) for piece in pieces])
    except BaseException:  # an error, Ctrl-C, SIGTERM or the generator closed: stop now
        stop_pool(pool, kill=True)
        raise
    stop_pool(pool)


def _run_futures(pool: cf.Executor, futures: list[cf.Future[Any]]) -> Iterator[tuple[int, Any]]:
    index = {fut: n for n, fut in enumerate(futures)}
    try:
        for fut in cf.as_completed(futures):
            yield index[fut], fut.result()
    finally:
        for fut in futures:
            fut.cancel()


def _run_dask(
    client: Any, fn: Callable[[Any, Any], Any], shared: Any, pieces: Sequence[Any]
) -> Iterator[tuple[int, Any]]:
    from distributed import as_completed

    handle = client.scatter(shared, broadcast=True, hash=False)
    run = uuid.uuid4().hex[:12]
    futures = [
        client.submit(_call, fn, handle, piece, key=f"layerlab-piece-{run}-{n}", pure=False)
        for n, piece in enumerate(pieces)
    ]
    index = {fut.key: n for n, fut in enumerate(futures)}
    try:
        for fut in as_completed(futures):
            yield index[fut.key], fut.result()
    finally:
        client.cancel([*futures, handle])
