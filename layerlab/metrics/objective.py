"""Objectives over the scorecard's figures, and the Pareto front of pull against update cost.

Tuning judges a configuration by one objective; the scorecard
(:mod:`.scorecard`) has four figures (``pull-any``, ``pull-chain``,
``update-any``, ``update-chain``), and a team cares about first pulls and
updates at once.  An objective is written as text (the command line's
``--objective``) and parsed by :func:`parse_objective`:

==================================  =============================================
``pull-chain``                      one figure (``pull_chain`` works too)
``0.5*pull-chain+0.5*update-chain`` a weighted sum of figures or columns
``lex:pull-chain,update-chain``     lexicographic: the first, ties by the second
``pulled_bytes``                    any numeric column of a sweep frame
==================================  =============================================

Lower is better for every term.  :func:`add_figures` adds the four figures
(and the byte counts behind the update figures) to a sweep frame, one value
per (configuration, budget); :func:`pareto_front` keeps the configurations no
other beats on both first-pull and update cost (non-dominated points, as in
multi-objective optimisation: Deb, *Multi-Objective Optimization using
Evolutionary Algorithms*, 2001, ch. 2).

Example:
    >>> obj = parse_objective("0.7*pull-chain + 0.3*update_chain")
    >>> obj.kind, obj.terms, obj.needs_figures
    ('weighted', (('pull_chain', 0.7), ('update_chain', 0.3)), True)
    >>> import pandas as pd
    >>> df = pd.DataFrame({"pull_chain": [1.5, 1.2, 1.4], "update_chain": [1.9, 2.5, 1.9]})
    >>> [round(k, 2) for k in obj.keys(df)], parse_objective("lex:update-chain,pull-chain").keys(df)
    ([1.62, 1.59, 1.55], [(1.9, 1.5), (2.5, 1.2), (1.9, 1.4)])
    >>> pareto_front(df, "pull_chain", "update_chain").index.tolist()
    [1, 2]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..imageset import ImageSet
from ..strategies.base import Context, Strategy
from .executors import ExecutorSpec

__all__ = ["Objective", "parse_objective", "add_figures", "pareto_front", "FIGURE_COLUMNS", "FIGURE_BYTES_COLUMNS"]

#: Figure name -> its column in sweep and tuning frames.
FIGURE_COLUMNS = {
    "pull-any": "pull_any",
    "pull-chain": "pull_chain",
    "update-any": "update_any",
    "update-chain": "update_chain",
}

#: The byte counts :func:`add_figures` adds next to the figures.
FIGURE_BYTES_COLUMNS = ["repulled_any_bytes", "repulled_chain_bytes", "renamed_bytes", "pairs"]

_TERM = re.compile(r"^\s*(?:([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*)?([A-Za-z_][A-Za-z0-9_\-]*)\s*$")
_NOT_OBJECTIVES = {"strategy", "spec", "rule"}


def _column(name: str) -> str:
    name = name.strip()
    return FIGURE_COLUMNS.get(name, FIGURE_COLUMNS.get(name.replace("_", "-"), name))


@dataclass(frozen=True)
class Objective:
    """A parsed objective (see the module documentation).

    Attributes:
        text: the text it was parsed from.
        kind: ``column``, ``weighted`` or ``lex``.
        terms: ``(column, weight)`` pairs; for ``lex`` in priority order with weight 1.
    """

    text: str
    kind: str
    terms: tuple[tuple[str, float], ...]

    @property
    def columns(self) -> list[str]:
        """The frame columns the objective reads."""
        return [c for c, _ in self.terms]

    @property
    def needs_figures(self) -> bool:
        """Whether it reads a scorecard figure (which plain sweeps do not compute)."""
        return any(c in FIGURE_COLUMNS.values() for c in self.columns)

    def keys(self, frame: pd.DataFrame) -> list:
        """One sort key per row, lower is better: a float, or a tuple of floats for ``lex``.

        Raises:
            ConfigError: a column the frame lacks.

        Example:
            >>> df = pd.DataFrame({"pull_any": [1.2, 1.1], "update_any": [1.0, 1.5]})
            >>> parse_objective("pull-any + update-any").keys(df), parse_objective("lex:pull-any").keys(df)
            ([2.2, 2.6], [(1.2,), (1.1,)])
        """
        for c in self.columns:
            if c not in frame.columns or c in _NOT_OBJECTIVES:
                raise ConfigError(
                    f"unknown objective {c!r} (use a figure such as pull-chain or update-any, or a metric "
                    "column such as pulled_bytes, ratio, storage_bytes)",
                    source="objective",
                )
        values = [frame[c].to_numpy(dtype=float) for c in self.columns]
        if self.kind == "lex":
            return [tuple(float(v[k]) for v in values) for k in range(len(frame))]
        total = np.zeros(len(frame))
        for (_, w), v in zip(self.terms, values):
            total = total + w * v
        return [float(x) for x in total]


def parse_objective(text: str) -> Objective:
    """Parse an objective; see the module documentation.

    Raises:
        ConfigError: empty text, a malformed term or weight, a negative weight.

    Example:
        >>> parse_objective("update-any").terms, parse_objective("lex:pull-any, update-any").kind
        ((('update_any', 1.0),), 'lex')
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("the objective is empty", source="objective")
    body = text.strip()
    if body.startswith("lex:"):
        names = [n for n in body[4:].split(",") if n.strip()]
        if not names or any(not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", n.strip()) for n in names):
            raise ConfigError(f"expected lex:NAME,NAME,..., got {text!r}", source="objective")
        return Objective(text, "lex", tuple((_column(n), 1.0) for n in names))
    terms = []
    for part in body.split("+"):
        m = _TERM.match(part)
        if not m:
            raise ConfigError(f"expected NAME, WEIGHT*NAME + ... or lex:NAME,NAME, got {text!r}", source="objective")
        weight = float(m.group(1)) if m.group(1) else 1.0
        terms.append((_column(m.group(2)), weight))
    if len(terms) == 1 and terms[0][1] == 1.0:
        return Objective(text, "column", tuple(terms))
    return Objective(text, "weighted", tuple(terms))


def add_figures(
    frame: pd.DataFrame,
    imageset: ImageSet,
    strategies: Sequence[Strategy],
    budgets: Sequence[int],
    context: Context | None = None,
    *,
    pairs: int | None = None,
    seed: int = 0,
    executor: ExecutorSpec = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """``frame`` (rows with ``spec`` and ``budget``) with the four figures of each configuration and budget.

    The figures come from :func:`~layerlab.metrics.scorecard.scorecard`
    (``pairs``/``seed`` sample the update pairs); columns
    :data:`FIGURE_COLUMNS` plus :data:`FIGURE_BYTES_COLUMNS`.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> from layerlab.strategies import get_strategy
        >>> s = default_imageset().subset(["img-curl", "img-make"])
        >>> st = get_strategy("single-layer")
        >>> df = pd.DataFrame({"spec": ['{"params":{},"strategy":"single-layer"}'], "budget": [10]})
        >>> add_figures(df, s, [st], [10])[["pull_any", "update_chain"]].round(3).values.tolist()
        [[1.344, 4.696]]
    """
    from .scorecard import scorecard

    card = scorecard(
        imageset,
        list(strategies),
        list(budgets),
        context,
        sample=pairs,
        seed=seed,
        executor=executor,
        progress=progress,
    )
    rows = {}
    for (spec, budget), group in card.groupby(["spec", "budget"], sort=False):
        by = {r.figure: r for r in group.itertuples()}
        rows[(spec, int(budget))] = {
            **{col: float(by[fig].ratio) for fig, col in FIGURE_COLUMNS.items()},
            "repulled_any_bytes": int(by["update-any"].bytes),
            "repulled_chain_bytes": int(by["update-chain"].bytes),
            "renamed_bytes": int(by["update-any"].bound_bytes),
            "pairs": int(by["update-any"].pairs),
        }
    extra = pd.DataFrame(
        [rows[(s, int(b))] for s, b in zip(frame["spec"], frame["budget"])],
        index=frame.index,
        columns=[*FIGURE_COLUMNS.values(), *FIGURE_BYTES_COLUMNS],
    )
    return pd.concat([frame.drop(columns=[c for c in extra.columns if c in frame.columns]), extra], axis=1)


def pareto_front(frame: pd.DataFrame, x: str = "pull_chain", y: str = "update_chain") -> pd.DataFrame:
    """The rows of ``frame`` no other row dominates on columns ``x`` and ``y`` (both minimised), sorted by ``x``.

    A row is dominated when another is no worse on both and better on one;
    rows with equal ``(x, y)`` are all kept.  Figure names (``pull-chain``)
    are accepted for the columns.

    Example:
        >>> df = pd.DataFrame({"pull_any": [1.0, 1.1, 1.0, 1.3], "update_any": [2.0, 1.5, 2.0, 1.6]})
        >>> pareto_front(df, "pull-any", "update-any").index.tolist()
        [0, 2, 1]
    """
    x, y = _column(x), _column(y)
    for c in (x, y):
        if c not in frame.columns:
            raise ConfigError(f"the frame has no column {c!r}", source="pareto front")
    if frame.empty:
        return frame.copy()
    order = sorted(range(len(frame)), key=lambda k: (float(frame[x].iloc[k]), float(frame[y].iloc[k]), k))
    keep = []
    best_y = float("inf")
    last: tuple[float, float] | None = None
    for k in order:
        point = (float(frame[x].iloc[k]), float(frame[y].iloc[k]))
        if point == last or point[1] < best_y:
            keep.append(k)
            best_y = min(best_y, point[1])
            last = point
    return frame.iloc[keep]
