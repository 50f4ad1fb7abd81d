"""Image sets: named, ordered collections of images to measure a layering on.

Cache-hit metrics only make sense over several images: a layer is cheap when
the next image a client pulls reuses it.  An :class:`ImageSet` is that unit of
analysis: an ordered tuple of :class:`Image` objects (a closure graph plus,
when it was built with Nix, the package list and package source it came
from), an optional popularity table, and a name.  The order is the order in
which a client pulls the images in the pull metrics.

Where image sets come from:

* :meth:`ImageSet.from_directory`: every graph file of a directory, in
  file-name order (``img-apache2.graph.json``, ``img-clang.graph.json``...).
  A directory holding ``imageset.toml`` or ``imageset.json`` is read through
  that manifest instead.
* :meth:`ImageSet.from_manifest`: a JSON or TOML manifest listing the images;
  file names are relative to the manifest::

      name = "web"
      popularity = "popularity.json"        # optional
      [[images]]
      name = "nginx"                        # optional, default: from the file name
      graph = "img-nginx.graph.json"
      [[images]]
      name = "hello"
      packages = ["hello"]                  # no graph: built with Nix
      source = "nixpkgs!nixos-24.05"        # optional, default: the top-level "source"

* :meth:`ImageSet.from_nix`: closures computed by a real Nix through
  :func:`layerlab.sources.nix.closure`.
* :func:`load_imageset` picks the right one for a directory or a manifest,
  and :func:`default_imageset` is the bundled Debian 30-image set with its
  popularity table.

Shared path identity: :attr:`ImageSet.universe` numbers every distinct store
path of the set once (sorted, so the numbering is deterministic) and maps each
image's local path index to that global id.  The metrics identify a layer by
the sorted tuple of global ids of its paths, which is exactly "the sorted list
of its paths" without string comparisons in hot loops.  A path listed by two
images with different ``narSize`` is an error, since it cannot be one
store path.

:attr:`ImageSet.digest` is a SHA-256 of the names and graph contents, used to
key on-disk caches (:mod:`layerlab.metrics.sweep`).

Example:
    >>> s = default_imageset()
    >>> len(s), s.names[:2]
    (30, ('img-apache2', 'img-clang'))
    >>> s["img-curl"].graph.paths[0][:44]
    '/nix/store/06xf5vj88wi8j1fckspmxjy4vcissvnm-'
    >>> s.union_bytes <= s.total_bytes
    True
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from .errors import ConfigError, GraphError, InputError, NixError
from .fileio import read_document
from .graph import ClosureGraph
from .popularity import Popularity, load_popularity
from .sources.files import graph_name, load_graph

__all__ = [
    "Image",
    "ImageSet",
    "PathUniverse",
    "load_imageset",
    "default_imageset",
    "bundled_imagesets",
    "DATA_DIR",
    "DEFAULT_IMAGESET_DIR",
    "MANIFEST_NAMES",
]

#: The bundled data: ``layerlab/data`` in an installed package; in a source
#: checkout that is a link to ``data/`` at the top of the tree, resolved here.
DATA_DIR = (Path(__file__).resolve().parent / "data").resolve()

#: The bundled Debian 30-image set.
DEFAULT_IMAGESET_DIR = DATA_DIR / "debian" / "imageset"
_DEFAULT_POPULARITY = DEFAULT_IMAGESET_DIR.parent / "popularity.json"

#: Manifest file names looked for inside a directory, in this order.
MANIFEST_NAMES = ("imageset.toml", "imageset.json")

_GRAPH_SUFFIXES = (".json", ".json.xz", ".json.gz", ".json.zst", ".closure", ".closure.xz")
_NOT_GRAPHS = {"popularity.json", *MANIFEST_NAMES}


@dataclass(frozen=True, eq=False)
class Image:
    """One image of a set.

    Attributes:
        name: the image's label (unique within its set).
        graph: its closure graph.
        packages: the packages it was built from, when known.
        source: the package source (``nixpkgs!<channel>``, ``git!<url>!<rev>``,
            ``path!<dir>``) or the graph file it was read from.
    """

    name: str
    graph: ClosureGraph
    packages: tuple[str, ...] = ()
    source: str | None = None

    @property
    def bytes(self) -> int:
        """The image's size: the sum of ``narSize`` over its closure."""
        return sum(self.graph.require_nar_size(f"the size of image {self.name}"))


