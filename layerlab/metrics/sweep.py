"""Sweeps: many strategy configurations x budgets over one image set, into one DataFrame.

A sweep evaluates every *point* (a configured strategy and a budget) on every
image of an :class:`~layerlab.imageset.ImageSet` and records the pull cost
(:mod:`layerlab.metrics.pull`) and registry storage of each, one row per
point and cache rule.

Building the points:

* :func:`grid`: the cartesian product of parameter values;
* :func:`sample`: a seeded random sample (log-uniform for parameters declared
  ``log`` or of kind ``bytes``);
* :func:`default_space`: value ranges derived from the declared
  :class:`~layerlab.strategies.Param` ranges and the data (a byte threshold
  above the largest image changes nothing, so the range stops there).

Running them, :func:`sweep`:

* **Executors.** Points are cut into chunks and submitted to any
  :class:`concurrent.futures.Executor`: a process pool on this machine by
  default (``executor="serial"`` runs in-process), or a Dask
  (``client.get_executor()``) or Ray executor; nothing else changes.  Only
  plain data crosses the boundary (the image set, the context, strategy
  classes and parameter values).
* **Progress.** A tqdm bar appears when the sweep takes over a second.
* **Cache.** The result is stored as Parquet under ``cache_dir``
  (``$LAYERLAB_CACHE_DIR/sweep``, else ``$XDG_CACHE_HOME/layerlab/sweep``,
  else ``~/.cache/layerlab/sweep``), keyed by a SHA-256 of the inputs: the
  image set's content digest, the popularity table, every point's strategy
  JSON, the budgets and the rules, and the source of the strategies' and the
  metrics' modules (a changed implementation never reads a stale entry).  A
  rerun with the same inputs reads the file.
* **Reuse.** Per worker, each image is grouped through an evaluator that
  caches what does not change between points.  For Nixery the dominator tree
  of an image depends only on its set of big-or-popular paths, so
  :func:`~layerlab.strategies.nixery.dominator_split` runs once per (image,
  flagged set) and :func:`~layerlab.strategies.nixery.merge_split` once per
  (image, flagged set, budget, merge mode); most of a threshold grid lands on
  a handful of distinct flagged sets.  Layers are interned as sorted tuples
  of the set's global path ids, so the pull bytes of a point are a set union
  of small integers.  The result is exactly that of running
  :meth:`Strategy.group` and :func:`~layerlab.metrics.pull.pull_cost` for the
  point (tested).

Columns of the result: ``strategy`` (family name), ``spec`` (the strategy's
canonical JSON), one column per parameter (dicts as JSON text), ``budget``,
``rule``, ``pulled_bytes``, ``pulled_layers``, ``ideal_bytes``, ``ratio``
(pulled / ideal), ``storage_bytes`` (unique layer bytes), ``distinct_layers``,
``max_layers`` and ``mean_layers`` (per image).

Example:
    >>> from layerlab.imageset import default_imageset
    >>> from layerlab.strategies import get_strategy
    >>> points = grid(get_strategy("nixery"), {"popularity_threshold": [100, 1000]})
    >>> df = sweep(default_imageset(), points, budgets=[94, 10], executor="serial", cache=False)
    >>> df["budget"].tolist(), df["ratio"].round(2).tolist()
    ([94, 10, 94, 10], [1.29, 1.64, 1.77, 1.81])
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import itertools
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ..errors import ConfigError, InputError
from ..imageset import ImageSet
from ..popularity import Popularity
from ..strategies.base import DEFAULT_BUDGET, Context, Param, Strategy
from .pull import RULES, simulate_pull

__all__ = [
    "grid",
    "sample",
    "default_space",
    "log_range",
    "sweep",
    "evaluate_points",
    "Evaluator",
    "default_cache_dir",
    "write_frame",
    "sweep_key",
]

SWEEP_VERSION = 1

_METRIC_COLUMNS = [
    "budget",
    "rule",
    "pulled_bytes",
    "pulled_layers",
    "ideal_bytes",
    "ratio",
    "storage_bytes",
    "distinct_layers",
    "max_layers",
    "mean_layers",
]


# ----------------------------------------------------------------- points
def _as_strategy(strategy: Strategy | str) -> Strategy:
    if isinstance(strategy, str):
        from ..strategies import get_strategy

        return get_strategy(strategy)
    return strategy


def grid(strategy: Strategy | str, space: Mapping[str, Sequence[Any]]) -> list[Strategy]:
    """Every combination of the values in ``space``, on top of ``strategy``'s values.

    Values are validated like ``--set`` values (``"100M"`` is accepted for bytes).

    Example:
        >>> [s.popularity_threshold for s in grid("nixery", {"popularity_threshold": [10, "100"]})]
        [10, 100]
    """
    base = _as_strategy(strategy)
    keys = list(space)
    values = []
    for k in keys:
        p = type(base).param(k)
        vs = space[k]
        if isinstance(vs, (str, bytes)) or not isinstance(vs, Iterable):
            raise ConfigError(f"values of {k} must be a list", source="grid")
        values.append([p.coerce(v, where="grid") for v in vs])
    return [base.replace(**dict(zip(keys, combo))) for combo in itertools.product(*values)]


def log_range(lo: float, hi: float, n: int, *, integer: bool = True) -> list:
    """``n`` values spaced evenly on a log scale from ``lo`` to ``hi`` (both > 0), duplicates dropped.

    Example:
        >>> log_range(1, 1000, 4)
        [1, 10, 100, 1000]
    """
    if lo <= 0 or hi <= 0:
        raise ConfigError(f"a log range needs positive bounds, not {lo}..{hi}", source="range")
    vals = np.geomspace(lo, hi, n) if n > 1 else np.array([lo])
    if integer:
        return sorted({int(round(v)) for v in vals})
    return [float(v) for v in vals]


def _numeric_bounds(p: Param, imageset: ImageSet | None, context: Context | None) -> tuple[float, float] | None:
    if p.kind not in ("int", "bytes", "float"):
        return None
    lo = p.minimum if p.minimum is not None else 0
    hi = p.maximum if p.maximum is not None else None
    if p.kind == "bytes":
        lo = max(lo, 10_000)
        if imageset is not None and imageset.universe.nar_size is not None:
            biggest = max(img.bytes for img in imageset.images)
            hi = biggest if hi is None else min(hi, biggest)
    elif p.kind == "int" and p.log:
        lo = max(lo, 1)
        pop = context.popularity if context is not None else imageset.popularity if imageset is not None else None
        cap = 10**6
        if pop is not None and len(pop) and "popularity" in p.name:
            cap = max(pop.counts.values()) + 1
        hi = cap if hi is None else min(hi, cap)
    if hi is None:
        hi = lo + 100
    if hi < lo:
        hi = lo
    return float(lo), float(hi)


def default_space(
    strategy: Strategy | str,
    imageset: ImageSet | None = None,
    *,
    steps: int = 10,
    context: Context | None = None,
    include: Iterable[str] | None = None,
) -> dict[str, list]:
    """Value lists for the numeric parameters of ``strategy`` (``steps`` each, plus its current value).

    Log-scaled for ``log`` and ``bytes`` parameters and for integers with a
    wide range.  Bytes stop at the size of the largest image of ``imageset``
    and popularity counts at the largest count of the popularity table.  The
    strategy's own value is added when it is not a grid point, so a search
    always includes its starting point.  Optional parameters (default
    ``None``) and non-numeric ones are left out unless named in ``include``;
    choices and booleans named there take all their values.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> sp = default_space("nixery", default_imageset(), steps=3)
        >>> sorted(sp), sp["popularity_threshold"][0]
        (['popularity_threshold', 'size_threshold'], 1)
    """
    base = _as_strategy(strategy)
    wanted = None if include is None else set(include)
    out: dict[str, list] = {}
    for p in type(base).params:
        if wanted is not None and p.name not in wanted:
            continue
        if p.kind == "choice" and wanted is not None:
            out[p.name] = list(p.choices)
            continue
        if p.kind == "bool" and wanted is not None:
            out[p.name] = [False, True]
            continue
        if (p.optional or p.default is None) and wanted is None:
            continue
        bounds = _numeric_bounds(p, imageset, context)
        if bounds is None:
            continue
        lo, hi = bounds
        integer = p.kind in ("int", "bytes")
        if p.log or p.kind == "bytes" or (integer and hi - lo > 100 * steps):
            vals = log_range(max(lo, 1), hi, steps, integer=integer)
        else:
            lin = np.linspace(lo, hi, steps)
            vals = sorted({int(round(v)) for v in lin}) if integer else [float(v) for v in lin]
        default = getattr(base, p.name)
        if isinstance(default, (int, float)) and not isinstance(default, bool) and lo <= default <= hi and default not in vals:
            vals = sorted([*vals, default])  # the starting value is always a grid point
        out[p.name] = vals
    return out


def sample(
    strategy: Strategy | str,
    n: int,
    space: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    imageset: ImageSet | None = None,
    context: Context | None = None,
) -> list[Strategy]:
    """``n`` random configurations (seeded, so reproducible).

    ``space`` maps a parameter to a ``(low, high)`` tuple (sampled uniformly,
    log-uniformly for ``log``/``bytes`` parameters) or a list (one value
    picked).  By default, the ranges of :func:`default_space`.

    Example:
        >>> pts = sample("nixery", 3, {"popularity_threshold": (10, 1000)}, seed=1)
        >>> len(pts), all(10 <= p.popularity_threshold <= 1000 for p in pts)
        (3, True)
    """
    base = _as_strategy(strategy)
    if space is None:
        space = {k: (min(v), max(v)) for k, v in default_space(base, imageset, context=context).items()}
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        values = {}
        for k, spec in space.items():
            p = type(base).param(k)
            if isinstance(spec, tuple) and len(spec) == 2 and p.kind in ("int", "bytes", "float"):
                lo, hi = float(spec[0]), float(spec[1])
                if (p.log or p.kind == "bytes") and lo > 0:
                    v = math.exp(rng.uniform(math.log(lo), math.log(hi)))
                else:
                    v = rng.uniform(lo, hi)
                v = int(round(v)) if p.kind in ("int", "bytes") else float(v)
            else:
                choices = list(spec)
                v = choices[int(rng.integers(len(choices)))]
            values[k] = p.coerce(v, where="sample")
        out.append(base.replace(**values))
    return out


# -------------------------------------------------------------- evaluation
class Evaluator:
    """Groups the images of one set for many points, reusing work between points.

    Holds per-image caches; not shared between processes (each worker builds
    its own).  :meth:`layer_ids` returns, for a point, each image's layers as
    ids into :attr:`layer_size` (layers interned by content).

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> ev = Evaluator(default_imageset())
        >>> ids = ev.layer_ids(get_strategy("nixery"), 94)
        >>> sum(ev.layer_size[i] for i in set().union(*ids))
        5132295168
    """

    def __init__(self, imageset: ImageSet, context: Context | None = None) -> None:
        self.imageset = imageset
        self.context = context if context is not None else Context(popularity=imageset.popularity)
        u = imageset.universe
        self._sizes = u.require_sizes("a sweep")
        self._ids = [ids.tolist() for ids in u.ids]
        self._key_id: dict[tuple[int, ...], int] = {}
        self.layer_size: list[int] = []
        self._memo: dict[Any, Any] = {}

    def _intern(self, key: tuple[int, ...]) -> int:
        lid = self._key_id.get(key)
        if lid is None:
            lid = self._key_id[key] = len(self.layer_size)
            self.layer_size.append(int(self._sizes[list(key)].sum()) if key else 0)
        return lid

    def _keys_of(self, image: int, layers: Sequence[Any]) -> tuple[int, ...]:
        g = self.imageset.images[image].graph
        index = g.index
        ids = self._ids[image]
        return tuple(self._intern(tuple(sorted(ids[index[p]] for p in layer.paths))) for layer in layers)

    def layer_ids(self, strategy: Strategy, budget: int) -> list[tuple[int, ...]]:
        """Each image's layer ids for one point."""
        from ..strategies.nixery import Nixery

        if isinstance(strategy, Nixery) and type(strategy)._group is Nixery._group:
            return self._nixery(strategy, budget)
        ctx = self.context
        return [self._keys_of(n, strategy.group(img.graph, ctx, budget, check=False)) for n, img in enumerate(self.imageset.images)]

    def _nixery(self, strategy: Any, budget: int) -> list[tuple[int, ...]]:
        from ..strategies.nixery import dominator_split, merge_split

        memo = self._memo
        pop_key = ("pop", strategy.popularity_by_name, orjson.dumps(strategy.forced_popularity, option=orjson.OPT_SORT_KEYS))
        pop = memo.get(pop_key)
        if pop is None:
            pop = memo[pop_key] = strategy.popularity_table(self.context)
        th_key = (pop_key, strategy.popularity_percentile, strategy.popularity_threshold)
        threshold = memo.get(th_key)
        if threshold is None:
            threshold = memo[th_key] = strategy.threshold(pop)
        out: list[tuple[int, ...]] = []
        for n, img in enumerate(self.imageset.images):
            g = img.graph
            if not g.paths:
                out.append(())
                continue
            pk = (n, pop_key)
            pops = memo.get(pk)
            if pops is None:
                pops = memo[pk] = pop.for_graph(g)
            sk = (n, "sizes", strategy.size_measure)
            sizes = memo.get(sk)
            if sizes is None:
                sizes = memo[sk] = strategy.sizes(g)
            fk = (n, pop_key, strategy.size_measure, strategy.size_threshold, threshold)
            flagged = memo.get(fk)
            if flagged is None:  # shared by every budget of a configuration
                flagged = memo[fk] = tuple(strategy.flagged(g, sizes, pops, threshold))
            rk = (n, pop_key, strategy.size_measure, flagged, budget, strategy.merge_mode, strategy.layer_order)
            ids = memo.get(rk)
            if ids is None:
                dk = (n, "split", flagged)
                split = memo.get(dk)
                if split is None:
                    split = memo[dk] = dominator_split(g, flagged)
                if strategy.merge_mode == "seed" and strategy.layer_order == "printed":
                    ids = memo[rk] = self._seed_merge(n, (n, pop_key, strategy.size_measure, flagged), split, sizes, pops, budget)
                else:
                    layers = merge_split(
                        g, split, sizes, pops, budget, strategy.merge_mode, strategy.size_threshold, threshold, strategy.layer_order
                    )
                    ids = memo[rk] = self._keys_of(n, layers)
            out.append(ids)
        return out

    def _seed_merge(self, n: int, key: Any, split: Any, sizes: Sequence[int], pops: Sequence[int], budget: int) -> tuple[int, ...]:
        """Nixery's ``seed`` merge on interned groups: the ``k`` lowest-rated
        initial layers become one, the rest stay; the initial layers (sorted by
        rating, ties by head path, unreachable paths first) are built once per
        split and reused for every budget."""
        gk = ("groups", key)
        groups = self._memo.get(gk)
        if groups is None:
            ids = self._ids[n]
            members: dict[int, list[int]] = {h: [] for h in split.heads}
            weight = dict.fromkeys(split.heads, 0)
            unreachable: list[int] = []
            for i, h in enumerate(split.owner):
                if h < 0:
                    unreachable.append(ids[i])
                else:
                    members[h].append(ids[i])
                    weight[h] += int(sizes[i])
            # Rating = popularity of the head x size of the layer; ties by head (= path) order.
            rated = sorted((int(pops[h]) * weight[h], pos, h) for pos, h in enumerate(split.heads))
            ordered = [sorted(unreachable)] if unreachable else []
            ordered.extend(sorted(members[h]) for _, _, h in rated)
            groups = self._memo[gk] = (ordered, tuple(self._intern(tuple(m)) for m in ordered))
        ordered, single = groups
        if len(ordered) <= budget:
            return single
        k = len(ordered) - budget + 1
        mk = ("merged", key, k)
        merged = self._memo.get(mk)
        if merged is None:
            merged = self._memo[mk] = self._intern(tuple(sorted(x for m in ordered[:k] for x in m)))
        return (merged, *single[k:])

    def metrics(self, image_layers: Sequence[Sequence[int]], rules: Sequence[str]) -> list[dict[str, Any]]:
        """Pull and storage figures of one point, one dict per rule."""
        sizes = self.layer_size
        distinct = set().union(*image_layers) if image_layers else set()
        storage = sum(sizes[i] for i in distinct)
        counts = [len(ls) for ls in image_layers]
        common = {
            "storage_bytes": storage,
            "distinct_layers": len(distinct),
            "max_layers": max(counts) if counts else 0,
            "mean_layers": sum(counts) / len(counts) if counts else 0.0,
        }
        rows = []
        for rule in rules:
            if rule == "any":
                pulled, layers = storage, len(distinct)
            else:
                res = simulate_pull(image_layers, sizes, range(len(image_layers)), rule=rule)
                pulled, layers = sum(b for _, b in res), sum(k for k, _ in res)
            rows.append({"rule": rule, "pulled_bytes": pulled, "pulled_layers": layers, **common})
        return rows


