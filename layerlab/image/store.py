"""A local, content-addressed blob store with a layer cache.

Layout of the store directory (``~/.cache/layerlab/store`` unless
``LAYERLAB_STORE`` or an explicit directory says otherwise)::

    blobs/sha256/<hex>      every blob (layers, configs, manifests), read-only
    builds/<key>.json       layer cache: a layer's path set -> its blob's digests
    tmp/                    blobs being written (renamed into blobs/ when done)

Blobs are written to ``tmp/`` and renamed into place once their digest is
known, so a reader never sees half a blob, and several builds (threads or
processes) can share one store: two writers of the same blob both rename a
complete, identical file.  Each temporary blob is locked by its writer
(:func:`layerlab.fileio.hold_temp`); opening the store sweeps the temporary
blobs of writers that died (killed builds), under the directory's lock.

The layer cache is keyed like Nixery's ``builds/`` cache: the SHA-1 of the
layer's sorted store paths joined by ``:``, extended with the store directory,
the compression and the tar format version (store paths are immutable, so the
path set determines the contents).  An entry whose blob has gone is ignored,
and so is one whose blob no longer hashes to its name (the blob is removed
and the layer rebuilt): a cache hit is never trusted by size alone.

Example:
    >>> import tempfile
    >>> store = BlobStore(tempfile.mkdtemp())
    >>> d = store.add_bytes(b"{}")
    >>> d
    'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'
    >>> store.read_bytes(d), store.has(d), store.has("sha256:" + "0" * 64)
    (b'{}', True, False)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import orjson

from ..errors import ImageError, InputError
from ..fileio import atomic_write, hold_temp, sweep_temp, user_cache_dir
from .tarball import LayerInfo

__all__ = ["BlobStore", "default_store_dir", "layer_key", "FORMAT_VERSION"]

#: Bumped whenever the bytes of a layer tarball change for the same paths.
FORMAT_VERSION = 1

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def default_store_dir() -> Path:
    """``$LAYERLAB_STORE``, else ``$XDG_CACHE_HOME/layerlab/store``, else ``~/.cache/layerlab/store``.

    Example:
        >>> import os
        >>> os.environ["LAYERLAB_STORE"] = "/tmp/blobs"; str(default_store_dir())
        '/tmp/blobs'
        >>> del os.environ["LAYERLAB_STORE"]
    """
    env = os.environ.get("LAYERLAB_STORE")
    return Path(env) if env else user_cache_dir("store")


def layer_key(
    paths: Sequence[str], *, store_dir: str = "/nix/store", compression: str = "none", level: int | None = None
) -> str:
    """The cache key of a layer: Nixery's SHA-1 of ``:``-joined sorted paths, plus the build options.

    Example:
        >>> layer_key(["/nix/store/b-y", "/nix/store/a-x"])[:12]
        'adad27287e85'
    """
    ident = hashlib.sha1(":".join(sorted(paths)).encode(), usedforsecurity=False).hexdigest()
    opts = f"{FORMAT_VERSION}:{store_dir}:{compression}:{'' if level is None else level}"
    return ident + "-" + hashlib.sha1(opts.encode(), usedforsecurity=False).hexdigest()[:12]


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is ``sha256:<64 hex>``; raise ImageError otherwise.

    Example:
        >>> check_digest("sha256:" + "0" * 64) == "sha256:" + "0" * 64
        True
        >>> check_digest("md5:abc")
        Traceback (most recent call last):
        ...
        layerlab.errors.ImageError: ...
    """
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise ImageError(f"not a sha256 digest: {digest!r}")
    return digest


