"""Running Nix: argument lists, configuration through ``NIX_CONFIG``, progress, timeouts.

Every Nix command layerlab runs goes through :func:`run_nix`:

* the command is an argument list, never a shell string, so no value can be
  interpreted by a shell;
* configuration is passed in the ``NIX_CONFIG`` environment variable, built by
  :func:`nix_environment` from layerlab's defaults, the caller's own
  ``NIX_CONFIG`` and explicit settings (later ones win, as in Nix); the
  user's ``nix.conf`` is never touched;
* Nix's stderr (its progress and build log) is read line by line while the
  command runs and handed to a callback, so a progress display can follow it;
* a command that runs longer than its timeout is interrupted (SIGINT, so Nix
  stops the builders it started), then killed with its whole process group,
  and reported as a
  :class:`~layerlab.errors.NixError`; so is a non-zero exit, with the tail of
  stderr in the message.

Example:
    >>> env = nix_environment({"sandbox": "false"}, base_env={"NIX_CONFIG": "cores = 1"}, defaults={})
    >>> env["NIX_CONFIG"].splitlines()
    ['cores = 1', 'sandbox = false']
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from ..errors import LayerlabError, NixError
from ..fileio import atomic_write
from ..procs import guarded_command

__all__ = [
    "OFFLINE_CONFIG",
    "NixResult",
    "ProgressEvent",
    "nix_environment",
    "default_settings",
    "run_nix",
    "nix_version",
    "find_tool",
    "progress_parser",
]

#: Settings for building an offline package set with a plain Nix installation:
#: no sandbox (the builders use the host's /bin/sh), no binary cache, and the
#: ``nix`` command enabled.
OFFLINE_CONFIG: Mapping[str, str] = MappingProxyType(
    {
        "sandbox": "false",
        "substituters": "",
        "extra-experimental-features": "nix-command",
    }
)

#: Lines of stderr kept for error messages.
STDERR_TAIL = 25


@dataclass(frozen=True)
class NixResult:
    """What a finished Nix command produced.

    Attributes:
        args: the command.
        stdout: its standard output (bytes).
        stderr_tail: the last lines of its standard error.
        seconds: wall-clock duration.
    """

    args: tuple[str, ...]
    stdout: bytes
    stderr_tail: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class ProgressEvent:
    """One step of Nix's progress, parsed from a line of its stderr.

    Attributes:
        kind: ``plan`` (``total`` derivations will be built), ``build`` (one
            derivation started, ``what`` names it), ``fetch`` (a path is
            fetched), or ``log`` (any other line).
        line: the raw line.
        what: the store path name the event is about, if any.
        total: for ``plan``, the number of derivations to build.
    """

    kind: str
    line: str
    what: str = ""
    total: int = 0


_PLAN = re.compile(r"^these (\d+) derivations? will be built")
_PLAN_ONE = re.compile(r"^this derivation will be built")
_BUILD = re.compile(r"^building '(?:/[^']*/)?[0-9a-z]{32}-([^']*?)(?:\.drv)?'")
_FETCH = re.compile(r"^(?:copying path|downloading|fetching) '(?:/[^']*/)?(?:[0-9a-z]{32}-)?([^']*)'")


def progress_parser(line: str) -> ProgressEvent:
    """Classify one line of Nix's stderr.

    Example:
        >>> progress_parser("building '/nix/store/v8xp9kl3x5kc0yix39hywaw0gv54zcc1-hello-2.12.1.drv'...").what
        'hello-2.12.1'
        >>> progress_parser("these 3 derivations will be built:").total
        3
    """
    m = _PLAN.match(line)
    if m:
        return ProgressEvent("plan", line, total=int(m.group(1)))
    if _PLAN_ONE.match(line):
        return ProgressEvent("plan", line, total=1)
    m = _BUILD.match(line)
    if m:
        return ProgressEvent("build", line, what=m.group(1))
    m = _FETCH.match(line)
    if m:
        return ProgressEvent("fetch", line, what=m.group(1))
    return ProgressEvent("log", line)


def default_settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """layerlab's baseline settings: the ``nix`` command enabled (added to the
    user's experimental features, not replacing them), and, when
    running as root on a system without the ``nixbld`` group (a fresh Debian
    ``nix-bin``), builds without build users.

    Example:
        >>> default_settings()["extra-experimental-features"]
        'nix-command'
    """
    settings = {"extra-experimental-features": "nix-command"}
    if os.geteuid() == 0:
        import grp

        try:
            grp.getgrnam("nixbld")
        except KeyError:
            settings["build-users-group"] = ""
    return settings


def nix_environment(
    settings: Mapping[str, str] | None = None,
    *,
    base_env: Mapping[str, str] | None = None,
    defaults: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for a Nix command with ``settings`` in ``NIX_CONFIG``.

    Order of precedence (later wins, as Nix reads ``NIX_CONFIG`` top to
    bottom): ``defaults`` (by default :func:`default_settings`), the
    ``NIX_CONFIG`` already in ``base_env``, then ``settings``.  Default
    ``extra-*`` settings, which add to a list rather than set it, come after
    the caller's ``NIX_CONFIG``, so that its own ``experimental-features``
    line cannot drop them.

    Raises:
        NixError: a setting name or value holds a newline.

    Example:
        >>> env = nix_environment({"sandbox": "false"}, base_env={}, defaults={})
        >>> env["NIX_CONFIG"]
        'sandbox = false'
    """
    env = dict(os.environ if base_env is None else base_env)
    lines: list[str] = []
    base = default_settings(env) if defaults is None else defaults
    for name, value in base.items():
        if not name.startswith("extra-"):
            lines.append(_setting(name, value))
    existing = env.get("NIX_CONFIG", "").strip("\n")
    if existing:
        lines.append(existing)
    for name, value in base.items():
        if name.startswith("extra-"):
            lines.append(_setting(name, value))
    for name, value in (settings or {}).items():
        lines.append(_setting(name, value))
    env["NIX_CONFIG"] = "\n".join(lines)
    return env


