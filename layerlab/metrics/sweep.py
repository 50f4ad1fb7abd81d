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

* **Steps.** :func:`plan_sweep` validates the inputs, the cache is looked up
  by :func:`sweep_key`, :func:`run_plan` evaluates the points and
  :func:`sweep_frame` turns the figures into the result frame, which is then
  cached.  An objective (``tune``'s, a scorecard's) is a function of that
  frame.
* **Executors.** Points are cut into small pieces (consecutive
  configurations, every budget of each) and run where ``executor`` says
  (:mod:`layerlab.metrics.executors`): a process pool on this machine by
  default, ``"thread"``, ``"serial"`` (in-process), a Dask cluster
  (``"dask://HOST:PORT"`` or a :class:`distributed.Client`) or any
  :class:`concurrent.futures.Executor`.  The image set and context go to
  each worker once; a piece carries only strategy classes, parameter values,
  budgets and rules.  The progress bar moves piece by piece and stopping
  cancels the pieces not started.  Results do not depend on the executor.
* **Progress.** A tqdm bar appears when the sweep takes over a second.
* **Cache.** The result is stored as Parquet under ``cache_dir``
  (``$LAYERLAB_CACHE_DIR/sweep``, else ``$XDG_CACHE_HOME/layerlab/sweep``,
  else ``~/.cache/layerlab/sweep``), keyed by a SHA-256 of the inputs: the
  image set's content digest, the popularity table, every point's strategy
  JSON, the budgets and the rules, and the source of the whole ``layerlab``
  package (:func:`package_digest`) plus that of any strategy defined outside
  it, so a changed implementation never reads a stale entry.  A rerun with
  the same inputs reads the file.
* **Reuse.** Each worker groups images through a :class:`SweepEvaluator`,
  kept between the pieces it runs, which calls the strategies' batch hook
  (:meth:`Strategy.group_batch <layerlab.strategies.Strategy.group_batch>`)
  with a memo per image; strategies without their own hook fall back to
  ``group()`` per budget.  Nixery's hook computes the dominator split once
  per (image, flagged set) and runs its one merge routine
  (:func:`~layerlab.strategies.nixery.merge_groups`) per budget; most of a
  threshold grid lands on a handful of distinct flagged sets.  Layers are
  interned as sorted tuples of the set's global path ids, so the pull bytes
  of a point are a set union of small integers.  The result is exactly that
  of running :meth:`Strategy.group` and
  :func:`~layerlab.metrics.pull.pull_cost` for the point (tested).

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

import hashlib
import itertools
import math
import os
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from .. import fileio
from ..errors import ConfigError, InputError
from ..graph import BoundedCache
from ..imageset import ImageSet
from ..popularity import Popularity
from ..strategies import StrategySpec, as_strategies, as_strategy
from ..strategies.base import DEFAULT_BUDGET, Context, LayerBatch, Param, Strategy, check_budget
from .executors import ExecutorSpec, check_executor, run_pieces, worker_count
from .pull import RULES, simulate_pull

