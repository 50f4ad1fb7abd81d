"""The scorecard: four figures that judge a layering of an image set, per budget.

A user pays for a layering twice: once on the first pull of the images, and
again on every update, when a package is bumped and Nix renames it and every
path that references it.  And two cache rules are in use: registries and
containerd reuse any layer whose content they hold (*any digest*), Docker's
overlay2 store reuses a layer only when the whole list of layers below it
matches too (*ChainID*).  So four figures, each a ratio of two byte counts:

``pull-any``, ``pull-chain``
    one client pulls every image of the set in order (:mod:`.pull`); the bytes
    it downloads, divided by the ideal bound (the bytes of the union of the
    closures: one layer per path).
``update-any``, ``update-chain``
    for every (image, store path) pair, the path and every path of the image
    that references it, transitively, are renamed (new hash, same name and
    size), the image is re-layered with the same strategy and budget, and a
    client holding the old image fetches the new one (:mod:`.churn`): the
    bytes of new layers it lacks (any digest), or of every layer from the
    first position where the two layer lists differ (ChainID).  Summed over
    the pairs, divided by the renamed bytes summed over the pairs (the least
    any layering ships).  ``sample=N`` draws N pairs with a seeded generator
    for a quick estimate.

Every figure is at least 1 and lower is better.  Layers are taken in the
order the strategy returns them, which is the order of ``layers.json`` and of
a built image's manifest.

Example:
    >>> from layerlab.imageset import default_imageset
    >>> from layerlab.strategies import get_strategy
    >>> s = default_imageset().subset(["img-curl", "img-git", "img-make"])
    >>> card = scorecard(s, get_strategy("single-layer"), [10])
    >>> card[["figure", "ratio"]].round(3).values.tolist()
    [['pull-any', 1.318], ['pull-chain', 1.318], ['update-any', 2.292], ['update-chain', 2.292]]
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import pandas as pd

from ..errors import ConfigError
from ..imageset import ImageSet
from ..strategies import StrategySpec, as_strategies
from ..strategies.base import Context, check_budget
from .churn import all_pairs, update_costs
from .executors import ExecutorSpec
from .layering import layer_imageset
from .pull import ideal_bytes, pull_bytes_of

__all__ = ["scorecard", "scorecard_table", "FIGURES", "SCORECARD_COLUMNS", "SCORECARD_BUDGETS"]

#: The four figures, in table order.
FIGURES = ("pull-any", "pull-chain", "update-any", "update-chain")

#: The budgets the scorecard is quoted at.
SCORECARD_BUDGETS = (94, 30, 10)

#: Columns of :func:`scorecard`: one row per (strategy, budget, figure).
SCORECARD_COLUMNS = [
    "strategy",
    "spec",
    "budget",
    "figure",
    "rule",
    "ratio",
    "bytes",
    "bound_bytes",
    "pulled_bytes",
    "ideal_bytes",
    "repulled_bytes",
    "renamed_bytes",
    "images",
    "pairs",
    "all_pairs",
]

_INT_COLUMNS = [
    "bytes",
    "bound_bytes",
    "pulled_bytes",
    "ideal_bytes",
    "repulled_bytes",
    "renamed_bytes",
    "pairs",
    "all_pairs",
]


def scorecard(
    imageset: ImageSet,
    strategy: StrategySpec | Sequence[StrategySpec],
    budgets: Sequence[int] = SCORECARD_BUDGETS,
    context: Context | None = None,
    *,
    sample: int | None = None,
    seed: int = 0,
    executor: ExecutorSpec = None,
    workers: int | None = None,
    regroup: bool | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """The four figures of each strategy at each budget; see the module documentation.

    Args:
        imageset: the images, pulled in set order.
        strategy: a configured strategy, a strategy name, or several.
        budgets: layer budgets (default 94, 30, 10).
        context: popularity; by default the image set's.
        sample: measure the update figures on this many (image, path) pairs
            drawn with ``seed`` (default: every pair).
        executor: where the update pairs run: ``"serial"`` (default),
            ``"process"``, ``"thread"``, ``"dask://HOST:PORT"``, a
            :class:`distributed.Client` or any
            :class:`concurrent.futures.Executor` (see
            :mod:`layerlab.metrics.executors`).
        workers: pool size for the pools created here.
        regroup: see :func:`~layerlab.metrics.churn.update_costs`.
        progress: show a progress bar (default: when it takes over a second).

    Returns:
        One row per (strategy, budget, figure), in that order, with the exact
        byte counts behind each ratio (:data:`SCORECARD_COLUMNS`):
        ``ratio = bytes / bound_bytes``; for a pull figure ``bytes`` is
        ``pulled_bytes`` and ``bound_bytes`` is ``ideal_bytes``, for an update
        figure they are ``repulled_bytes`` and ``renamed_bytes`` (the other
        pair is empty).  ``pairs`` counts the pairs measured, ``all_pairs``
        the pairs of the set.  ``spec`` is the strategy's canonical JSON.

    Raises:
        ConfigError: no strategy, a budget below 1, a bad sample size.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> s = default_imageset().subset(["img-curl", "img-make"])
        >>> card = scorecard(s, ["per-path", "single-layer"], [10], sample=20, seed=1)
        >>> card.groupby("strategy", sort=False)["ratio"].max().round(3).to_dict()
        {'per-path': 2.392, 'single-layer': 7.27}
        >>> r = card.loc[2]
        >>> r.figure, int(r.repulled_bytes), int(r.renamed_bytes), int(r.pairs), int(r.all_pairs)
        ('update-any', 190644224, 94519296, 20, 36)
    """
    from ..strategies import strategy_label

    strats = as_strategies(strategy)
    if not strats:
        raise ConfigError("the scorecard needs at least one strategy", source="scorecard")
    budgets = list(budgets)
    if not budgets:
        raise ConfigError("the scorecard needs at least one budget", source="scorecard")
    for b in budgets:
        check_budget(b, "scorecard")
    if context is None:
        context = Context(popularity=imageset.popularity)
    imageset.universe.require_sizes("the scorecard")
    ideal = ideal_bytes(imageset)
    every = all_pairs(imageset)
    pairs = all_pairs(imageset, sample, seed) if sample is not None else every
    rows = []
    for s in strats:
        label = strategy_label(s)
        spec = orjson.dumps(s.to_json(), option=orjson.OPT_SORT_KEYS).decode()
        lays = {b: layer_imageset(s, imageset, b, context) for b in budgets}
        updates = update_costs(
            s,
            imageset,
            budgets,
            context,
            pairs=pairs,
            layerings=lays,
            executor=executor,
            workers=workers,
            regroup=regroup,
            progress=progress,
        )
        by_budget = dict(iter(updates.groupby("budget", sort=False)))
        for b in budgets:
            table = lays[b].table
            base = {"strategy": label, "spec": spec, "budget": b, "images": len(imageset), "all_pairs": len(every)}
            for rule in ("any", "chain"):
                pulled = pull_bytes_of(table.image_layers, table.layer_size, rule)
                rows.append(
                    {
                        **base,
                        "figure": f"pull-{rule}",
                        "rule": rule,
                        "ratio": pulled / ideal if ideal else 1.0,
                        "bytes": pulled,
                        "bound_bytes": ideal,
                        "pulled_bytes": pulled,
                        "ideal_bytes": ideal,
                    }
                )
            f = by_budget.get(b)
            renamed = int(f["changed_bytes"].sum()) if f is not None else 0
            for rule in ("any", "chain"):
                repulled = int(f[f"repulled_{rule}_bytes"].sum()) if f is not None else 0
                rows.append(
                    {
                        **base,
                        "figure": f"update-{rule}",
                        "rule": rule,
                        "ratio": repulled / renamed if renamed else 1.0,
                        "bytes": repulled,
                        "bound_bytes": renamed,
                        "repulled_bytes": repulled,
                        "renamed_bytes": renamed,
                        "pairs": len(pairs),
                    }
                )
    frame = pd.DataFrame(rows, columns=SCORECARD_COLUMNS)
    return frame.astype(dict.fromkeys(_INT_COLUMNS, "Int64"))


def scorecard_table(frame: pd.DataFrame, value: str = "ratio") -> pd.DataFrame:
    """The scorecard wide: one row per (strategy, budget), one column per figure.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> s = default_imageset().subset(["img-curl", "img-make"])
        >>> t = scorecard_table(scorecard(s, "single-layer", [94, 10]))
        >>> list(t.columns), t.index.tolist()
        (['pull-any', 'pull-chain', 'update-any', 'update-chain'], [('single-layer', 94), ('single-layer', 10)])
    """
    missing = {"strategy", "budget", "figure", value} - set(frame.columns)
    if missing:
        raise ConfigError(f"not a scorecard frame: missing {', '.join(sorted(missing))}", source="scorecard")
    wide = frame.pivot_table(index=["strategy", "budget"], columns="figure", values=value, sort=False, aggfunc="first")
    wide.columns.name = None
    return wide[[f for f in FIGURES if f in wide.columns]]
