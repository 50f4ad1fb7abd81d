"""Child processes that never outlive layerlab, and signals that stop it cleanly.

Three rules, used by every place that starts a process:

* **A child dies with its parent.**  Pool workers call
  :func:`worker_init`, which asks the kernel (``prctl(PR_SET_PDEATHSIG)``,
  see prctl(2)) to send them ``SIGKILL`` when the process that forked them
  dies, however it dies (``SIGKILL`` included), and exits at once when that
  already happened.  External commands are started through
  :func:`guarded_command`, which puts ``setpriv --pdeathsig`` (util-linux) in
  front, so the same holds for them; a server that has children of its own
  (JupyterLab and its kernels) gets ``SIGTERM`` instead, to stop them.
* **Interruption cancels queued work.**  Workers ignore ``SIGINT`` (a Ctrl-C
  reaches the whole terminal process group); the parent, on
  ``KeyboardInterrupt`` or an error, calls :func:`stop_pool`, which cancels
  what is queued and kills the running workers instead of letting them
  finish, so Ctrl-C stops a build or a sweep at once.  What the killed
  workers were writing is swept by the next run (:mod:`layerlab.fileio`).
* **SIGTERM and SIGHUP behave like Ctrl-C.**  :func:`interrupt_on_signals`
  turns them into :class:`Terminated` (a ``KeyboardInterrupt``) in the main
  thread, so the same clean-up runs: temporary files removed, workers and
  child commands stopped.  A signal the caller ignores (``nohup``) stays
  ignored.

Example:
    >>> pool = process_pool(1)
    >>> pool.submit(pow, 2, 10).result()
    1024
    >>> stop_pool(pool)
    >>> guarded_command(["true"])[-1]
    'true'
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from concurrent.futures import Executor, ProcessPoolExecutor
    from types import FrameType

__all__ = [
    "Terminated",
    "die_with_parent",
    "worker_init",
    "process_pool",
    "stop_pool",
    "guarded_command",
    "interrupt_on_signals",
    "descendants",
    "start_time",
]

_PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> bool:
    """In a child process: have the kernel send ``sig`` when the parent dies; False where unsupported.

    When ``parent`` (the expected parent pid) is given and the parent is
    already gone, the process exits at once.

    Example:
        >>> pool = process_pool(1)   # its workers call this through worker_init
        >>> pool.submit(os.getppid).result() == os.getpid(); stop_pool(pool)
        True
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        ok = False
    if parent is not None and os.getppid() != parent:
        os._exit(1)
    return ok


def worker_init(parent: int, initializer: Callable[..., object] | None = None, initargs: tuple = ()) -> None:
    """Initializer of pool workers: die with ``parent``, leave SIGINT and SIGHUP to it, default SIGTERM;
    then the caller's own ``initializer(*initargs)``.

    Example:
        >>> import signal
        >>> pool = process_pool(1)
        >>> pool.submit(signal.getsignal, signal.SIGINT).result() == signal.SIG_IGN; stop_pool(pool)
        True
    """
    die_with_parent(signal.SIGKILL, parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if initializer is not None:
        initializer(*initargs)


def process_pool(
    workers: int, *, initializer: Callable[..., object] | None = None, initargs: tuple = ()
) -> ProcessPoolExecutor:
    """A forked process pool whose workers follow the module's rules (and run ``initializer`` too).

    Example:
        >>> pool = process_pool(2, initializer=os.umask, initargs=(0o022,))
        >>> sorted(pool.map(abs, [-2, 1])); stop_pool(pool)
        [1, 2]
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor  # only the commands that fan out pay its import

    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=worker_init,
        initargs=(os.getpid(), initializer, initargs),
    )


def stop_pool(pool: Executor, *, kill: bool = False) -> None:
    """Shut ``pool`` down: queued work cancelled; with ``kill``, running workers killed, not awaited.

    Example:
        >>> import time
        >>> pool = process_pool(1); running = pool.submit(time.sleep, 30); queued = pool.submit(time.sleep, 30)
        >>> stop_pool(pool, kill=True); running.done(), queued.done()   # not 60 s later: at once
        (True, True)
    """
    from concurrent.futures import ProcessPoolExecutor

    if kill and isinstance(pool, ProcessPoolExecutor):
        procs = list((getattr(pool, "_processes", None) or {}).values())
        # shutdown() forgets its manager thread; keep it, so the futures are settled before returning
        manager = getattr(pool, "_executor_manager_thread", None)
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            with contextlib.suppress(Exception):
                p.kill()
        for p in procs:
            with contextlib.suppress(Exception):
                p.join(5)
        if manager is not None:
            manager.join(10)
        return
    pool.shutdown(wait=True, cancel_futures=True)


def guarded_command(args: Sequence[str], *, sig: str = "KILL") -> list[str]:
    """``args`` prefixed so the command gets ``SIG<sig>`` when layerlab dies (unchanged without ``setpriv``).

    Example:
        >>> guarded_command(["nix", "--version"], sig="TERM")[-3:]
        ['--', 'nix', '--version']
    """
    import shutil

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return list(args)
    return [setpriv, f"--pdeathsig={sig}", "--", *args]


@contextlib.contextmanager
def interrupt_on_signals(signums: Sequence[int] = (signal.SIGTERM, signal.SIGHUP)) -> Iterator[None]:
    """While the block runs (in the main thread), these signals raise :class:`Terminated`.

    Example:
        >>> try:
        ...     with interrupt_on_signals():
        ...         os.kill(os.getpid(), signal.SIGTERM)
        ... except Terminated as stop:
        ...     print(stop.signum == signal.SIGTERM)
        True
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    # A signal the caller ignores stays ignored (``nohup`` sets SIGHUP to SIG_IGN).  Outside the
    # main thread, which alone receives signals, ``signal.signal`` refuses and nothing changes.
    old: dict[int, Any] = {}
    with contextlib.suppress(ValueError):
        old = {s: signal.signal(s, handler) for s in signums if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def descendants(pid: int) -> list[int]:
    """Every living descendant of ``pid`` (read from ``/proc``), children first.

    Example:
        >>> descendants(os.getpid()) == [] or True
        True
    """
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        with contextlib.suppress(IndexError, ValueError):
            children.setdefault(int(fields[1]), []).append(int(name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None when it is gone: tells a process from a reused pid.

    Example:
        >>> start_time(os.getpid()) is not None
        True
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return int(stat[stat.rfind(b")") + 2 :].split()[19])
    except (OSError, IndexError, ValueError):
        return None
