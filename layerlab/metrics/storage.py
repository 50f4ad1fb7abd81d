"""Registry storage: what a registry holds for all images of a set.

A registry stores each distinct layer once (layers are identified by content,
see :mod:`layerlab.metrics.layering`).  Three figures describe a layering:

* ``unique_layer_bytes``: bytes of the distinct layers, what the registry stores;
* ``total_bytes``: the sum of the image sizes, what it would store with no
  sharing at all;
* ``duplicated_bytes``: bytes of store paths held by more than one distinct
  layer, counted once per extra copy.  ``unique_layer_bytes = union_bytes +
  duplicated_bytes``, where ``union_bytes`` (one layer per path) is the ideal.

Example:
    >>> from layerlab.imageset import default_imageset
    >>> from layerlab.strategies import get_strategy
    >>> from layerlab.metrics import layer_imageset
    >>> frame, summary = registry_storage(layer_imageset(get_strategy("nixery"), default_imageset(), 94))
    >>> summary["unique_layer_bytes"] == summary["union_bytes"] + summary["duplicated_bytes"]
    True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .layering import Layering, MetricResult

__all__ = ["registry_storage"]


def registry_storage(layering: Layering) -> MetricResult:
    """One row per distinct layer: ``layer`` id, ``bytes``, ``paths``, ``images`` using it, ``first_image``.

    The summary has ``layers`` (distinct), ``unique_layer_bytes``,
    ``union_bytes``, ``total_bytes``, ``duplicated_bytes``,
    ``storage_ratio`` (unique / union) and ``saving`` (1 - unique / total).

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> from layerlab.metrics import layer_imageset
        >>> s = default_imageset().subset(["img-curl", "img-git"])
        >>> registry_storage(layer_imageset(get_strategy("nixery"), s, 94)).frame.columns.tolist()
        ['layer', 'bytes', 'paths', 'images', 'first_image']
    """
    s = layering.imageset
    u = s.universe
    sizes = u.require_sizes("registry storage")
    table = layering.table
    users = [0] * len(table.layer_size)
    first = [""] * len(table.layer_size)
    for img, ids in zip(s.images, table.image_layers):
        for lid in set(ids):
            if not users[lid]:
                first[lid] = img.name
            users[lid] += 1
    frame = pd.DataFrame(
        {
            "layer": np.arange(len(table.layer_size), dtype=np.int64),
            "bytes": np.array(table.layer_size, dtype=np.int64),
            "paths": np.array([len(p) for p in table.layer_paths], dtype=np.int64),
            "images": np.array(users, dtype=np.int64),
            "first_image": first,
        }
    )
    unique = int(sum(table.layer_size))
    copies = np.zeros(len(u), dtype=np.int64)
    for key in table.layer_paths:
        copies[list(key)] += 1
    union = int(sizes[copies > 0].sum())
    duplicated = int((sizes * np.maximum(copies - 1, 0)).sum())
    total = sum(int(sizes[ids].sum()) for ids in u.ids)
    summary = {
        **layering.describe(),
        "layers": len(table.layer_size),
        "unique_layer_bytes": unique,
        "union_bytes": union,
        "total_bytes": total,
        "duplicated_bytes": duplicated,
        "storage_ratio": unique / union if union else 1.0,
        "saving": 1 - unique / total if total else 0.0,
    }
    return MetricResult(frame, summary)