def _strategy_spec(strategy: Strategy) -> bytes:
    return orjson.dumps(strategy.to_json(), option=orjson.OPT_SORT_KEYS)


def _run_chunk(
    imageset: ImageSet,
    context: Context,
    chunk: Sequence[tuple[type[Strategy], dict[str, Any], int]],
    rules: Sequence[str],
) -> list[list[dict[str, Any]]]:
    """Worker entry point: evaluate a chunk of (class, values, budget) points."""
    ev = Evaluator(imageset, context)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [ev.metrics(ev.layer_ids(cls(**values), budget), rules) for cls, values, budget in chunk]


def evaluate_points(
    imageset: ImageSet,
    points: Sequence[tuple[Strategy, int]],
    *,
    context: Context | None = None,
    rules: Sequence[str] = ("any",),
) -> list[list[dict[str, Any]]]:
    """Evaluate (strategy, budget) points in this process; one list of per-rule dicts per point."""
    ctx = context if context is not None else Context(popularity=imageset.popularity)
    return _run_chunk(imageset, ctx, [(type(s), dict(s.values), b) for s, b in points], rules)


# ------------------------------------------------------------------ cache
def default_cache_dir() -> Path:
    """``$LAYERLAB_CACHE_DIR/sweep``, else ``$XDG_CACHE_HOME/layerlab/sweep``, else ``~/.cache/layerlab/sweep``."""
    env = os.environ.get("LAYERLAB_CACHE_DIR")
    if env:
        return Path(env) / "sweep"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "layerlab" / "sweep"


