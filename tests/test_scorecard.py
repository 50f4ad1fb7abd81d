"""The scorecard's four figures: hand-computed examples and a slow reference implementation on random graphs.

Every byte count in the hand examples is derived in the comments.  The
reference implementation renames by rewriting the graph's records, regroups
with the strategy, and recounts from the layer lists as sets of path strings;
the fast implementation must agree with it exactly, for strategies whose
output depends on path-name order too (tie-breaks by path).
"""

from __future__ import annotations

import random

import pandas as pd
import pytest

from layerlab.errors import ConfigError, StrategyError
from layerlab.graph import ClosureGraph
from layerlab.imageset import ImageSet
from layerlab.metrics.churn import all_pairs, rehash, update_costs
from layerlab.metrics.scorecard import FIGURES, SCORECARD_COLUMNS, scorecard, scorecard_table
from layerlab.popularity import Popularity
from layerlab.strategies import Context, Strategy, get_strategy
from layerlab.strategies.baselines import PerPath

from .metrics_fixtures import S, abc_set

_NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"


def figures(card: pd.DataFrame, budget: int) -> dict[str, tuple[int, int]]:
    """figure -> (bytes, bound bytes) at one budget."""
    rows = card[card.budget == budget]
    return {r.figure: (int(r.bytes), int(r.bound_bytes)) for r in rows.itertuples()}


# ------------------------------------------------------------ by hand
# abc_set: one = a->b->c, two = d->b->c, three = e->c; sizes a 10, b 20, c 30, d 40, e 50.
# The ideal is the union a+b+c+d+e = 150.


def test_three_images_per_path_by_hand() -> None:
    card = scorecard(abc_set(), "per-path", [94, 2])
    # Budget 94, per-path puts one path per layer, largest first:
    #   one [c30, b20, a10], two [d40, c30, b20], three [e50, c30].
    # pull-any: one 60, two only d 40, three only e 50 = 150.
    # pull-chain: one 60; two starts with d, so all 90; three starts with e, so all 80 = 230.
    # Updates (renamed = the path and its referrers; any = layers holding a renamed path;
    # chain = every layer from the lowest one holding a renamed path):
    #   one: a {a} 10 any 10 chain 10 (a is on top); b {a,b} 30 any 30 chain 20+10=30; c all 60 60 60
    #   two: d {d} 40 any 40 chain 90 (d at the bottom); b {d,b} 60 any 60 chain 90; c all 90 90 90
    #   three: e {e} 50 any 50 chain 80; c {e,c} 80 any 80 chain 80
    # renamed 10+30+60+40+60+90+50+80 = 420; any the same 420; chain 10+30+60+90+90+90+80+80 = 530.
    assert figures(card, 94) == {
        "pull-any": (150, 150),
        "pull-chain": (230, 150),
        "update-any": (420, 420),
        "update-chain": (530, 420),
    }
    # Budget 2: an image with more than 2 paths keeps its largest path alone and shares the rest:
    #   one [c30, {a,b}30], two [d40, {b,c}50], three [e50, c30].
    # pull-any: one 60; two 40+50 = 90; three e 50 ({c} held from one) = 200.
    # pull-chain: 60 + 90 + 80 = 230.
    # Updates:
    #   one: a -> {a',b} new: any 30 chain 30; b: same 30 30; c: everything 60 60
    #   two: d -> [d', {b,c}]: any 40, chain from 0: 90; b -> {d,b}: both layers 90 90; c: 90 90
    #   three: e -> [e', c]: any 50 chain 80; c -> [e', c']: 80 80
    # renamed 420; any 30+30+60+40+90+90+50+80 = 470; chain 30+30+60+90+90+90+80+80 = 550.
    assert figures(card, 2) == {
        "pull-any": (200, 150),
        "pull-chain": (230, 150),
        "update-any": (470, 420),
        "update-chain": (550, 420),
    }
    r = card[(card.budget == 2) & (card.figure == "update-chain")].iloc[0]
    assert r.ratio == 550 / 420 and r.repulled_bytes == 550 and r.renamed_bytes == 420 and r.pairs == 8
    assert pd.isna(r.pulled_bytes) and pd.isna(r.ideal_bytes)


