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
import lzma
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import InputError, LayerlabError

__all__ = ["read_bytes", "atomic_file", "atomic_write", "atomic_dir"]


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a file, transparently decompressing ``.xz``, ``.gz`` and ``.zst``.

    Raises:
        InputError: the file is missing, unreadable or not valid compressed data.

    Example:
        >>> import gzip, os, tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), "x.json.gz")
        >>> _ = open(f, "wb").write(gzip.compress(b"[]"))
        >>> read_bytes(f)
        b'[]'
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read file: {err.strerror or err}", source=str(path)) from None
    try:
        if p.suffix == ".xz":
            return lzma.decompress(data)
        if p.suffix == ".gz":
            import gzip

            return gzip.decompress(data)
        if p.suffix == ".zst":
            import zstandard

            return zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 34)
    except Exception as err:  # noqa: BLE001 - any decoder error is an input error
        raise InputError(f"cannot decompress {p.suffix} data: {err}", source=str(path)) from None
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
