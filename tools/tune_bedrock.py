"""Choose ``bedrock``'s defaults on half of the image set and check them on the other half.

The Debian 30-image set is split by position in file-name order: images at
even positions (0, 2, ...) form half ``even``, the others half ``odd``.  A small
grid of bedrock's parameters is scored on each half against the twelve
scorecard figures (pull-any, pull-chain, update-any, update-chain at budgets
94, 30 and 10; :func:`layerlab.metrics.scorecard.scorecard`, every pair) of
every other strategy on the same half: first by the summed shortfall, over the
figures, of bedrock's ratio behind the best other strategy's (relative, zero
where bedrock is at least as good), then by the mean of its twelve figures.
One set of parameters serves every budget.  The defaults are the point whose
worse regret over the two halves (its shortfall minus the best shortfall on
that half, then the same for the mean) is least.  The choice made on each half is written to
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
    "alpha": [0.1, 0.3],
    "beta": [0.5, 1.0],
    "tier_bytes": [10_000_000, 30_000_000, 100_000_000],
    "rest_paths_per_layer": [40, 80],
    "attach_max_size": [1_000_000, 5_000_000],
}
QUICK: dict[str, list] = {"alpha": [0.1], "beta": [0.5], "tier_bytes": [30_000_000], "rest_paths_per_layer": [40, 80]}


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


def scores(imageset: ImageSet, space: dict[str, list]) -> list[tuple[float, float, dict]]:
    """Every point of ``space`` as (shortfall, mean of the twelve figures, parameters), best first."""
    points = [dict(zip(space, values)) for values in itertools.product(*space.values())]
    strategies = [get_strategy("bedrock", **p) for p in points]
    frame = scorecard(imageset, strategies, SCORECARD_BUDGETS, executor="serial", progress=False)
    table = scorecard_table(frame)
    best = best_others(imageset)
    out = []
    for k, (_, rows) in enumerate(table.groupby(level=0, sort=False)):
        ours = rows.droplevel(0).loc[best.index]
        shortfall = float((ours / best - 1).clip(lower=0).to_numpy().sum())
        out.append((round(shortfall, 6), float(ours.to_numpy().mean()), points[k]))
    out.sort(key=lambda t: (t[0], t[1]))
    return out


def main(argv: list[str]) -> int:
    full = default_imageset()
    space = QUICK if "--quick" in argv else SPACE
    chosen: dict[str, dict] = {}
    regrets: dict[str, list[tuple[float, float]]] = {}
    parts = halves(full)
    for train, test in (("even", "odd"), ("odd", "even")):
        ranked = scores(parts[train], space)
        by_point = {orjson.dumps(p, option=orjson.OPT_SORT_KEYS): (sf, mean) for sf, mean, p in ranked}
        for key, (sf, mean) in by_point.items():
            regrets.setdefault(key.decode(), []).append((sf - ranked[0][0], mean - ranked[0][1]))
        best = ranked[0][2]
        chosen[train] = best
        print(f"tuned on {train}: {best} (shortfall {ranked[0][0]:.4f}, mean {ranked[0][1]:.4f}); runners-up:")
        for shortfall, mean, params in ranked[1:6]:
            print(f"  {shortfall:.4f} {mean:.4f} {params}")
        held = scorecard_table(
            scorecard(
                parts[test], get_strategy("bedrock", **best), SCORECARD_BUDGETS, executor="serial", progress=False
            )
        )
        print(f"measured on {test}:")
        print(held.round(3).to_string())
    defaults = min(regrets, key=lambda k: (max(r[0] for r in regrets[k]), max(r[1] for r in regrets[k]), k))
    print(f"defaults (least worse regret over the halves): {defaults} {regrets[defaults]}")
    if "--no-write" not in argv:
        doc = {"strategy": "bedrock", **chosen}
        atomic_write(ROOT / "data/debian/heldout-defaults.json", orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