def test_two_images_by_hand() -> None:
    one_three = abc_set().subset(["one", "three"])
    card = scorecard(one_three, "single-layer", [5])
    # Ideal a+b+c+e = 110.  Single layers {a,b,c} 60 and {c,e} 80 differ: 140 under both rules.
    # Any rename re-ships the whole image: one 3 pairs x 60, three 2 pairs x 80 = 340;
    # renamed one a10 + {a,b}30 + {a,b,c}60, three e50 + {e,c}80 = 230.
    assert figures(card, 5) == {
        "pull-any": (140, 110),
        "pull-chain": (140, 110),
        "update-any": (340, 230),
        "update-chain": (340, 230),
    }
    one_two = abc_set().subset(["one", "two"])
    card = scorecard(one_two, "per-path", [94])
    # Ideal a+b+c+d = 100.  one [c, b, a], two [d, c, b]: any 60 + 40, chain 60 + 90.
    # Updates as in the three-image example: one renamed 100 any 100 chain 100;
    # two renamed 40+60+90 = 190, any 190, chain 90+90+90 = 270.
    assert figures(card, 94) == {
        "pull-any": (100, 100),
        "pull-chain": (150, 100),
        "update-any": (290, 290),
        "update-chain": (370, 290),
    }


def test_new_hash_can_move_a_layer_down() -> None:
    # Two unrelated paths of equal size; per-path breaks the size tie by path, so by hash.
    q = S + "x" * 32 + "-q-1"
    p = S + "z" * 32 + "-p-1"
    # The new hashes: rehash(q) starts 6r.., rehash(p) starts 5v.., both below x.. and z..
    assert rehash(q) < p and rehash(p) < q
    g = ClosureGraph.from_records([{"path": q, "narSize": 10}, {"path": p, "narSize": 10}], name="pq")
    card = scorecard(ImageSet.from_graphs([g]), "per-path", [94])
    # Old layers [q, p].  Renaming q gives [q', p]: any 10, chain from 0: 20.
    # Renaming p gives [p', q] (p' now sorts first): any 10, chain from 0: 20 (not 10).
    assert figures(card, 94)["update-any"] == (20, 20)
    assert figures(card, 94)["update-chain"] == (40, 20)


# ------------------------------------------------------- reference
def _size_of(imageset: ImageSet) -> dict[str, int]:
    return {p: s for img in imageset for p, s in zip(img.graph.paths, img.graph.nar_size or ())}


def reference_scorecard(
    imageset: ImageSet, strategy: Strategy, budgets: list[int], pairs: list[tuple[int, int]] | None = None
) -> dict[tuple[int, str], tuple[int, int]]:
    """(budget, figure) -> (bytes, bound): the definitions, spelled out on path strings."""
    ctx = Context(popularity=imageset.popularity)
    size = _size_of(imageset)
    ideal = sum(size.values())
    wanted = None if pairs is None else set(pairs)
    out = {}
    for b in budgets:
        layers = [[frozenset(x.paths) for x in strategy.group(img.graph, ctx, b)] for img in imageset]
        held: set[frozenset[str]] = set()
        prefixes: set[tuple[frozenset[str], ...]] = set()
        pulled_any = pulled_chain = 0
        for ls in layers:
            for k, layer in enumerate(ls):
                if layer not in held:
                    held.add(layer)
                    pulled_any += sum(size[p] for p in layer)
                if tuple(ls[: k + 1]) not in prefixes:
                    prefixes.add(tuple(ls[: k + 1]))
                    pulled_chain += sum(size[p] for p in layer)
        renamed_total = any_total = chain_total = 0
        for i, (img, old) in enumerate(zip(imageset, layers)):
            recs = img.graph.to_records()
            for j, changed in enumerate(img.graph.paths):
                if wanted is not None and (i, j) not in wanted:
                    continue
                dependents = {changed}
                grew = True
                while grew:
                    grew = False
                    for rec in recs:
                        if rec["path"] not in dependents and dependents & set(rec["references"]):
                            dependents.add(rec["path"])
                            grew = True
                new_name = {x: rehash(x) for x in dependents}
                new_recs = [
                    {
                        "path": new_name.get(rec["path"], rec["path"]),
                        "narSize": rec["narSize"],
                        "references": [new_name.get(x, x) for x in rec["references"]],
                    }
                    for rec in recs
                ]
                roots = [new_name.get(img.graph.paths[r], img.graph.paths[r]) for r in img.graph.roots]
                g2 = ClosureGraph.from_records(new_recs, roots if img.graph.roots_given else None)
                new = [frozenset(x.paths) for x in strategy.group(g2, ctx, b)]
                new_size = {new_name.get(p, p): s for p, s in size.items()}
                renamed_total += sum(size[x] for x in dependents)
                any_total += sum(sum(new_size[p] for p in layer) for layer in new if layer not in old)
                k = 0
                while k < min(len(old), len(new)) and old[k] == new[k]:
                    k += 1
                chain_total += sum(sum(new_size[p] for p in layer) for layer in new[k:])
        out[(b, "pull-any")] = (pulled_any, ideal)
        out[(b, "pull-chain")] = (pulled_chain, ideal)
        out[(b, "update-any")] = (any_total, renamed_total)
        out[(b, "update-chain")] = (chain_total, renamed_total)
    return out


