"""Build an image from a closure graph and a layering: layers, config, manifests.

:func:`build_image` takes the layers any strategy produced, writes each as a
reproducible tarball into a :class:`~layerlab.image.store.BlobStore` (reusing
the layer cache, so a layer shared by many images is built once), adds the
customisation layer, and returns an :class:`Image`: the descriptors and the
manifest bytes.  Writing the image somewhere (an OCI layout, a Docker archive,
a registry) is the job of :mod:`.layout` and :mod:`layerlab.registry`.

Layer order in the manifest: **the order the strategy returned** (bottom
first), which is also the order of ``layers.json`` and the order the pull and
update metrics measure, then **the customisation layer last**.  Nothing is
re-sorted here: ordering layers so that images share a prefix (which Docker's
ChainID rule rewards) is the strategy's job, and what the analysis measured is
what Docker sees.

Layers are built in parallel (``workers``, default the number of CPUs),
largest first.  ``parallel="threads"`` (the default, safe in any host
process such as a notebook kernel) suits large files, since hashing and
compression release the GIL; ``parallel="processes"`` also spreads the
per-file Python work (headers, system calls) over the cores, about 1.5x
faster on closures of many small files; the command line uses it.  Processes
are forked, and only when the caller runs no other thread (forking a
multi-threaded process can deadlock); otherwise threads are used.  Workers
die with the process that started them, and an interruption or a failed
layer cancels the queued layers and kills the running worker processes
(:mod:`layerlab.procs`); the store then sweeps what they were writing.

Every input is checked before the first byte is written
(:func:`check_build_inputs`): the compression and level, the store
directory, that the layers partition the graph, that every store path is
well formed and present, that every package is in the closure.

Example:
    >>> import os, tempfile
    >>> from layerlab.graph import ClosureGraph
    >>> from layerlab.strategies.base import Layer
    >>> d = tempfile.mkdtemp(); s = d + "/store"; os.makedirs(s + "/aaa-x/bin")
    >>> open(s + "/aaa-x/bin/x", "w").close()
    >>> g = ClosureGraph.from_records([{"path": s + "/aaa-x", "narSize": 1}])
    >>> img = build_image(g, [Layer((s + "/aaa-x",), 1)], [s + "/aaa-x"],
    ...                   store=BlobStore(d + "/blobs"), store_dir=s, compression="gzip")
    >>> [layer.kind for layer in img.layers]
    ['store', 'customisation']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import ImageError
from ..graph import DEFAULT_STORE_DIR, ClosureGraph
from ..procs import process_pool, stop_pool
from ..strategies.base import Layer, check_layers, layer_identity
from .config import ImageConfig, config_json
from .customisation import Conflict, join_packages
from .manifest import OCI_MANIFEST, Descriptor, docker_manifest, layer_media_type, oci_manifest
from .store import BlobStore, layer_key
from .tarball import LayerInfo, check_compression, check_store_path, parent_entries, write_entries, write_layer

__all__ = ["BuiltLayer", "Image", "build_image", "check_build_inputs", "layer_identity"]


@dataclass(frozen=True)
class BuiltLayer:
    """One layer of a built image.

    Attributes:
        info: digests and sizes of its blob.
        kind: ``store`` or ``customisation``.
        paths: the store paths it holds (the joined packages for customisation).
        rating, reason: from the strategy's :class:`~layerlab.strategies.base.Layer`.
        cached: whether the blob came from the layer cache.
    """

    info: LayerInfo
    kind: str
    paths: tuple[str, ...]
    rating: int | float = 0
    reason: str = ""
    cached: bool = False

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.info.digest, self.info.size)

    def history(self) -> str:
        """The layer's line in the image configuration's history.

        Example:
            >>> import os, tempfile; from layerlab.strategies.base import Layer
            >>> d = tempfile.mkdtemp(); os.makedirs(d + "/store/aaa-x")
            >>> img = build_image(None, [Layer((d + "/store/aaa-x",), 1)],
            ...                   store=BlobStore(d + "/b"), store_dir=d + "/store")
            >>> img.layers[0].history()
            'layerlab: 1 store paths (layer)'
        """
        if self.kind == "customisation":
            return f"layerlab: customisation layer joining {len(self.paths)} packages"
        return f"layerlab: {len(self.paths)} store paths ({self.reason or 'layer'})"


@dataclass(frozen=True)
class Image:
    """A built image whose blobs are in a blob store.

    Attributes:
        layers: in manifest order.
        config: the configuration blob's bytes; ``config_digest`` names it.
        compression: of every layer blob.
        conflicts: names two requested packages both provided.
    """

    layers: tuple[BuiltLayer, ...]
    config: bytes
    config_digest: str
    compression: str
    conflicts: tuple[Conflict, ...] = ()

    @property
    def config_descriptor(self) -> Descriptor:
        return Descriptor(self.config_digest, len(self.config))

    @property
    def diff_ids(self) -> list[str]:
        return [layer.info.diff_id for layer in self.layers]

    def oci_manifest(self) -> bytes:
        """The OCI image manifest of the image.

        Example:
            >>> import os, tempfile; from layerlab.strategies.base import Layer
            >>> d = tempfile.mkdtemp(); os.makedirs(d + "/store/aaa-x")
            >>> img = build_image(None, [Layer((d + "/store/aaa-x",), 1)],
            ...                   store=BlobStore(d + "/b"), store_dir=d + "/store")
            >>> import orjson; orjson.loads(img.oci_manifest())["mediaType"]
            'application/vnd.oci.image.manifest.v1+json'
        """
        return oci_manifest(self.config_descriptor, [layer.descriptor for layer in self.layers], self.compression)

    def docker_manifest(self) -> bytes:
        """The Docker Image Manifest V2 Schema 2 of the image.

        Example:
            >>> import os, tempfile; from layerlab.strategies.base import Layer
            >>> d = tempfile.mkdtemp(); os.makedirs(d + "/store/aaa-x")
            >>> img = build_image(None, [Layer((d + "/store/aaa-x",), 1)],
            ...                   store=BlobStore(d + "/b"), store_dir=d + "/store")
            >>> import orjson; orjson.loads(img.docker_manifest())["mediaType"]
            'application/vnd.docker.distribution.manifest.v2+json'
        """
        return docker_manifest(self.config_descriptor, [layer.descriptor for layer in self.layers], self.compression)

    def manifest(self, fmt: str = "oci") -> tuple[bytes, str]:
        """The manifest bytes and media type in ``oci`` or ``docker`` format.

        Example:
            >>> import os, tempfile; from layerlab.strategies.base import Layer
            >>> d = tempfile.mkdtemp(); os.makedirs(d + "/store/aaa-x")
            >>> img = build_image(None, [Layer((d + "/store/aaa-x",), 1)],
            ...                   store=BlobStore(d + "/b"), store_dir=d + "/store")
            >>> img.manifest("docker")[1]
            'application/vnd.docker.distribution.manifest.v2+json'
        """
        if fmt == "oci":
            return self.oci_manifest(), OCI_MANIFEST
        if fmt == "docker":
            from .manifest import DOCKER_MANIFEST

            return self.docker_manifest(), DOCKER_MANIFEST
        raise ImageError(f"manifest format must be oci or docker, not {fmt!r}")

    def blobs(self) -> list[Descriptor]:
        """Every blob the manifest references: the layers in order, then the config.

        Example:
            >>> import os, tempfile; from layerlab.strategies.base import Layer
            >>> d = tempfile.mkdtemp(); os.makedirs(d + "/store/aaa-x")
            >>> img = build_image(None, [Layer((d + "/store/aaa-x",), 1)],
            ...                   store=BlobStore(d + "/b"), store_dir=d + "/store")
            >>> [b.digest for b in img.blobs()][-1] == img.config_digest
            True
        """
        return [layer.descriptor for layer in self.layers] + [self.config_descriptor]

    def summary(self) -> dict:
        """A JSON-able description: layers with digests, sizes, paths counts.

        Example:
            >>> import os, tempfile; from layerlab.strategies.base import Layer
            >>> d = tempfile.mkdtemp(); os.makedirs(d + "/store/aaa-x")
            >>> img = build_image(None, [Layer((d + "/store/aaa-x",), 1)],
            ...                   store=BlobStore(d + "/b"), store_dir=d + "/store")
            >>> s = img.summary(); s["compression"], s["layers"][0]["kind"], s["layers"][0]["paths"]
            ('gzip', 'store', 1)
        """
        return {
            "config": self.config_digest,
            "compression": self.compression,
            "layers": [
                {
                    **layer.info.to_json(),
                    "kind": layer.kind,
                    "paths": len(layer.paths),
                    "rating": layer.rating,
                    "reason": layer.reason,
                    "cached": layer.cached,
                    "media_type": layer_media_type(self.compression, "oci"),
                }
                for layer in self.layers
            ],
            "conflicts": [c.__dict__ for c in self.conflicts],
        }


def _build_store_layer(
    layer: Layer, store: BlobStore, store_dir: str, compression: str, level: int | None, md5: bool
) -> BuiltLayer:
    key = layer_key(layer.paths, store_dir=store_dir, compression=compression, level=level)
    info = store.get_layer(key)
    cached = info is not None
    if info is None:
        with store.writer() as (fh, commit):
            info = write_layer(layer.paths, fh, store_dir=store_dir, compression=compression, level=level, md5=md5)
            commit(info.digest)
        store.put_layer(key, info)
    elif md5 and info.md5 is None:
        info = LayerInfo(**{**info.__dict__, "md5": store.md5(info.digest)})
        store.put_layer(key, info)
    return BuiltLayer(info, "store", tuple(layer.paths), layer.rating, layer.reason, cached)


def _pool(parallel: str, n: int) -> Executor:
    import threading

    # Forking is safe only while no other thread can hold a lock; spawned
    # interpreters would re-run an unguarded __main__.  So: processes when
    # the caller is single-threaded, threads otherwise.
    if parallel == "threads" or threading.active_count() > 1:
        return ThreadPoolExecutor(n, thread_name_prefix="layerlab-layer")
    return process_pool(n)


def check_build_inputs(
    graph: ClosureGraph | None,
    layers: Sequence[Layer],
    packages: Sequence[str] = (),
    *,
    store_dir: str = DEFAULT_STORE_DIR,
    compression: str = "gzip",
    level: int | None = None,
    parallel: str = "threads",
    workers: int | None = None,
) -> None:
    """Every check :func:`build_image` makes before writing anything; see it for the arguments.

    Raises:
        ImageError: a bad compression, level, store directory, path or package.
        StrategyError: the layers do not partition the graph.

    Example:
        >>> check_build_inputs(None, [Layer(("/nix/store/aaa-not-here",), 1)])
        Traceback (most recent call last):
        ...
        layerlab.errors.ImageError: /nix/store/aaa-not-here: store path is not on this machine
    """
    check_compression(compression, level)
    parent_entries(store_dir)  # validates store_dir
    if parallel not in ("threads", "processes"):
        raise ImageError(f"parallel must be threads or processes, not {parallel!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ImageError(f"workers must be a whole number of at least 1, not {workers!r}", source="--workers")
    if graph is not None:
        check_layers(graph, layers, who="layers")
        index = graph.index
        missing = [p for p in packages if p not in index]
        if missing:
            raise ImageError(f"requested package {missing[0]} is not in the closure graph", source=graph.source)
    for path in [p for layer in layers for p in layer.paths] + list(packages):
        b = check_store_path(path, store_dir)
        if not os.path.lexists(b):
            raise ImageError("store path is not on this machine", source=os.fsdecode(b))


def build_image(
    graph: ClosureGraph | None,
    layers: Sequence[Layer],
    packages: Sequence[str] = (),
    *,
    store: BlobStore,
    store_dir: str = DEFAULT_STORE_DIR,
    compression: str = "gzip",
    level: int | None = None,
    config: ImageConfig | None = None,
    md5: bool = False,
    workers: int | None = None,
    parallel: str = "threads",
) -> Image:
    """Build every layer blob and the config into ``store``; return the :class:`Image`.

    Args:
        graph: the image's closure; when given, ``layers`` must partition it
            and every package must be one of its paths.
        layers: from any strategy, bottom first; the manifest lists them in this order.
        packages: the requested packages' store paths, joined into the
            customisation layer (none: no customisation layer).
        store: where blobs go; its layer cache is used and filled.
        store_dir: the Nix store directory the paths live in.
        compression: ``none``, ``gzip`` or ``zstd``.
        level: compression level (gzip 6, zstd 3 by default).
        config: architecture, os, Env, Cmd... (defaults: amd64/linux, empty).
        md5: compute the md5 of each blob (Nixery's ``layerLocations``).
        workers: layers built at once (default: the number of CPUs).
        parallel: ``threads`` or ``processes`` (see the module doc).

    Raises:
        ImageError: unreadable or odd store contents, a package not in the closure.
        StrategyError: the layers do not partition the graph.

    Example:
        >>> import os, tempfile; from layerlab.strategies.base import Layer
        >>> d = tempfile.mkdtemp(); os.makedirs(d + "/store/aaa-x")
        >>> img = build_image(None, [Layer((d + "/store/aaa-x",), 1)],
        ...                   store=BlobStore(d + "/b"), store_dir=d + "/store")
        >>> [layer.kind for layer in img.layers], img.compression
        (['store'], 'gzip')
    """
    check_build_inputs(
        graph,
        layers,
        packages,
        store_dir=store_dir,
        compression=compression,
        level=level,
        parallel=parallel,
        workers=workers,
    )
    cfg = config or ImageConfig()
    ordered = list(layers)
    built: list[BuiltLayer | None] = [None] * len(ordered)
    for i, layer in enumerate(ordered):  # cache hits first, in this process
        info = store.get_layer(layer_key(layer.paths, store_dir=store_dir, compression=compression, level=level))
        if info is not None and (info.md5 is not None or not md5):
            built[i] = BuiltLayer(info, "store", tuple(layer.paths), layer.rating, layer.reason, True)
    jobs = sorted((i for i in range(len(ordered)) if built[i] is None), key=lambda i: -(ordered[i].size or 0))
    n = workers or os.cpu_count() or 1
    if n > 1 and len(jobs) > 1:
        pool = _pool(parallel, min(n, len(jobs)))
        try:
            futures = {
                i: pool.submit(_build_store_layer, ordered[i], store, store_dir, compression, level, md5) for i in jobs
            }
            for i, f in futures.items():
                built[i] = f.result()
        except BaseException:
            stop_pool(pool, kill=True)  # queued layers cancelled, running workers killed
            store.sweep()
            raise
        stop_pool(pool)
    else:
        for i in jobs:
            built[i] = _build_store_layer(ordered[i], store, store_dir, compression, level, md5)
    result: list[BuiltLayer] = [b for b in built if b is not None]
    conflicts: tuple[Conflict, ...] = ()
    if packages:
        joined = join_packages(packages, store_dir=store_dir)
        conflicts = joined.conflicts
        with store.writer() as (fh, commit):
            info = write_entries(joined.entries, fh, compression=compression, level=level, md5=md5)
            commit(info.digest)
        result.append(BuiltLayer(info, "customisation", joined.packages))
    cfg_bytes = config_json(cfg, [b.info.diff_id for b in result], [b.history() for b in result])
    cfg_digest = store.add_bytes(cfg_bytes)
    return Image(tuple(result), cfg_bytes, cfg_digest, compression, conflicts)
