"""Reading inputs and writing outputs safely.

Every file layerlab writes goes through :func:`atomic_file` (or its
shorthands): the bytes go to a hidden temporary file in the target's
directory, are flushed to disk, and the file is renamed over the target.  A
reader therefore sees the old content or the new, never half of it.
:func:`atomic_dir` does the same for a new directory; it never replaces a
directory that holds anything, since that may be someone else's data.

**Temporary files of killed runs** are swept by the next run.  Each
temporary entry is created by :func:`hold_temp`, which keeps an exclusive
``flock`` on it for as long as its writer lives (the kernel drops the lock
when the process dies, however it dies), and creates it while holding a
shared lock on the directory.  :func:`sweep_temp` takes the directory's lock
exclusively (skipping the sweep when a writer is creating an entry at that
moment) and removes each matching entry whose lock it can take, that is,
whose writer is gone.  So a sweep never removes the file of a live writer,
in this process or another.

Reading goes through :func:`read_bytes`, which decompresses ``.xz``, ``.gz``
and ``.zst`` transparently and turns every failure into one
:class:`~layerlab.errors.InputError` naming the file.

Example:
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> atomic_write(os.path.join(d, "out.json"), b"{}")
    >>> read_bytes(os.path.join(d, "out.json")), os.listdir(d)
    (b'{}', ['out.json'])
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from .errors import InputError, LayerlabError

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

__all__ = [
    "read_bytes",
    "read_document",
    "cache_dir",
    "user_cache_dir",
    "compression_of",
    "atomic_file",
    "atomic_write",
    "atomic_dir",
    "check_new_dir",
    "hold_temp",
    "sweep_temp",
    "TempHold",
]


#: Leading bytes of the compressed formats :func:`read_bytes` understands.
_MAGIC = {b"\xfd7zXZ\x00": ".xz", b"\x1f\x8b": ".gz", b"\x28\xb5\x2f\xfd": ".zst"}


def compression_of(data: bytes, name: str = "") -> str | None:
    """The compression of ``data``: ``.xz``, ``.gz``, ``.zst`` or None.

    The file name's suffix decides when it names one of the three formats;
    otherwise the leading bytes do, so standard input and files without a
    suffix are recognised too.

    Example:
        >>> import gzip
        >>> compression_of(gzip.compress(b"[]")), compression_of(b"[]"), compression_of(b"", "g.json.xz")
        ('.gz', None, '.xz')
    """
    suffix = os.path.splitext(name)[1] if name else ""
    if suffix in (".xz", ".gz", ".zst"):
        return suffix
    for magic, kind in _MAGIC.items():
        if data.startswith(magic):
            return kind
    return None


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a file, transparently decompressing ``.xz``, ``.gz`` and ``.zst``.

    ``-`` reads standard input.  Compression is recognised from the suffix or,
    without one, from the leading bytes (so ``xz -dc`` is never needed).

    Raises:
        InputError: the file is missing, unreadable or not valid compressed data.

    Example:
        >>> import gzip, os, tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), "g.json")
        >>> _ = open(f, "wb").write(gzip.compress(b"[]"))
        >>> read_bytes(f)
        b'[]'
    """
    name = os.fspath(path)
    stdin = name == "-"
    where = "<stdin>" if stdin else str(path)
    try:
        if stdin:
            import sys

            data = sys.stdin.buffer.read()
        else:
            with open(name, "rb") as fh:
                data = fh.read()
    except OSError as err:
        raise InputError(f"cannot read file: {err.strerror or err}", source=where) from None
    except ValueError:  # a NUL in the name
        raise InputError("cannot read file: the name holds a NUL character", source=where) from None
    kind = compression_of(data, "" if stdin else name)
    try:
        if kind == ".xz":
            import lzma

            return lzma.decompress(data)
        if kind == ".gz":
            import gzip

            return gzip.decompress(data)
        if kind == ".zst":
            import zstandard

            return zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 34)
    except Exception as err:  # noqa: BLE001 - any decoder error is an input error
        raise InputError(f"cannot decompress {kind} data: {err}", source=where) from None
    return data


def read_document(path: str | os.PathLike[str]) -> object:
    """The value in a JSON file, or the table in a TOML file (a name ending in ``.toml``), read by :func:`read_bytes`.

    The caller checks that the value has the shape it expects.

    Raises:
        InputError: the file cannot be read, or is malformed (the message names the file).

    Example:
        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> _ = open(os.path.join(d, "a.toml"), "w").write("budget = 9")
        >>> _ = open(os.path.join(d, "a.json"), "w").write("[1,")
        >>> read_document(os.path.join(d, "a.toml"))
        {'budget': 9}
        >>> read_document(os.path.join(d, "a.json"))
        Traceback (most recent call last):
        ...
        layerlab.errors.InputError: /.../a.json: malformed JSON: ...
    """
    data = read_bytes(path)
    where = str(path)
    if where.endswith(".toml"):
        import tomllib

        try:
            return tomllib.loads(data.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"malformed TOML: {err}", source=where) from None
    import orjson

    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise InputError(f"malformed JSON: {err}", source=where) from None


