"""Pull cost: the bytes one client downloads when it pulls the images of a set in order.

The client starts with an empty cache (or one that already holds some images,
``held=``) and pulls every image of the set in order (``order=``).  A layer is
downloaded unless the client already holds it, where "holds" follows one of
two rules:

``any`` (*any digest*; registries, containerd)
    a layer is reused when the client holds a layer with the same content,
    wherever it sat in the images it came from;
``chain`` (*ChainID prefix*; Docker's overlay2)
    layer ``k`` of an image is reused only when layers ``0..k`` of the image
    equal, in order, the first ``k + 1`` layers of an image already held.  The
    same layers in a different order are pulled again, and once one layer
    misses every layer above it misses too.

Reference points, for the same images, order and starting cache:

* **ideal**: one layer per store path, unlimited: the bytes of the union of
  the pulled closures, minus paths the client already held;
* **worst**: one layer per image: every image pulled whole (identical
  closures once).  This is the naive layering, not an upper bound: a layering
  that splits two equal closures differently pulls more.

``ideal <= pulled <= sum of the pulled images' sizes`` always holds; the
``ratio`` (pulled / ideal) is how the figures of the peers are quoted.

The simulation runs on integer layer ids (:class:`~layerlab.metrics.layering.LayerTable`)
through :func:`pull_bytes_of`, which sweeps reuse directly.

Example:
    >>> from layerlab.imageset import default_imageset
    >>> from layerlab.strategies import get_strategy
    >>> from layerlab.metrics import layer_imageset
    >>> lay = layer_imageset(get_strategy("nixery"), default_imageset(), 94)
    >>> frame, summary = pull_cost(lay)
    >>> summary["pulled_bytes"], summary["ideal_bytes"], round(summary["ratio"], 2)
    (5132295168, 2894127104, 1.77)
    >>> list(frame.columns[:4])
    ['position', 'image', 'layers', 'image_bytes']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..imageset import ImageSet
from .layering import Layering, MetricResult

__all__ = ["pull_cost", "pull_bytes_of", "simulate_pull", "ideal_bytes", "worst_bytes", "compare_pull", "RULES"]

#: The cache rules, by name.
RULES = ("any", "chain")


def _check_rule(rule: str) -> str:
    if rule not in RULES:
        raise ConfigError(f"unknown rule {rule!r} (known: any, chain)", source="rule")
    return rule


def simulate_pull(
    image_layers: Sequence[Sequence[int]],
    layer_size: Sequence[int],
    order: Sequence[int],
    held: Iterable[int] = (),
    rule: str = "any",
) -> list[tuple[int, int]]:
    """Pull ``order`` (image indices) after ``held``; per pulled image, ``(layers, bytes)`` downloaded.

    ``image_layers[i]`` are image ``i``'s layer ids bottom first and
    ``layer_size[lid]`` a layer's bytes.

    Example:
        >>> # image 0 = [A, B], image 1 = [B, A]: any digest reuses both, ChainID neither
        >>> simulate_pull([(0, 1), (1, 0)], [10, 5], [0, 1], rule="any")
        [(2, 15), (0, 0)]
        >>> simulate_pull([(0, 1), (1, 0)], [10, 5], [0, 1], rule="chain")
        [(2, 15), (2, 15)]
    """
    _check_rule(rule)
    out: list[tuple[int, int]] = []
    if rule == "any":
        have: set[int] = set()
        for i in held:
            have.update(image_layers[i])
        for i in order:
            n = b = 0
            for lid in image_layers[i]:
                if lid not in have:
                    have.add(lid)
                    n += 1
                    b += layer_size[lid]
            out.append((n, b))
        return out
    # A chain (layers 0..k of some image) is interned as (id of chain 0..k-1, layer id).
    chains: dict[tuple[int, int], int] = {}

    def walk(layers: Sequence[int]) -> tuple[int, int]:
        n = b = 0
        parent = -1
        for lid in layers:
            key = (parent, lid)
            cid = chains.get(key)
            if cid is None:
                cid = chains[key] = len(chains)
                n += 1
                b += layer_size[lid]
            parent = cid
        return n, b

    for i in held:
        walk(image_layers[i])
    for i in order:
        out.append(walk(image_layers[i]))
    return out


def pull_bytes_of(image_layers: Sequence[Sequence[int]], layer_size: Sequence[int], rule: str = "any") -> int:
    """Total bytes pulled for every image in order from an empty cache (the sweep's figure).

    Example:
        >>> pull_bytes_of([(0, 1), (1, 0)], [10, 5], "chain")
        30
    """
    if rule == "any":
        seen: set[int] = set()
        for ls in image_layers:
            seen.update(ls)
        return int(sum(layer_size[lid] for lid in seen))
    return sum(b for _, b in simulate_pull(image_layers, layer_size, range(len(image_layers)), rule=rule))


def _positions(imageset: ImageSet, keys: Iterable[int | str] | None, default: Sequence[int]) -> list[int]:
    if keys is None:
        return list(default)
    if isinstance(keys, (str, int)):
        keys = [keys]
    return [imageset.position(k) for k in keys]


def _image_bytes(imageset: ImageSet) -> list[int]:
    sizes = imageset.universe.require_sizes("pull cost")
    return [int(sizes[ids].sum()) for ids in imageset.universe.ids]


def ideal_bytes(imageset: ImageSet, order: Iterable[int | str] | None = None, held: Iterable[int | str] = ()) -> int:
    """The ideal bound: bytes of the paths of ``order`` not in a held image.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> ideal_bytes(default_imageset())
        2894127104
    """
    u = imageset.universe
    sizes = u.require_sizes("the ideal bound")
    mark = np.zeros(len(u), dtype=bool)
    for i in _positions(imageset, held, ()):
        mark[u.ids[i]] = True
    new = np.zeros(len(u), dtype=bool)
    for i in _positions(imageset, order, range(len(imageset))):
        new[u.ids[i]] = True
    return int(sizes[new & ~mark].sum())


def worst_bytes(imageset: ImageSet, order: Iterable[int | str] | None = None, held: Iterable[int | str] = ()) -> int:
    """The worst case: one layer per image, identical closures pulled once.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> s = default_imageset()
        >>> worst_bytes(s) == s.total_bytes
        True
    """
    u = imageset.universe
    keys: dict[bytes, int] = {}
    image_layers = []
    for ids in u.ids:
        key = np.sort(ids).tobytes()
        image_layers.append((keys.setdefault(key, len(keys)),))
    sizes = [0] * len(keys)
    per_image = _image_bytes(imageset)
    for (lid,), b in zip(image_layers, per_image):
        sizes[lid] = b
    pulled = simulate_pull(
        image_layers, sizes, _positions(imageset, order, range(len(imageset))), _positions(imageset, held, ())
    )
    return sum(b for _, b in pulled)


def pull_cost(
    layering: Layering,
    rule: str = "any",
    *,
    order: Iterable[int | str] | None = None,
    held: Iterable[int | str] = (),
) -> MetricResult:
    """Bytes and layers one client pulls, image by image.

    Args:
        layering: the layered image set.
        rule: ``any`` (any digest) or ``chain`` (ChainID prefix).
        order: the images to pull, by name or index, in order (default: all, in set order).
        held: images the client already holds before it starts (names or indices).

    Returns:
        A frame with one row per pulled image: ``position``, ``image``,
        ``layers``, ``image_bytes``, ``pulled_layers``, ``pulled_bytes``,
        ``reused_bytes``, ``hit_ratio`` (reused / image bytes),
        ``new_path_bytes`` (the ideal's share of this image),
        ``cumulative_pulled_bytes`` and ``cumulative_ideal_bytes``;
        and a summary with ``pulled_bytes``, ``pulled_layers``,
        ``ideal_bytes``, ``worst_bytes``, ``total_bytes`` (sum of the pulled
        images' sizes), ``ratio`` (pulled / ideal), ``worst_ratio`` and
        ``hit_ratio`` (1 - pulled / total).

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> from layerlab.metrics import layer_imageset
        >>> lay = layer_imageset(get_strategy("nixery"), default_imageset(), 10)
        >>> pull_cost(lay, "chain", held=["img-gcc"]).summary["held"]
        ['img-gcc']
    """
    _check_rule(rule)
    s = layering.imageset
    u = s.universe
    sizes = u.require_sizes("pull cost")
    table = layering.table
    order_idx = _positions(s, order, range(len(s)))
    held_idx = _positions(s, held, ())
    pulled = simulate_pull(table.image_layers, table.layer_size, order_idx, held_idx, rule)
    per_image = _image_bytes(s)
    seen = np.zeros(len(u), dtype=bool)
    for i in held_idx:
        seen[u.ids[i]] = True
    rows = []
    cum = cum_ideal = 0
    for pos, (i, (n, b)) in enumerate(zip(order_idx, pulled)):
        ids = u.ids[i]
        new = ids[~seen[ids]]
        new_bytes = int(sizes[new].sum())
        seen[ids] = True
        cum += b
        cum_ideal += new_bytes
        img_bytes = per_image[i]
        rows.append(
            {
                "position": pos,
                "image": s.images[i].name,
                "layers": len(table.image_layers[i]),
                "image_bytes": img_bytes,
                "pulled_layers": n,
                "pulled_bytes": b,
                "reused_bytes": img_bytes - b,
                "hit_ratio": (img_bytes - b) / img_bytes if img_bytes else 1.0,
                "new_path_bytes": new_bytes,
                "cumulative_pulled_bytes": cum,
                "cumulative_ideal_bytes": cum_ideal,
            }
        )
    frame = pd.DataFrame(rows, columns=_PULL_COLUMNS)
    total = sum(per_image[i] for i in order_idx)
    worst = worst_bytes(s, order_idx, held_idx)
    summary: dict[str, Any] = {
        **layering.describe(),
        "rule": rule,
        "images": len(order_idx),
        "held": [s.images[i].name for i in held_idx],
        "pulled_bytes": cum,
        "pulled_layers": sum(n for n, _ in pulled),
        "ideal_bytes": cum_ideal,
        "worst_bytes": worst,
        "total_bytes": total,
        "ratio": cum / cum_ideal if cum_ideal else 1.0,
        "worst_ratio": worst / cum_ideal if cum_ideal else 1.0,
        "hit_ratio": 1 - cum / total if total else 1.0,
    }
    return MetricResult(frame, summary)


_PULL_COLUMNS = [
    "position",
    "image",
    "layers",
    "image_bytes",
    "pulled_layers",
    "pulled_bytes",
    "reused_bytes",
    "hit_ratio",
    "new_path_bytes",
    "cumulative_pulled_bytes",
    "cumulative_ideal_bytes",
]


def compare_pull(layerings: Iterable[Layering], rules: Sequence[str] = RULES, **kw: Any) -> pd.DataFrame:
    """One row per layering and rule: pulled, ideal and worst bytes and the ratios.

    Keyword arguments (``order``, ``held``) go to :func:`pull_cost`.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> from layerlab.metrics import layer_imageset
        >>> s = default_imageset()
        >>> df = compare_pull([layer_imageset(get_strategy("nixery"), s, b) for b in (94, 10)], rules=["any"])
        >>> [round(r, 2) for r in df["ratio"]]
        [1.77, 1.81]
    """
    rows = []
    for lay in layerings:
        for rule in rules:
            sm = pull_cost(lay, rule, **kw).summary
            rows.append(
                {
                    "layering": sm["layering"],
                    "budget": sm["budget"],
                    "rule": rule,
                    "pulled_bytes": sm["pulled_bytes"],
                    "pulled_layers": sm["pulled_layers"],
                    "ideal_bytes": sm["ideal_bytes"],
                    "worst_bytes": sm["worst_bytes"],
                    "total_bytes": sm["total_bytes"],
                    "ratio": sm["ratio"],
                    "worst_ratio": sm["worst_ratio"],
                }
            )
    return pd.DataFrame(rows)
