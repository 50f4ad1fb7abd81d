"""Built manifests on disk: one entry per (source revision, packages, configuration, budget).

Layout, next to the blobs in the blob store (so a store moved or restarted
keeps its manifests)::

    <store>/manifests/<key>.json     one built image: its manifests' digests, its blobs, when it was built
    <store>/manifests/digests/<hex>  the media type of a manifest served before (its bytes are a blob)

The key is the SHA-256 of the package source at the requested revision, the
Nix system, the sorted packages and the server's configuration (strategy and
parameters, budget, popularity, compression; :meth:`ServeSettings.configuration
<layerlab.serve.settings.ServeSettings.configuration>`).  An entry is written
atomically, and only once every blob it names is in the store, so a build
stopped at any moment leaves either a complete entry or none.  Entries of
immutable sources (a git commit, a pinned flake) are kept for good; others
are served for ``ttl`` seconds, then built again (Nix and the layer cache make
a rebuild of unchanged packages cheap).  Entries read from disk are kept in
memory, so a cached manifest is answered without touching the disk.

Example:
    >>> import tempfile
    >>> from layerlab.image import BlobStore
    >>> c = ManifestCache(BlobStore(tempfile.mkdtemp()), {"budget": 3})
    >>> c.get("0" * 64) is None
    True
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..errors import ImageError
from ..fileio import atomic_write
from ..image import BlobStore, Image
from ..image.manifest import DOCKER_MANIFEST, OCI_MANIFEST
from ..sources.nix import system_for_arch
from .names import ImageRequest

__all__ = ["KEY_VERSION", "CachedImage", "ManifestCache"]

#: Bumped when the meaning of an entry changes.
KEY_VERSION = 1


@dataclass(frozen=True)
class CachedImage:
    """A built image, as served.

    Attributes:
        key: the cache key.
        manifests: format (``oci``, ``docker``) -> (digest, media type, bytes).
        blobs: the digests of its layers and config.
        created: when it was built (seconds since the epoch).
        immutable: whether its source revision can never change.
    """

    key: str
    manifests: dict[str, tuple[str, str, bytes]]
    blobs: tuple[str, ...]
    created: float
    immutable: bool

    @property
    def formats(self) -> tuple[str, ...]:
        return tuple(self.manifests)


class ManifestCache:
    """The manifest cache of one server (see the module doc)."""

    def __init__(self, store: BlobStore, configuration: dict[str, Any], *, ttl: float = 3600.0) -> None:
        self.store = store
        self.configuration = configuration
        self.ttl = ttl
        self.dir = Path(store.root) / "manifests"
        (self.dir / "digests").mkdir(parents=True, exist_ok=True)
        self._images: dict[str, CachedImage] = {}
        self._by_digest: dict[str, tuple[bytes, str]] = {}

    def key(self, request: ImageRequest) -> str:
        """The cache key of a request under this configuration.

        Example:
            >>> import tempfile
            >>> from layerlab.serve.names import image_request
            >>> from layerlab.sources.nix import parse_source
            >>> c = ManifestCache(BlobStore(tempfile.mkdtemp()), {"budget": 3})
            >>> src = parse_source("path!nix/testpkgs")
            >>> c.key(image_request("git/hello", "latest", src)) == c.key(image_request("hello/git", "v2", src))
            True
        """
        doc = [
            KEY_VERSION,
            request.source.spec,
            system_for_arch(request.arch),
            sorted(request.packages),
            self.configuration,
        ]
        return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def _fresh(self, img: CachedImage) -> bool:
        return img.immutable or time.time() - img.created <= self.ttl

    def get(self, key: str) -> CachedImage | None:
        """The image built for ``key``, or None (absent, expired, or a blob has gone).

        Example:
            >>> import tempfile
            >>> ManifestCache(BlobStore(tempfile.mkdtemp()), {}).get("f" * 64) is None
            True
        """
        img = self._images.get(key)
        if img is not None:
            if self._fresh(img):
                return img
            del self._images[key]
            return None
        try:
            doc = orjson.loads((self.dir / f"{key}.json").read_bytes())
            manifests = {}
            for fmt, m in doc["manifests"].items():
                manifests[fmt] = (m["digest"], m["mediaType"], self.store.read_bytes(m["digest"]))
            blobs = tuple(doc["blobs"])
            img = CachedImage(key, manifests, blobs, float(doc["created"]), bool(doc["immutable"]))
        except (OSError, ValueError, KeyError, TypeError, ImageError):
            return None
        if not self._fresh(img) or not all(self.store.has(d) for d in img.blobs):
            return None
        self._images[key] = img
        for digest, media, data in manifests.values():
            self._by_digest[digest] = (data, media)
        return img

    def manifest(self, digest: str) -> tuple[bytes, str] | None:
        """A manifest served before, by digest: (bytes, media type), or None.

        Example:
            >>> import tempfile
            >>> ManifestCache(BlobStore(tempfile.mkdtemp()), {}).manifest("sha256:" + "0" * 64) is None
            True
        """
        hit = self._by_digest.get(digest)
        if hit is not None:
            return hit
        try:
            media = (self.dir / "digests" / digest[7:]).read_text().strip()
            data = self.store.read_bytes(digest)
        except (OSError, ImageError):
            return None
        self._by_digest[digest] = (data, media)
        return data, media

    def put(self, key: str, image: Image, request: ImageRequest, *, seconds: float = 0.0) -> CachedImage:
        """Record a built image (its blobs are in the store): manifests as blobs, then the entry.

        Example:
            >>> cached = cache.put(key, image, request, seconds=1.5)  # doctest: +SKIP
            >>> cache.get(key) == cached, cached.formats  # doctest: +SKIP
            (True, ('oci', 'docker'))
        """
        manifests: dict[str, tuple[str, str, bytes]] = {}
        formats = [("oci", OCI_MANIFEST, image.oci_manifest)]
        if image.compression != "zstd":
            formats.append(("docker", DOCKER_MANIFEST, image.docker_manifest))
        for fmt, media, make in formats:
            data = make()
            digest = self.store.add_bytes(data)
            atomic_write(self.dir / "digests" / digest[7:], media.encode(), error=ImageError)
            manifests[fmt] = (digest, media, data)
        created = time.time()
        blobs = tuple(d.digest for d in image.blobs())
        doc = {
            "key": key,
            "created": created,
            "immutable": request.source.immutable,
            "request": request.to_json(),
            "configuration": self.configuration,
            "manifests": {fmt: {"digest": d, "mediaType": m} for fmt, (d, m, _) in manifests.items()},
            "blobs": list(blobs),
            "build": {
                "seconds": round(seconds, 3),
                "layers": len(image.layers),
                "built": sum(1 for x in image.layers if not x.cached),
            },
        }
        atomic_write(
            self.dir / f"{key}.json",
            orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2),
            error=ImageError,
        )
        return CachedImage(key, manifests, blobs, created, request.source.immutable)
