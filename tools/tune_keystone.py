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

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from layerlab.imageset import ImageSet, default_imageset
from layerlab.metrics.sweep import grid, sweep
from layerlab.strategies import get_strategy

BUDGETS = (94, 30, 10)
AXES = ("alpha", "beta", "attach_popularity", "min_layer_size")


def ratios(imageset: ImageSet, name: str, **params: object) -> list[float]:
    """Pull ratio at each budget."""
    frame = sweep(imageset, get_strategy(name, **params), BUDGETS, cache=False, progress=False)
    return [float(frame.loc[frame.budget == b, "ratio"].iloc[0]) for b in BUDGETS]


def ranked(imageset: ImageSet, space: dict[str, list]) -> list[tuple[float, dict, list[float]]]:
    """Every point of ``space``: (mean ratio over the budgets, parameters, ratios), best first."""
    frame = sweep(imageset, grid("keystone", space), BUDGETS, progress=False)
    out = []
    for _, rows in frame.groupby("spec", sort=False):
        by_budget = dict(zip(rows.budget, rows.ratio))
        r = [float(by_budget[b]) for b in BUDGETS]
        params = {k: rows[k].iloc[0].item() for k in AXES}
        out.append((sum(r) / len(r), params, r))
    out.sort(key=lambda t: t[0])
    return out


def main(argv: list[str]) -> int:
    full = default_imageset()
    quick = "--quick" in argv
    space = {
        "alpha": [0.0, 0.1, 0.25] if not quick else [0.0],
        "beta": [0.0, 0.5, 1.0, 1.5] if not quick else [0.0, 1.0],
        "attach_popularity": [1, 2, 3],
        "min_layer_size": [0, 100_000] if not quick else [0],
    }
    points = 1
    for values in space.values():
        points *= len(values)

    fmt = lambda r: " ".join(f"{x:.3f}" for x in r)  # noqa: E731
    print(f"grid of {points} points, budgets {BUDGETS}")
    results = ranked(full, space)
    for score, params, r in results[:8]:
        print(f"  {score:.4f}  [{fmt(r)}]  {params}")
    best = results[0][1]
    print(f"best on all 30 images: {best}")

    positions = range(len(full.images))
    halves = {
        "even": full.subset(positions[0::2], name=full.name + "-even"),
        "odd": full.subset(positions[1::2], name=full.name + "-odd"),
    }
    for train_name, test_name in (("even", "odd"), ("odd", "even")):
        train, test = halves[train_name], halves[test_name]
        best_train = ranked(train, space)[0][1]
        print(f"best on the 15 {train_name} images: {best_train}")
        print(f"held-out {test_name} images (ratios at 94/30/10):")
        print(f"  keystone tuned on {train_name}: [{fmt(ratios(test, 'keystone', **best_train))}]")
        print(f"  keystone tuned on all:   [{fmt(ratios(test, 'keystone', **best))}]")
        for peer in ("auto-layer", "popularity-contest", "per-path"):
            print(f"  {peer:<22}  [{fmt(ratios(test, peer))}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