def _popularity_digest(pop: Popularity | None) -> str | None:
    if pop is None:
        return None
    doc = [sorted(pop.counts.items()), pop.by_name, pop.default, sorted(pop.forced.items())]
    return hashlib.sha256(orjson.dumps(doc)).hexdigest()


def _code_digest(classes: Iterable[type]) -> str:
    """SHA-256 of the source of the strategies' modules and of the metric code,
    so that a changed implementation never reads a stale cache entry."""
    import inspect
    import sys

    files = {Path(__file__), Path(sys.modules[simulate_pull.__module__].__file__ or "")}
    for cls in classes:
        for klass in cls.__mro__:
            try:
                files.add(Path(inspect.getfile(klass)))
            except (TypeError, OSError):
                continue
    h = hashlib.sha256()
    for f in sorted(files):
        try:
            h.update(f.name.encode() + b"\0" + f.read_bytes())
        except OSError:
            h.update(f.name.encode())
    return h.hexdigest()


def sweep_key(
    imageset: ImageSet,
    strategies: Sequence[Strategy],
    budgets: Sequence[int],
    rules: Sequence[str],
    context: Context,
) -> str:
    """The cache key of a sweep: SHA-256 of every input."""
    h = hashlib.sha256()
    h.update(orjson.dumps({"version": SWEEP_VERSION, "imageset": imageset.digest, "popularity": _popularity_digest(context.popularity)}))
    h.update(_code_digest([type(s) for s in strategies]).encode())
    for s in strategies:
        h.update(_strategy_spec(s))
    h.update(orjson.dumps({"budgets": list(budgets), "rules": list(rules)}))
    return h.hexdigest()


