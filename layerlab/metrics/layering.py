"""A layered image set: every image of an :class:`~layerlab.imageset.ImageSet` split into layers.

:class:`Layering` is the input of every metric.  It holds the layers of each
image (as :class:`~layerlab.strategies.Layer` objects) and, computed once, a
compact integer form the metrics run on:

* every distinct layer of the set gets a **layer id**; two layers are the
  same layer when they hold the same set of store paths (reproducible
  tarballs make their digests equal), so the key is the sorted tuple of the
  paths' global ids (:attr:`ImageSet.universe <layerlab.imageset.ImageSet.universe>`);
* when real tarball digests are known (``digests=``, one per layer), they are
  checked against that content identity: one path set must have one digest
  and one digest one path set, otherwise :class:`~layerlab.errors.ImageError`.

Build one with :func:`layer_imageset` (run a strategy on every image), or
:meth:`Layering.from_paths` (layers given as lists of store paths, e.g. read
from ``layers.json`` files).

Example:
    >>> from layerlab.imageset import default_imageset
    >>> from layerlab.strategies import get_strategy
    >>> s = default_imageset().subset(["img-curl", "img-git"])
    >>> lay = layer_imageset(get_strategy("nixery"), s, budget=10)
    >>> len(lay.image_layers), lay.layer_count
    (2, 10)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..errors import ImageError, StrategyError
from ..graph import ClosureGraph  # noqa: F401 - used by the docstring examples
from ..imageset import ImageSet
from ..strategies.base import DEFAULT_BUDGET, Context, Layer, Strategy, check_layers, make_layer

__all__ = ["Layering", "layer_imageset", "LayerTable", "intern_layers", "MetricResult"]


@dataclass(frozen=True)
class LayerTable:
    """The integer form of a layering.

    Attributes:
        image_layers: for each image, its layer ids in image order (bottom first).
        layer_size: bytes of each distinct layer (index = layer id).
        layer_paths: global path ids of each distinct layer, sorted.
    """

    image_layers: tuple[tuple[int, ...], ...]
    layer_size: tuple[int, ...]
    layer_paths: tuple[tuple[int, ...], ...]


def intern_layers(image_keys: Sequence[Sequence[tuple[int, ...]]], sizes: np.ndarray | None) -> LayerTable:
    """Number distinct layers given each image's layers as sorted global-id tuples.

    Example:
        >>> t = intern_layers([[(0,), (1, 2)], [(1, 2)]], np.array([5, 1, 2]))
        >>> t.image_layers, t.layer_size
        (((0, 1), (1,)), (5, 3))
    """
    table: dict[tuple[int, ...], int] = {}
    out = []
    layer_paths: list[tuple[int, ...]] = []
    for keys in image_keys:
        ids = []
        for key in keys:
            lid = table.get(key)
            if lid is None:
                lid = table[key] = len(layer_paths)
                layer_paths.append(key)
            ids.append(lid)
        out.append(tuple(ids))
    if sizes is None:
        layer_size = tuple(0 for _ in layer_paths)
    else:
        layer_size = tuple(int(sizes[list(k)].sum()) if k else 0 for k in layer_paths)
    return LayerTable(tuple(out), layer_size, tuple(layer_paths))


@dataclass(frozen=True, eq=False)
class Layering:
    """The layers of every image of a set; see the module documentation.

    Attributes:
        imageset: the images.
        layers: for each image (same order), its layers, bottom first.
        strategy: the strategy that produced them, if any.
        budget: the layer budget it ran with, if any.
        digests: optional real digests, one per layer, same shape as ``layers``.
        label: a name for tables (default: the strategy's name).
    """

    imageset: ImageSet
    layers: tuple[tuple[Layer, ...], ...]
    strategy: Strategy | None = None
    budget: int | None = None
    digests: tuple[tuple[str, ...], ...] | None = None
    label: str = ""
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.layers) != len(self.imageset):
            raise StrategyError(
                f"{len(self.layers)} layer lists for {len(self.imageset)} images", source=self.imageset.name
            )
        if self.digests is not None:
            if len(self.digests) != len(self.layers) or any(
                len(d) != len(lay) for d, lay in zip(self.digests, self.layers)
            ):
                raise ImageError("digests must give one digest per layer of every image", source=self.imageset.name)
        if not self.label:
            object.__setattr__(self, "label", self.strategy.name if self.strategy is not None else "layering")

    @classmethod
    def from_paths(
        cls,
        imageset: ImageSet,
        layers: Sequence[Sequence[Sequence[str]]],
        *,
        digests: Sequence[Sequence[str]] | None = None,
        label: str = "layering",
        check: bool = True,
    ) -> Layering:
        """A layering from store paths: ``layers[image][layer] = [path, ...]``.

        Raises:
            StrategyError: a path outside its image, in two layers or in none (``check``).

        Example:
            >>> from layerlab.imageset import ImageSet
            >>> g = ClosureGraph.from_records([{"path": "/s/a-a", "narSize": 2}, {"path": "/s/b-b", "narSize": 3}],
            ...                               name="ab")
            >>> lay = Layering.from_paths(ImageSet.from_graphs([g]), [[["/s/b-b"], ["/s/a-a"]]])
            >>> lay.table.layer_size
            (3, 2)
        """
        out = []
        for img, ls in zip(imageset.images, layers):
            g = img.graph
            index = g.index
            built = []
            for paths in ls:
                try:
                    idx = [index[p] for p in paths]
                except KeyError as err:
                    raise StrategyError(
                        f"layer path {err.args[0]} is not in image {img.name}", source=g.source
                    ) from None
                built.append(make_layer(g, idx))
            if check:
                check_layers(g, built, who=label)
            out.append(tuple(built))
        if len(out) != len(imageset) or len(layers) != len(imageset):
            raise StrategyError(f"{len(layers)} layer lists for {len(imageset)} images", source=imageset.name)
        dg = None if digests is None else tuple(tuple(d) for d in digests)
        return cls(imageset, tuple(out), digests=dg, label=label)

    # ---------------------------------------------------------- integer form
    @property
    def table(self) -> LayerTable:
        """The interned layers (computed once; digests checked here)."""
        t = self._cache.get("table")
        if t is None:
            t = self._cache["table"] = self._intern()
        return t

    def _intern(self) -> LayerTable:
        u = self.imageset.universe
        keys = []
        for img, ids, ls in zip(self.imageset.images, u.ids, self.layers):
            index = img.graph.index
            keys.append([tuple(sorted(int(ids[index[p]]) for p in layer.paths)) for layer in ls])
        table = intern_layers(keys, u.nar_size)
        if self.digests is not None:
            _check_digests(self, table)
        return table

    @property
    def image_layers(self) -> tuple[tuple[int, ...], ...]:
        """For each image, its layer ids, bottom first."""
        return self.table.image_layers

    @property
    def layer_count(self) -> int:
        """Number of distinct layers in the set."""
        return len(self.table.layer_size)

    def _repr_html_(self) -> str:
        """A compact HTML card for notebooks: configuration, distinct layers, and each image's layers (first 12).

        Example:
            >>> from layerlab.imageset import ImageSet
            >>> g = ClosureGraph.from_records([{"path": "/s/a-a", "narSize": 2}, {"path": "/s/b-b", "narSize": 3}])
            >>> lay = Layering.from_paths(ImageSet.from_graphs([g]), [[["/s/b-b"], ["/s/a-a"]]])
            >>> "2 distinct layers" in lay._repr_html_()
            True
        """
        import html

        from ..units import format_bytes

        head = html.escape(self.label)
        if self.strategy is not None:
            params = ", ".join(f"{k}={v}" for k, v in self.strategy.values.items())
            head += f" <small>({html.escape(params)})</small>" if params else ""
        budget = f", budget {self.budget}" if self.budget is not None else ""
        rows = []
        for img, layers in list(zip(self.imageset.images, self.layers))[:12]:
            sizes = [layer.size or 0 for layer in layers]
            total = sum(sizes) or 1
            rows.append(
                f"<tr><td>{html.escape(img.name)}</td><td>{len(layers)}</td><td>{format_bytes(sum(sizes))}</td>"
                f"<td>{max(sizes, default=0) / total:.0%}</td></tr>"
            )
        more = f"<tr><td colspan='4'>… {len(self.layers) - 12} more images</td></tr>" if len(self.layers) > 12 else ""
        return (
            f'<div class="ll-layering" style="font-size:13px"><b>{head}</b>{budget}: {len(self.imageset)} images, '
            f"{self.layer_count:,} distinct layers</div>"
            '<table style="font-size:12px"><tr><th>image</th><th>layers</th><th>bytes</th><th>largest layer</th></tr>'
            + "".join(rows)
            + more
            + "</table>"
        )

    def describe(self) -> dict[str, Any]:
        """Label, strategy JSON and budget, for summaries.

        Example:
            >>> from layerlab.imageset import default_imageset
            >>> from layerlab.strategies import get_strategy
            >>> lay = layer_imageset(get_strategy("auto-layer"), default_imageset().subset([0]), 30)
            >>> lay.describe()
            {'layering': 'auto-layer', 'strategy': {'strategy': 'auto-layer', 'params': {}}, 'budget': 30}
        """
        return {
            "layering": self.label,
            "strategy": None if self.strategy is None else self.strategy.to_json(),
            "budget": self.budget,
        }


def _check_digests(lay: Layering, table: LayerTable) -> None:
    by_layer: dict[int, str] = {}
    by_digest: dict[str, int] = {}
    for img, ids, digests in zip(lay.imageset.images, table.image_layers, lay.digests or ()):
        for n, (lid, d) in enumerate(zip(ids, digests)):
            old = by_layer.setdefault(lid, d)
            if old != d:
                raise ImageError(
                    f"layer {n} of image {img.name} has digest {d}, but the same paths have digest {old} elsewhere",
                    source=lay.imageset.name,
                )
            other = by_digest.setdefault(d, lid)
            if other != lid:
                raise ImageError(
                    f"digest {d} of layer {n} of image {img.name} names two different sets of paths",
                    source=lay.imageset.name,
                )


def layer_imageset(
    strategy: Strategy,
    imageset: ImageSet,
    budget: int = DEFAULT_BUDGET,
    context: Context | None = None,
    *,
    check: bool = True,
) -> Layering:
    """Run ``strategy`` on every image of ``imageset``.

    ``context`` defaults to the image set's popularity table.  The layers of
    each image are kept in the order the strategy returns them, which is the
    order of ``layers.json`` and of a built image's manifest (bottom first).

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> lay = layer_imageset(get_strategy("nixery"), default_imageset(), 94)
        >>> lay.budget, len(lay.layers)
        (94, 30)
    """
    if context is None:
        context = Context(popularity=imageset.popularity)
    layers = tuple(tuple(strategy.group(img.graph, context, budget, check=check)) for img in imageset.images)
    return Layering(imageset, layers, strategy=strategy, budget=budget)


class MetricResult(NamedTuple):
    """What every metric returns: a tidy frame and a summary.

    Unpack it (``frame, summary = pull_cost(lay)``) or use the attributes.
    """

    frame: pd.DataFrame
    summary: dict[str, Any]