def _setting(name: str, value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise NixError(f"invalid Nix setting name {name!r}", source="NIX_CONFIG")
    if "\n" in value or "\r" in value:
        raise NixError(f"Nix setting {name} holds a line break", source="NIX_CONFIG")
    return f"{name} = {value}".rstrip()


def find_tool(name: str) -> str:
    """The absolute path of a Nix tool (``nix``, ``nix-build``...).

    Raises:
        NixError: the tool is not on ``PATH``.

    Example:
        >>> find_tool("no-such-nix-tool")
        Traceback (most recent call last):
        ...
        layerlab.errors.NixError: no-such-nix-tool: no-such-nix-tool not found on PATH; install Nix (...)
    """
    path = shutil.which(name)
    if path is None:
        raise NixError(f"{name} not found on PATH; install Nix (Debian/Ubuntu: apt-get install nix-bin)", source=name)
    return path


def run_nix(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = 600.0,
    on_stderr: Callable[[str], None] | None = None,
    what: str | None = None,
) -> NixResult:
    """Run a Nix command and return its output.

    Args:
        args: the command, first element a tool name or path.
        env: the environment (see :func:`nix_environment`).
        timeout: seconds before the command and its children are killed.
        on_stderr: called with every line of stderr (without the newline).
        what: a short description for error messages (default: the tool name).

    Raises:
        NixError: the tool is missing, timed out or exited with a non-zero
            status; the message carries the tail of its stderr.

    Example:
        >>> run_nix(["nix-instantiate", "--eval", "-E", "1 + 2"]).stdout  # doctest: +SKIP
        b'3\\n'
    """
    args = tuple(args)
    tool = args[0]
    label = what or os.path.basename(tool)
    if os.sep not in tool:
        args = (find_tool(tool), *args[1:])
    tail: deque[str] = deque(maxlen=STDERR_TAIL)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            guarded_command(args),  # Nix dies with layerlab, whatever kills it (layerlab.procs)
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    except OSError as err:
        raise NixError(f"cannot run {tool}: {err.strerror or err}", source=label) from None

    # one thread, no polling: wait on both pipes with the time left
    chunks: list[bytes] = []
    partial = b""

    def lines_of(data: bytes) -> None:
        nonlocal partial
        *complete, partial = (partial + data).split(b"\n")
        for raw in complete:
            line = raw.decode("utf-8", "replace").rstrip("\r")
            tail.append(line)
            if on_stderr is not None:
                try:
                    on_stderr(line)
                except Exception:  # noqa: BLE001 - a broken display must not break the build
                    pass

    deadline = None if timeout is None else start + timeout
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    timed_out = False
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(out_fd, selectors.EVENT_READ)
            sel.register(err_fd, selectors.EVENT_READ)
            while sel.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    timed_out = True
                    break
                for key, _ in sel.select(left):
                    data = os.read(key.fd, 1 << 16)
                    if not data:
                        sel.unregister(key.fd)
                    elif key.fd == out_fd:
                        chunks.append(data)
                    else:
                        lines_of(data)
        if timed_out:
            _kill_group(proc)
            raise NixError(f"timed out after {timeout:g} s" + _format_tail(tail), source=label)
        rc = proc.wait()
    except BaseException:
        if proc.poll() is None:
            _kill_group(proc)
        raise
    finally:
        proc.stdout.close()
        proc.stderr.close()
    if partial:
        lines_of(b"\n")
    seconds = time.monotonic() - start
    if rc != 0:
        status = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
        raise NixError(f"failed with {status}" + _format_tail(tail), source=label)
    return NixResult(args, b"".join(chunks), tuple(tail), seconds)


def _kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop a command: SIGINT first, as Ctrl-C would (Nix then kills the
    builders it started, which run in sessions of their own), then SIGKILL
    for the whole process group after ``grace`` seconds."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGINT:
            try:  # children that ignore SIGINT (background jobs of a shell)
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return


def _format_tail(tail: Sequence[str]) -> str:
    lines = [ln for ln in tail if ln.strip()]
    if not lines:
        return ""
    return ":\n  " + "\n  ".join(lines)


def nix_version(*, env: Mapping[str, str] | None = None, cache_dir: str | None = None) -> str:
    """The version of the ``nix-instantiate`` on ``PATH``, e.g. ``2.8.0``.

    With ``cache_dir``, the answer is remembered in a small file keyed by the
    binary's path, size and modification time, so that a cached closure can
    be served without starting Nix at all.

    Example:
        >>> nix_version()  # doctest: +SKIP
        '2.18.1'
    """
    tool = find_tool("nix-instantiate")
    real = os.path.realpath(tool)
    st = os.stat(real)
    stamp = f"{real}\0{st.st_size}\0{st.st_mtime_ns}"
    memo = None
    if cache_dir:
        memo = os.path.join(cache_dir, "nix-version-" + hashlib.sha256(stamp.encode()).hexdigest()[:16])
        try:
            with open(memo, encoding="utf-8") as fh:
                cached = fh.read().strip()
            if cached:
                return cached
        except OSError:
            pass
    out = run_nix([tool, "--version"], env=env, timeout=60).stdout.decode().strip()
    m = re.search(r"(\d+\.\d+[\w.+-]*)\s*$", out)
    version = m.group(1) if m else out
    if memo:
        with contextlib.suppress(LayerlabError):
            atomic_write(memo, (version + "\n").encode())
    return version
