"""Layer counts and sizes: how a layering spreads an image's bytes.

* :func:`layer_sizes`: one row per layer of every image (its bytes, paths, its
  share of the image, how many images of the set contain it);
* :func:`layer_counts`: one row per image: layer count, headroom under the
  layer limit (Docker's overlay2 stops at 127 layers; images built on top of
  ours need room), the largest layer and its share of the image.

A large ``largest_share`` is the "one huge catch-all layer" users complain
about: it is re-shipped whenever anything in it changes.

Example:
    >>> from layerlab.imageset import default_imageset
    >>> from layerlab.strategies import get_strategy
    >>> from layerlab.metrics import layer_imageset
    >>> lay = layer_imageset(get_strategy("nixery"), default_imageset(), 10)
    >>> frame, summary = layer_counts(lay)
    >>> summary["max_layers"], summary["min_headroom"]
    (10, 117)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .layering import Layering, MetricResult

__all__ = ["layer_sizes", "layer_counts", "LAYER_LIMIT"]

#: The most layers Docker's overlay2 driver mounts for one container.
LAYER_LIMIT = 127


def layer_sizes(layering: Layering) -> MetricResult:
    """One row per (image, layer): ``image``, ``position`` (0 = bottom), ``layer`` id,
    ``bytes``, ``paths``, ``share`` of the image, ``images`` containing the layer.

    The summary gives the layer-size quantiles (``p10``, ``p50``, ``p90``,
    ``max``) over every layer of every image.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> from layerlab.metrics import layer_imageset
        >>> s = default_imageset().subset(["img-curl"])
        >>> layer_sizes(layer_imageset(get_strategy("nixery"), s, 3)).frame["share"].sum().round(6)
        np.float64(1.0)
    """
    s = layering.imageset
    table = layering.table
    users = [0] * len(table.layer_size)
    for ids in table.image_layers:
        for lid in set(ids):
            users[lid] += 1
    rows = []
    for img, ids in zip(s.images, table.image_layers):
        total = sum(table.layer_size[lid] for lid in ids)
        for pos, lid in enumerate(ids):
            b = table.layer_size[lid]
            rows.append(
                {
                    "image": img.name,
                    "position": pos,
                    "layer": lid,
                    "bytes": b,
                    "paths": len(table.layer_paths[lid]),
                    "share": b / total if total else 0.0,
                    "images": users[lid],
                }
            )
    frame = pd.DataFrame(rows, columns=["image", "position", "layer", "bytes", "paths", "share", "images"])
    b = frame["bytes"].to_numpy()
    q = np.percentile(b, [10, 50, 90]) if len(b) else [0, 0, 0]
    summary = {
        **layering.describe(),
        "layer_instances": len(frame),
        "p10_bytes": float(q[0]),
        "p50_bytes": float(q[1]),
        "p90_bytes": float(q[2]),
        "max_bytes": int(b.max()) if len(b) else 0,
    }
    return MetricResult(frame, summary)


def layer_counts(layering: Layering, limit: int = LAYER_LIMIT) -> MetricResult:
    """One row per image: ``layers``, ``headroom`` (``limit - layers``), ``image_bytes``,
    ``largest_layer_bytes``, ``largest_share``, ``median_layer_bytes``, ``smallest_layer_bytes``.

    The summary gives ``mean_layers``, ``max_layers``, ``min_headroom``,
    ``mean_largest_share`` and ``max_largest_share``.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.metrics import layer_imageset
        >>> from layerlab.strategies import get_strategy
        >>> s = default_imageset().subset(["img-curl", "img-git"])
        >>> frame, summary = layer_counts(layer_imageset(get_strategy("nixery"), s, 94))
        >>> frame.layers.tolist(), summary["min_headroom"]
        ([5, 9], 118)
    """
    s = layering.imageset
    table = layering.table
    rows = []
    for img, ids in zip(s.images, table.image_layers):
        sizes = np.array([table.layer_size[lid] for lid in ids], dtype=np.int64)
        total = int(sizes.sum())
        largest = int(sizes.max()) if len(sizes) else 0
        rows.append(
            {
                "image": img.name,
                "layers": len(ids),
                "headroom": limit - len(ids),
                "image_bytes": total,
                "largest_layer_bytes": largest,
                "largest_share": largest / total if total else 0.0,
                "median_layer_bytes": float(np.median(sizes)) if len(sizes) else 0.0,
                "smallest_layer_bytes": int(sizes.min()) if len(sizes) else 0,
            }
        )
    frame = pd.DataFrame(rows)
    summary = {
        **layering.describe(),
        "limit": limit,
        "mean_layers": float(frame["layers"].mean()),
        "max_layers": int(frame["layers"].max()),
        "min_headroom": int(frame["headroom"].min()),
        "mean_largest_share": float(frame["largest_share"].mean()),
        "max_largest_share": float(frame["largest_share"].max()),
    }
    return MetricResult(frame, summary)