def random_set(seed: int) -> ImageSet:
    """Three images over a shared pool of 14-22 paths: equal sizes, repeated names, cycles, popularity."""
    rnd = random.Random(seed)
    n = rnd.randint(14, 22)
    names = [f"pkg{rnd.randint(0, n // 2)}-1.{rnd.randint(0, 1)}" for _ in range(n)]
    paths = [S + "".join(rnd.choice(_NIX32) for _ in range(32)) + "-" + name for name in names]
    sizes = [rnd.choice([1, 2, 2, 3, 5, 5, 8, 100]) for _ in range(n)]
    refs: list[set[int]] = [set() for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if rnd.random() < 0.18:
                refs[i].add(j)
    if seed % 2:  # a cycle at the bottom
        refs[n - 1].add(n - 3)
        refs[n - 3].add(n - 1)
    graphs = []
    for k in range(3):
        roots = rnd.sample(range(n // 2), rnd.randint(1, 3))
        keep = set(roots)
        stack = list(roots)
        while stack:
            for j in refs[stack.pop()]:
                if j not in keep:
                    keep.add(j)
                    stack.append(j)
        recs = [
            {"path": paths[i], "narSize": sizes[i], "references": [paths[j] for j in refs[i]]} for i in sorted(keep)
        ]
        given = [paths[r] for r in roots] if seed % 3 else None
        graphs.append(ClosureGraph.from_records(recs, given, name=f"img{k}"))
    pop = Popularity({name: rnd.choice([1, 2, 3, 50, 2000]) for name in set(names)})
    return ImageSet.from_graphs(graphs, name=f"random-{seed}", popularity=pop)


STRATEGIES = [
    "per-path",
    "nixery",
    "nixery-2022",
    "keystone",
    "auto-layer",
    "popularity-contest",
    "nix2container",
    "single-layer",
    "pipeline",
]


@pytest.mark.parametrize("name", STRATEGIES)
def test_fast_scorecard_equals_the_reference_on_random_graphs(name: str) -> None:
    strategy = get_strategy(name)
    budgets = [2, 4, 50]
    for seed in range(6):
        s = random_set(seed)
        card = scorecard(s, strategy, budgets, progress=False)
        got = {(int(r.budget), r.figure): (int(r.bytes), int(r.bound_bytes)) for r in card.itertuples()}
        assert got == reference_scorecard(s, strategy, budgets), (name, seed)


def test_sampled_pairs_equal_the_reference_on_those_pairs() -> None:
    s = random_set(7)
    strategy = get_strategy("keystone")
    card = scorecard(s, strategy, [3], sample=9, seed=4, progress=False)
    pairs = all_pairs(s, 9, seed=4)
    assert len(pairs) == 9 and pairs == sorted(pairs) and pairs != all_pairs(s, 9, seed=5)
    ref = reference_scorecard(s, strategy, [3], pairs)
    got = {(int(r.budget), r.figure): (int(r.bytes), int(r.bound_bytes)) for r in card.itertuples()}
    assert got == ref
    assert set(card.pairs.dropna()) == {9} and set(card.all_pairs) == {len(all_pairs(s))}


# ------------------------------------------------ rename invariance
def test_declared_rename_invariance_holds_on_random_graphs() -> None:
    from layerlab.strategies import FAMILIES

    declaring = [cls for cls in FAMILIES.values() if cls.rename_invariant]
    assert declaring, "no strategy declares rename invariance: the fast update path is untested"
    for cls in declaring:
        strategy = cls()
        for seed in range(8):
            s = random_set(seed)
            for img in s:
                g = img.graph
                for j in range(len(g)):
                    renamed = {g.paths[k]: rehash(g.paths[k]) for k in g.closure_of([j], reverse=True)}
                    for b in (1, 3, 50):
                        old = strategy.group(g, Context(s.popularity), b)
                        new = strategy.group(g.relabel(renamed), Context(s.popularity), b)
                        assert [sorted(renamed.get(p, p) for p in x.paths) for x in old] == [list(x.paths) for x in new]
            # And the skipped regrouping gives what regrouping gives.
            fast = update_costs(strategy, s, [1, 3], regroup=False)
            slow = update_costs(strategy, s, [1, 3], regroup=True)
            pd.testing.assert_frame_equal(fast, slow)


class _PromisesTooMuch(PerPath):
    """per-path breaks size ties by path, so it is not rename-invariant."""

    name = "per-path"
    rename_invariant = True


def test_a_broken_invariance_promise_is_caught() -> None:
    q = S + "x" * 32 + "-q-1"
    p = S + "z" * 32 + "-p-1"
    g = ClosureGraph.from_records([{"path": q, "narSize": 10}, {"path": p, "narSize": 10}], name="pq")
    with pytest.raises(StrategyError, match="declares that renaming paths only renames them"):
        update_costs(_PromisesTooMuch(), ImageSet.from_graphs([g]), [94])
    with pytest.raises(ConfigError, match="must be regrouped"):
        update_costs(PerPath(), ImageSet.from_graphs([g]), [94], regroup=False)


def test_relabel_equals_rebuilding_from_records() -> None:
    for seed in range(10):
        for img in random_set(seed):
            g = img.graph
            rnd = random.Random(seed)
            renamed = {x: rehash(x, salt=str(seed)) for x in rnd.sample(g.paths, rnd.randint(1, len(g)))}
            recs = [
                {
                    **rec,
                    "path": renamed.get(rec["path"], rec["path"]),
                    "references": [renamed.get(x, x) for x in rec["references"]],
                }
                for rec in g.to_records()
            ]
            roots = [renamed.get(g.paths[r], g.paths[r]) for r in g.roots] if g.roots_given else None
            want = ClosureGraph.from_records(recs, roots, name=g.name)
            got = g.relabel(renamed)
            assert (got.paths, got.refs, got.nar_size, got.closure_size, got.roots, got.roots_given) == (
                want.paths,
                want.refs,
                want.nar_size,
                want.closure_size,
                want.roots,
                want.roots_given,
            )


# ------------------------------------------------------ the frame
def test_frame_shape_executors_and_errors() -> None:
    s = random_set(3)
    card = scorecard(s, ["keystone", get_strategy("keystone", alpha=0.5)], [3, 10], progress=False)
    assert list(card.columns) == SCORECARD_COLUMNS
    assert card.figure.tolist() == list(FIGURES) * 4
    assert card.strategy.unique().tolist() == ["keystone", "keystone alpha=0.5"]
    assert (card.ratio == card.bytes / card.bound_bytes).all() and (card.ratio >= 1).all()
    for executor in ("process", "thread"):
        other = scorecard(
            s, ["keystone", get_strategy("keystone", alpha=0.5)], [3, 10], executor=executor, workers=2, progress=False
        )
        pd.testing.assert_frame_equal(card, other)
    wide = scorecard_table(card)
    assert wide.shape == (4, 4) and wide.loc[("keystone", 3), "update-any"] == card.ratio.iloc[2]
    with pytest.raises(ConfigError, match="budget must be"):
        scorecard(s, "keystone", [0])
    with pytest.raises(ConfigError, match="sample must be"):
        scorecard(s, "keystone", [3], sample=0)
    with pytest.raises(ConfigError, match="at least one strategy"):
        scorecard(s, [], [3])


def test_image_warnings_once_per_layering_not_per_pair() -> None:
    import warnings

    from layerlab.strategies.nixery import UnreachablePathsWarning

    recs = [
        {"path": S + "a" * 32 + "-a-1", "narSize": 5, "references": []},
        {"path": S + "b" * 32 + "-b-1", "narSize": 7, "references": []},
        {"path": S + "c" * 32 + "-c-1", "narSize": 9, "references": []},
    ]
    g = ClosureGraph.from_records(recs, [recs[0]["path"]], name="lost")  # b and c: no root reaches them
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        card = scorecard(ImageSet.from_graphs([g]), "nixery", [94, 2])
    assert [w.category for w in caught] == [UnreachablePathsWarning] * 2  # one per budget's layering
    assert set(card.pairs.dropna()) == {3}


@pytest.mark.slow
def test_update_pairs_on_dask_equal_the_in_process_run() -> None:
    from distributed import Client, LocalCluster

    s = random_set(4)
    strategies = ["keystone", "nixery-2022", "single-layer"]
    here = scorecard(s, strategies, [3, 50], progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            there = scorecard(s, strategies, [3, 50], executor=client, progress=False)
    pd.testing.assert_frame_equal(here, there)