# ------------------------------------------------------------ temporary entries
@dataclass
class TempHold:
    """A temporary file or directory and the descriptor holding its lock.

    Attributes:
        path: the entry.
        fd: a descriptor of the entry carrying an exclusive ``flock``;
            :meth:`release` closes it.
    """

    path: Path
    fd: int

    def release(self) -> None:
        """Drop the lock (the entry itself is left as it is).

        Example:
            >>> import tempfile
            >>> h = hold_temp(tempfile.mkdtemp(), "x-"); h.release(); h.fd, h.path.exists()
            (-1, True)
        """
        if self.fd >= 0:
            _release(self.fd)
            self.fd = -1


@contextlib.contextmanager
def _dir_lock(directory: str | os.PathLike[str], operation: int) -> Iterator[bool]:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, operation)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _new_entry(directory: str, prefix: str, is_dir: bool) -> str:
    """Create a file (mode 0600) or directory (mode 0700) named ``prefix`` and random letters; return its path.

    What :func:`tempfile.mkstemp` and :func:`tempfile.mkdtemp` do, without
    that module's import cost (a command that writes one output pays it).
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(1000):
        path = os.path.join(directory, prefix + os.urandom(6).hex())
        try:
            if is_dir:
                os.mkdir(path, 0o700)
            else:
                os.close(os.open(path, flags, 0o600))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no unused temporary name {prefix}* in {directory}")


def _hold(directory: str, prefix: str, is_dir: bool = False) -> tuple[str, int]:
    """:func:`hold_temp` on plain strings: the entry's path and the descriptor holding its lock."""
    with _dir_lock(directory, fcntl.LOCK_SH):
        path = _new_entry(directory, prefix, is_dir)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
    return path, fd


