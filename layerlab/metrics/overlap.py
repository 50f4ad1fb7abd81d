"""Pairwise overlap: what two images share as identical layers against what they share as paths.

Two images that share store paths only save bytes for a client when those
paths sit in *identical* layers.  For each pair of images:

* ``shared_path_bytes``: bytes of the store paths in both closures (what an
  ideal, one-layer-per-path layering lets them share);
* ``shared_layer_bytes``: bytes of the layers both images contain;
* ``layer_share``: their quotient (1.0: the layering loses nothing for this
  pair; ``NaN`` when the images share no path).

The frame has one row per unordered pair, the diagonal included (an image
shares all of itself), so :func:`overlap_matrix` can pivot it into a square,
symmetric matrix for a heat map.

Example:
    >>> from layerlab.imageset import default_imageset
    >>> from layerlab.strategies import get_strategy
    >>> from layerlab.metrics import layer_imageset
    >>> s = default_imageset().subset(["img-curl", "img-git", "img-perl"])
    >>> frame, summary = overlap(layer_imageset(get_strategy("nixery"), s, 94))
    >>> len(frame), overlap_matrix(frame).shape
    (6, (3, 3))
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .layering import Layering, MetricResult

__all__ = ["overlap", "overlap_matrix"]


def overlap(layering: Layering) -> MetricResult:
    """Pairwise shared bytes; see the module documentation.

    Columns: ``image_a``, ``image_b``, ``shared_path_bytes``,
    ``shared_layer_bytes``, ``layer_share``.  The summary (off-diagonal pairs
    only) sums both byte counts and gives their quotient ``layer_share``.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.metrics import layer_imageset
        >>> from layerlab.strategies import get_strategy
        >>> s = default_imageset().subset(["img-curl", "img-git"])
        >>> frame, summary = overlap(layer_imageset(get_strategy("nixery"), s, 94))
        >>> summary["pairs"], summary["shared_layer_bytes"] <= summary["shared_path_bytes"]
        (1, True)
    """
    s = layering.imageset
    u = s.universe
    sizes = u.require_sizes("overlap")
    table = layering.table
    n = len(s)
    paths = np.zeros((n, len(u)), dtype=np.int64)
    layers = np.zeros((n, len(table.layer_size)), dtype=np.int64)
    for i, ids in enumerate(u.ids):
        paths[i, ids] = 1
    for i, layer_ids in enumerate(table.image_layers):
        layers[i, list(layer_ids)] = 1
    shared_paths = (paths * sizes) @ paths.T
    shared_layers = (layers * np.array(table.layer_size, dtype=np.int64)) @ layers.T
    a, b = np.triu_indices(n)
    sp = shared_paths[a, b]
    sl = shared_layers[a, b]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(sp > 0, sl / np.where(sp > 0, sp, 1), np.nan)
    names = np.array(s.names, dtype=object)
    frame = pd.DataFrame(
        {
            "image_a": names[a],
            "image_b": names[b],
            "shared_path_bytes": sp,
            "shared_layer_bytes": sl,
            "layer_share": share,
        }
    )
    off = a != b
    tp, tl = int(sp[off].sum()), int(sl[off].sum())
    summary = {
        **layering.describe(),
        "pairs": int(off.sum()),
        "shared_path_bytes": tp,
        "shared_layer_bytes": tl,
        "layer_share": tl / tp if tp else float("nan"),
        "pairs_sharing_paths": int((sp[off] > 0).sum()),
        "pairs_sharing_layers": int((sl[off] > 0).sum()),
    }
    return MetricResult(frame, summary)


def overlap_matrix(frame: pd.DataFrame, value: str = "shared_layer_bytes") -> pd.DataFrame:
    """The square, symmetric image x image matrix of one column of :func:`overlap`'s frame.

    Example:
        >>> df = pd.DataFrame({"image_a": ["x", "x", "y"], "image_b": ["x", "y", "y"], "v": [3, 1, 2]})
        >>> overlap_matrix(df, "v").values.tolist()
        [[3, 1], [1, 2]]
    """
    order = list(dict.fromkeys([*frame["image_a"], *frame["image_b"]]))
    wide = frame.pivot(index="image_a", columns="image_b", values=value)
    wide = wide.combine_first(wide.T).reindex(index=order, columns=order)
    wide.index.name = wide.columns.name = None
    if pd.api.types.is_integer_dtype(frame[value]):
        wide = wide.astype(frame[value].dtype)
    return wide
