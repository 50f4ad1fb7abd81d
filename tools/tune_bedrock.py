"""Choose ``bedrock``'s defaults on half of the image set and check them on the other half.

The Debian 30-image set is split by position in file-name order: images at
even positions (0, 2, ...) form half ``even``, the others half ``odd``.  A small
grid of bedrock's parameters is scored on each half by the mean of the twelve
scorecard figures (pull-any, pull-chain, update-any, update-chain at budgets
94, 30 and 10; :func:`layerlab.metrics.scorecard.scorecard`, every pair), one
set of parameters for every budget.  The choice made on each half is written to
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

import orjson  # noqa: E402

from layerlab.fileio import atomic_write  # noqa: E402
from layerlab.imageset import ImageSet, default_imageset  # noqa: E402
from layerlab.metrics.scorecard import SCORECARD_BUDGETS, scorecard, scorecard_table  # noqa: E402
from layerlab.strategies import get_strategy  # noqa: E402

SPACE = {
    "alpha": [0.1, 0.3],
    "beta": [0.5, 1.0],
    "tier_bytes": [10_000_000, 30_000_000, 100_000_000],
    "rest_paths_per_layer": [40, 80, 160],
    "attach_max_size": [1_000_000, 5_000_000],
}
QUICK = {"alpha": [0.1], "beta": [0.5], "tier_bytes": [30_000_000], "rest_paths_per_layer": [40, 80]}


def halves(full: ImageSet) -> dict[str, ImageSet]:
    """The two halves: even and odd positions in file-name order."""
    positions = range(len(full))
    return {
        "even": full.subset(positions[0::2], name=full.name + "-even"),
        "odd": full.subset(positions[1::2], name=full.name + "-odd"),
    }


def scores(imageset: ImageSet, space: dict[str, list]) -> list[tuple[float, dict]]:
    """Every point of ``space`` as (mean of the twelve figures, parameters), best first."""
    points = [dict(zip(space, values)) for values in itertools.product(*space.values())]
    strategies = [get_strategy("bedrock", **p) for p in points]
    frame = scorecard(imageset, strategies, SCORECARD_BUDGETS, executor="serial", progress=False)
    table = scorecard_table(frame)
    means = table.groupby(level=0, sort=False).mean().mean(axis=1)
    out = [(float(means.iloc[k]), p) for k, p in enumerate(points)]
    out.sort(key=lambda t: t[0])
    return out


def main(argv: list[str]) -> int:
    full = default_imageset()
    space = QUICK if "--quick" in argv else SPACE
    chosen: dict[str, dict] = {}
    for train, test in (("even", "odd"), ("odd", "even")):
        parts = halves(full)
        ranked = scores(parts[train], space)
        best = ranked[0][1]
        chosen[train] = best
        print(f"tuned on {train}: {best} (mean {ranked[0][0]:.4f}); runners-up:")
        for score, params in ranked[1:4]:
            print(f"  {score:.4f} {params}")
        held = scorecard_table(scorecard(parts[test], get_strategy("bedrock", **best), SCORECARD_BUDGETS, executor="serial", progress=False))
        print(f"measured on {test}:")
        print(held.round(3).to_string())
    if "--no-write" not in argv:
        doc = {"strategy": "bedrock", **chosen}
        atomic_write(ROOT / "data/debian/heldout-defaults.json", orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