def _release(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def hold_temp(directory: str | os.PathLike[str], prefix: str, *, is_dir: bool = False) -> TempHold:
    """Create a temporary file (or directory) named ``prefix*`` in ``directory``, locked.

    The lock lives as long as the returned hold (or the process): a
    :func:`sweep_temp` never removes the entry meanwhile.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> h = hold_temp(d, "blob-")
        >>> sweep_temp(d, ["blob-"]), h.path.exists()   # a live writer's file stays
        (0, True)
        >>> h.release(); sweep_temp(d, ["blob-"]), h.path.exists()
        (1, False)
    """
    from pathlib import Path

    path, fd = _hold(os.path.abspath(directory), prefix, is_dir)
    return TempHold(Path(path), fd)


def sweep_temp(directory: str | os.PathLike[str], prefixes: Iterable[str]) -> int:
    """Remove entries of ``directory`` named ``prefix*`` that no live writer holds; return how many.

    Nothing happens when the directory is missing or a writer is creating an
    entry at this moment (the next run sweeps).  See the module doc.

    Example:
        >>> import os, tempfile
        >>> d = tempfile.mkdtemp(); open(os.path.join(d, ".out.tmp-left"), "w").close()
        >>> sweep_temp(d, [".out.tmp-"]), os.listdir(d)   # nobody holds it: a killed writer's file
        (1, [])
    """
    parent = os.fspath(directory)
    starts = tuple(prefixes)
    removed = 0
    try:
        names = [n for n in os.listdir(parent) if n.startswith(starts)]
    except OSError:
        return 0
    if not names:
        return 0
    try:
        lock = _dir_lock(parent, fcntl.LOCK_EX | fcntl.LOCK_NB)
        got = lock.__enter__()
    except OSError:
        return 0
    try:
        if not got:
            return 0
        for name in names:
            path = os.path.join(parent, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its writer is alive
                _remove(path)
                removed += 1
            finally:
                os.close(fd)
    finally:
        lock.__exit__(None, None, None)
    return removed


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


# ------------------------------------------------------------ atomic outputs
@contextlib.contextmanager
def atomic_file(
    target: str | os.PathLike[str],
    *,
    mode: int = 0o644,
    error: type[LayerlabError] = InputError,
    sweep: bool = True,
) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``target`` when the block ends without error.

    Temporary files that killed runs left next to ``target`` are swept first.

    Args:
        target: the file to write; missing parent directories are created.
        mode: the permissions of the finished file.
        error: the error class raised when the file cannot be written.
        sweep: sweep stale temporary files of ``target`` first (off where the
            caller sweeps the whole directory itself, as the blob store does).

    Example:
        >>> import os, tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), "a", "x.bin")
        >>> with atomic_file(f) as fh:
        ...     _ = fh.write(b"12")
        >>> open(f, "rb").read()
        b'12'
    """
    target = os.fspath(target)
    if os.path.isdir(target):
        raise error("is a directory, expected a file name", source=target)
    target = target.rstrip("/") or target  # "out/" names the file "out", as for pathlib
    parent, name = os.path.split(target)
    parent = parent or "."
    prefix = f".{name}.tmp-"
    try:
        os.makedirs(parent, exist_ok=True)
        if sweep:
            sweep_temp(parent, [prefix])
        path, lock = _hold(parent, prefix)
        fh = open(path, "wb")
    except OSError as err:
        raise error(f"cannot write: {err.strerror or err}", source=target) from None
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(path, mode)
        os.replace(path, target)
    except OSError as err:
        _remove(path)
        raise error(f"cannot write: {err.strerror or err}", source=target) from None
    except BaseException:
        _remove(path)
        raise
    finally:
        _release(lock)


def atomic_write(
    target: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int = 0o644,
    error: type[LayerlabError] = InputError,
    sweep: bool = True,
) -> None:
    """Write ``data`` to ``target`` atomically (see :func:`atomic_file`).

    Example:
        >>> import os, tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), "out.json")
        >>> atomic_write(f, b"{}"); open(f, "rb").read()
        b'{}'
    """
    with atomic_file(target, mode=mode, error=error, sweep=sweep) as fh:
        fh.write(data)


def check_new_dir(target: str | os.PathLike[str], *, error: type[LayerlabError] = InputError) -> None:
    """Raise unless ``target`` is absent or an empty directory (what :func:`atomic_dir` may fill).

    Example:
        >>> import tempfile
        >>> check_new_dir(tempfile.mkdtemp())
    """
    target = os.fspath(target)
    if not os.path.lexists(target):
        return
    if os.path.islink(target) or not os.path.isdir(target):
        raise error("exists and is not a directory", source=target)
    try:
        entries = os.listdir(target)
    except OSError as err:
        raise error(f"cannot read directory: {err.strerror or err}", source=target) from None
    if entries:
        raise error("directory exists and is not empty; refusing to replace it", source=target)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], *, error: type[LayerlabError] = InputError) -> Iterator[Path]:
    """Yield a temporary directory next to ``target``; it becomes ``target`` on success.

    ``target`` must be absent or an empty directory (:func:`check_new_dir`):
    a directory holding anything is never replaced.

    Example:
        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> with atomic_dir(os.path.join(d, "out")) as tmp:
        ...     _ = (tmp / "index.json").write_text("{}")
        ...     os.listdir(d) == ["out"]   # not there until the block ends
        False
        >>> os.listdir(d), os.listdir(os.path.join(d, "out"))
        (['out'], ['index.json'])
    """
    from pathlib import Path

    target = Path(os.path.abspath(target))
    parent = target.parent
    check_new_dir(target, error=error)
    prefixes = [f".{target.name}.tmp-", f".{target.name}.old-"]
    try:
        parent.mkdir(parents=True, exist_ok=True)
        sweep_temp(parent, prefixes)
        hold = hold_temp(parent, prefixes[0], is_dir=True)
    except OSError as err:
        raise error(f"cannot create output directory: {err.strerror or err}", source=str(target)) from None
    tmp = hold.path
    try:
        try:
            yield tmp
            os.chmod(tmp, 0o755)
        except OSError as err:
            raise error(f"cannot write: {err.strerror or err}", source=str(target)) from None
        check_new_dir(target, error=error)
        try:
            os.replace(tmp, target)  # rename(2) replaces an empty directory, and only an empty one
        except OSError as err:
            raise error(f"cannot create output directory: {err.strerror or err}", source=str(target)) from None
    except BaseException:
        _remove(str(tmp))
        raise
    finally:
        hold.release()


def user_cache_dir(*parts: str) -> Path:
    """layerlab's directory in the user's cache, then ``parts``.

    That is ``$XDG_CACHE_HOME/layerlab``, else ``~/.cache/layerlab``, following
    the XDG Base Directory Specification (https://specifications.freedesktop.org/basedir-spec/latest/).

    Example:
        >>> from unittest import mock
        >>> with mock.patch.dict(os.environ, XDG_CACHE_HOME="/tmp/xdg"):
        ...     str(user_cache_dir("store"))
        '/tmp/xdg/layerlab/store'
    """
    from pathlib import Path

    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache", "layerlab", *parts)


def cache_dir(*parts: str) -> Path:
    """Where layerlab caches results: ``$LAYERLAB_CACHE_DIR``, else :func:`user_cache_dir`; then ``parts``.

    Example:
        >>> from unittest import mock
        >>> with mock.patch.dict(os.environ, LAYERLAB_CACHE_DIR="/tmp/ll"):
        ...     str(cache_dir("sweep")), str(cache_dir())
        ('/tmp/ll/sweep', '/tmp/ll')
    """
    from pathlib import Path

    explicit = os.environ.get("LAYERLAB_CACHE_DIR")
    return Path(explicit, *parts) if explicit else user_cache_dir(*parts)
