"""Updates: what one changed package costs the registry and a client that holds the image.

When a package of an image changes (a patch, a rebuild), its store path gets
a new hash, and so does every path that references it, transitively: Nix
hashes the inputs.  For one (image, store path) pair at a time:

1. rename the path and all its referrers within the image (:func:`changed_graph`:
   new hashes, same names and sizes, so popularity look-ups are unchanged);
2. re-layer the image with the same strategy and budget;
3. compare the new layer list with the old one:

   * ``renamed_bytes``: bytes of the renamed paths, the least any layering
     must ship;
   * ``repulled_any_bytes``: bytes of the new layers the client holding the
     old image lacks (*any digest*: a layer is held when a layer of the old
     image has the same paths);
   * ``repulled_chain_bytes``: bytes of every new layer from the first
     position where the old and new layer lists differ (*ChainID*);
   * ``repushed_bytes``: bytes of new layers the registry lacks (it holds
     every layer of the old layering of the whole set).

:func:`update_costs` runs this for every pair (or a seeded sample) and every
budget at once: the renamed graph of a pair is built once for all budgets,
and images are spread over an executor.  Summed over the pairs,
``repulled / renamed`` is the scorecard's *update-any* and *update-chain*
figure (:mod:`layerlab.metrics.scorecard`).  :func:`churn` is the per-pair
table for one budget.

**Skipping the regrouping.**  A strategy that declares
:attr:`~layerlab.strategies.Strategy.rename_invariant` promises that the new
layers are the old ones with the renamed paths substituted, in the same
order.  Then a layer is re-pulled under *any digest* exactly when it holds a
renamed path, and under *ChainID* from the lowest such layer up, so no
regrouping is needed.  The promise is spot-checked on every image and budget
by regrouping three pairs (those renaming the fewest, a median number and the
most paths) and comparing the layer lists; a broken promise found there is a
:class:`~layerlab.errors.StrategyError`.  The tests hold every declaring
strategy to the promise on random graphs.

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
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, StrategyError
from ..graph import ClosureGraph, store_name
from ..imageset import ImageSet
from ..strategies.base import DEFAULT_BUDGET, Context, Strategy
from .executors import ExecutorSpec, check_executor, run_pieces, worker_count
from .layering import Layering, MetricResult, layer_imageset

__all__ = ["churn", "changed_graph", "rehash", "update_costs", "all_pairs", "UPDATE_COLUMNS"]

_NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"

#: Columns of :func:`update_costs`, one row per (image, changed path, budget).
UPDATE_COLUMNS = [
    "image",
    "changed",
    "budget",
    "dependents",
    "changed_bytes",
    "layers",
    "new_layers",
    "repushed_bytes",
    "repulled_any_bytes",
    "repulled_chain_bytes",
]


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
    return graph.relabel(renamed), renamed


def all_pairs(imageset: ImageSet, sample: int | None = None, seed: int = 0) -> list[tuple[int, int]]:
    """Every (image position, path index) pair of the set, or a seeded sample of ``sample`` of them.

    The sample is drawn without replacement and returned in set order.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> s = default_imageset().subset(["img-curl", "img-git"])
        >>> len(all_pairs(s)) == sum(len(g) for g in s.graphs), len(all_pairs(s, 5, seed=1))
        (True, 5)
    """
    pairs = [(i, j) for i, img in enumerate(imageset.images) for j in range(len(img.graph))]
    if sample is None or sample >= len(pairs):
        return pairs
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise ConfigError(f"sample must be a positive number of pairs, not {sample!r}", source="sample")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(pairs), size=sample, replace=False))
    return [pairs[k] for k in chosen]


# ------------------------------------------------------------ one image
_BudgetCost = tuple[int, int, int, int, int, list[tuple[tuple[int, ...], int]]]


def _image_updates(
    strategy: Strategy,
    context: Context,
    graph: ClosureGraph,
    gids: np.ndarray,
    fresh_base: int,
    old: Sequence[tuple[int, Sequence[tuple[int, ...]], Sequence[int]]],
    js: Sequence[int],
    fast: bool,
) -> list[tuple[int, int, list[_BudgetCost]]]:
    """Update costs of the pairs ``js`` of one image; see :func:`update_costs`.

    ``old`` holds, per budget, ``(budget, old layer keys, old layer sizes)``
    with keys as sorted global path ids; ``gids`` maps local to global ids;
    the renamed paths get ids ``fresh_base, fresh_base + 1, ...`` in index
    order.  Per pair: dependents, renamed bytes, and per budget ``(layers,
    new layers, re-pulled any, re-pulled chain, fresh bytes, other new
    layers)``, where the fresh bytes are those of new layers holding a
    renamed path (never in any registry) and the other new layers are
    ``(key, size)`` of new layers without a renamed path that the old image
    lacks (the caller looks them up in the registry).
    """
    nar = graph.require_nar_size("update costs")
    renamed_sets = {j: graph.closure_of([j], reverse=True) for j in js}
    # Per image, once: every path's new name and every unchanged path's global id.
    base = _Renaming([rehash(p) for p in graph.paths], {p: int(g) for p, g in zip(graph.paths, gids)})
    check: set[int] = set()
    if fast and js:
        by_size = sorted(js, key=lambda j: (len(renamed_sets[j]), j))
        check = {by_size[0], by_size[len(by_size) // 2], by_size[-1]}
    out = []
    for j in js:
        renamed = renamed_sets[j]
        renamed_bytes = sum(nar[k] for k in renamed)
        if not fast:
            out.append(
                (len(renamed), renamed_bytes, _regrouped(strategy, context, graph, base, fresh_base, old, renamed)[0])
            )
            continue
        fresh = {int(gids[k]): fresh_base + n for n, k in enumerate(renamed)}
        per_budget: list[_BudgetCost] = []
        predicted = []
        for _, keys, sizes in old:
            touched = [pos for pos, key in enumerate(keys) if any(g in fresh for g in key)]
            any_bytes = sum(sizes[t] for t in touched)
            per_budget.append(
                (len(keys), len(touched), any_bytes, sum(sizes[touched[0] :]) if touched else 0, any_bytes, [])
            )
            if j in check:
                predicted.append([tuple(sorted(fresh.get(g, g) for g in key)) for key in keys])
        if j in check:
            costs, new_keys = _regrouped(strategy, context, graph, base, fresh_base, old, renamed)
            if new_keys != predicted or costs != per_budget:
                raise StrategyError(
                    f"{strategy.name} declares that renaming paths only renames them in its layers, but renaming "
                    f"{graph.paths[j]} and its referrers changes the layers of image {graph.name}",
                    source=graph.source,
                )
        out.append((len(renamed), renamed_bytes, per_budget))
    return out


@dataclass(frozen=True)
class _Renaming:
    """An image's paths' new names (by index) and the global ids of its paths (by path)."""

    new_name: list[str]
    gid: dict[str, int]


def _regrouped(
    strategy: Strategy,
    context: Context,
    graph: ClosureGraph,
    base: _Renaming,
    fresh_base: int,
    old: Sequence[tuple[int, Sequence[tuple[int, ...]], Sequence[int]]],
    renamed: Sequence[int],
) -> tuple[list[_BudgetCost], list[list[tuple[int, ...]]]]:
    """Rename, regroup at every budget, and compare with the old layers (the exact path).

    Returns the costs per budget and the new layer keys per budget.
    """
    renaming = {graph.paths[k]: base.new_name[k] for k in renamed}
    new_graph = graph.relabel(renaming)
    # Global ids of the new graph's paths: unchanged paths keep theirs, renamed paths get fresh ones.
    gid_of = dict(base.gid)
    for n, k in enumerate(renamed):
        gid_of[base.new_name[k]] = fresh_base + n
        del gid_of[graph.paths[k]]
    out: list[_BudgetCost] = []
    all_keys = []
    for budget, keys, _ in old:
        old_set = set(keys)
        new_layers = strategy.group(new_graph, context, budget)
        new_keys = [tuple(sorted(gid_of[p] for p in layer.paths)) for layer in new_layers]
        new_sizes = [int(layer.size or 0) for layer in new_layers]
        prefix = 0
        while prefix < min(len(keys), len(new_keys)) and keys[prefix] == new_keys[prefix]:
            prefix += 1
        missing = [(k, b) for k, b in zip(new_keys, new_sizes) if k not in old_set]
        fresh = [(k, b) for k, b in missing if k[-1] >= fresh_base]
        others = [(k, b) for k, b in missing if k[-1] < fresh_base]
        out.append(
            (
                len(new_keys),
                len(missing),
                sum(b for _, b in missing),
                sum(new_sizes[prefix:]),
                sum(b for _, b in fresh),
                others,
            )
        )
        all_keys.append(new_keys)
    return out, all_keys


@dataclass(frozen=True)
class _UpdateShared:
    """What every piece of :func:`update_costs` needs (sent to each worker once)."""

    imageset: ImageSet
    context: Context
    cls: type[Strategy]
    values: Mapping[str, Any]
    fast: bool


_OldLayers = Sequence[tuple[int, Sequence[tuple[int, ...]], Sequence[int]]]


def _update_piece(
    shared: _UpdateShared, piece: tuple[Mapping[int, _OldLayers], Sequence[tuple[int, Sequence[int]]]]
) -> list[list[Any]]:
    """Worker entry point: the pairs of a few images (``piece``: old layers by image, then (image, pairs) jobs)."""
    olds, jobs = piece
    strategy = shared.cls(**shared.values)
    imageset = shared.imageset
    u = imageset.universe
    # Warnings about an image (paths no root reaches...) were given when it was first layered, not once per pair.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            _image_updates(
                strategy, shared.context, imageset.images[i].graph, u.ids[i], len(u), olds[i], js, shared.fast
            )
            for i, js in jobs
        ]


def update_costs(
    strategy: Strategy,
    imageset: ImageSet,
    budgets: Sequence[int] = (DEFAULT_BUDGET,),
    context: Context | None = None,
    *,
    pairs: Sequence[tuple[int, int]] | None = None,
    layerings: Mapping[int, Layering] | None = None,
    executor: ExecutorSpec = None,
    workers: int | None = None,
    regroup: bool | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Update costs of (image, path) pairs at every budget; see the module documentation.

    Args:
        strategy: how the images are layered.
        budgets: the budgets the images are layered under.
        context: the strategy's context (default: the set's popularity).
        pairs: ``(image position, path index)`` pairs (default: all, see :func:`all_pairs`).
        layerings: the old layering per budget, if already computed.
        executor: ``None`` or ``"serial"`` (default: in this process), ``"process"``,
            ``"thread"``, ``"dask://HOST:PORT"``, a :class:`distributed.Client`
            or any :class:`concurrent.futures.Executor` (see
            :mod:`layerlab.metrics.executors`); images are spread over it in
            small pieces.
        workers: pool size for the pools created here (default: CPU count).
        regroup: ``True`` always regroups; ``False`` requires the strategy to
            declare ``rename_invariant``; default: skip regrouping when it does.
        progress: show a progress bar (default: when it takes over a second).

    Returns:
        One row per (pair, budget), in pair order then budget order; columns
        :data:`UPDATE_COLUMNS` (``changed`` is the store path, ``changed_bytes``
        the renamed bytes, ``dependents`` the renamed paths).

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> s = default_imageset().subset(["img-curl"])
        >>> df = update_costs(get_strategy("single-layer"), s, [94, 10])
        >>> bool((df.repulled_any_bytes == s["img-curl"].bytes).all()), len(df) == 2 * len(s["img-curl"].graph)
        (True, True)
    """
    from tqdm.auto import tqdm

    budgets = list(budgets)
    if context is None:
        context = Context(popularity=imageset.popularity)
    if regroup is False and not strategy.rename_invariant:
        raise ConfigError(
            f"{strategy.name} does not declare rename invariance, so it must be regrouped", source="regroup"
        )
    fast = strategy.rename_invariant and regroup is not True
    u = imageset.universe
    u.require_sizes("update costs")
    if pairs is None:
        pairs = all_pairs(imageset)
    lays = dict(layerings or {})
    for b in budgets:
        if b not in lays:
            lays[b] = layer_imageset(strategy, imageset, b, context)
    tables = {b: lays[b].table for b in budgets}
    by_image: dict[int, list[int]] = {}
    for i, j in pairs:
        by_image.setdefault(i, []).append(j)
    olds = {
        i: [
            (
                b,
                [tables[b].layer_paths[lid] for lid in tables[b].image_layers[i]],
                [tables[b].layer_size[lid] for lid in tables[b].image_layers[i]],
            )
            for b in budgets
        ]
        for i in by_image
    }
    jobs = list(by_image.items())
    executor = "serial" if executor is None else check_executor(executor)
    n_workers = worker_count(executor, workers)
    # Pieces of a few images each, several per worker: progress moves and stopping cancels what has not started.
    chunks = _balanced(jobs, min(len(jobs), n_workers * 8), imageset)
    shared = _UpdateShared(imageset, context, type(strategy), dict(strategy.values), fast)
    pieces = [({i: olds[i] for i, _ in chunk}, chunk) for chunk in chunks]
    results: list[list[Any] | None] = [None] * len(chunks)
    with tqdm(total=len(pairs), desc="updates", unit="pair", delay=1.0, disable=progress is False, leave=False) as bar:
        for n, result in run_pieces(executor, _update_piece, shared, pieces, workers=n_workers):
            results[n] = result
            bar.update(sum(len(js) for _, js in chunks[n]))
    registry = {b: set(tables[b].layer_paths) for b in budgets}
    per_image = {}
    for chunk, res in zip(chunks, results):
        for (i, js), r in zip(chunk, res or []):
            per_image[i] = dict(zip(js, r))
    rows = []
    for i, j in pairs:
        img = imageset.images[i]
        dependents, renamed_bytes, per_budget = per_image[i][j]
        for b, (layers, new, any_bytes, chain_bytes, fresh_bytes, others) in zip(budgets, per_budget):
            rows.append(
                (
                    img.name,
                    img.graph.paths[j],
                    b,
                    dependents,
                    renamed_bytes,
                    layers,
                    new,
                    fresh_bytes + sum(size for key, size in others if key not in registry[b]),
                    any_bytes,
                    chain_bytes,
                )
            )
    return pd.DataFrame(rows, columns=UPDATE_COLUMNS)


