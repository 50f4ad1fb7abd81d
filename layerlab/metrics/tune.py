"""Tuning: search a strategy's parameters for the lowest cost on an image set.

:func:`tune` evaluates configurations with :func:`~layerlab.metrics.sweep.sweep`
(so every point is cached on disk and runs on the same executors) and
returns a :class:`TuneResult`:

* the **best point** and its objective, next to the starting configuration's;
* the **sensitivity** around it: the objective with one parameter moved to its
  neighbouring values in the search space (one and two steps each way) and
  the others kept at the best point.  A flat neighbourhood means the figure is
  robust; a cliff means the best point is fragile;
* optionally the same two configurations **evaluated on another image set**
  (``evaluate_on``): parameters tuned on one set of images should be judged on
  images they were not tuned on, and both figures are reported.

Search methods (``method``):

``grid``
    every combination of the space's values;
``random``
    ``samples`` seeded random points within the space's ranges (log-uniform
    for byte sizes and ``log`` parameters), plus the starting point;
``coordinate``
    coordinate descent: starting from the given configuration, try every value
    of one parameter at a time and keep the best, round after round, until a
    round improves nothing (or ``rounds`` is reached).  Far fewer points than a
    grid when there are many parameters.

The space defaults to :func:`~layerlab.metrics.sweep.default_space` (numeric
parameters, log scales for bytes and counts, ranges bounded by the data).
The objective is a column of the sweep frame to minimise (``pulled_bytes``,
``ratio``, ``storage_bytes``, ``pulled_layers``...), one of the scorecard's
four figures, a weighted sum or a lexicographic order of them
(``"pull-chain"``, ``"0.5*pull-chain+0.5*update-chain"``,
``"lex:pull-chain,update-chain"``; see :mod:`layerlab.metrics.objective`), or
a function of the frame returning one number per row.  Ties go to the point
evaluated first.  When the figures are computed, the result also holds the
**Pareto front** of first-pull against update cost (under ``rule``) over every
evaluated point.

Example:
    >>> from layerlab.imageset import default_imageset
    >>> s = default_imageset()
    >>> train, test = s.subset(range(0, 30, 2), name="even"), s.subset(range(1, 30, 2), name="odd")
    >>> r = tune("nixery", train, budget=30, space={"popularity_threshold": [3, 10, 100, 1000]},
    ...          evaluate_on=test, executor="serial", cache=False)
    >>> r.strategy.popularity_threshold, r.value < r.baseline, r.test_value < r.test_baseline
    (3, True, True)
    >>> r.sensitivity[["value", "offset"]].values.tolist()
    [[3, 0], [10, 1], [100, 2]]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ..errors import ConfigError
from ..imageset import ImageSet
from ..strategies import StrategySpec, as_strategy
from ..strategies.base import DEFAULT_BUDGET, Context, Strategy
from .executors import ExecutorSpec
from .objective import pareto_front, parse_objective
from .sweep import default_space, grid, sample, sweep

__all__ = ["tune", "TuneResult", "METHODS"]

METHODS = ("grid", "random", "coordinate")

Objective = str | Callable[[pd.DataFrame], Sequence[float]]


@dataclass(frozen=True)
class TuneResult:
    """The outcome of :func:`tune`.

    Attributes:
        strategy: the best configuration found.
        start: the configuration the search started from.
        budget, rule, objective: what was optimised.
        value: the best point's objective on the training set.
        baseline: the starting configuration's objective on the training set.
        points: every evaluated point (sweep rows plus an ``objective`` column).
        sensitivity: ``param``, ``value``, ``offset`` (steps from the best
            value in the space), ``objective``, ``change`` (relative to the best).
        train_set, test_set: the image sets' names.
        test_value, test_baseline: the same two configurations on ``test_set``.
        front: the Pareto front of ``pull_<rule>`` against ``update_<rule>``
            over ``points``, when the objective used the scorecard's figures.
    """

    strategy: Strategy
    start: Strategy
    budget: int
    rule: str
    objective: str
    value: float
    baseline: float
    points: pd.DataFrame = field(repr=False)
    sensitivity: pd.DataFrame = field(repr=False)
    train_set: str = ""
    test_set: str | None = None
    test_value: float | None = None
    test_baseline: float | None = None
    front: pd.DataFrame | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """The figures as plain data (JSON-ready).

        Example:
            >>> from layerlab.imageset import default_imageset
            >>> two = default_imageset().subset([0, 1])
            >>> r = tune("nixery", two, space={"popularity_threshold": [100]}, executor="serial", cache=False)
            >>> sorted(r.summary())[:3]
            ['baseline', 'best', 'budget']
        """
        return {
            "best": self.strategy.to_json(),
            "start": self.start.to_json(),
            "budget": self.budget,
            "rule": self.rule,
            "objective": self.objective,
            "train_set": self.train_set,
            "value": self.value,
            "baseline": self.baseline,
            "improvement": 1 - self.value / self.baseline if self.baseline else 0.0,
            "test_set": self.test_set,
            "test_value": self.test_value,
            "test_baseline": self.test_baseline,
            "test_improvement": (1 - self.test_value / self.test_baseline)
            if self.test_value is not None and self.test_baseline
            else None,
            "points": len(self.points),
        }


def _objective_values(frame: pd.DataFrame, objective: Objective) -> list:
    """One sort key per row: a float, or a tuple of floats for a lexicographic objective."""
    if callable(objective):
        vals = np.asarray(objective(frame), dtype=float)
        if vals.shape != (len(frame),):
            raise ConfigError("an objective function must return one number per row", source="objective")
        return [float(v) for v in vals]
    return parse_objective(objective).keys(frame)


def _primary(key: Any) -> float:
    """The number reported for a sort key: the first criterion of a lexicographic one."""
    return float(key[0]) if isinstance(key, tuple) else float(key)


class _Runner:
    """Evaluates points once each (memoised by spec) through sweep()."""

    def __init__(self, imageset: ImageSet, budget: int, rule: str, objective: Objective, kw: dict[str, Any]) -> None:
        self.imageset, self.budget, self.rule, self.objective, self.kw = imageset, budget, rule, objective, kw
        self.frames: list[pd.DataFrame] = []
        self.known: dict[str, Any] = {}

    def run(self, points: Sequence[Strategy]) -> list[Any]:
        fresh, seen = [], set()
        for p in points:
            spec = _spec(p)
            if spec not in self.known and spec not in seen:
                fresh.append(p)
                seen.add(spec)
        if fresh:
            df = sweep(self.imageset, fresh, [self.budget], rules=[self.rule], **self.kw)
            keys = _objective_values(df, self.objective)
            df = df.assign(objective=[_primary(k) for k in keys])
            self.frames.append(df)
            for spec, k in zip(df["spec"], keys):
                self.known[spec] = k
        return [self.known[_spec(p)] for p in points]

    def frame(self) -> pd.DataFrame:
        return pd.concat(self.frames, ignore_index=True) if self.frames else pd.DataFrame()


def _spec(s: Strategy) -> str:
    return orjson.dumps(s.to_json(), option=orjson.OPT_SORT_KEYS).decode()


def _best(points: Sequence[Strategy], values: Sequence[Any]) -> tuple[Strategy, Any]:
    k = min(range(len(values)), key=lambda n: (values[n], n))  # first minimum: ties go to the earlier point
    return points[k], values[k]


def tune(
    strategy: StrategySpec,
    imageset: ImageSet,
    objective: Objective = "pulled_bytes",
    budget: int = DEFAULT_BUDGET,
    *,
    space: Mapping[str, Sequence[Any]] | None = None,
    method: str = "grid",
    steps: int = 10,
    samples: int = 50,
    seed: int = 0,
    rounds: int = 5,
    rule: str = "any",
    context: Context | None = None,
    evaluate_on: ImageSet | None = None,
    executor: ExecutorSpec = None,
    workers: int | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    pairs: int | None = None,
) -> TuneResult:
    """Find the parameters of ``strategy`` that minimise ``objective``; see the module documentation.

    Args:
        strategy: the starting configuration (a name or a configured strategy);
            parameters outside ``space`` keep its values.
        imageset: the training image set.
        objective: a sweep column or scorecard figure to minimise, a weighted
            sum or lexicographic order of them (text, see
            :func:`~layerlab.metrics.objective.parse_objective`), or
            ``f(frame) -> values``.
        budget: the layer budget.
        space: parameter -> list of values (default :func:`default_space`).
        method: ``grid``, ``random`` or ``coordinate``.
        steps: values per parameter in the default space.
        samples, seed: for ``random``.
        rounds: the most rounds of ``coordinate`` descent.
        rule: the pull rule (``any`` or ``chain``).
        context: popularity (default: the image set's).
        evaluate_on: a second image set to report the figures on.
        executor, workers, cache, cache_dir, progress: as for :func:`sweep`
            (``executor`` may be a Dask ``Client`` or ``"dask://HOST:PORT"``).
        pairs: measure the update figures on this many (image, path) pairs
            drawn with ``seed`` (default: every pair).

    Raises:
        ConfigError: unknown method, objective or parameter; an empty space.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> r = tune("nixery", default_imageset().subset(range(10)), budget=30,
        ...          space={"popularity_threshold": [10, 1000]}, executor="serial", cache=False)
        >>> r.strategy.popularity_threshold, r.value <= r.baseline
        (10, True)
    """
    start = as_strategy(strategy)
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r} (known: {', '.join(METHODS)})", source="tune")
    if space is None:
        space = default_space(start, imageset, steps=steps, context=context)
    space = {k: [type(start).param(k).coerce(v, where="space") for v in vals] for k, vals in space.items()}
    if not space or any(not v for v in space.values()):
        raise ConfigError("the search space is empty", source="tune")
    kw = {
        "context": context,
        "executor": executor,
        "workers": workers,
        "cache": cache,
        "cache_dir": cache_dir,
        "progress": progress,
    }
    figures = isinstance(objective, str) and parse_objective(objective).needs_figures
    if figures:
        kw.update(figures=True, pairs=pairs, pairs_seed=seed)
    runner = _Runner(imageset, budget, rule, objective, kw)
    baseline = runner.run([start])[0]

    if method == "grid":
        pts = grid(start, space)
        best, value = _best(pts, runner.run(pts))
    elif method == "random":
        ranges: dict[str, Any] = {}
        for k, v in space.items():
            kind = type(start).param(k).kind
            ranges[k] = (min(v), max(v)) if kind in ("int", "bytes", "float") and len(v) > 1 else list(v)
        pts = [start, *sample(start, samples, ranges, seed=seed)]
        best, value = _best(pts, runner.run(pts))
    else:
        best, value = start, baseline
        for _ in range(max(1, rounds)):
            improved = False
            for k, values in space.items():
                cands = [best.replace(**{k: v}) for v in values]
                cand, cv = _best(cands, runner.run(cands))
                if cv < value:
                    best, value, improved = cand, cv, True
            if not improved:
                break

    sensitivity = _sensitivity(best, _primary(value), space, runner)
    test_value = test_baseline = None
    if evaluate_on is not None:
        test = _Runner(evaluate_on, budget, rule, objective, kw)
        test_value, test_baseline = (_primary(k) for k in test.run([best, start]))
    points = runner.frame()
    front = pareto_front(points, f"pull_{rule}", f"update_{rule}") if figures else None
    return TuneResult(
        strategy=best,
        start=start,
        budget=budget,
        rule=rule,
        objective=objective if isinstance(objective, str) else getattr(objective, "__name__", "custom"),
        value=_primary(value),
        baseline=_primary(baseline),
        points=points,
        sensitivity=sensitivity,
        train_set=imageset.name,
        test_set=None if evaluate_on is None else evaluate_on.name,
        test_value=test_value,
        test_baseline=test_baseline,
        front=front,
    )


def _sensitivity(
    best: Strategy, value: float, space: Mapping[str, Sequence[Any]], runner: _Runner, reach: int = 2
) -> pd.DataFrame:
    rows = []
    for k, values in space.items():
        vals = list(values)
        current = getattr(best, k)
        # An optional parameter that is off (None) has no place on a numeric axis.
        numeric = type(best).param(k).kind in ("int", "bytes", "float") and current is not None
        if current in vals:
            pos = vals.index(current)
            around = [(off, vals[pos + off]) for off in range(-reach, reach + 1) if 0 <= pos + off < len(vals)]
        elif numeric:
            ordered = sorted(vals)
            below = [v for v in ordered if v < current][-reach:]
            above = [v for v in ordered if v > current][:reach]
            around = (
                [(off - len(below), v) for off, v in enumerate(below)]
                + [(0, current)]
                + [(n + 1, v) for n, v in enumerate(above)]
            )
        else:
            around = [(0, current)] + [(n + 1, v) for n, v in enumerate(vals)]
        cands = [best.replace(**{k: v}) for _, v in around]
        objs = [_primary(k) for k in runner.run(cands)]
        for (off, v), obj in zip(around, objs):
            rows.append(
                {
                    "param": k,
                    "value": orjson.dumps(v).decode() if isinstance(v, Mapping) else v,
                    "offset": off,
                    "objective": obj,
                    "change": (obj - value) / value if value else 0.0,
                }
            )
    return pd.DataFrame(rows, columns=["param", "value", "offset", "objective", "change"])