@dataclass(frozen=True, eq=False)
class PathUniverse:
    """Every distinct store path of an image set, numbered once.

    Attributes:
        paths: the distinct paths, sorted; a path's global id is its index.
        nar_size: each path's ``narSize`` (int64), or ``None`` when some image
            lacks sizes.
        ids: for each image, the global id of each of its (local) paths, as an
            int64 array indexed like ``graph.paths``.
    """

    paths: tuple[str, ...]
    nar_size: np.ndarray | None
    ids: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.paths)

    @cached_property
    def index(self) -> dict[str, int]:
        """Store path -> global id."""
        return {p: i for i, p in enumerate(self.paths)}

    def require_sizes(self, who: str) -> np.ndarray:
        """The sizes, or a clear error naming ``who`` needs them.

        Example:
            >>> int(default_imageset().universe.require_sizes("a demo").sum()) == default_imageset().union_bytes
            True
        """
        if self.nar_size is None:
            raise GraphError(f"{who} needs narSize for every path of every image, and some image has none")
        return self.nar_size


@dataclass(frozen=True, eq=False)
class ImageSet:
    """A named, ordered collection of images; see the module documentation.

    Attributes:
        name: a label for tables and plots.
        images: the images, in pull order.
        popularity: the popularity table that goes with the set, if any.
        source: the directory or manifest it was loaded from.
    """

    name: str
    images: tuple[Image, ...]
    popularity: Popularity | None = None
    source: str | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for img in self.images:
            if img.name in seen:
                raise InputError(f"image name {img.name!r} appears twice", source=self.source or self.name)
            seen.add(img.name)

    # ---------------------------------------------------------- constructors
    @classmethod
    def from_graphs(
        cls,
        graphs: Iterable[ClosureGraph] | Mapping[str, ClosureGraph],
        *,
        name: str = "images",
        popularity: Popularity | None = None,
    ) -> ImageSet:
        """An image set from graphs in memory (names from the mapping keys or ``graph.name``).

        Example:
            >>> g = ClosureGraph.from_records([{"path": "/nix/store/a-x", "narSize": 5}], name="x")
            >>> ImageSet.from_graphs([g]).names
            ('x',)
        """
        items = (
            graphs.items()
            if isinstance(graphs, Mapping)
            else ((g.name or f"image-{n}", g) for n, g in enumerate(graphs))
        )
        images = tuple(Image(str(k), g, source=g.source) for k, g in items)
        return cls(name=name, images=images, popularity=popularity)

    @classmethod
    def from_directory(
        cls,
        directory: str | os.PathLike[str],
        *,
        name: str | None = None,
        popularity: Popularity | None = None,
        pattern: str | None = None,
    ) -> ImageSet:
        """Every graph file of ``directory``, in file-name order.

        Graph files are those ending in ``.json`` (optionally ``.xz``, ``.gz``,
        ``.zst``) or ``.closure``, except ``popularity.json`` and manifests;
        ``pattern`` (a glob) selects files explicitly instead.

        Raises:
            InputError: not a directory, or no graph file in it.

        Example:
            >>> from pathlib import Path
            >>> import layerlab.imageset as m
            >>> debian = Path(m.__file__).parent.parent / "data" / "debian"
            >>> s = ImageSet.from_directory(debian / "imageset", pattern="img-c*")
            >>> s.names[:2]
            ('img-clang', 'img-cmake')
        """
        d = Path(directory)
        if not d.is_dir():
            raise InputError("is not a directory", source=str(directory))
        if pattern is not None:
            files = sorted((p for p in d.glob(pattern) if p.is_file()), key=lambda p: p.name)
        else:
            files = sorted(
                (
                    p
                    for p in d.iterdir()
                    if p.is_file() and p.name not in _NOT_GRAPHS and p.name.endswith(_GRAPH_SUFFIXES)
                ),
                key=lambda p: p.name,
            )
        if not files:
            raise InputError("holds no graph files (*.json, *.json.xz, ...)", source=str(directory))
        images = tuple(Image(graph_name(f), load_graph(f), source=str(f)) for f in files)
        return cls(name=name or d.name, images=images, popularity=popularity, source=str(directory))

    @classmethod
    def from_manifest(
        cls, manifest: str | os.PathLike[str], *, popularity: Popularity | None = None, **nix_options: Any
    ) -> ImageSet:
        """Read a JSON or TOML manifest (see the module documentation).

        ``popularity`` overrides the manifest's own ``popularity`` entry.
        Images given by ``packages`` are built with
        :func:`layerlab.sources.nix.closure` (``nix_options`` are passed on,
        e.g. ``settings=OFFLINE_CONFIG``); a relative ``path!`` source is
        relative to the manifest.

        Raises:
            InputError: malformed manifest, a missing file, duplicate names.
            NixError: an image without a graph file could not be built with Nix.

        Example:
            >>> import os, tempfile
            >>> from pathlib import Path
            >>> import layerlab.imageset as m
            >>> d = tempfile.mkdtemp()
            >>> graph = Path(m.__file__).parent.parent / "data" / "debian" / "imageset" / "img-curl.graph.json"
            >>> import json
            >>> _ = Path(d, "set.json").write_text(json.dumps({"name": "one", "images": [{"graph": str(graph)}]}))
            >>> s = ImageSet.from_manifest(os.path.join(d, "set.json"))
            >>> s.name, s.names
            ('one', ('img-curl',))
        """
        path = Path(manifest)
        src = str(manifest)
        doc = read_document(path)
        if not isinstance(doc, Mapping):
            raise InputError("a manifest must be an object with an 'images' list", source=src)
        unknown = sorted(set(doc) - {"name", "images", "popularity", "source"})
        if unknown:
            raise InputError(
                f"unknown manifest key {unknown[0]!r} (known: name, images, popularity, source)", source=src
            )
        entries = doc.get("images")
        if not isinstance(entries, list) or not entries:
            raise InputError("'images' must be a non-empty list", source=src)
        base = path.parent
        default_source = doc.get("source")
        if default_source is not None and not isinstance(default_source, str):
            raise InputError("'source' must be a string", source=src)
        images = []
        for n, entry in enumerate(entries):
            where = f"{src}: images[{n}]"
            if isinstance(entry, str):
                entry = {"graph": entry}
            if not isinstance(entry, Mapping):
                raise InputError("must be a file name or an object", source=where)
            bad = sorted(set(entry) - {"name", "graph", "packages", "source"})
            if bad:
                raise InputError(f"unknown key {bad[0]!r} (known: name, graph, packages, source)", source=where)
            packages = entry.get("packages", [])
            if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
                raise InputError("'packages' must be a list of strings", source=where)
            img_name = entry.get("name")
            if img_name is not None and not isinstance(img_name, str):
                raise InputError("'name' must be a string", source=where)
            graph_file = entry.get("graph")
            pkg_source = entry.get("source", default_source)
            if graph_file is not None:
                if not isinstance(graph_file, str):
                    raise InputError("'graph' must be a file name", source=where)
                gpath = base / graph_file
                try:
                    graph = load_graph(gpath, name=img_name)
                except InputError as err:
                    raise type(err)(str(err), source=where) from None
                images.append(Image(img_name or graph.name, graph, tuple(packages), pkg_source or str(gpath)))
            elif packages:
                if not pkg_source:
                    raise InputError("an image without 'graph' needs 'packages' and a 'source'", source=where)
                img_name = img_name or "+".join(packages)
                images.append(_nix_image(img_name, pkg_source, packages, base=base, **nix_options))
            else:
                raise InputError("needs a 'graph' file or a 'packages' list", source=where)
        pop = popularity
        if pop is None and doc.get("popularity") is not None:
            if not isinstance(doc["popularity"], str):
                raise InputError("'popularity' must be a file name", source=src)
            pop = load_popularity(base / doc["popularity"])
        set_name = doc.get("name") or graph_name(path)
        if not isinstance(set_name, str):
            raise InputError("'name' must be a string", source=src)
        return cls(name=set_name, images=tuple(images), popularity=pop, source=src)

    @classmethod
    def from_nix(
        cls,
        images: Mapping[str, Sequence[str]],
        source: str,
        *,
        name: str = "nix",
        popularity: Popularity | None = None,
        **nix_options: Any,
    ) -> ImageSet:
        """Build each image's closure with Nix: ``{image name: [package, ...]}``.

        ``source`` is a package source as Nixery spells it
        (``nixpkgs!<channel>``, ``git!<url>!<rev>``, ``path!<dir>``);
        ``nix_options`` go to :func:`layerlab.sources.nix.closure`
        (``settings``, ``system``, ``cache``...).

        Raises:
            NixError: Nix failed; NotFoundError: some packages do not exist.

        Example:
            >>> from layerlab.sources.nix import OFFLINE_CONFIG
            >>> s = ImageSet.from_nix(  # doctest: +SKIP
            ...     {"hello": ["hello"]}, "path!nix/testpkgs", settings=OFFLINE_CONFIG)
            >>> s["hello"].source  # doctest: +SKIP
            'path!/.../nix/testpkgs'
        """
        built = tuple(_nix_image(k, source, list(v), **nix_options) for k, v in images.items())
        return cls(name=name, images=built, popularity=popularity, source=source)

    # -------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[Image]:
        return iter(self.images)

    def __getitem__(self, key: int | str) -> Image:
        if isinstance(key, str):
            return self.images[self.position(key)]
        return self.images[key]

    def __repr__(self) -> str:
        return f"<ImageSet {self.name} images={len(self.images)}>"

    def position(self, key: int | str) -> int:
        """The index of an image given by name or index.

        Raises:
            ConfigError: no such image (the names are listed).

        Example:
            >>> s = default_imageset()
            >>> s.position("img-curl"), s.position(-1)
            (3, 29)
        """
        if isinstance(key, int) and not isinstance(key, bool):
            if not -len(self.images) <= key < len(self.images):
                raise ConfigError(
                    f"image index {key} is out of range (the set has {len(self.images)})", source=self.name
                )
            return key % len(self.images)
        for n, img in enumerate(self.images):
            if img.name == key:
                return n
        raise ConfigError(f"no image named {key!r} (images: {', '.join(self.names)})", source=self.name)

    @property
    def names(self) -> tuple[str, ...]:
        """The image names, in order."""
        return tuple(img.name for img in self.images)

    @property
    def graphs(self) -> tuple[ClosureGraph, ...]:
        """The closure graphs, in order."""
        return tuple(img.graph for img in self.images)

    def subset(self, keys: Iterable[int | str], *, name: str | None = None) -> ImageSet:
        """The images ``keys`` (names or indices), in the order given.

        Example:
            >>> default_imageset().subset(["img-git", "img-curl"]).names
            ('img-git', 'img-curl')
        """
        picked = tuple(self.images[self.position(k)] for k in keys)
        return ImageSet(name=name or self.name, images=picked, popularity=self.popularity, source=self.source)

    def with_popularity(self, popularity: Popularity | None) -> ImageSet:
        """A copy with another popularity table.

        Example:
            >>> default_imageset().with_popularity(None).popularity is None
            True
        """
        return ImageSet(name=self.name, images=self.images, popularity=popularity, source=self.source)

    # ----------------------------------------------------------- derived
    @property
    def universe(self) -> PathUniverse:
        """Global path ids shared by all images (computed once).

        Raises:
            GraphError: one path has two different ``narSize`` in two images.
        """
        u = self._cache.get("universe")
        if u is None:
            u = self._cache["universe"] = _build_universe(self.images)
        return u

    @property
    def union_bytes(self) -> int:
        """Bytes of the union of all closures (each path counted once): the ideal pull bound."""
        return int(self.universe.require_sizes("the union size").sum())

    @property
    def total_bytes(self) -> int:
        """Sum of the image sizes (each image counted in full)."""
        return sum(img.bytes for img in self.images)

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the names and graph contents, for cache keys.

        Two image sets with the same names, order and graphs have the same
        digest whatever files they came from.
        """
        d = self._cache.get("digest")
        if d is None:
            h = hashlib.sha256()
            for img in self.images:
                h.update(orjson.dumps(img.name))
                h.update(graph_digest(img.graph).encode())
            d = self._cache["digest"] = h.hexdigest()
        return d

    def summary(self) -> dict[str, Any]:
        """Images, distinct paths, total and union bytes.

        Example:
            >>> default_imageset().summary()["images"]
            30
        """
        u = self.universe
        sized = u.nar_size is not None
        return {
            "name": self.name,
            "images": len(self.images),
            "paths": sum(len(img.graph) for img in self.images),
            "distinct_paths": len(u),
            "total_bytes": self.total_bytes if sized else None,
            "union_bytes": self.union_bytes if sized else None,
        }

    def to_frame(self):
        """One row per image: position, name, paths, roots, bytes, packages, source.

        Example:
            >>> default_imageset().subset(["img-curl"]).to_frame()[["image", "paths"]].values.tolist()
            [['img-curl', 32]]
        """
        import pandas as pd

        rows = []
        for n, img in enumerate(self.images):
            g = img.graph
            rows.append(
                {
                    "position": n,
                    "image": img.name,
                    "paths": len(g),
                    "roots": len(g.roots),
                    "bytes": sum(g.nar_size) if g.nar_size is not None else None,
                    "packages": " ".join(img.packages),
                    "source": img.source,
                }
            )
        return pd.DataFrame(rows)


def graph_digest(graph: ClosureGraph) -> str:
    """SHA-256 (hex) of a graph's content: paths, references, sizes, roots.

    Example:
        >>> g = default_imageset()["img-curl"].graph
        >>> len(graph_digest(g)), graph_digest(g) == graph_digest(g.subgraph(range(len(g.paths))))
        (64, True)
    """

    def compute() -> str:
        doc = [graph.paths, graph.refs, graph.nar_size, graph.closure_size, graph.roots]
        return hashlib.sha256(orjson.dumps(doc)).hexdigest()

    return graph.memo.value("digest", compute)


def _build_universe(images: Sequence[Image]) -> PathUniverse:
    size_of: dict[str, int | None] = {}
    owner: dict[str, str] = {}
    sized = True
    for img in images:
        g = img.graph
        nar = g.nar_size
        if nar is None:
            sized = False
        for i, p in enumerate(g.paths):
            s = None if nar is None else nar[i]
            old = size_of.get(p, -1)
            if old == -1:
                size_of[p] = s
                owner[p] = img.name
            elif old is not None and s is not None and old != s:
                raise GraphError(
                    f"{p} has narSize {old} in image {owner[p]} and {s} in image {img.name}",
                    source=g.source or img.name,
                )
    paths = tuple(sorted(size_of))
    index = {p: i for i, p in enumerate(paths)}
    ids = tuple(
        np.fromiter((index[p] for p in img.graph.paths), dtype=np.int64, count=len(img.graph)) for img in images
    )
    sizes = np.fromiter((size_of[p] or 0 for p in paths), dtype=np.int64, count=len(paths)) if sized else None
    return PathUniverse(paths, sizes, ids)


def _nix_image(
    name: str, source: str, packages: Sequence[str], *, base: str | os.PathLike[str] | None = None, **nix_options: Any
) -> Image:
    try:
        from .sources import nix as nixsrc
    except ImportError:
        raise NixError(
            f"image {name!r} has no graph file and layerlab.sources.nix is not available to build it", source=source
        ) from None
    src = nixsrc.parse_source(source, base=base)
    built = nixsrc.closure(src, list(packages), **nix_options)
    graph = built.graph
    if graph.name != name:
        graph = ClosureGraph(
            graph.paths,
            graph.refs,
            graph.nar_size,
            graph.closure_size,
            graph.roots,
            graph.roots_given,
            graph.nar_hash,
            name,
            graph.source or src.spec,
        )
    return Image(name, graph, tuple(packages), src.spec)


def load_imageset(
    path: str | os.PathLike[str], *, popularity: Popularity | None = None, name: str | None = None, **nix_options: Any
) -> ImageSet:
    """Load an image set from a directory (or the manifest inside it) or a manifest file.

    ``nix_options`` go to :func:`layerlab.sources.nix.closure` for manifest
    images given by ``packages``.

    Raises:
        InputError: the path does not exist or holds no images.

    Example:
        >>> load_imageset(DEFAULT_IMAGESET_DIR).name
        'imageset'
    """
    p = Path(path)
    if p.is_dir():
        for m in MANIFEST_NAMES:
            if (p / m).is_file():
                s = ImageSet.from_manifest(p / m, popularity=popularity, **nix_options)
                return s if name is None else ImageSet(name, s.images, s.popularity, s.source)
        return ImageSet.from_directory(p, popularity=popularity, name=name)
    if p.is_file():
        s = ImageSet.from_manifest(p, popularity=popularity, **nix_options)
        return s if name is None else ImageSet(name, s.images, s.popularity, s.source)
    raise InputError("no such directory or manifest file", source=str(path))


def default_imageset() -> ImageSet:
    """The bundled Debian 30-image set, with its popularity table.

    Raises:
        InputError: the bundled data is not present (a damaged installation).

    Example:
        >>> s = default_imageset()
        >>> s.name, len(s), len(s.popularity) > 0
        ('debian-30', 30, True)
    """
    if not DEFAULT_IMAGESET_DIR.is_dir():
        raise InputError(
            "the bundled image set is missing: reinstall layerlab (pip install layerlab) or give an image set",
            source=str(DEFAULT_IMAGESET_DIR),
        )
    pop = load_popularity(_DEFAULT_POPULARITY)
    return ImageSet.from_directory(DEFAULT_IMAGESET_DIR, name="debian-30", popularity=pop)


def bundled_imagesets(data_dir: Path | None = None) -> dict[str, Callable[[], ImageSet]]:
    """The image sets shipped in ``data/``, by name, as loaders (nothing is read until called).

    ``debian-30`` is the 30-image set; ``kde-full``, ``git-curl-python3`` and
    ``bash-coreutils`` are single images; ``debian-30+kde`` pulls kde-full
    after the 30 images.  All use the Debian popularity table.

    Example:
        >>> sorted(bundled_imagesets())
        ['bash-coreutils', 'debian-30', 'debian-30+kde', 'git-curl-python3', 'kde-full']
    """
    root = (data_dir or DATA_DIR) / "debian"

    def popularity() -> Popularity:
        return load_popularity(root / "popularity.json")

    def set30() -> ImageSet:
        return load_imageset(root / "imageset", popularity=popularity(), name="debian-30")

    def single(name: str) -> Callable[[], ImageSet]:
        def load() -> ImageSet:
            g = load_graph(root / f"{name}.graph.json", name=name)
            return ImageSet.from_graphs([g], name=name, popularity=popularity())

        return load

    def set30_kde() -> ImageSet:
        s = set30()
        kde = load_graph(root / "kde-full.graph.json", name="kde-full")
        return ImageSet.from_graphs([*s.graphs, kde], name="debian-30+kde", popularity=s.popularity)

    return {
        "debian-30": set30,
        "debian-30+kde": set30_kde,
        "kde-full": single("kde-full"),
        "git-curl-python3": single("git-curl-python3"),
        "bash-coreutils": single("bash-coreutils"),
    }
