"""Churn: what one changed package costs the registry and its clients.

When a package of an image changes (a patch, a rebuild), its store path gets
a new hash, and so does every path that references it, transitively: Nix
hashes the inputs.  :func:`churn` simulates that for one path at a time:

1. replace the path and all its referrers (within the image) by paths with
   new hashes and the same names and sizes (so popularity look-ups are
   unchanged);
2. re-layer the changed image with the same strategy and budget;
3. compare the new layers with the old ones:

   * ``repushed_bytes``: bytes of new layers the registry does not already
     hold (it holds every layer of the old layering of the whole set);
   * ``repulled_any_bytes`` / ``repulled_chain_bytes``: bytes a client that
     holds the old image downloads to update, under the *any digest* and the
     *ChainID prefix* rules (:mod:`layerlab.metrics.pull`);
   * ``changed_bytes``: bytes of the renamed paths, the least any layering
     must ship; ``amplification`` = re-pulled (any) / changed.

Example:
    >>> from layerlab.imageset import default_imageset
    >>> from layerlab.strategies import get_strategy
    >>> s = default_imageset().subset(["img-curl"])
    >>> frame, summary = churn(get_strategy("nixery"), s, 10, changes=["curl-7.88.1-10+deb12u15"])
    >>> row = frame.iloc[0]
    >>> int(row.dependents), int(row.repulled_any_bytes) >= int(row.changed_bytes)
    (1, True)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..graph import ClosureGraph, store_name
from ..imageset import ImageSet
from ..strategies.base import DEFAULT_BUDGET, Context, Strategy
from .layering import Layering, MetricResult, layer_imageset

__all__ = ["churn", "changed_graph", "rehash"]

_NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"


def rehash(path: str, salt: str = "churn") -> str:
    """``path`` with a new, deterministic hash part and the same name.

    Example:
        >>> rehash("/nix/store/0c7c96gikmzv87i7lv3vq5s1cmfjd6zf-openssl-1.1.1c")[-15:]
        '-openssl-1.1.1c'
        >>> p = "/nix/store/0c7c96gikmzv87i7lv3vq5s1cmfjd6zf-openssl-1.1.1c"
        >>> rehash(p) == rehash(p)
        True
    """
    digest = hashlib.sha256(f"{salt}\0{path}".encode()).digest()
    n = int.from_bytes(digest[:20], "big")
    h = "".join(_NIX32[(n >> (5 * k)) & 31] for k in range(32))
    directory = path.rsplit("/", 1)[0]
    return f"{directory}/{h}-{store_name(path)}"


def changed_graph(graph: ClosureGraph, path: str, salt: str = "churn") -> tuple[ClosureGraph, dict[str, str]]:
    """The graph after ``path`` changes: it and its referrers renamed by :func:`rehash`.

    Returns the new graph and the renaming (old path -> new path).

    Example:
        >>> g = ClosureGraph.from_records([
        ...     {"path": "/s/a-app", "narSize": 1, "references": ["/s/c-lib"]},
        ...     {"path": "/s/b-tool", "narSize": 2, "references": []},
        ...     {"path": "/s/c-lib", "narSize": 4, "references": []}])
        >>> new, renamed = changed_graph(g, "/s/c-lib")
        >>> sorted(renamed), len(new), new.nar_size == (1, 2, 4) or sorted(new.nar_size)
        (['/s/a-app', '/s/c-lib'], 3, [1, 2, 4])
    """
    i = graph.index.get(path)
    if i is None:
        raise ConfigError(f"{path} is not in the image", source=graph.source or graph.name)
    renamed = {graph.paths[j]: rehash(graph.paths[j], salt) for j in graph.closure_of([i], reverse=True)}
    recs = graph.to_records()
    for rec in recs:
        rec["path"] = renamed.get(rec["path"], rec["path"])
        rec["references"] = [renamed.get(r, r) for r in rec["references"]]
        rec.pop("narHash", None)
    roots = [renamed.get(graph.paths[r], graph.paths[r]) for r in graph.roots] if graph.roots_given else None
    return ClosureGraph.from_records(recs, roots, name=graph.name, source=graph.source), renamed


def _match(graph: ClosureGraph, changes: Sequence[str] | None) -> list[int]:
    if changes is None:
        return list(range(len(graph.paths)))
    wanted = set(changes)
    return [i for i, p in enumerate(graph.paths) if p in wanted or graph.names[i] in wanted]


def churn(
    strategy: Strategy,
    imageset: ImageSet,
    budget: int = DEFAULT_BUDGET,
    context: Context | None = None,
    *,
    images: Iterable[int | str] | None = None,
    changes: Sequence[str] | None = None,
    layering: Layering | None = None,
    progress: bool | None = None,
) -> MetricResult:
    """Bytes re-pushed and re-pulled for each single-package change; see the module documentation.

    Args:
        strategy, budget, context: how the images are layered (``context``
            defaults to the set's popularity).
        images: the images to change, by name or index (default: all).
        changes: the paths to change, as store paths or ``name-version``
            (default: every path of each image, one at a time).
        layering: the old layering, if already computed with the same strategy.
        progress: show a progress bar (default: when it takes over a second).

    Returns:
        One row per (image, changed path): ``image``, ``changed``,
        ``dependents`` (paths renamed), ``changed_bytes``, ``layers``
        (new layer count), ``new_layers`` (not in the registry),
        ``repushed_bytes``, ``repulled_any_bytes``, ``repulled_chain_bytes``,
        ``amplification``; the summary sums and averages them.

    Raises:
        ConfigError: ``changes`` matches no path of the selected images.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> frame, summary = churn(get_strategy("nixery"), default_imageset().subset(["img-curl"]), 94)
        >>> len(frame), summary["changes"], summary["repushed_bytes"] >= summary["changed_bytes"]
        (32, 32, True)
    """
    from tqdm.auto import tqdm

    if context is None:
        context = Context(popularity=imageset.popularity)
    if layering is None:
        layering = layer_imageset(strategy, imageset, budget, context)
    u = imageset.universe
    sizes = u.require_sizes("churn")
    table = layering.table
    registry = set(table.layer_paths)
    key_size = dict(zip(table.layer_paths, table.layer_size))
    positions = range(len(imageset)) if images is None else [imageset.position(k) for k in images]
    jobs = [(i, j) for i in positions for j in _match(imageset.images[i].graph, changes)]
    if not jobs:
        raise ConfigError(f"no path of the selected images matches {', '.join(changes or [])}", source="changes")
    rows = []
    for i, j in tqdm(jobs, desc="churn", delay=1.0, disable=progress is False, leave=False):
        img = imageset.images[i]
        g = img.graph
        old_keys = [table.layer_paths[lid] for lid in table.image_layers[i]]
        new_graph, renamed = changed_graph(g, g.paths[j])
        # Global ids: unchanged paths keep theirs, renamed paths get fresh ones.
        index = u.index
        fresh: dict[str, int] = {}
        size_of: dict[int, int] = {}
        for old, new in renamed.items():
            fid = fresh[new] = len(u) + len(fresh)
            size_of[fid] = int(sizes[index[old]])
        new_layers = strategy.group(new_graph, context, budget)
        new_keys = []
        new_sizes = []
        for layer in new_layers:
            ids = sorted(fresh[p] if p in fresh else index[p] for p in layer.paths)
            key = tuple(ids)
            new_keys.append(key)
            new_sizes.append(key_size[key] if key in key_size else sum(size_of[x] if x >= len(u) else int(sizes[x]) for x in ids))
        old_set = set(old_keys)
        prefix = 0
        while prefix < min(len(old_keys), len(new_keys)) and old_keys[prefix] == new_keys[prefix]:
            prefix += 1
        changed = sum(size_of.values())
        repulled_any = sum(b for k, b in zip(new_keys, new_sizes) if k not in old_set)
        rows.append(
            {
                "image": img.name,
                "changed": g.paths[j],
                "dependents": len(renamed),
                "changed_bytes": changed,
                "layers": len(new_keys),
                "new_layers": sum(1 for k in new_keys if k not in registry),
                "repushed_bytes": sum(b for k, b in zip(new_keys, new_sizes) if k not in registry),
                "repulled_any_bytes": repulled_any,
                "repulled_chain_bytes": sum(new_sizes[prefix:]),
                "amplification": repulled_any / changed if changed else float("nan"),
            }
        )
    frame = pd.DataFrame(rows)
    changed_total = int(frame["changed_bytes"].sum())
    summary: dict[str, Any] = {
        **layering.describe(),
        "changes": len(frame),
        "changed_bytes": changed_total,
        "repushed_bytes": int(frame["repushed_bytes"].sum()),
        "repulled_any_bytes": int(frame["repulled_any_bytes"].sum()),
        "repulled_chain_bytes": int(frame["repulled_chain_bytes"].sum()),
        "mean_repushed_bytes": float(frame["repushed_bytes"].mean()),
        "mean_repulled_any_bytes": float(frame["repulled_any_bytes"].mean()),
        "median_repulled_any_bytes": float(np.median(frame["repulled_any_bytes"])),
        "amplification": int(frame["repulled_any_bytes"].sum()) / changed_total if changed_total else float("nan"),
    }
    return MetricResult(frame, summary)
