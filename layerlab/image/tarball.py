"""Reproducible layer tarballs, written and digested in one streaming pass.

The tar format
--------------
Every tarball layerlab writes is a **POSIX.1-2001 (pax)** archive: plain
``ustar`` headers, preceded by a pax extended header (``x``) only for the
entries that ustar cannot describe (a name longer than its 100 + 155 byte
fields, a link target longer than 100 bytes, a file of 8 GiB or more, or a
name that is not valid UTF-8, which gets ``hdrcharset=BINARY``).  The archive
ends with the two zero blocks the standard requires and no further padding.

Every header is normalised so that the bytes depend only on the contents of
the store paths (what their NAR holds), never on the machine:

* entries in depth-first order, the children of a directory sorted by the
  bytes of their names; the parent directories of the store (``nix/``,
  ``nix/store/``) come first;
* mtime 1 (the Nix store's epoch), uid and gid 0, empty user and group names;
* permissions as in the Nix store: directories 0555, files 0555 when any
  execute bit is set and 0444 otherwise, symlinks 0777;
* symlinks are stored as symlinks, never followed, so loops and absolute
  targets are kept as they are;
* hard links are stored as independent regular files: a NAR has no hard
  links and Nix's store optimisation creates them at will, so honouring them
  would make a layer depend on the machine that built it.

Files, directories and symlinks are the only kinds a store path may hold; a
FIFO, socket or device, an unreadable file, a file that changes size while it
is read, or a path outside the store directory is refused with an
:class:`~layerlab.errors.ImageError` naming it.

Speed
-----
The tar stream is assembled in large buffers: headers are formatted by hand
and file contents are read straight into the buffer (``readv`` into a
``memoryview``), never through :mod:`tarfile`.  A full buffer is handed to a
second thread that hashes it (the uncompressed ``diff_id``), compresses it
(gzip via :mod:`zlib` or zstd via :mod:`zstandard`), hashes the blob (and its
md5 when asked) and writes it out.  hashlib, zlib, zstandard and file writes
all release the GIL, so reading overlaps with hashing and compression, and
several layers can be built on several cores with plain threads.

Example:
    >>> import io, os, tempfile
    >>> d = tempfile.mkdtemp(); store = os.path.join(d, "store")
    >>> os.makedirs(store + "/aaa-hello/bin")
    >>> with open(store + "/aaa-hello/bin/hello", "w") as fh: _ = fh.write("hi")
    >>> out = io.BytesIO()
    >>> info = write_layer([store + "/aaa-hello"], out, store_dir=store)
    >>> info.diff_id == info.digest, info.size == len(out.getvalue())
    (True, True)
    >>> import tarfile
    >>> names = tarfile.open(fileobj=io.BytesIO(out.getvalue())).getnames()
    >>> [n[len(store) - 1:] for n in names if n.startswith(store[1:])]
    ['', '/aaa-hello', '/aaa-hello/bin', '/aaa-hello/bin/hello']
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import ConfigError, ImageError

__all__ = [
    "COMPRESSIONS",
    "LEVELS",
    "check_compression",
    "MTIME",
    "Entry",
    "LayerInfo",
    "store_entries",
    "check_store_path",
    "parent_entries",
    "write_entries",
    "write_layer",
    "tar_header",
]

#: The modification time of every entry: Nix's epoch (the store's mtime).
MTIME = 1
#: Supported blob compressions.
COMPRESSIONS = ("none", "gzip", "zstd")
#: The compression levels each compressor accepts (zlib 0-9; zstd's regular levels 1-22).
LEVELS = {"gzip": range(10), "zstd": range(1, 23)}


def check_compression(compression: object, level: object = None) -> None:
    """Raise unless ``compression`` is known and ``level`` is None or one of its :data:`LEVELS`.

    Example:
        >>> check_compression("zstd", 19)
        >>> check_compression("gzip", 99)
        Traceback (most recent call last):
        ...
        layerlab.errors.ImageError: --level: gzip takes a level from 0 to 9, not 99
    """
    if compression not in COMPRESSIONS:
        raise ImageError(f"compression must be one of {', '.join(COMPRESSIONS)}, not {compression!r:.40}")
    if level is None:
        return
    levels = LEVELS.get(str(compression))
    if levels is None:
        raise ImageError("uncompressed layers take no level", source="--level")
    if isinstance(level, bool) or not isinstance(level, int) or level not in levels:
        raise ImageError(
            f"{compression} takes a level from {levels[0]} to {levels[-1]}, not {level!r:.40}", source="--level"
        )


_BLOCK = 512
_BUF = 4 << 20  # bytes per stream buffer
_NBUF = 3  # buffers in flight (one being filled, two being digested)
_DIR, _FILE, _LINK = "5", "0", "2"


@dataclass(frozen=True)
class Entry:
    """One tar entry before it is written.

    Attributes:
        name: the entry name, relative to the image root (no leading ``/``);
            directories without a trailing slash (the writer adds it).
        kind: ``"dir"``, ``"file"`` or ``"symlink"``.
        mode: permission bits.
        size: file size (0 for the other kinds).
        target: a symlink's target.
        source: the file whose contents are copied (files only).
    """

    name: bytes
    kind: str
    mode: int
    size: int = 0
    target: bytes = b""
    source: bytes | None = None


@dataclass(frozen=True)
class LayerInfo:
    """What one pass over a layer computed.

    Attributes:
        diff_id: ``sha256:<hex>`` of the uncompressed tar.
        digest: ``sha256:<hex>`` of the blob (equal to ``diff_id`` uncompressed).
        size: the blob's size in bytes.
        tar_size: the uncompressed tar's size in bytes.
        compression: ``none``, ``gzip`` or ``zstd``.
        md5: base64 of the blob's binary md5 (as Nixery records it), when asked.
        entries: the number of tar entries.
    """

    diff_id: str
    digest: str
    size: int
    tar_size: int
    compression: str
    md5: str | None = None
    entries: int = 0

    def to_json(self) -> dict:
        """The record as JSON (the blob store's layer cache).

        Example:
            >>> LayerInfo("sha256:" + "a" * 64, "sha256:" + "b" * 64, 10, 1024, "gzip").to_json()["compression"]
            'gzip'
        """
        return {
            "diff_id": self.diff_id,
            "digest": self.digest,
            "size": self.size,
            "tar_size": self.tar_size,
            "compression": self.compression,
            "md5": self.md5,
            "entries": self.entries,
        }

    @classmethod
    def from_json(cls, doc: dict) -> LayerInfo:
        """Inverse of :meth:`to_json`.

        Example:
            >>> info = LayerInfo("sha256:" + "a" * 64, "sha256:" + "b" * 64, 10, 1024, "gzip", entries=3)
            >>> LayerInfo.from_json(info.to_json()) == info
            True
        """
        return cls(**{k: doc[k] for k in ("diff_id", "digest", "size", "tar_size", "compression", "md5", "entries")})


# ---------------------------------------------------------------- headers
def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) fitting ustar's fields, or None."""
    if len(name) <= 100:
        return b"", name
    # The prefix ends at a slash; the name part must be non-empty and <= 100.
    start = len(name) - 101
    i = name.find(b"/", max(start, 0), 156)
    while i != -1:
        if 0 < len(name) - i - 1 <= 100 and i <= 155:
            return name[:i], name[i + 1 :]
        i = name.find(b"/", i + 1, 156)
    return None


_UIDGID = b"0000000\0" * 2
_MTIME_FIELD = b"%011o\0" % MTIME
_CHK_BLANK = b" " * 8
_MAGIC = b"ustar\x0000" + b"\0" * 64 + b"0000000\0" * 2  # magic, version, uname, gname, devmajor, devminor
_PAD = b"\0" * 12
# The checksum counts the constant fields once; only the variable ones are summed per header.
_CONST_SUM = sum(_UIDGID) + sum(_MTIME_FIELD) + sum(_CHK_BLANK) + sum(_MAGIC)


def _ustar(name: bytes, prefix: bytes, mode: int, size: int, typeflag: str, link: bytes) -> bytes:
    mode_f = b"%07o\0" % mode
    size_f = b"%011o\0" % size
    tf = typeflag.encode()
    chk = _CONST_SUM + sum(b"".join((name, mode_f, size_f, tf, link, prefix)))
    return b"".join(
        (
            name.ljust(100, b"\0"),
            mode_f,
            _UIDGID,
            size_f,
            _MTIME_FIELD,
            b"%06o\0 " % chk,
            tf,
            link.ljust(100, b"\0"),
            _MAGIC,
            prefix.ljust(155, b"\0"),
            _PAD,
        )
    )


def _pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(b"%d" % n) + len(body) != n:
        n = len(b"%d" % n) + len(body)
    return b"%d" % n + body


def tar_header(name: bytes, kind: str, mode: int, size: int = 0, target: bytes = b"") -> bytes:
    """The header block(s) of one entry: ustar, preceded by a pax header when needed.

    Example:
        >>> h = tar_header(b"nix/store", "dir", 0o555)
        >>> len(h), h[:10], h[156:157]
        (512, b'nix/store/', b'5')
        >>> len(tar_header(b"x" * 300, "file", 0o444, 5))  # pax header + data + ustar
        1536
    """
    typeflag = {"dir": _DIR, "file": _FILE, "symlink": _LINK}[kind]
    if kind == "dir":
        name = name + b"/"
    pax: list[tuple[bytes, bytes]] = []
    split = _split_ustar(name)
    if split is None:
        pax.append((b"path", name))
        split = (b"", name[:100])
    if len(target) > 100:
        pax.append((b"linkpath", target))
        target = target[:100]
    if size >= 8**11:
        pax.append((b"size", b"%d" % size))
    if pax:
        try:
            (name + target).decode("utf-8")
        except UnicodeDecodeError:
            pax.append((b"hdrcharset", b"BINARY"))
    header = _ustar(split[1], split[0], mode, size if size < 8**11 else 0, typeflag, target)
    if not pax:
        return header
    data = b"".join(_pax_record(k, v) for k, v in sorted(pax))
    xname = b"././@PaxHeader"
    pad = -len(data) % _BLOCK
    return _ustar(xname, b"", 0o644, len(data), "x", b"") + data + b"\0" * pad + header


# ---------------------------------------------------------------- entries
def check_store_path(path: str | bytes, store_dir: str) -> bytes:
    """Validate that ``path`` is a direct child of ``store_dir``; return it as bytes.

    Raises:
        ImageError: the path is outside the store directory or would escape
            the image root (``..``, extra slashes).

    Example:
        >>> check_store_path("/nix/store/abc-x", "/nix/store")
        b'/nix/store/abc-x'
        >>> check_store_path("/nix/store/../etc", "/nix/store")
        Traceback (most recent call last):
        ...
        layerlab.errors.ImageError: /nix/store/../etc: not a store path under /nix/store
    """
    if not isinstance(path, (str, bytes)):
        raise ImageError(f"a store path must be a string, not {type(path).__name__}")
    p = os.fsencode(path)
    sd = os.fsencode(store_dir)
    name = p[len(sd) + 1 :] if p.startswith(sd + b"/") else b""
    if not name or b"/" in name or name in (b".", b"..") or b"\0" in p:
        raise ImageError(f"not a store path under {store_dir}", source=os.fsdecode(p))
    return p


def _check_store_dir(store_dir: str) -> bytes:
    if not store_dir.startswith("/") or os.path.normpath(store_dir) != store_dir or store_dir == "/":
        raise ConfigError(
            f"store directory must be an absolute, normalised path, not {store_dir!r}", source="store_dir"
        )
    return os.fsencode(store_dir)


def parent_entries(store_dir: str) -> list[Entry]:
    """The directories leading to the store (``nix``, ``nix/store``), mode 0555.

    Example:
        >>> [e.name for e in parent_entries("/nix/store")]
        [b'nix', b'nix/store']
    """
    parts = _check_store_dir(store_dir).strip(b"/").split(b"/")
    return [Entry(b"/".join(parts[: i + 1]), "dir", 0o555) for i in range(len(parts))]


def _store_mode(st_mode: int) -> int:
    return 0o555 if st_mode & 0o111 else 0o444


def _walk(top: bytes, top_name: bytes) -> Iterator[Entry]:
    """Depth-first, children sorted by bytes; an explicit stack, no recursion."""
    stack = [(top, top_name)]
    while stack:
        path, name = stack.pop()
        try:
            st = os.lstat(path)
        except OSError as err:
            raise ImageError(f"cannot stat: {err.strerror}", source=os.fsdecode(path)) from None
        mode = st.st_mode
        if stat.S_ISREG(mode):
            yield Entry(name, "file", _store_mode(mode), st.st_size, source=path)
        elif stat.S_ISDIR(mode):
            yield Entry(name, "dir", 0o555)
            try:
                children = sorted(os.listdir(path), reverse=True)
            except OSError as err:
                raise ImageError(f"cannot list directory: {err.strerror}", source=os.fsdecode(path)) from None
            stack.extend((path + b"/" + c, name + b"/" + c) for c in children)
        elif stat.S_ISLNK(mode):
            yield Entry(name, "symlink", 0o777, target=os.readlink(path))
        else:
            kind = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device file"
            raise ImageError(
                f"is a {kind}; a store path may hold only files, directories and symlinks", source=os.fsdecode(path)
            )


def store_entries(
    paths: Iterable[str | bytes], store_dir: str = "/nix/store", *, parents: bool = True
) -> Iterator[Entry]:
    """The entries of a layer holding ``paths`` (sorted first), parents included.

    Raises:
        ImageError: a path outside the store, missing on disk, or holding
            something a store path cannot hold.

    Example:
        >>> import os, tempfile
        >>> s = tempfile.mkdtemp(); os.makedirs(s + "/aaa-x/bin")
        >>> [e.name[len(s) - 1 :] for e in store_entries([s + "/aaa-x"], s, parents=False)]  # tar names: no leading /
        [b'/aaa-x', b'/aaa-x/bin']
    """
    _check_store_dir(store_dir)
    checked = sorted(check_store_path(p, store_dir) for p in paths)
    if parents:
        yield from parent_entries(store_dir)
    for p in checked:
        try:
            os.lstat(p)
        except FileNotFoundError:
            raise ImageError("store path is not on disk (realise it first)", source=os.fsdecode(p)) from None
        except OSError:
            pass  # _walk reports it with the reason
        yield from _walk(p, p.lstrip(b"/"))


# ---------------------------------------------------------------- writing
class _Digester:
    """Consumes uncompressed tar bytes: hashes, compresses, writes."""

    def __init__(self, out: BinaryIO, compression: str, level: int | None, md5: bool) -> None:
        self.out = out
        self.compression = compression
        self.diff = hashlib.sha256()
        self.blob = self.diff if compression == "none" else hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self.tar_size = 0
        self.size = 0
        self._compress: Callable[[memoryview], bytes] | None = None
        self._flush: Callable[[], bytes] | None = None
        if compression == "gzip":
            # wbits 31: gzip wrapper with mtime 0 and no file name.
            c = zlib.compressobj(6 if level is None else level, zlib.DEFLATED, 31, 9)
            self._compress, self._flush = c.compress, c.flush
        elif compression == "zstd":
            import zstandard

            z = zstandard.ZstdCompressor(level=3 if level is None else level).compressobj()
            self._compress, self._flush = z.compress, z.flush
        elif compression != "none":
            raise ConfigError(
                f"compression must be one of {', '.join(COMPRESSIONS)}, not {compression!r}", source="compression"
            )

    def _emit(self, data: bytes | memoryview) -> None:
        if self.blob is not self.diff:
            self.blob.update(data)
        if self.md5 is not None:
            self.md5.update(data)
        self.out.write(data)
        self.size += len(data)

    def feed(self, data: memoryview) -> None:
        self.diff.update(data)
        self.tar_size += len(data)
        if self._compress is None:
            self._emit(data)
        else:
            c = self._compress(data)
            if c:
                self._emit(c)

    def finish(self, entries: int) -> LayerInfo:
        if self._flush is not None:
            self._emit(self._flush())
        return LayerInfo(
            diff_id="sha256:" + self.diff.hexdigest(),
            digest="sha256:" + self.blob.hexdigest(),
            size=self.size,
            tar_size=self.tar_size,
            compression=self.compression,
            md5=None if self.md5 is None else base64.b64encode(self.md5.digest()).decode(),
            entries=entries,
        )


class _Stream:
    """Fills rotating buffers and hands full ones to a digesting thread."""

    def __init__(self, digester: _Digester, pool: ThreadPoolExecutor | None) -> None:
        self.d = digester
        self.pool = pool
        self.bufs = [bytearray(_BUF) for _ in range(_NBUF if pool else 1)]
        self.views = [memoryview(b) for b in self.bufs]
        self.pending: list[Future | None] = [None] * len(self.bufs)
        self.cur = 0
        self.pos = 0

    def _flush(self) -> None:
        if not self.pos:
            return
        view = self.views[self.cur][: self.pos]
        if self.pool is None:
            self.d.feed(view)
        else:
            self.pending[self.cur] = self.pool.submit(self.d.feed, view)
            self.cur = (self.cur + 1) % len(self.bufs)
            f = self.pending[self.cur]
            if f is not None:
                f.result()
                self.pending[self.cur] = None
        self.pos = 0

    def write(self, data: bytes) -> None:
        n = len(data)
        if self.pos + n > _BUF:
            self._flush()
        if n > _BUF:
            self.d.feed(memoryview(data)) if self.pool is None else self.pool.submit(
                self.d.feed, memoryview(data)
            ).result()
            return
        self.views[self.cur][self.pos : self.pos + n] = data
        self.pos += n

    def copy_file(self, entry: Entry) -> None:
        src = entry.source
        assert src is not None
        try:
            fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as err:
            raise ImageError(f"cannot read: {err.strerror}", source=os.fsdecode(src)) from None
        try:
            left = entry.size
            while left:
                if self.pos == _BUF:
                    self._flush()
                want = min(left, _BUF - self.pos)
                try:
                    got = os.readv(fd, [self.views[self.cur][self.pos : self.pos + want]])
                except OSError as err:
                    raise ImageError(f"cannot read: {err.strerror}", source=os.fsdecode(src)) from None
                if got == 0:
                    raise ImageError(
                        f"file shrank while it was read (expected {entry.size} bytes)", source=os.fsdecode(src)
                    )
                self.pos += got
                left -= got
            if os.read(fd, 1):
                raise ImageError(f"file grew while it was read (expected {entry.size} bytes)", source=os.fsdecode(src))
        finally:
            os.close(fd)
        pad = -entry.size % _BLOCK
        if pad:
            self.write(b"\0" * pad)

    def close(self) -> None:
        self._flush()
        for f in self.pending:
            if f is not None:
                f.result()


def write_entries(
    entries: Iterable[Entry],
    out: BinaryIO,
    *,
    compression: str = "none",
    level: int | None = None,
    md5: bool = False,
    threaded: bool = True,
) -> LayerInfo:
    """Write ``entries`` as a tar stream to ``out`` and return its digests.

    Args:
        entries: in the order they should appear (see :func:`store_entries`).
        out: a binary file object receiving the blob (compressed if asked).
        compression: ``none``, ``gzip`` or ``zstd``.
        level: the compression level (gzip default 6, zstd default 3).
        md5: also compute the blob's md5 (Nixery's ``layerLocations``).
        threaded: digest and compress in a second thread while reading.

    Example:
        >>> import io, os, tempfile
        >>> s = tempfile.mkdtemp(); os.makedirs(s + "/aaa-x")
        >>> out = io.BytesIO()
        >>> info = write_entries(store_entries([s + "/aaa-x"], s), out, compression="gzip", md5=True)
        >>> info.size == len(out.getvalue()), info.diff_id != info.digest, info.md5 is not None
        (True, True, True)
    """
    digester = _Digester(out, compression, level, md5)
    pool = ThreadPoolExecutor(1, thread_name_prefix="layerlab-digest") if threaded else None
    stream = _Stream(digester, pool)
    n = 0
    try:
        for e in entries:
            stream.write(tar_header(e.name, e.kind, e.mode, e.size, e.target))
            if e.kind == "file" and e.size:
                stream.copy_file(e)
            n += 1
        stream.write(b"\0" * (2 * _BLOCK))
        stream.close()
    except OSError as err:  # writing the blob failed (disk full...)
        name = getattr(out, "name", None)
        raise ImageError(
            f"cannot write layer: {err.strerror or err}", source=name if isinstance(name, str) else None
        ) from None
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return digester.finish(n)


def write_layer(
    paths: Sequence[str | bytes],
    out: BinaryIO,
    *,
    store_dir: str = "/nix/store",
    compression: str = "none",
    level: int | None = None,
    md5: bool = False,
    threaded: bool = True,
) -> LayerInfo:
    """Write the layer holding the store ``paths`` to ``out``; see :func:`write_entries`.

    Example:
        >>> import io, os, tempfile
        >>> s = tempfile.mkdtemp(); os.makedirs(s + "/aaa-x")
        >>> a, b = io.BytesIO(), io.BytesIO()
        >>> write_layer([s + "/aaa-x"], a, store_dir=s) == write_layer([s + "/aaa-x"], b, store_dir=s)  # reproducible
        True
    """
    return write_entries(
        store_entries(paths, store_dir), out, compression=compression, level=level, md5=md5, threaded=threaded
    )
