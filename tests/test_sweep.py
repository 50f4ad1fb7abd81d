"""Sweeps: the fast path equals the straightforward path, executors, cache, points."""

from __future__ import annotations

import concurrent.futures as cf
import importlib
from pathlib import Path

import orjson
import pandas as pd
import pytest

from layerlab.errors import ConfigError
from layerlab.graph import ClosureGraph
from layerlab.imageset import default_imageset
from layerlab.metrics import layer_imageset, pull_cost
from layerlab.metrics.storage import registry_storage
from layerlab.metrics.sweep import Evaluator, default_space, grid, log_range, sample, sweep, write_frame
from layerlab.strategies import Layer, Param, Strategy, get_strategy, make_layer


class PerRoot(Strategy):
    """A strategy outside the registry: each root's closure minus earlier ones, in root order."""

    name = "per-root-test"
    params = ()

    def _group(self, graph: ClosureGraph, context, budget: int) -> list[Layer]:  # noqa: ANN001
        seen: set[int] = set()
        out = []
        for r in graph.roots[: budget - 1]:
            mine = [i for i in graph.closure_of([r]) if i not in seen]
            seen.update(mine)
            if mine:
                out.append(make_layer(graph, mine))
        rest = [i for i in range(len(graph.paths)) if i not in seen]
        if rest:
            out.append(make_layer(graph, rest))
        return out


class Wide(Strategy):
    name = "wide-test"
    params = (
        Param("n", "int", 5, minimum=0, maximum=10**6),
        Param("k", "int", 3, minimum=0, maximum=10),
        Param("x", "float", 0.5, minimum=0, maximum=1),
    )

    def _group(self, graph, context, budget):  # noqa: ANN001, ANN202
        return [make_layer(graph, range(len(graph.paths)))]


@pytest.fixture(scope="module")
def debian():
    return default_imageset()


def straightforward(imageset, strategy, budget, rule):  # noqa: ANN001, ANN201
    lay = layer_imageset(strategy, imageset, budget)
    return pull_cost(lay, rule).summary, registry_storage(lay).summary


NIXERY_POINTS = [
    *grid("nixery", {"size_threshold": [10**6, 3 * 10**7, 10**8, 10**9], "popularity_threshold": [5, 100, 1000, 10**5]}),
    get_strategy("nixery-2022"),
    get_strategy("nixery", popularity_percentile=99.0),
    get_strategy("nixery", popularity_by_name=True, size_measure="nar", size_threshold=10**6),
    get_strategy("nixery", merge_mode="resort", popularity_threshold=50),
]


@pytest.mark.parametrize("rule", ["any", "chain"])
def test_fast_path_equals_straightforward_path(debian, rule: str) -> None:  # noqa: ANN001
    budgets = [94, 30, 10, 2, 1]
    df = sweep(debian, NIXERY_POINTS, budgets, rules=[rule], executor="serial", cache=False)
    assert len(df) == len(NIXERY_POINTS) * len(budgets)
    for row, (s, b) in zip(df.itertuples(), [(s, b) for s in NIXERY_POINTS for b in budgets]):
        pull, storage = straightforward(debian, s, b, rule)
        assert row.spec == orjson.dumps(s.to_json(), option=orjson.OPT_SORT_KEYS).decode()
        assert (row.budget, row.rule) == (b, rule)
        assert row.pulled_bytes == pull["pulled_bytes"], (s, b)
        assert row.pulled_layers == pull["pulled_layers"]
        assert row.ideal_bytes == pull["ideal_bytes"]
        assert row.storage_bytes == storage["unique_layer_bytes"]
        assert row.distinct_layers == storage["layers"]
        assert row.ideal_bytes <= row.pulled_bytes <= debian.total_bytes
        assert row.max_layers <= b


def test_rating_layer_order_equals_straightforward_path(debian) -> None:  # noqa: ANN001
    points = [p.replace(layer_order="rating") for p in (NIXERY_POINTS[0], NIXERY_POINTS[5], NIXERY_POINTS[-1])]
    df = sweep(debian, points, [94, 10], rules=["chain", "any"], executor="serial", cache=False)
    rows = iter(df.itertuples())
    for s in points:
        for b in (94, 10):
            lay = layer_imageset(s, debian, b)
            for rule in ("chain", "any"):
                assert next(rows).pulled_bytes == pull_cost(lay, rule).summary["pulled_bytes"]
    plain = sweep(debian, NIXERY_POINTS[:1], [94], rules=["chain"], executor="serial", cache=False)
    assert plain.pulled_bytes.item() != df.pulled_bytes.iloc[0]  # the order matters under ChainID


def test_nixery_2019_figures_from_a_sweep(debian) -> None:  # noqa: ANN001
    df = sweep(debian, "nixery", [94, 30, 10], executor="serial", cache=False)
    assert df["ratio"].round(2).tolist() == [1.77, 1.77, 1.81]