def _balanced(jobs: list[tuple[int, list[int]]], n: int, imageset: ImageSet) -> list[list[tuple[int, list[int]]]]:
    """Cut per-image jobs into ``n`` chunks of similar work (pairs x image size), deterministically."""
    if n <= 1:
        return [jobs] if jobs else []
    weight = {i: len(js) * max(1, len(imageset.images[i].graph)) for i, js in jobs}
    chunks: list[list[tuple[int, list[int]]]] = [[] for _ in range(n)]
    load = [0] * n
    for job in sorted(jobs, key=lambda t: (-weight[t[0]], t[0])):
        k = min(range(n), key=lambda c: (load[c], c))
        chunks[k].append(job)
        load[k] += weight[job[0]]
    return [sorted(c) for c in chunks if c]


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
    """Bytes re-pushed and re-pulled for each single-package change at one budget.

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
        (new layer count), ``new_layers`` (not in the old image),
        ``repushed_bytes``, ``repulled_any_bytes``, ``repulled_chain_bytes``,
        ``amplification``; the summary sums and averages them.

    Raises:
        ConfigError: ``changes`` matches no path of the selected images.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> s = default_imageset().subset(["img-curl", "img-make"])
        >>> frame, summary = churn(get_strategy("per-path"), s, 10, images=["img-make"])
        >>> len(frame) == len(s["img-make"].graph), summary["repulled_chain_bytes"] >= summary["repulled_any_bytes"]
        (True, True)
    """
    positions = range(len(imageset)) if images is None else [imageset.position(k) for k in images]
    pairs = [(i, j) for i in positions for j in _match(imageset.images[i].graph, changes)]
    if not pairs:
        raise ConfigError(f"no path of the selected images matches {', '.join(changes or [])}", source="changes")
    if layering is None:
        layering = layer_imageset(strategy, imageset, budget, context)
    frame = update_costs(
        strategy, imageset, [budget], context, pairs=pairs, layerings={budget: layering}, progress=progress
    ).drop(columns=["budget"])
    changed = frame["changed_bytes"]
    frame["amplification"] = [r / c if c else math.nan for r, c in zip(frame["repulled_any_bytes"], changed)]
    changed_total = int(changed.sum())
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
