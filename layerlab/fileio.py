"""Reading inputs and writing outputs safely.

Every file layerlab writes goes through :func:`atomic_file` (or its
shorthands): the bytes go to a hidden temporary file in the target's
directory, are flushed to disk, and the file is renamed over the target.  A
reader therefore sees the old content or the new, never half of it, and an
interrupted run leaves at most a ``.<name>.tmp-*`` file behind.
:func:`atomic_dir` does the same for a whole directory.

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
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import InputError, LayerlabError

__all__ = ["read_bytes", "compression_of", "atomic_file", "atomic_write", "atomic_dir"]


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
    suffix = Path(name).suffix if name else ""
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
    stdin = os.fspath(path) == "-"
    where = "<stdin>" if stdin else str(path)
    try:
        if stdin:
            import sys

            data = sys.stdin.buffer.read()
        else:
            data = Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"cannot read file: {err.strerror or err}", source=where) from None
    kind = compression_of(data, "" if stdin else os.fspath(path))
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


@contextlib.contextmanager
def atomic_file(
    target: str | os.PathLike[str], *, mode: int = 0o644, error: type[LayerlabError] = InputError
) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``target`` when the block ends without error.

    Args:
        target: the file to write; missing parent directories are created.
        mode: the permissions of the finished file.
        error: the error class raised when the file cannot be written.

    Example:
        >>> import os, tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), "a", "x.bin")
        >>> with atomic_file(f) as fh:
        ...     _ = fh.write(b"12")
        >>> open(f, "rb").read()
        b'12'
    """
    target = Path(target)
    if target.is_dir():
        raise error("is a directory, expected a file name", source=str(target))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    except OSError as err:
        raise error(f"cannot write: {err.strerror or err}", source=str(target)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise error(f"cannot write: {err.strerror or err}", source=str(target)) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(
    target: str | os.PathLike[str], data: bytes, *, mode: int = 0o644, error: type[LayerlabError] = InputError
) -> None:
    """Write ``data`` to ``target`` atomically (see :func:`atomic_file`).

    Example:
        >>> import os, tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), "out.json")
        >>> atomic_write(f, b"{}"); open(f, "rb").read()
        b'{}'
    """
    with atomic_file(target, mode=mode, error=error) as fh:
        fh.write(data)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], *, error: type[LayerlabError] = InputError) -> Iterator[Path]:
    """Yield a temporary directory next to ``target``; it becomes ``target`` on success.

    An existing ``target`` directory is renamed aside first and removed after
    the new one is in place.

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
    target = Path(target)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
    except OSError as err:
        raise error(f"cannot create output directory: {err.strerror or err}", source=str(target)) from None
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        if target.exists() and not target.is_dir():
            raise error("exists and is not a directory", source=str(target))
        aside = None
        if target.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=parent))
            os.replace(target, aside / "old")
        os.replace(tmp, target)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