__all__ = [
    "grid",
    "sample",
    "default_space",
    "log_range",
    "sweep",
    "plan_sweep",
    "run_plan",
    "sweep_frame",
    "SweepPlan",
    "evaluate_points",
    "SweepEvaluator",
    "default_cache_dir",
    "write_frame",
    "sweep_key",
    "package_digest",
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
def grid(strategy: StrategySpec, space: Mapping[str, Sequence[Any]]) -> list[Strategy]:
    """Every combination of the values in ``space``, on top of ``strategy``'s values.

    Values are validated like ``--set`` values (``"100M"`` is accepted for bytes).

    Example:
        >>> [s.popularity_threshold for s in grid("nixery", {"popularity_threshold": [10, "100"]})]
        [10, 100]
    """
    base = as_strategy(strategy)
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
    strategy: StrategySpec,
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
    base = as_strategy(strategy)
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
        if (
            isinstance(default, (int, float))
            and not isinstance(default, bool)
            and lo <= default <= hi
            and default not in vals
        ):
            vals = sorted([*vals, default])  # the starting value is always a grid point
        out[p.name] = vals
    return out


def sample(
    strategy: StrategySpec,
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
    base = as_strategy(strategy)
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
class SweepEvaluator:
    """Groups the images of one set for many points, reusing work between points.

    Each image is grouped through the strategy's batch hook
    (:meth:`Strategy.group_batch <layerlab.strategies.Strategy.group_batch>`)
    with a memo kept per image, so a strategy that implements the hook
    (Nixery) computes what several budgets and configurations share once;
    any other strategy falls back to ``group()`` per budget.  Layers are
    interned by content: :meth:`layer_ids` returns, for a point, each image's
    layers as ids into :attr:`layer_size`.  Holds per-image caches; not shared
    between threads or processes (each worker builds its own).

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> ev = SweepEvaluator(default_imageset())
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
        #: Per image: the memo handed to the strategies' batch hook.
        self.memos: list[BoundedCache[Any, Any]] = [BoundedCache(_MEMO_ENTRIES) for _ in imageset.images]
        self._group_ids: BoundedCache[Any, tuple[int, ...]] = BoundedCache(_MEMO_ENTRIES)
        self._merged_ids: BoundedCache[Any, int] = BoundedCache(_MEMO_ENTRIES)

    def _intern(self, key: tuple[int, ...]) -> int:
        lid = self._key_id.get(key)
        if lid is None:
            lid = self._key_id[key] = len(self.layer_size)
            self.layer_size.append(int(self._sizes[list(key)].sum()) if key else 0)
        return lid

    def _global(self, image: int, indices: Iterable[int]) -> tuple[int, ...]:
        ids = self._ids[image]
        return tuple(sorted(ids[i] for i in indices))

    def layer_ids(self, strategy: Strategy, budget: int) -> list[tuple[int, ...]]:
        """Each image's layer ids for one point.

        Example:
            >>> from layerlab.imageset import default_imageset
            >>> from layerlab.strategies import get_strategy
            >>> ev = SweepEvaluator(default_imageset().subset([0]))
            >>> [len(ids) for ids in ev.layer_ids(get_strategy("single-layer"), 94)]
            [1]
        """
        return self.layer_ids_batch(strategy, [budget])[0]

    def layer_ids_batch(self, strategy: Strategy, budgets: Sequence[int]) -> list[list[tuple[int, ...]]]:
        """Each image's layer ids for one configuration at several budgets: ``[budget][image]``.

        Example:
            >>> from layerlab.imageset import default_imageset
            >>> from layerlab.strategies import get_strategy
            >>> ev = SweepEvaluator(default_imageset().subset([0]))
            >>> [[len(ids) for ids in per_image] for per_image in ev.layer_ids_batch(get_strategy("nixery"), [94, 2])]
            [[18], [2]]
        """
        out: list[list[tuple[int, ...]]] = [[] for _ in budgets]
        for n, img in enumerate(self.imageset.images):
            batch = strategy.group_batch(img.graph, self.context, budgets, self.memos[n], check=False)
            group_ids = self._batch_group_ids(n, batch)
            for b, layering in enumerate(batch.layerings):
                out[b].append(
                    tuple(group_ids[ms[0]] if len(ms) == 1 else self._merged(n, batch, ms) for ms in layering)
                )
        return out

    def _batch_group_ids(self, image: int, batch: LayerBatch) -> tuple[int, ...]:
        def intern_groups() -> tuple[int, ...]:
            return tuple(self._intern(self._global(image, group)) for group in batch.groups)

        if batch.key is None:
            return intern_groups()
        return self._group_ids.compute((image, batch.key), intern_groups)

    def _merged(self, image: int, batch: LayerBatch, members: tuple[int, ...]) -> int:
        def intern_union() -> int:
            groups = batch.groups
            return self._intern(self._global(image, (i for m in members for i in groups[m])))

        if batch.key is None:
            return intern_union()
        return self._merged_ids.compute((image, batch.key, members), intern_union)

    def metrics(self, image_layers: Sequence[Sequence[int]], rules: Sequence[str]) -> list[dict[str, Any]]:
        """Pull and storage figures of one point, one dict per rule.

        Example:
            >>> from layerlab.imageset import default_imageset
            >>> from layerlab.strategies import get_strategy
            >>> ev = SweepEvaluator(default_imageset())
            >>> ev.metrics(ev.layer_ids(get_strategy("nixery"), 94), ["any"])[0]["pulled_bytes"]
            5132295168
        """
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


@dataclass(frozen=True)
class _SweepInputs:
    """What every piece of a sweep needs, sent to each worker once.

    ``token`` identifies the inputs an evaluator depends on (image set,
    popularity, code); ``evaluator`` is set only for a run in this
    thread, where it is used directly.
    """

    token: str
    imageset: ImageSet
    context: Context
    evaluator: SweepEvaluator | None = None


@dataclass(frozen=True)
class _Piece:
    """A piece of work: configurations (class, values) x budgets, under rules."""

    configs: tuple[tuple[type[Strategy], dict[str, Any]], ...]
    budgets: tuple[int, ...]
    rules: tuple[str, ...]

    @property
    def points(self) -> int:
        return len(self.configs) * len(self.budgets)


#: Per worker thread: recent evaluators by input token, so that the pieces of
#: a sweep (and the sweeps of a tuning run) landing on one worker share them.
_WORKER = threading.local()


def _worker_evaluator(inputs: _SweepInputs) -> SweepEvaluator:
    if inputs.evaluator is not None:
        return inputs.evaluator
    cache: BoundedCache[str, SweepEvaluator] | None = getattr(_WORKER, "evaluators", None)
    if cache is None:
        cache = _WORKER.evaluators = BoundedCache(2)
    return cache.compute(inputs.token, lambda: SweepEvaluator(inputs.imageset, inputs.context))


def _run_piece(inputs: _SweepInputs, piece: _Piece) -> list[list[dict[str, Any]]]:
    """Worker entry point: per point (configuration-major, then budget), one dict per rule."""
    ev = _worker_evaluator(inputs)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cls, values in piece.configs:
            for ids in ev.layer_ids_batch(cls(**values), piece.budgets):
                out.append(ev.metrics(ids, piece.rules))
    return out


def evaluate_points(
    imageset: ImageSet,
    points: Sequence[tuple[Strategy, int]],
    *,
    context: Context | None = None,
    rules: Sequence[str] = ("any",),
) -> list[list[dict[str, Any]]]:
    """Evaluate (strategy, budget) points in this process; one list of per-rule dicts per point.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> [r["pulled_bytes"] for (r,) in evaluate_points(default_imageset(), [(get_strategy("nixery"), 94)])]
        [5132295168]
    """
    ctx = context if context is not None else Context(popularity=imageset.popularity)
    ev = SweepEvaluator(imageset, ctx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [ev.metrics(ev.layer_ids(s, b), list(rules)) for s, b in points]


# ------------------------------------------------------------------ cache
def default_cache_dir() -> Path:
    """``$LAYERLAB_CACHE_DIR/sweep``, else ``$XDG_CACHE_HOME/layerlab/sweep``, else ``~/.cache/layerlab/sweep``.

    Example:
        >>> import os
        >>> os.environ["LAYERLAB_CACHE_DIR"] = "/tmp/ll"; str(default_cache_dir())
        '/tmp/ll/sweep'
        >>> del os.environ["LAYERLAB_CACHE_DIR"]
    """
    return fileio.cache_dir("sweep")


def _popularity_digest(pop: Popularity | None) -> str | None:
    if pop is None:
        return None
    doc = [sorted(pop.counts.items()), pop.by_name, pop.default, sorted(pop.forced.items())]
    return hashlib.sha256(orjson.dumps(doc)).hexdigest()


#: Bundled inputs inside the package (the Debian data, the notebooks, the offline
#: Nix package set): the image set's own digest covers what a sweep reads.
_BUNDLED = {("data",), ("notebooks",), ("nix", "testpkgs")}


def package_digest(root: str | os.PathLike[str] | None = None) -> str:
    """SHA-256 of the source of a whole package tree (default: the installed ``layerlab``).

    Every file under ``root`` except byte code, caches and the bundled inputs counts, by its path
    relative to ``root`` and its bytes, so a change anywhere in the package
    (the graph model, popularity, a strategy, the metrics) changes the digest.

    Example:
        >>> len(package_digest()), package_digest() == package_digest()
        (64, True)
    """
    base = Path(root) if root is not None else Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in sorted(base.rglob("*")):
        rel = f.relative_to(base)
        if (
            not f.is_file()
            or f.suffix in (".pyc", ".pyo")
            or any(part.startswith(".") or part == "__pycache__" for part in rel.parts)
        ):
            continue
        if rel.parts[:1] in _BUNDLED or rel.parts[:2] in _BUNDLED:  # inputs shipped with the code, not code
            continue
        h.update(rel.as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _code_digest(classes: Iterable[type]) -> str:
    """SHA-256 of the layerlab package's source plus the source files of any
    strategy class defined outside it, so that a changed implementation never
    reads a stale cache entry."""
    import inspect

    package = Path(__file__).resolve().parent.parent
    outside = set()
    for cls in classes:
        for klass in cls.__mro__:
            try:
                f = Path(inspect.getfile(klass)).resolve()
            except (TypeError, OSError):
                continue
            if package not in f.parents:
                outside.add(f)
    h = hashlib.sha256(package_digest(package).encode())
    for f in sorted(outside):
        try:
            h.update(str(f).encode() + b"\0" + f.read_bytes())
        except OSError:
            h.update(str(f).encode())
    return h.hexdigest()


def _inputs_token(imageset: ImageSet, context: Context, code: str) -> str:
    """The identity of what an evaluator depends on (not the points, budgets or rules)."""
    doc = {"version": SWEEP_VERSION, "imageset": imageset.digest, "popularity": _popularity_digest(context.popularity)}
    return hashlib.sha256(orjson.dumps({**doc, "code": code})).hexdigest()


def sweep_key(
    imageset: ImageSet,
    strategies: Sequence[Strategy],
    budgets: Sequence[int],
    rules: Sequence[str],
    context: Context,
) -> str:
    """The cache key of a sweep: SHA-256 of every input, the package's source included.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> s = default_imageset()
        >>> a = sweep_key(s, [get_strategy("nixery")], [94], ["any"], Context(s.popularity))
        >>> a == sweep_key(s, [get_strategy("nixery")], [30], ["any"], Context(s.popularity))
        False
    """
    h = hashlib.sha256()
    h.update(_inputs_token(imageset, context, _code_digest([type(s) for s in strategies])).encode())
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
#: Entries of each per-image memo and of the evaluator's interning memos.
_MEMO_ENTRIES = 4096
#: A sweep is cut into about this many pieces per worker (progress, cancellation).
_PIECES_PER_WORKER = 16


@dataclass(frozen=True)
class SweepPlan:
    """The validated inputs of a sweep (step 1 of :func:`sweep`).

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> plan = plan_sweep(default_imageset(), ["nixery", "auto-layer"], [94, 10])
        >>> len(plan.points), plan.rules
        (4, ('any',))
    """

    imageset: ImageSet
    strategies: tuple[Strategy, ...]
    budgets: tuple[int, ...]
    rules: tuple[str, ...]
    context: Context

    @property
    def points(self) -> list[tuple[Strategy, int]]:
        """Every (strategy, budget), configuration-major: the order of the result's rows."""
        return [(s, b) for s in self.strategies for b in self.budgets]

    def key(self) -> str:
        """The cache key (:func:`sweep_key`).

        Example:
            >>> from layerlab.imageset import default_imageset
            >>> s = default_imageset()
            >>> a, b, c = (plan_sweep(s, "nixery", [budget]).key() for budget in (94, 94, 30))
            >>> a == b != c
            True
        """
        return sweep_key(self.imageset, self.strategies, self.budgets, self.rules, self.context)


def plan_sweep(
    imageset: ImageSet,
    strategies: StrategySpec | Sequence[StrategySpec],
    budgets: Sequence[int] = (DEFAULT_BUDGET,),
    *,
    context: Context | None = None,
    rules: Sequence[str] = ("any",),
) -> SweepPlan:
    """Step 1: validate the inputs of :func:`sweep`.

    Raises:
        ConfigError: no strategy, an unknown one, a budget below 1, an unknown
            rule.
        StrategyError: the image set lacks sizes.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> plan_sweep(default_imageset(), "nixery", [0])
        Traceback (most recent call last):
        ...
        layerlab.errors.ConfigError: sweep: budget must be an integer of at least 1, not 0
    """
    strats = tuple(as_strategies(strategies))
    if not strats:
        raise ConfigError("a sweep needs at least one strategy", source="sweep")
    for b in budgets:
        check_budget(b, "sweep")
    for r in rules:
        if r not in RULES:
            raise ConfigError(f"unknown rule {r!r} (known: any, chain)", source="sweep")
    imageset.universe.require_sizes("a sweep")  # fail here, not in every worker
    ctx = context if context is not None else Context(popularity=imageset.popularity)
    return SweepPlan(imageset, strats, tuple(budgets), tuple(rules), ctx)


def _cache_path(plan: SweepPlan, cache_dir: str | os.PathLike[str] | None) -> Path:
    """Step 2: where the result of ``plan`` is cached."""
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / f"{plan.key()}.parquet"


def _read_cached(path: Path) -> pd.DataFrame | None:
    """Step 3: the cached frame, or ``None`` (absent or damaged: recomputed)."""
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except Exception:  # noqa: BLE001 - a damaged cache entry is recomputed
        return None


def _pieces(plan: SweepPlan, workers: int) -> list[_Piece]:
    """Consecutive configurations, all budgets each (they share work), about
    :data:`_PIECES_PER_WORKER` pieces per worker."""
    configs = [(type(s), dict(s.values)) for s in plan.strategies]
    size = max(1, math.ceil(len(configs) / (max(1, workers) * _PIECES_PER_WORKER)))
    return [_Piece(tuple(configs[i : i + size]), plan.budgets, plan.rules) for i in range(0, len(configs), size)]


def run_plan(
    plan: SweepPlan,
    *,
    executor: ExecutorSpec = None,
    workers: int | None = None,
    progress: bool | None = None,
) -> list[list[dict[str, Any]]]:
    """Step 4: evaluate every point of ``plan``; per point, one dict of figures per rule.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> plan = plan_sweep(default_imageset(), "nixery", [94])
        >>> run_plan(plan, executor="serial", progress=False)[0][0]["pulled_bytes"]
        5132295168
    """
    from tqdm.auto import tqdm

    check_executor(executor)
    n_workers = worker_count(executor, workers)
    pieces = _pieces(plan, n_workers)
    code = _code_digest([type(s) for s in plan.strategies])
    token = _inputs_token(plan.imageset, plan.context, code)
    in_thread = executor == "serial" or (
        executor in (None, "process", "thread") and (n_workers == 1 or len(pieces) <= 1)
    )
    evaluator = SweepEvaluator(plan.imageset, plan.context) if in_thread else None
    inputs = _SweepInputs(token, plan.imageset, plan.context, evaluator)
    results: list[list[list[dict[str, Any]]] | None] = [None] * len(pieces)
    total = len(plan.strategies) * len(plan.budgets)
    with tqdm(total=total, desc="sweep", unit="pt", delay=1.0, disable=progress is False, leave=False) as bar:
        for n, result in run_pieces(executor, _run_piece, inputs, pieces, workers=n_workers):
            results[n] = result
            bar.update(pieces[n].points)
    return [point for piece in results for point in (piece or [])]


def sweep_frame(plan: SweepPlan, figures: Sequence[Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """Step 5: the result frame, one row per (strategy, budget, rule); see the module documentation.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> plan = plan_sweep(default_imageset(), "nixery", [94])
        >>> sweep_frame(plan, run_plan(plan, executor="serial"))[["strategy", "budget", "rule"]].values.tolist()
        [['nixery', 94, 'any']]
    """
    ideal = plan.imageset.union_bytes
    param_names: list[str] = []
    for s in plan.strategies:
        for p in type(s).params:
            if p.name not in param_names:
                param_names.append(p.name)
    rows = []
    for (s, b), per_rule in zip(plan.points, figures):
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
    return pd.DataFrame(rows, columns=columns)


def sweep(
    imageset: ImageSet,
    strategies: StrategySpec | Sequence[StrategySpec],
    budgets: Sequence[int] = (DEFAULT_BUDGET,),
    *,
    context: Context | None = None,
    rules: Sequence[str] = ("any",),
    executor: ExecutorSpec = None,
    workers: int | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    figures: bool = False,
    pairs: int | None = None,
    pairs_seed: int = 0,
) -> pd.DataFrame:
    """Evaluate every strategy x budget x rule over ``imageset``; see the module documentation.

    The steps: :func:`plan_sweep` (validate), the cache key and look-up,
    :func:`run_plan` (run), :func:`sweep_frame` (frame), then the cache write.

    Args:
        imageset: the images, pulled in order.
        strategies: configured strategies (from :func:`grid`, :func:`sample`,
            or by hand) or strategy names.
        budgets: layer budgets (each at least 1).
        context: popularity; by default the image set's.
        rules: ``any`` and/or ``chain``.
        executor: ``"process"`` (default), ``"thread"``, ``"serial"``,
            ``"dask://HOST:PORT"``, a :class:`distributed.Client` or any
            :class:`concurrent.futures.Executor` (see
            :mod:`layerlab.metrics.executors`).
        workers: pool size for the pools created here (default: CPU count).
        cache: read and write the on-disk cache.
        cache_dir: where (default :func:`default_cache_dir`).
        progress: show a tqdm bar (default: when it runs over a second).
        figures: add the scorecard's four figures of each configuration and
            budget (:func:`~layerlab.metrics.objective.add_figures`; not cached),
            the update figures over ``pairs`` sampled pairs (default: all) drawn
            with ``pairs_seed``; the update pairs run on ``executor`` when one
            is given, else in this process.

    Returns:
        One row per (strategy, budget, rule), in that order.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> df = sweep(default_imageset(), ["nixery", "auto-layer"], [94], executor="serial", cache=False)
        >>> df[["strategy", "ratio"]].round(2).values.tolist()
        [['nixery', 1.77], ['auto-layer', 1.03]]
    """
    if figures:
        from .objective import add_figures

        plain = sweep(
            imageset,
            strategies,
            budgets,
            context=context,
            rules=rules,
            executor=executor,
            workers=workers,
            cache=cache,
            cache_dir=cache_dir,
            progress=progress,
        )
        return add_figures(
            plain,
            imageset,
            as_strategies(strategies),
            budgets,
            context,
            pairs=pairs,
            seed=pairs_seed,
            executor=executor,
            progress=progress,
        )
    plan = plan_sweep(imageset, strategies, budgets, context=context, rules=rules)
    check_executor(executor)
    path = _cache_path(plan, cache_dir) if cache else None
    if path is not None:
        cached = _read_cached(path)
        if cached is not None:
            return cached
    frame = sweep_frame(plan, run_plan(plan, executor=executor, workers=workers, progress=progress))
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