def test_generic_strategy_and_executors_agree(debian) -> None:  # noqa: ANN001
    small = debian.subset(["img-curl", "img-git", "img-perl", "img-vim"])
    points = [PerRoot(), get_strategy("nixery"), *grid("nixery", {"popularity_threshold": [10, 100, 1000]})]
    serial = sweep(small, points, [3, 94], rules=["any", "chain"], executor="serial", cache=False)
    for s, b in [(PerRoot(), 3), (PerRoot(), 94)]:
        for rule in ("any", "chain"):
            row = serial[(serial.strategy == "per-root-test") & (serial.budget == b) & (serial.rule == rule)]
            assert row.pulled_bytes.item() == straightforward(small, s, b, rule)[0]["pulled_bytes"]
    with cf.ThreadPoolExecutor(2) as pool:
        given = sweep(small, points, [3, 94], rules=["any", "chain"], executor=pool, cache=False)
    procs = sweep(small, points, [3, 94], rules=["any", "chain"], workers=2, cache=False)
    threads = sweep(small, points, [3, 94], rules=["any", "chain"], executor="thread", workers=2, cache=False)
    for other in (given, procs, threads):
        pd.testing.assert_frame_equal(serial, other)


def test_cache_makes_a_rerun_instant(debian, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    small = debian.subset(["img-curl", "img-git"])
    pts = grid("nixery", {"popularity_threshold": [100, 1000]})
    first = sweep(small, pts, [10], executor="serial", cache_dir=tmp_path)
    files = list(tmp_path.glob("*.parquet"))
    assert len(files) == 1 and len(files[0].stem) == 64

    def boom(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("recomputed")

    monkeypatch.setattr(importlib.import_module("layerlab.metrics.sweep"), "_run_chunk", boom)
    again = sweep(small, pts, [10], executor="serial", cache_dir=tmp_path)
    pd.testing.assert_frame_equal(first, again)
    # Any change of input is a different key: budgets, parameters, popularity, images.
    for args in [
        (small, pts, [11]),
        (small, grid("nixery", {"popularity_threshold": [100, 1001]}), [10]),
        (small.with_popularity(None), pts, [10]),
        (debian.subset(["img-git", "img-curl"]), pts, [10]),
    ]:
        with pytest.raises(AssertionError, match="recomputed"):
            sweep(*args, executor="serial", cache_dir=tmp_path)
    monkeypatch.undo()
    # A damaged cache entry is recomputed and rewritten.
    files[0].write_bytes(b"not parquet")
    pd.testing.assert_frame_equal(first, sweep(small, pts, [10], executor="serial", cache_dir=tmp_path))


def test_points() -> None:
    g = grid("nixery", {"size_threshold": ["1M", "10M"], "popularity_threshold": [1, 2, 3]})
    assert [(s.size_threshold, s.popularity_threshold) for s in g[:4]] == [(10**6, 1), (10**6, 2), (10**6, 3), (10**7, 1)]
    assert len(g) == 6
    with pytest.raises(ConfigError, match="size_threshold=-1 is below the minimum 0"):
        grid("nixery", {"size_threshold": [-1]})
    with pytest.raises(ConfigError, match="unknown parameter nope"):
        grid("nixery", {"nope": [1]})
    a = sample("nixery", 5, {"size_threshold": (10**5, 10**9), "merge_mode": ["seed", "resort"]}, seed=7)
    b = sample("nixery", 5, {"size_threshold": (10**5, 10**9), "merge_mode": ["seed", "resort"]}, seed=7)
    assert a == b and len({s.size_threshold for s in a}) == 5
    assert all(10**5 <= s.size_threshold <= 10**9 and s.merge_mode in ("seed", "resort") for s in a)
    assert log_range(10, 10**5, 5) == [10, 100, 1000, 10**4, 10**5]


def test_default_space_is_data_aware(debian) -> None:  # noqa: ANN001
    sp = default_space("nixery", debian, steps=10)
    assert sorted(sp) == ["popularity_threshold", "size_threshold"]
    biggest = max(img.bytes for img in debian)
    assert sp["size_threshold"][0] == 10_000 and sp["size_threshold"][-1] == biggest
    assert sp["popularity_threshold"][-1] == max(debian.popularity.counts.values()) + 1
    # ten log-spaced values plus the starting value 100,000,000
    assert len(sp["size_threshold"]) == 11 and 10**8 in sp["size_threshold"]
    ratios = [b / a for a, b in zip(sp["popularity_threshold"], sp["popularity_threshold"][1:]) if b != 1000 and a != 1000]
    assert max(ratios) / min(ratios) < 1.5  # evenly spaced on a log scale
    # A wide integer range without a declared log scale is log-spaced too; a narrow one is linear.
    assert default_space(Wide(), steps=4) == {"n": [1, 5, 100, 10**4, 10**6], "k": [0, 3, 7, 10], "x": [0.0, 1 / 3, 0.5, 2 / 3, 1.0]}
    sp2 = default_space("nixery", debian, include=["merge_mode", "popularity_by_name"])
    assert sp2 == {"popularity_by_name": [False, True], "merge_mode": ["seed", "resort"]}


def test_bad_sweep_arguments(debian) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="budget must be an integer of at least 1, not 0"):
        sweep(debian, "nixery", [0], cache=False)
    with pytest.raises(ConfigError, match="unknown rule 'x'"):
        sweep(debian, "nixery", [1], rules=["x"], cache=False)
    with pytest.raises(ConfigError, match="executor must be"):
        sweep(debian, "nixery", [1], executor="gpu", cache=False)
    with pytest.raises(ConfigError, match="unknown strategy 'nope'"):
        sweep(debian, "nope", [1], cache=False)


def test_write_frame_csv_and_parquet(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    write_frame(df, tmp_path / "sub" / "x.csv")
    assert (tmp_path / "sub" / "x.csv").read_text() == "a,b\n1,x\n2,\n"
    write_frame(df, tmp_path / "x.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "x.parquet"), df)
    first = (tmp_path / "x.parquet").read_bytes()
    write_frame(df, tmp_path / "x.parquet")
    assert (tmp_path / "x.parquet").read_bytes() == first


def test_evaluator_reuses_splits(debian) -> None:  # noqa: ANN001
    ev = Evaluator(debian)
    for s in grid("nixery", {"size_threshold": [10**9, 2 * 10**9]}):
        ev.layer_ids(s, 94)
    splits = [k for k in ev._memo if isinstance(k, tuple) and len(k) == 3 and k[1] == "split"]
    assert len(splits) == len(debian)  # both thresholds flag the same paths: one split per image


# ------------------------------------------------------------------ property
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from layerlab.imageset import ImageSet  # noqa: E402
from layerlab.popularity import Popularity  # noqa: E402


@st.composite
def random_sets(draw):  # noqa: ANN201
    n = draw(st.integers(1, 9))
    names = [f"/nix/store/{chr(97 + i) * 4}-p{i}-1" for i in range(n)]
    sizes = draw(st.lists(st.integers(0, 50), min_size=n, max_size=n))
    graphs = []
    for k in range(draw(st.integers(1, 3))):
        members = sorted(draw(st.sets(st.integers(0, n - 1), min_size=1)))
        recs = []
        for i in members:
            refs = draw(st.sets(st.sampled_from(members), max_size=3))  # cycles and self-references allowed
            recs.append({"path": names[i], "narSize": sizes[i], "references": [names[j] for j in sorted(refs)]})
        roots = sorted(draw(st.sets(st.sampled_from(members), min_size=1, max_size=2)))  # may leave paths unreachable
        graphs.append(ClosureGraph.from_records(recs, [names[i] for i in roots], name=f"img{k}"))
    counts = draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))
    pop = Popularity({f"p{i}-1": c for i, c in enumerate(counts)})
    return ImageSet.from_graphs(graphs, popularity=pop)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    random_sets(),
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 25), st.sampled_from(["seed", "resort"]), st.sampled_from(["closure", "nar"])), min_size=1, max_size=4),
    st.lists(st.integers(1, 6), min_size=1, max_size=3, unique=True),
)
def test_fast_path_equals_straightforward_on_random_graphs(s, configs, budgets) -> None:  # noqa: ANN001
    import warnings

    pts = [get_strategy("nixery", size_threshold=a, popularity_threshold=b, merge_mode=m, size_measure=sm) for a, b, m, sm in configs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = sweep(s, pts, budgets, rules=["any", "chain"], executor="serial", cache=False, progress=False)
        rows = iter(df.itertuples())
        for p in pts:
            for b in budgets:
                lay = layer_imageset(p, s, b)
                for rule in ("any", "chain"):
                    row = next(rows)
                    assert row.pulled_bytes == pull_cost(lay, rule).summary["pulled_bytes"]
                    assert row.storage_bytes == registry_storage(lay).summary["unique_layer_bytes"]


def test_cache_key_covers_the_code(debian) -> None:  # noqa: ANN001
    from layerlab.metrics.sweep import _code_digest, sweep_key
    from layerlab.strategies import Context
    from layerlab.strategies.nixery import Nixery

    files = importlib.import_module("layerlab.strategies.nixery").__file__
    ctx = Context(popularity=debian.popularity)
    key = sweep_key(debian, [get_strategy("nixery")], [94], ["any"], ctx)
    assert key == sweep_key(debian, [get_strategy("nixery")], [94], ["any"], ctx)
    assert _code_digest([Nixery]) != _code_digest([PerRoot])  # a strategy's module is part of the key
    assert files and _code_digest([Nixery]) == _code_digest([Nixery, Nixery])
