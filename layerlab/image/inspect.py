"""Reading a built image back from its tarballs: each layer's files, sizes and store paths.

:func:`read_oci_layout` opens an OCI image layout (what
:func:`~layerlab.image.layout.write_oci_layout`, ``skopeo copy oci:`` or
``nix2container`` write), picks a manifest by tag, and lists every layer blob:
its digest and compressed size, and every tar entry with its type and size,
grouped by the store path it belongs to.  This is what a layer browser in the
spirit of ``dive`` shows for a real image rather than a planned layering;
layers are identified by digest, so two images share a layer exactly when a
registry would store it once.

Uncompressed, gzip and zstd layers are read (the media types of the OCI image
specification, ``application/vnd.oci.image.layer.v1.tar[+gzip|+zstd]``, and
Docker's ``...rootfs.diff.tar.gzip``).

Example:
    >>> LayerFile("nix/store/aaa-x/bin/x", 120, "file").store_path("/nix/store")
    '/nix/store/aaa-x'
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from ..errors import ImageError, InputError

__all__ = ["LayerFile", "ImageLayer", "read_oci_layout"]


@dataclass(frozen=True)
class LayerFile:
    """One entry of a layer tarball.

    Attributes:
        name: the entry's name, without a leading ``./`` or ``/``.
        size: bytes of content (0 for directories and links).
        kind: ``file``, ``dir``, ``symlink``, ``hardlink`` or ``other``.
    """

    name: str
    size: int
    kind: str

    def store_path(self, store_dir: str = "/nix/store") -> str | None:
        """The store path the entry belongs to, or ``None`` (a parent directory, a customisation file).

        Example:
            >>> LayerFile("nix/store/aaa-x/bin/x", 3, "file").store_path(), LayerFile("etc/x", 1, "file").store_path()
            ('/nix/store/aaa-x', None)
        """
        prefix = store_dir.strip("/") + "/"
        if not self.name.startswith(prefix):
            return None
        rest = self.name[len(prefix) :]
        if not rest:
            return None
        return "/" + prefix + rest.split("/", 1)[0]


@dataclass(frozen=True)
class ImageLayer:
    """One layer of a built image.

    Attributes:
        digest: the blob digest (``sha256:…``), the layer's identity.
        media_type: the manifest's media type for it.
        blob_size: compressed bytes (what a client downloads).
        files: every tar entry, in tar order.
    """

    digest: str
    media_type: str
    blob_size: int
    files: tuple[LayerFile, ...]

    @property
    def content_bytes(self) -> int:
        """Bytes of file content the layer adds."""
        return sum(f.size for f in self.files)

    def store_paths(self, store_dir: str = "/nix/store") -> dict[str, int]:
        """Store paths in the layer with their content bytes, in first-seen order.

        Example:
            >>> files = (LayerFile("nix/store/a-x/f", 3, "file"), LayerFile("nix/store/a-x/g", 4, "file"))
            >>> ImageLayer("sha256:" + "0" * 64, "t", 7, files).store_paths()
            {'/nix/store/a-x': 7}
        """
        out: dict[str, int] = {}
        for f in self.files:
            p = f.store_path(store_dir)
            if p is not None:
                out[p] = out.get(p, 0) + f.size
        return out


_KIND = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
}


def _open_blob(path: Path, media_type: str) -> IO[bytes]:
    f: IO[bytes] = open(path, "rb")
    if media_type.endswith(("+zstd", ".zstd")):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(f, closefd=True)
    if media_type.endswith("gzip"):
        import gzip

        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    return f


def _entries(stream: IO[bytes], where: str) -> Iterator[LayerFile]:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for m in tar:
                name = m.name.lstrip("/")
                name = name[2:] if name.startswith("./") else name
                yield LayerFile(name, m.size if m.isreg() else 0, _KIND.get(m.type, "other"))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise ImageError(f"cannot read layer tarball: {err}", source=where) from None


def read_oci_layout(layout: str | os.PathLike[str], tag: str | None = None) -> tuple[str, list[ImageLayer]]:
    """The manifest digest and the layers (bottom first) of one image of an OCI layout.

    Args:
        layout: the layout directory (holding ``index.json`` and ``blobs/``).
        tag: the ``org.opencontainers.image.ref.name`` to pick; optional when
            the index lists one manifest.

    Raises:
        InputError: no such layout, or it cannot be parsed.
        ImageError: no manifest with that tag, several and no tag, a missing or unreadable blob.

    Example:
        >>> read_oci_layout("/nonexistent")
        Traceback (most recent call last):
        ...
        layerlab.errors.InputError: /nonexistent: not an OCI image layout (no index.json)
    """
    root = Path(layout)
    index_file = root / "index.json"
    if not index_file.is_file():
        raise InputError("not an OCI image layout (no index.json)", source=str(root))
    try:
        index = orjson.loads(index_file.read_bytes())
        manifests = list(index["manifests"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as err:
        raise InputError(f"index.json cannot be parsed: {err}", source=str(root)) from None
    if tag is not None:
        manifests = [
            m for m in manifests if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag
        ]
        if not manifests:
            raise ImageError(f"no image tagged {tag!r}", source=str(root))
    if len(manifests) != 1:
        raise ImageError(f"{len(manifests)} images in the layout; name one by tag", source=str(root))
    digest = str(manifests[0]["digest"])
    manifest: Any = orjson.loads(_blob(root, digest).read_bytes())
    layers = []
    for entry in manifest.get("layers", ()):
        d, media = str(entry["digest"]), str(entry.get("mediaType", ""))
        path = _blob(root, d)
        with _open_blob(path, media) as stream:
            files = tuple(_entries(stream, str(path)))
        layers.append(ImageLayer(d, media, path.stat().st_size, files))
    return digest, layers


def _blob(root: Path, digest: str) -> Path:
    algo, _, hexpart = digest.partition(":")
    p = root / "blobs" / algo / hexpart
    if not hexpart or not p.is_file():
        raise ImageError(f"blob {digest} is missing", source=str(root))
    return p