class BlobStore:
    """A directory of content-addressed blobs plus a layer cache; see the module doc."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_store_dir()
        #: Where blobs being written go (a directory inside ``root``, so the final rename stays on one file system).
        self.tmp = self.root / "tmp"
        try:
            for sub in ("blobs/sha256", "builds", "tmp"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create blob store: {err.strerror or err}", source=str(self.root)) from None
        self.sweep()

    def sweep(self) -> int:
        """Remove the temporary blobs (and cache entries) of writers that died; return how many.

        Example:
            >>> import tempfile
            >>> store = BlobStore(tempfile.mkdtemp()); (store.root / "tmp" / "blob-left").touch()
            >>> store.sweep(), list((store.root / "tmp").iterdir())
            (1, [])
        """
        dirs = [self.root / "tmp"] + ([self.tmp] if self.tmp != self.root / "tmp" else [])
        return sum(sweep_temp(d, ["blob-"]) for d in dirs) + sweep_temp(self.root / "builds", ["."])

    def __repr__(self) -> str:
        return f"BlobStore({str(self.root)!r})"

    # ------------------------------------------------------------ blobs
    def blob_path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives (whether or not it exists).

        Example:
            >>> import tempfile
            >>> store = BlobStore(tempfile.mkdtemp()); digest = store.add_bytes(b"{}")
            >>> store.blob_path(digest).relative_to(store.root).parts[:2]
            ('blobs', 'sha256')
        """
        return self.root / "blobs" / "sha256" / check_digest(digest)[7:]

    def has(self, digest: str) -> bool:
        """Whether the blob ``digest`` is in the store.

        Example:
            >>> import tempfile
            >>> store = BlobStore(tempfile.mkdtemp()); digest = store.add_bytes(b"{}")
            >>> store.has(digest), store.has("sha256:" + "0" * 64)
            (True, False)
        """
        return self.blob_path(digest).is_file()

    def size(self, digest: str) -> int:
        """The size of the blob ``digest`` in bytes (ImageError when absent).

        Example:
            >>> import tempfile
            >>> store = BlobStore(tempfile.mkdtemp()); digest = store.add_bytes(b"{}")
            >>> store.size(digest)
            2
        """
        try:
            return self.blob_path(digest).stat().st_size
        except OSError:
            raise ImageError(f"blob {digest} is not in the store", source=str(self.root)) from None

    def open(self, digest: str) -> BinaryIO:
        """The blob ``digest`` opened for reading (ImageError when absent).

        Example:
            >>> import tempfile
            >>> store = BlobStore(tempfile.mkdtemp()); digest = store.add_bytes(b"{}")
            >>> with store.open(digest) as fh:
            ...     fh.read()
            b'{}'
        """
        try:
            return open(self.blob_path(digest), "rb")
        except OSError:
            raise ImageError(f"blob {digest} is not in the store", source=str(self.root)) from None

    def read_bytes(self, digest: str) -> bytes:
        """The bytes of the blob ``digest`` (ImageError when absent).

        Example:
            >>> import tempfile
            >>> store = BlobStore(tempfile.mkdtemp()); digest = store.add_bytes(b"{}")
            >>> store.read_bytes(digest)
            b'{}'
        """
        with self.open(digest) as fh:
            return fh.read()

    def add_bytes(self, data: bytes) -> str:
        """Store ``data``; return its digest.

        Example:
            >>> import tempfile
            >>> store = BlobStore(tempfile.mkdtemp()); digest = store.add_bytes(b"{}")
            >>> digest == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
            True
        """
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not (self.has(digest) and self.verify(digest)):
            with self.writer() as (fh, commit):
                fh.write(data)
                commit(digest)
        return digest

    @contextlib.contextmanager
    def writer(self) -> Iterator[tuple[BinaryIO, Callable[[str], None]]]:
        """A temporary file in the store and a ``commit(digest)`` that moves it into place.

        Leaving the block without committing (or by an exception) removes the
        temporary file.

        Example:
            >>> import hashlib, tempfile
            >>> store = BlobStore(tempfile.mkdtemp())
            >>> with store.writer() as (fh, commit):
            ...     _ = fh.write(b"layer")
            ...     commit("sha256:" + hashlib.sha256(b"layer").hexdigest())
            >>> store.read_bytes("sha256:" + hashlib.sha256(b"layer").hexdigest())
            b'layer'
        """
        try:
            hold = hold_temp(self.tmp, "blob-")
        except OSError as err:
            raise ImageError(f"cannot write a blob: {err.strerror or err}", source=str(self.root)) from None
        tmp = hold.path
        committed: list[str] = []

        def commit(digest: str) -> None:
            committed.append(check_digest(digest))

        try:
            try:
                with open(tmp, "wb") as fh:
                    yield fh, commit
                if committed:
                    os.chmod(tmp, 0o444)
                    os.replace(tmp, self.blob_path(committed[0]))
            except OSError as err:
                raise ImageError(f"cannot write a blob: {err.strerror or err}", source=str(self.root)) from None
        finally:
            if not committed or os.path.exists(tmp):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            hold.release()

    def verify(self, digest: str) -> bool:
        """Re-hash the blob and compare with its name (False when it is missing or unreadable).

        Example:
            >>> import tempfile
            >>> store = BlobStore(tempfile.mkdtemp()); digest = store.add_bytes(b"{}")
            >>> store.verify(digest)
            True
        """
        h = hashlib.sha256()
        try:
            with self.open(digest) as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
        except (OSError, ImageError):
            return False
        return "sha256:" + h.hexdigest() == digest

    def discard(self, digest: str) -> None:
        """Remove a blob (one that failed :meth:`verify`).

        Example:
            >>> import tempfile
            >>> store = BlobStore(tempfile.mkdtemp()); d = store.add_bytes(b"x"); store.discard(d); store.has(d)
            False
        """
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.blob_path(digest))

    # ------------------------------------------------------------ layer cache
    def get_layer(self, key: str) -> LayerInfo | None:
        """The cached layer for ``key``, or None: also when its blob is gone or does not hash to its name.

        Example:
            >>> import tempfile
            >>> store = BlobStore(tempfile.mkdtemp()); digest = store.add_bytes(b"{}")
            >>> info = LayerInfo(digest, digest, 2, 2, "none")
            >>> store.get_layer("k") is None, (store.put_layer("k", info), store.get_layer("k") == info)[1]
            (True, True)
        """
        try:
            doc = orjson.loads((self.root / "builds" / f"{key}.json").read_bytes())
            info = LayerInfo.from_json(doc)
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
            return None
        try:
            if self.blob_path(info.digest).stat().st_size != info.size:
                return None
        except (OSError, ImageError):
            return None
        if not self.verify(info.digest):
            self.discard(info.digest)
            return None
        return info

    def put_layer(self, key: str, info: LayerInfo) -> None:
        """Record that the layer ``key`` (see :func:`layer_key`) was built as ``info``.

        Example:
            >>> import tempfile
            >>> store = BlobStore(tempfile.mkdtemp()); digest = store.add_bytes(b"{}")
            >>> store.put_layer("k", LayerInfo(digest, digest, 2, 2, "none")); store.get_layer("k").size
            2
        """
        target = self.root / "builds" / f"{key}.json"
        # no per-file sweep: opening the store swept builds/ already
        atomic_write(target, orjson.dumps(info.to_json(), option=orjson.OPT_SORT_KEYS), error=ImageError, sweep=False)

    def md5(self, digest: str) -> str:
        """Base64 of the blob's binary md5 (Nixery's format).

        Example:
            >>> import tempfile
            >>> store = BlobStore(tempfile.mkdtemp()); digest = store.add_bytes(b"{}")
            >>> store.md5(digest)
            'mZFLkyvTelC5g8XnyQrpOw=='
        """
        import base64

        h = hashlib.md5(usedforsecurity=False)
        with self.open(digest) as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        return base64.b64encode(h.digest()).decode()
