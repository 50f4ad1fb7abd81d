"""Tune ``keystone`` once, and check the choice on a split of the image set.

Sweeps a small grid of keystone's parameters on the Debian 30-image set
(pulled in file-name order by one client, any-digest rule) and scores each
point by the mean of its pull ratios (pulled / ideal) at budgets 94, 30 and
10.  Then, against overfitting, it tunes again on each half of the images (even
and odd positions) and reports that choice on the other half next to the
full-set choice and the peers.

Usage: ``python tools/tune_keystone.py [--quick]``
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from layerlab.imageset import ImageSet, default_imageset  # noqa: E402
from layerlab.metrics import layer_imageset  # noqa: E402
from layerlab.metrics.pull import pull_cost  # noqa: E402
from layerlab.strategies import get_strategy  # noqa: E402

BUDGETS = (94, 30, 10)


def ratios(imageset: ImageSet, name: str, **params: object) -> list[float]:
    """Pull ratio at each budget."""
    strategy = get_strategy(name, **params)
    return [pull_cost(layer_imageset(strategy, imageset, b)).summary["ratio"] for b in BUDGETS]


def sweep(imageset: ImageSet, grid: list[dict]) -> list[tuple[float, dict, list[float]]]:
    out = []
    for params in grid:
        r = ratios(imageset, "keystone", **params)
        out.append((sum(r) / len(r), params, r))
    out.sort(key=lambda t: t[0])
    return out


def main(argv: list[str]) -> int:
    full = default_imageset()
    quick = "--quick" in argv
    axes = {
        "alpha": [0.0, 0.1, 0.25] if not quick else [0.0],
        "beta": [0.0, 0.5, 1.0, 1.5] if not quick else [0.0, 1.0],
        "attach_popularity": [1, 2, 3],
        "min_layer_size": [0, 100_000] if not quick else [0],
    }
    grid = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]

    fmt = lambda r: " ".join(f"{x:.3f}" for x in r)  # noqa: E731
    print(f"grid of {len(grid)} points, budgets {BUDGETS}")
    results = sweep(full, grid)
    for score, params, r in results[:8]:
        print(f"  {score:.4f}  [{fmt(r)}]  {params}")
    best = results[0][1]
    print(f"best on all 30 images: {best}")

    halves = {
        "even": ImageSet(full.name + "-even", full.images[0::2], full.popularity, full.source),
        "odd": ImageSet(full.name + "-odd", full.images[1::2], full.popularity, full.source),
    }
    for train_name, test_name in (("even", "odd"), ("odd", "even")):
        train, test = halves[train_name], halves[test_name]
        best_train = sweep(train, grid)[0][1]
        print(f"best on the 15 {train_name} images: {best_train}")
        print(f"held-out {test_name} images (ratios at 94/30/10):")
        print(f"  keystone tuned on {train_name}: [{fmt(ratios(test, 'keystone', **best_train))}]")
        print(f"  keystone tuned on all:   [{fmt(ratios(test, 'keystone', **best))}]")
        for peer in ("auto-layer", "popularity-contest", "per-path"):
            print(f"  {peer:<22}  [{fmt(ratios(test, peer))}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
