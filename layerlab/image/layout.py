"""Write a built image out: OCI image layout, Docker archive, Nixery's JSON.

All three outputs are written atomically.  A layout directory is assembled in
a temporary directory next to the target and renamed into place (an existing
target is first renamed aside, then removed); an archive or JSON file is
written to a temporary file and renamed over the target.  An interrupted build
leaves the old output (or nothing) plus at most a hidden ``.<name>.tmp-*``
entry, never a half-written image.

* :func:`write_oci_layout`: ``oci-layout``, ``index.json`` (the manifest with
  ``org.opencontainers.image.ref.name`` = the tag) and ``blobs/sha256/``
  (hard links into the blob store when it is on the same file system).
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

import hashlib
import os
import shutil
import zlib
from pathlib import Path
from typing import BinaryIO

import orjson

from ..errors import ImageError
from ..fileio import atomic_dir, atomic_file
from .builder import Image
from .manifest import OCI_INDEX, OCI_MANIFEST
from .store import BlobStore
from .tarball import tar_header

__all__ = ["write_oci_layout", "write_docker_archive", "nixery_output"]


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_oci_layout(image: Image, store: BlobStore, target: str | os.PathLike[str], *, tag: str = "latest") -> str:
    """Write ``image`` as an OCI image layout directory; return the manifest digest.

    ``skopeo inspect oci:TARGET:TAG`` and ``umoci unpack --image TARGET:TAG`` read it.

    Example:
        >>> import os, tempfile; from layerlab.image import build_image; from layerlab.strategies.base import Layer
        >>> d = tempfile.mkdtemp(); os.makedirs(d + "/store/aaa-x"); blobs = BlobStore(d + "/blobs")
        >>> img = build_image(None, [Layer((d + "/store/aaa-x",), 1)], store=blobs, store_dir=d + "/store")
        >>> write_oci_layout(img, blobs, d + "/oci") == "sha256:" + hashlib.sha256(img.oci_manifest()).hexdigest()
        True
    """
    if not tag or "/" in tag:
        raise ImageError(f"invalid tag {tag!r}", source=str(target))
    manifest = image.oci_manifest()
    with atomic_dir(target, error=ImageError) as tmp:
        blobs = tmp / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        m_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        (blobs / m_digest[7:]).write_bytes(manifest)
        for d in image.blobs():
            dst = blobs / d.digest[7:]
            if not dst.exists():
                _link_or_copy(store.blob_path(d.digest), dst)
        (tmp / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": m_digest,
                    "size": len(manifest),
                    "annotations": {"org.opencontainers.image.ref.name": tag},
                }
            ],
        }
        (tmp / "index.json").write_bytes(orjson.dumps(index, option=orjson.OPT_SORT_KEYS))
    return m_digest


def _copy_decompressed(src: BinaryIO, out: BinaryIO, compression: str) -> int:
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


def write_docker_archive(image: Image, store: BlobStore, target: str | os.PathLike[str], *, repo_tag: str | None = None) -> None:
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
    manifest = [{"Config": cfg_name, "RepoTags": [repo_tag] if repo_tag else [], "Layers": [layer.info.diff_id[7:] + "/layer.tar" for layer in image.layers]}]
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
                n = _copy_decompressed(src, out, image.compression)
            if n != layer.info.tar_size:
                raise ImageError(f"blob {layer.info.digest} holds {n} bytes, expected {layer.info.tar_size}", source=str(store.root))
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
    locations = {image.config_digest[7:]: {"path": str(store.blob_path(image.config_digest)), "md5": store.md5(image.config_digest)}}
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