def write_frame(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` atomically as Parquet (``.parquet``/``.pq``) or CSV (anything else).

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "x.csv")
        >>> write_frame(pd.DataFrame({"a": [1]}), f); open(f).read()
        'a\\n1\\n'
    """
    import io

    from ..fileio import atomic_write

    p = Path(path)
    if p.suffix in (".parquet", ".pq"):
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        data = buf.getvalue()
    else:
        data = frame.to_csv(index=False, lineterminator="\n").encode()
    if p.parent and not p.parent.exists():
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create directory: {err.strerror or err}", source=str(p.parent)) from None
    atomic_write(p, data)


# ------------------------------------------------------------------ sweep
def _chunks(items: list, n: int) -> list[list]:
    size = max(1, math.ceil(len(items) / n))
    return [items[i : i + size] for i in range(0, len(items), size)]


def sweep(
    imageset: ImageSet,
    strategies: Strategy | str | Sequence[Strategy | str],
    budgets: Sequence[int] = (DEFAULT_BUDGET,),
    *,
    context: Context | None = None,
    rules: Sequence[str] = ("any",),
    executor: cf.Executor | str | None = None,
    workers: int | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    figures: bool = False,
    pairs: int | None = None,
    pairs_seed: int = 0,
) -> pd.DataFrame:
    """Evaluate every strategy x budget x rule over ``imageset``; see the module documentation.

    Args:
        imageset: the images, pulled in order.
        strategies: configured strategies (from :func:`grid`, :func:`sample`,
            or by hand) or strategy names.
        budgets: layer budgets (each at least 1).
        context: popularity; by default the image set's.
        rules: ``any`` and/or ``chain``.
        executor: an Executor, or ``"process"`` (default), ``"thread"``,
            ``"serial"``.
        workers: pool size for the pools created here (default: CPU count).
        cache: read and write the on-disk cache.
        cache_dir: where (default :func:`default_cache_dir`).
        progress: show a tqdm bar (default: when it runs over a second).
        figures: add the scorecard's four figures of each configuration and
            budget (:func:`~layerlab.metrics.objective.add_figures`; not cached),
            the update figures over ``pairs`` sampled pairs (default: all) drawn
            with ``pairs_seed``.

    Returns:
        One row per (strategy, budget, rule), in that order.
    """
    from tqdm.auto import tqdm

    if figures:
        from .objective import add_figures

        plain = sweep(imageset, strategies, budgets, context=context, rules=rules, executor=executor, workers=workers,
                      cache=cache, cache_dir=cache_dir, progress=progress)
        listed = [strategies] if isinstance(strategies, (Strategy, str)) else list(strategies)
        given = executor if isinstance(executor, cf.Executor) else None
        return add_figures(plain, imageset, [_as_strategy(s) for s in listed], budgets, context, pairs=pairs,
                           seed=pairs_seed, executor=given, progress=progress)

    if isinstance(strategies, (Strategy, str)):
        strategies = [strategies]
    strats = [_as_strategy(s) for s in strategies]
    if not strats:
        raise ConfigError("a sweep needs at least one strategy", source="sweep")
    budgets = list(budgets)
    for b in budgets:
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ConfigError(f"budget must be an integer of at least 1, not {b!r}", source="sweep")
    rules = list(rules)
    for r in rules:
        if r not in RULES:
            raise ConfigError(f"unknown rule {r!r} (known: any, chain)", source="sweep")
    ctx = context if context is not None else Context(popularity=imageset.popularity)
    imageset.universe.require_sizes("a sweep")  # fail here, not in every worker

    path = None
    if cache:
        key = sweep_key(imageset, strats, budgets, rules, ctx)
        path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = path / f"{key}.parquet"
        if path.is_file():
            try:
                return pd.read_parquet(path)
            except Exception:  # noqa: BLE001 - a damaged cache entry is recomputed
                pass

    points = [(s, b) for s in strats for b in budgets]
    work = [(type(s), dict(s.values), b) for s, b in points]
    # Keep points of one configuration together (they share dominator trees).
    n_workers = workers or os.cpu_count() or 1
    own_pool = None
    if executor is None or executor == "process":
        mode = "process"
    elif executor == "thread":
        mode = "thread"
    elif executor == "serial":
        mode = "serial"
    elif isinstance(executor, cf.Executor):
        mode = "given"
    else:
        raise ConfigError(f"executor must be an Executor or process/thread/serial, not {executor!r}", source="sweep")
    chunks = _chunks(work, 1 if mode == "serial" else n_workers * 2)
    if mode in ("process", "thread") and len(chunks) > 1:
        own_pool = (cf.ProcessPoolExecutor if mode == "process" else cf.ThreadPoolExecutor)(max_workers=min(n_workers, len(chunks)))
        pool: cf.Executor | None = own_pool
    elif mode == "given":
        pool = executor  # type: ignore[assignment]
    else:
        pool = None

    results: list[list[list[dict[str, Any]]] | None] = [None] * len(chunks)
    bar = tqdm(total=len(work), desc="sweep", unit="pt", delay=1.0, disable=progress is False, leave=False)
    try:
        if pool is None:
            for n, chunk in enumerate(chunks):
                results[n] = _run_chunk(imageset, ctx, chunk, rules)
                bar.update(len(chunk))
        else:
            futures = {pool.submit(_run_chunk, imageset, ctx, chunk, rules): n for n, chunk in enumerate(chunks)}
            for fut in cf.as_completed(futures):
                n = futures[fut]
                results[n] = fut.result()
                bar.update(len(chunks[n]))
    finally:
        bar.close()
        if own_pool is not None:
            own_pool.shutdown(cancel_futures=True)

    ideal = imageset.union_bytes
    param_names: list[str] = []
    for s in strats:
        for p in type(s).params:
            if p.name not in param_names:
                param_names.append(p.name)
    rows = []
    flat = [r for chunk in results for r in (chunk or [])]
    for (s, b), per_rule in zip(points, flat):
        spec = _strategy_spec(s).decode()
        params = {k: _cell(v) for k, v in s.values.items()}
        for m in per_rule:
            rows.append(
                {
                    "strategy": s.name,
                    "spec": spec,
                    **{k: params.get(k) for k in param_names},
                    "budget": b,
                    "ideal_bytes": ideal,
                    "ratio": m["pulled_bytes"] / ideal if ideal else 1.0,
                    **m,
                }
            )
    columns = ["strategy", "spec", *param_names, *_METRIC_COLUMNS]
    frame = pd.DataFrame(rows, columns=columns)
    if path is not None:
        try:
            write_frame(frame, path)
        except Exception:  # noqa: BLE001 - an unwritable cache only costs speed
            pass
    return frame


def _cell(value: Any) -> Any:
    if isinstance(value, Mapping):
        return orjson.dumps(dict(value), option=orjson.OPT_SORT_KEYS).decode()
    return value
