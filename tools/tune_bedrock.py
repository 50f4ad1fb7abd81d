"""Choose ``bedrock``'s defaults on half of the image set and check them on the other half.

The Debian 30-image set is split by position in file-name order: images at
even positions (0, 2, ...) form half ``even``, the others half ``odd``.  A small
grid of bedrock's parameters is scored on each half against the twelve
scorecard figures (pull-any, pull-chain, update-any, update-chain at budgets
94, 30 and 10; :func:`layerlab.metrics.scorecard.scorecard`, every pair) of
every other strategy on the same half: first by the number of figures where
bedrock is behind the best other strategy, then by the summed shortfall
(bedrock's ratio over the best other's, minus one, where positive), then by
the mean of its twelve figures.
One set of parameters serves every budget.  Parameters outside ``SPACE`` keep
their defaults, which an earlier, wider grid of this tool chose the same way
(``alpha``, ``beta`` and ``attach_max_size``); ``SPACE`` holds the minimum
layer size and the two parameters it interacts with (``tier_bytes=0`` puts
every dedicated layer in one tier).  The defaults are the point whose
worse regret over the two halves (its losses, then its shortfall, then its
mean, each minus the best on that half) is least.  The choice made on each half is written to
``data/debian/heldout-defaults.json`` (read by ``tools/scorecard_table.py``,
which reports each choice on the half it was not tuned on) and printed with its
held-out figures.

Usage: ``python tools/tune_bedrock.py [--quick] [--no-write]``
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson
import pandas as pd

from layerlab.fileio import atomic_write
from layerlab.imageset import ImageSet, default_imageset
from layerlab.metrics.scorecard import SCORECARD_BUDGETS, scorecard, scorecard_table
from layerlab.strategies import available, get_strategy

SPACE: dict[str, list] = {
    "min_layer_bytes": [0, 500_000, 1_000_000, 2_000_000],
    "tier_bytes": [0, 30_000_000, 100_000_000],
    "rest_paths_per_layer": [10, 20, 40],
}
QUICK: dict[str, list] = {"min_layer_bytes": [0, 1_000_000], "rest_paths_per_layer": [40]}


def halves(full: ImageSet) -> dict[str, ImageSet]:
    """The two halves: even and odd positions in file-name order."""
    positions = range(len(full))
    return {
        "even": full.subset(positions[0::2], name=full.name + "-even"),
        "odd": full.subset(positions[1::2], name=full.name + "-odd"),
    }


def best_others(imageset: ImageSet) -> pd.DataFrame:
    """The best ratio of any other strategy on ``imageset``, per budget (rows) and figure (columns)."""
    others = [get_strategy(name) for name in available() if name != "bedrock"]
    table = scorecard_table(scorecard(imageset, others, SCORECARD_BUDGETS, executor="serial", progress=False))
    return table.groupby(level=1).min()


def scores(imageset: ImageSet, space: dict[str, list]) -> list[tuple[int, float, float, dict]]:
    """Every point of ``space`` as (figures lost, shortfall, mean of the twelve figures, parameters), best first."""
    points = [dict(zip(space, values)) for values in itertools.product(*space.values())]
    strategies = [get_strategy("bedrock", **p) for p in points]
    frame = scorecard(imageset, strategies, SCORECARD_BUDGETS, executor="serial", progress=False)
    table = scorecard_table(frame)
    best = best_others(imageset)
    out = []
    for k, (_, rows) in enumerate(table.groupby(level=0, sort=False)):
        ours = rows.droplevel(0).loc[best.index]
        behind = (ours / best - 1).clip(lower=0).to_numpy()
        out.append((int((behind > 0).sum()), round(float(behind.sum()), 6), float(ours.to_numpy().mean()), points[k]))
    out.sort(key=lambda t: (t[0], t[1], t[2]))
    return out


def main(argv: list[str]) -> int:
    full = default_imageset()
    space = QUICK if "--quick" in argv else SPACE
    chosen: dict[str, dict] = {}
    regrets: dict[str, list[tuple[int, float, float]]] = {}
    parts = halves(full)
    for train, test in (("even", "odd"), ("odd", "even")):
        ranked = scores(parts[train], space)
        top = ranked[0]
        for lost, shortfall, mean, params in ranked:
            key = orjson.dumps(params, option=orjson.OPT_SORT_KEYS).decode()
            regrets.setdefault(key, []).append((lost - top[0], shortfall - top[1], mean - top[2]))
        chosen[train] = top[3]
        print(f"tuned on {train}: {top[3]} (lost {top[0]}, shortfall {top[1]:.4f}, mean {top[2]:.4f}); runners-up:")
        for lost, shortfall, mean, params in ranked[1:6]:
            print(f"  {lost} {shortfall:.4f} {mean:.4f} {params}")
        held = scorecard_table(
            scorecard(
                parts[test], get_strategy("bedrock", **top[3]), SCORECARD_BUDGETS, executor="serial", progress=False
            )
        )
        print(f"measured on {test}:")
        print(held.round(3).to_string())
    defaults = min(regrets, key=lambda k: (*(max(r[j] for r in regrets[k]) for j in range(3)), k))
    print(f"defaults (least worse regret over the halves): {defaults} {regrets[defaults]}")
    if "--no-write" not in argv:
        doc = {"strategy": "bedrock", **chosen}
        atomic_write(ROOT / "data/debian/heldout-defaults.json", orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
