"""Write a built image out: OCI image layout, Docker archive, Nixery's JSON.

All three outputs are written atomically and never remove what layerlab did
not create.  A new layout directory is assembled in a temporary directory
next to the target and renamed into place (an empty directory may stand
there; any other directory is refused).  An existing OCI layout gains a tag:
missing blobs are copied in (each to a temporary file renamed into place),
then ``index.json`` is replaced atomically, keeping every other tag.  An
archive or JSON file is written to a temporary file and renamed over the
target.  An interrupted build leaves the old output or the new one, never a
half-written image; its temporary entries are swept by the next write
(:mod:`layerlab.fileio`).

* :func:`write_oci_layout`: ``oci-layout``, ``index.json`` (the manifest with
  ``org.opencontainers.image.ref.name`` = the tag) and ``blobs/sha256/``,
  copies of the store's blobs (a reflink where the file system has them,
  never hard links: editing an exported layout must not reach the store).
* :func:`write_docker_archive`: the ``docker save`` layout that ``docker
  load`` and ``skopeo`` read: ``manifest.json``, ``<config hex>.json`` and one
  ``<diff_id hex>/layer.tar`` per layer, always uncompressed (compressed blobs
  are decompressed while the archive is written).  The archive is itself a
  reproducible pax tar (see :mod:`.tarball`).
* :func:`nixery_output`: ``{"manifest": <Docker schema 2>, "layerLocations":
  {<hex>: {"path", "md5"}}}``, the seed's output, paths pointing into the
  blob store.

Example:
    >>> import os, tempfile
    >>> from layerlab.graph import ClosureGraph
    >>> from layerlab.image.builder import build_image
    >>> from layerlab.strategies.base import Layer
    >>> d = tempfile.mkdtemp(); s = d + "/store"; os.makedirs(s + "/aaa-x/bin")
    >>> g = ClosureGraph.from_records([{"path": s + "/aaa-x", "narSize": 1}])
    >>> blobs = BlobStore(d + "/blobs")
    >>> img = build_image(g, [Layer((s + "/aaa-x",), 1)], [s + "/aaa-x"], store=blobs, store_dir=s)
    >>> digest = write_oci_layout(img, blobs, d + "/oci", tag="v1")
    >>> sorted(os.listdir(d + "/oci")), digest.startswith("sha256:")
    (['blobs', 'index.json', 'oci-layout'], True)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import zlib
from pathlib import Path
from typing import BinaryIO

import orjson

from ..errors import ImageError
from ..fileio import atomic_dir, atomic_file, atomic_write, check_new_dir, hold_temp, sweep_temp
from .builder import Image
from .manifest import OCI_INDEX, OCI_MANIFEST, check_tag
from .store import BlobStore
from .tarball import tar_header

__all__ = ["write_oci_layout", "write_docker_archive", "nixery_output", "check_oci_target", "check_file_target"]

_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
_REF_NAME = "org.opencontainers.image.ref.name"


def _copy_blob(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst``: a reflink (shared extents, copy on write) where the file system can, else bytes."""
    import fcntl

    with open(src, "rb") as fin, open(dst, "wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
            return
        except OSError:
            pass
        shutil.copyfileobj(fin, fout, 1 << 20)


def _read_index(target: Path) -> dict:
    try:
        doc = orjson.loads((target / "index.json").read_bytes())
    except (OSError, orjson.JSONDecodeError) as err:
        raise ImageError(
            f"an OCI layout whose index.json cannot be read ({err}); refusing to change it", source=str(target)
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("manifests", []), list):
        raise ImageError(
            "an OCI layout whose index.json is not an image index; refusing to change it", source=str(target)
        )
    return doc


def check_oci_target(target: str | os.PathLike[str]) -> str:
    """What writing an OCI layout to ``target`` would do: ``new`` or ``add-tag``; raise when it is refused.

    ``new``: ``target`` is absent or an empty directory.  ``add-tag``: it is an
    OCI layout (``oci-layout`` and a readable ``index.json``).  Anything else,
    a file or a directory holding other things, is refused.

    Example:
        >>> import tempfile
        >>> check_oci_target(tempfile.mkdtemp() + "/img")
        'new'
    """
    t = Path(target)
    if t.is_dir() and not t.is_symlink() and (t / "oci-layout").is_file():
        _read_index(t)
        return "add-tag"
    try:
        check_new_dir(t, error=ImageError)
    except ImageError as err:
        raise ImageError(f"{err.message} and is not an OCI image layout", source=str(target)) from None
    return "new"


def check_file_target(target: str | os.PathLike[str]) -> None:
    """Raise unless ``target`` can be written as a file (absent, or a file: not a directory).

    Example:
        >>> check_file_target("/nonexistent-dir/x.tar")
    """
    t = Path(target)
    if t.is_dir():
        raise ImageError("is a directory, expected a file name", source=str(target))


def _index_entry(m_digest: str, size: int, tag: str) -> dict:
    return {"mediaType": OCI_MANIFEST, "digest": m_digest, "size": size, "annotations": {_REF_NAME: tag}}


def write_oci_layout(image: Image, store: BlobStore, target: str | os.PathLike[str], *, tag: str = "latest") -> str:
    """Write ``image`` as an OCI image layout directory, or add it to one; return the manifest digest.

    ``skopeo inspect oci:TARGET:TAG`` and ``umoci unpack --image TARGET:TAG`` read it.
    See the module doc for what happens to an existing ``target``.

    Raises:
        ConfigError: an invalid tag.
        ImageError: ``target`` is neither new nor an OCI layout, or cannot be written.

    Example:
        >>> import os, tempfile; from layerlab.image import build_image; from layerlab.strategies.base import Layer
        >>> d = tempfile.mkdtemp(); os.makedirs(d + "/store/aaa-x"); blobs = BlobStore(d + "/blobs")
        >>> img = build_image(None, [Layer((d + "/store/aaa-x",), 1)], store=blobs, store_dir=d + "/store")
        >>> write_oci_layout(img, blobs, d + "/oci") == "sha256:" + hashlib.sha256(img.oci_manifest()).hexdigest()
        True
    """
    check_tag(tag)
    manifest = image.oci_manifest()
    m_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    if check_oci_target(target) == "add-tag":
        _add_to_layout(Path(target), image, store, manifest, m_digest, tag)
        return m_digest
    with atomic_dir(target, error=ImageError) as tmp:
        blobs = tmp / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        (blobs / m_digest[7:]).write_bytes(manifest)
        for d in image.blobs():
            dst = blobs / d.digest[7:]
            if not dst.exists():
                _copy_blob(store.blob_path(d.digest), dst)
        (tmp / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [_index_entry(m_digest, len(manifest), tag)]}
        (tmp / "index.json").write_bytes(orjson.dumps(index, option=orjson.OPT_SORT_KEYS))
    return m_digest


def _file_sha256(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except OSError:
        return None
    return "sha256:" + h.hexdigest()


def _add_to_layout(target: Path, image: Image, store: BlobStore, manifest: bytes, m_digest: str, tag: str) -> None:
    index = _read_index(target)
    blobs = target / "blobs" / "sha256"
    try:
        blobs.mkdir(parents=True, exist_ok=True)
        sweep_temp(blobs, [".blob.tmp-"])
        wanted = [(m_digest, None)] + [(d.digest, store.blob_path(d.digest)) for d in image.blobs()]
        for digest, src in wanted:
            dst = blobs / digest[7:]
            if _file_sha256(dst) == digest:
                continue  # present and intact
            hold = hold_temp(blobs, ".blob.tmp-")
            try:
                if src is None:
                    hold.path.write_bytes(manifest)
                else:
                    _copy_blob(src, hold.path)
                os.chmod(hold.path, 0o644)
                os.replace(hold.path, dst)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(hold.path)
                raise
            finally:
                hold.release()
    except OSError as err:
        raise ImageError(f"cannot add blobs to the OCI layout: {err.strerror or err}", source=str(target)) from None

    def other_tag(m: object) -> bool:
        return not (isinstance(m, dict) and (m.get("annotations") or {}).get(_REF_NAME) == tag)

    kept = [m for m in index.get("manifests", []) if other_tag(m)]
    index = {**index, "manifests": [*kept, _index_entry(m_digest, len(manifest), tag)]}
    index.setdefault("schemaVersion", 2)
    atomic_write(target / "index.json", orjson.dumps(index, option=orjson.OPT_SORT_KEYS), error=ImageError)


def _copy_decompressed(src: BinaryIO, out: BinaryIO, compression: str) -> int:
    try:
        return _copy_decompressed_raw(src, out, compression)
    except (zlib.error, EOFError) as err:
        raise ImageError(f"a blob cannot be decompressed ({err})") from None
    except Exception as err:  # zstandard.ZstdError and friends, re-raised when not those
        if type(err).__module__.startswith("zstandard"):
            raise ImageError(f"a blob cannot be decompressed ({err})") from None
        raise


def _copy_decompressed_raw(src: BinaryIO, out: BinaryIO, compression: str) -> int:
    n = 0
    if compression == "none":
        while chunk := src.read(1 << 20):
            out.write(chunk)
            n += len(chunk)
        return n
    if compression == "gzip":
        d = zlib.decompressobj(31)
        while chunk := src.read(1 << 20):
            data = d.decompress(chunk)
            out.write(data)
            n += len(data)
        data = d.flush()
        out.write(data)
        return n + len(data)
    import zstandard

    reader = zstandard.ZstdDecompressor().stream_reader(src)
    while chunk := reader.read(1 << 20):
        out.write(chunk)
        n += len(chunk)
    return n


def write_docker_archive(
    image: Image, store: BlobStore, target: str | os.PathLike[str], *, repo_tag: str | None = None
) -> None:
    """Write a ``docker load`` archive of ``image`` (layers uncompressed).

    Args:
        repo_tag: ``name:tag`` recorded in ``manifest.json`` (``RepoTags``).

    Example:
        >>> import os, tempfile; from layerlab.image import build_image; from layerlab.strategies.base import Layer
        >>> d = tempfile.mkdtemp(); os.makedirs(d + "/store/aaa-x"); blobs = BlobStore(d + "/blobs")
        >>> img = build_image(None, [Layer((d + "/store/aaa-x",), 1)], store=blobs, store_dir=d + "/store")
        >>> write_docker_archive(img, blobs, d + "/image.tar", repo_tag="x:latest")
        >>> import tarfile; "manifest.json" in tarfile.open(d + "/image.tar").getnames()
        True
    """
    cfg_name = image.config_digest[7:] + ".json"
    manifest = [
        {
            "Config": cfg_name,
            "RepoTags": [repo_tag] if repo_tag else [],
            "Layers": [layer.info.diff_id[7:] + "/layer.tar" for layer in image.layers],
        }
    ]
    with atomic_file(target, error=ImageError) as out:

        def small(name: str, data: bytes) -> None:
            out.write(tar_header(name.encode(), "file", 0o444, len(data)))
            out.write(data + b"\0" * (-len(data) % 512))

        written = set()
        for layer in image.layers:
            hexid = layer.info.diff_id[7:]
            if hexid in written:
                continue
            written.add(hexid)
            out.write(tar_header(hexid.encode(), "dir", 0o555))
            out.write(tar_header(f"{hexid}/layer.tar".encode(), "file", 0o444, layer.info.tar_size))
            with store.open(layer.info.digest) as src:
                try:
                    n = _copy_decompressed(src, out, image.compression)
                except ImageError as err:
                    raise ImageError(f"blob {layer.info.digest}: {err.message}", source=str(store.root)) from None
            if n != layer.info.tar_size:
                raise ImageError(
                    f"blob {layer.info.digest} holds {n} bytes, expected {layer.info.tar_size}", source=str(store.root)
                )
            out.write(b"\0" * (-n % 512))
        small(cfg_name, image.config)
        small("manifest.json", orjson.dumps(manifest))
        out.write(b"\0" * 1024)


def nixery_output(image: Image, store: BlobStore) -> bytes:
    """The seed's ``{"manifest", "layerLocations"}`` JSON (Docker schema 2, md5 in base64).

    Layers built without ``md5=True`` get their md5 computed from the blob here.

    Example:
        >>> import os, tempfile; from layerlab.image import build_image; from layerlab.strategies.base import Layer
        >>> d = tempfile.mkdtemp(); os.makedirs(d + "/store/aaa-x"); blobs = BlobStore(d + "/blobs")
        >>> img = build_image(None, [Layer((d + "/store/aaa-x",), 1)], store=blobs, store_dir=d + "/store")
        >>> import orjson; sorted(orjson.loads(nixery_output(img, blobs)))
        ['layerLocations', 'manifest']
    """
    locations = {
        image.config_digest[7:]: {
            "path": str(store.blob_path(image.config_digest)),
            "md5": store.md5(image.config_digest),
        }
    }
    for layer in image.layers:
        md5 = layer.info.md5 or store.md5(layer.info.digest)
        locations[layer.info.digest[7:]] = {"path": str(store.blob_path(layer.info.digest)), "md5": md5}
    doc = {"manifest": orjson.loads(image.docker_manifest()), "layerLocations": locations}
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def write_nixery_output(image: Image, store: BlobStore, target: str | os.PathLike[str]) -> None:
    """Write :func:`nixery_output` atomically to ``target``.

    Example:
        >>> import os, tempfile; from layerlab.image import build_image; from layerlab.strategies.base import Layer
        >>> d = tempfile.mkdtemp(); os.makedirs(d + "/store/aaa-x"); blobs = BlobStore(d + "/blobs")
        >>> img = build_image(None, [Layer((d + "/store/aaa-x",), 1)], store=blobs, store_dir=d + "/store")
        >>> write_nixery_output(img, blobs, d + "/out.json"); os.path.getsize(d + "/out.json") > 0
        True
    """
    with atomic_file(target, error=ImageError) as out:
        out.write(nixery_output(image, store))


__all__ += ["write_nixery_output"]
