"""What changes between two layerings of the same image set.

:func:`diff_layerings` compares layering ``a`` with layering ``b`` (two
configurations, or two builds):

* **moved paths**: for each image, the paths whose layer in ``b`` is not the
  same layer (the same set of paths) as in ``a``, with the layer they left and
  the layer they joined;
* **layer identities**: the layers only ``a`` has, only ``b`` has, and both
  have, identified by their digest when the layerings carry real digests
  (built images) and by their content otherwise (Nixery's identity: SHA-1 of
  the sorted paths, :func:`~layerlab.strategies.base.layer_identity`);
* **download**: the bytes a client holding the images under ``a`` downloads to
  get them under ``b``, under both cache rules, by the same pull simulation the
  pull-cost metric runs (:func:`~layerlab.metrics.pull.simulate_pull` over one
  table of the layers of both).

Example:
    >>> from layerlab.imageset import default_imageset
    >>> from layerlab.strategies import get_strategy
    >>> from layerlab.metrics import layer_imageset
    >>> s = default_imageset().subset(["img-curl", "img-git"])
    >>> a, b = layer_imageset(get_strategy("nixery"), s, 30), layer_imageset(get_strategy("nixery"), s, 5)
    >>> d = diff_layerings(a, b)
    >>> d.download["any"] <= d.download["chain"], d.download_image("img-git", "any") > 0
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..strategies.base import Layer, layer_identity
from .layering import Layering, intern_layers
from .pull import RULES, simulate_pull

__all__ = ["MovedPath", "LayeringDiff", "diff_layerings"]


@dataclass(frozen=True)
class MovedPath:
    """One path whose layer changed.

    Attributes:
        image: the image name.
        path: the store path.
        size: its ``narSize``.
        layer_a, layer_b: its layer's position in ``a`` and in ``b``.
        reason_a, reason_b: those layers' reasons.
    """

    image: str
    path: str
    size: int
    layer_a: int
    layer_b: int
    reason_a: str
    reason_b: str


@dataclass(frozen=True)
class LayeringDiff:
    """The difference between layerings ``a`` and ``b`` (see the module documentation).

    Attributes:
        moved: every moved path, by image then path.
        only_a: layer identities only ``a`` has.
        only_b: layer identities only ``b`` has.
        common: identities both have.
        identity: ``digest`` or ``content``.
        download: rule -> bytes a client holding every image under ``a`` downloads for all of them under ``b``.
        per_image: rule -> image -> bytes a client holding that image under ``a`` downloads for it under ``b``.
    """

    moved: tuple[MovedPath, ...]
    only_a: frozenset[str]
    only_b: frozenset[str]
    common: frozenset[str]
    identity: str
    download: dict[str, int]
    per_image: dict[str, dict[str, int]]

    def download_image(self, image: str, rule: str = "any") -> int:
        """Bytes a client holding ``image`` under ``a`` downloads to get it under ``b``.

        Example:
            >>> from layerlab.imageset import default_imageset
            >>> from layerlab.strategies import get_strategy
            >>> from layerlab.metrics import layer_imageset
            >>> s = default_imageset().subset(["img-curl"])
            >>> a = layer_imageset(get_strategy("nixery"), s, 30)
            >>> d = diff_layerings(a, layer_imageset(get_strategy("single-layer"), s, 30))
            >>> d.download_image("img-curl", "any") == s.images[0].bytes
            True
        """
        return self.per_image[rule][image]

    def moved_in(self, image: str) -> tuple[MovedPath, ...]:
        """The moved paths of one image.

        Example:
            >>> from layerlab.imageset import default_imageset
            >>> from layerlab.strategies import get_strategy
            >>> from layerlab.metrics import layer_imageset
            >>> s = default_imageset().subset(["img-curl"])
            >>> a = layer_imageset(get_strategy("nixery"), s, 30)
            >>> d = diff_layerings(a, layer_imageset(get_strategy("single-layer"), s, 30))
            >>> len(d.moved_in("img-curl")) == len(s.images[0].graph)
            True
        """
        return tuple(m for m in self.moved if m.image == image)

    def summary(self) -> dict[str, Any]:
        """Counts and bytes, JSON-ready.

        Example:
            >>> from layerlab.imageset import default_imageset
            >>> from layerlab.strategies import get_strategy
            >>> from layerlab.metrics import layer_imageset
            >>> s = default_imageset().subset(["img-curl"])
            >>> a = layer_imageset(get_strategy("nixery"), s, 30)
            >>> d = diff_layerings(a, layer_imageset(get_strategy("single-layer"), s, 30))
            >>> d.summary()["layers_only_b"], d.summary()["identity"]
            (1, 'content')
        """
        return {
            "moved_paths": len(self.moved),
            "moved_bytes": sum(m.size for m in self.moved),
            "layers_only_a": len(self.only_a),
            "layers_only_b": len(self.only_b),
            "layers_common": len(self.common),
            "identity": self.identity,
            **{f"download_{rule}": v for rule, v in self.download.items()},
        }


def _identities(lay: Layering) -> list[list[str]]:
    if lay.digests is not None:
        return [list(d) for d in lay.digests]
    return [[layer_identity(layer.paths) for layer in ls] for ls in lay.layers]


def diff_layerings(a: Layering, b: Layering) -> LayeringDiff:
    """Compare two layerings of the same image set (see the module documentation).

    Raises:
        ConfigError: the layerings are of different image sets.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> from layerlab.metrics import layer_imageset
        >>> s = default_imageset().subset(["img-curl"])
        >>> a = layer_imageset(get_strategy("nixery"), s, 30)
        >>> d = diff_layerings(a, layer_imageset(get_strategy("single-layer"), s, 30))
        >>> d.download["any"] == d.download["chain"] == s.images[0].bytes
        True
    """
    if a.imageset.names != b.imageset.names or a.imageset.digest != b.imageset.digest:
        raise ConfigError("the two layerings are of different image sets", source="diff")
    names = a.imageset.names
    moved: list[MovedPath] = []
    for name, img, la, lb in zip(names, a.imageset.images, a.layers, b.layers):
        nar = img.graph.nar_size or (0,) * len(img.graph)
        index = img.graph.index
        where_a = _positions(la)
        where_b = _positions(lb)
        sets_a = [frozenset(layer.paths) for layer in la]
        sets_b = [frozenset(layer.paths) for layer in lb]
        for path in sorted(where_a):
            pa, pb = where_a[path], where_b[path]
            if sets_a[pa] != sets_b[pb]:
                moved.append(MovedPath(name, path, int(nar[index[path]]), pa, pb, la[pa].reason, lb[pb].reason))
    ids_a = {x for ls in _identities(a) for x in ls}
    ids_b = {x for ls in _identities(b) for x in ls}
    identity = "digest" if a.digests is not None and b.digests is not None else "content"
    if identity == "content" and (a.digests is not None or b.digests is not None):
        ids_a = {layer_identity(layer.paths) for ls in a.layers for layer in ls}
        ids_b = {layer_identity(layer.paths) for ls in b.layers for layer in ls}
    # One table over the layers of both: a layer is the same layer in a and b when its paths are.
    ta, tb = a.table, b.table
    keys = [[ta.layer_paths[lid] for lid in ids] for ids in ta.image_layers]
    keys += [[tb.layer_paths[lid] for lid in ids] for ids in tb.image_layers]
    both = intern_layers(keys, a.imageset.universe.nar_size)
    k = len(names)
    download: dict[str, int] = {}
    per_image: dict[str, dict[str, int]] = {}
    for rule in RULES:
        pulled = simulate_pull(both.image_layers, both.layer_size, range(k, 2 * k), held=range(k), rule=rule)
        download[rule] = sum(bytes_ for _, bytes_ in pulled)
        per_image[rule] = {
            name: simulate_pull(both.image_layers, both.layer_size, [k + i], held=[i], rule=rule)[0][1]
            for i, name in enumerate(names)
        }
    return LayeringDiff(
        tuple(moved),
        frozenset(ids_a - ids_b),
        frozenset(ids_b - ids_a),
        frozenset(ids_a & ids_b),
        identity,
        download,
        per_image,
    )


def _positions(layers: tuple[Layer, ...]) -> dict[str, int]:
    return {p: pos for pos, layer in enumerate(layers) for p in layer.paths}
