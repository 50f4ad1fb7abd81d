"""Sweeps: the fast path equals the straightforward path, executors, cache, points."""

from __future__ import annotations

import concurrent.futures as cf
import importlib
from dataclasses import dataclass
from pathlib import Path

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerlab.errors import ConfigError
from layerlab.graph import ClosureGraph
from layerlab.imageset import ImageSet, default_imageset
from layerlab.metrics import layer_imageset, pull_cost
from layerlab.metrics.storage import registry_storage
from layerlab.metrics.sweep import SweepEvaluator, default_space, grid, log_range, sample, sweep, write_frame
from layerlab.popularity import Popularity
from layerlab.strategies import Layer, LayerBatch, Nixery, Strategy, get_strategy, make_layer, param


@dataclass(frozen=True, eq=False)
class PerRoot(Strategy):
    """A strategy outside the registry: each root's closure minus earlier ones, in root order."""

    name = "per-root-test"

    def _group(self, graph: ClosureGraph, context, budget: int) -> list[Layer]:
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


@dataclass(frozen=True, eq=False)
class Wide(Strategy):
    name = "wide-test"
    n: int = param("int", 5, minimum=0, maximum=10**6)
    k: int = param("int", 3, minimum=0, maximum=10)
    x: float = param("float", 0.5, minimum=0, maximum=1)

    def _group(self, graph, context, budget):
        return [make_layer(graph, range(len(graph.paths)))]


@pytest.fixture(scope="module")
def debian():
    return default_imageset()


def straightforward(imageset, strategy, budget, rule):
    lay = layer_imageset(strategy, imageset, budget)
    return pull_cost(lay, rule).summary, registry_storage(lay).summary


NIXERY_POINTS = [
    *grid(
        "nixery", {"size_threshold": [10**6, 3 * 10**7, 10**8, 10**9], "popularity_threshold": [5, 100, 1000, 10**5]}
    ),
    get_strategy("nixery-2022"),
    get_strategy("nixery", popularity_percentile=99.0),
    get_strategy("nixery", popularity_by_name=True, size_measure="nar", size_threshold=10**6),
    get_strategy("nixery", merge_mode="resort", popularity_threshold=50),
]


@pytest.mark.parametrize("rule", ["any", "chain"])
def test_fast_path_equals_straightforward_path(debian, rule: str) -> None:
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


def test_rating_layer_order_equals_straightforward_path(debian) -> None:
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


def test_nixery_2019_figures_from_a_sweep(debian) -> None:
    df = sweep(debian, "nixery", [94, 30, 10], executor="serial", cache=False)
    assert df["ratio"].round(2).tolist() == [1.77, 1.77, 1.81]


def test_generic_strategy_and_executors_agree(debian) -> None:
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


def test_cache_makes_a_rerun_instant(debian, tmp_path: Path, monkeypatch) -> None:
    small = debian.subset(["img-curl", "img-git"])
    pts = grid("nixery", {"popularity_threshold": [100, 1000]})
    first = sweep(small, pts, [10], executor="serial", cache_dir=tmp_path)
    files = list(tmp_path.glob("*.parquet"))
    assert len(files) == 1 and len(files[0].stem) == 64

    def boom(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr(importlib.import_module("layerlab.metrics.sweep"), "run_plan", boom)
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
    assert [(s.size_threshold, s.popularity_threshold) for s in g[:4]] == [
        (10**6, 1),
        (10**6, 2),
        (10**6, 3),
        (10**7, 1),
    ]
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


def test_default_space_is_data_aware(debian) -> None:
    sp = default_space("nixery", debian, steps=10)
    assert sorted(sp) == ["popularity_threshold", "size_threshold"]
    biggest = max(img.bytes for img in debian)
    assert sp["size_threshold"][0] == 10_000 and sp["size_threshold"][-1] == biggest
    assert sp["popularity_threshold"][-1] == max(debian.popularity.counts.values()) + 1
    # ten log-spaced values plus the starting value 100,000,000
    assert len(sp["size_threshold"]) == 11 and 10**8 in sp["size_threshold"]
    ratios = [
        b / a for a, b in zip(sp["popularity_threshold"], sp["popularity_threshold"][1:]) if b != 1000 and a != 1000
    ]
    assert max(ratios) / min(ratios) < 1.5  # evenly spaced on a log scale
    # A wide integer range without a declared log scale is log-spaced too; a narrow one is linear.
    assert default_space(Wide(), steps=4) == {
        "n": [1, 5, 100, 10**4, 10**6],
        "k": [0, 3, 7, 10],
        "x": [0.0, 1 / 3, 0.5, 2 / 3, 1.0],
    }
    sp2 = default_space("nixery", debian, include=["merge_mode", "popularity_by_name"])
    assert sp2 == {"popularity_by_name": [False, True], "merge_mode": ["seed", "resort"]}


def test_bad_sweep_arguments(debian) -> None:
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


def test_evaluator_reuses_splits(debian) -> None:
    ev = SweepEvaluator(debian)
    for s in grid("nixery", {"size_threshold": [10**9, 2 * 10**9]}):
        ev.layer_ids(s, 94)
    splits = [k for memo in ev.memos for k in memo.keys() if k[0] == "nixery initial layers"]
    assert len(splits) == len(debian)  # both thresholds flag the same paths: one split per image


# ------------------------------------------------------------------ property


@st.composite
def random_sets(draw):
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
    st.lists(
        st.tuples(
            st.integers(0, 200),
            st.integers(0, 25),
            st.sampled_from(["seed", "resort"]),
            st.sampled_from(["closure", "nar"]),
        ),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.integers(1, 6), min_size=1, max_size=3, unique=True),
)
def test_fast_path_equals_straightforward_on_random_graphs(s, configs, budgets) -> None:
    import warnings

    pts = [
        get_strategy("nixery", size_threshold=a, popularity_threshold=b, merge_mode=m, size_measure=sm)
        for a, b, m, sm in configs
    ]
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


def test_cache_key_covers_the_code(debian) -> None:
    from layerlab.metrics.sweep import _code_digest, sweep_key
    from layerlab.strategies import Context
    from layerlab.strategies.nixery import Nixery

    files = importlib.import_module("layerlab.strategies.nixery").__file__
    ctx = Context(popularity=debian.popularity)
    key = sweep_key(debian, [get_strategy("nixery")], [94], ["any"], ctx)
    assert key == sweep_key(debian, [get_strategy("nixery")], [94], ["any"], ctx)
    assert _code_digest([Nixery]) != _code_digest([PerRoot])  # a strategy's module is part of the key
    assert files and _code_digest([Nixery]) == _code_digest([Nixery, Nixery])


def test_the_sweep_runs_nixerys_one_merge_through_the_batch_hook(debian, monkeypatch) -> None:
    """Nixery's merge has one home: the sweep reaches it through ``Nixery.group_batch``."""
    import layerlab.strategies.nixery as nixery_module

    calls = []
    original = nixery_module.merge_groups

    def counting(ratings, budget, mode):
        calls.append((budget, mode))
        return original(ratings, budget, mode)

    monkeypatch.setattr(nixery_module, "merge_groups", counting)
    small = debian.subset(["img-curl", "img-git"])
    points = [get_strategy("nixery"), get_strategy("nixery", merge_mode="resort")]
    df = sweep(small, points, [94, 2], executor="serial", cache=False)
    assert sorted(set(calls)) == [(2, "resort"), (2, "seed"), (94, "resort"), (94, "seed")]
    for row, (s, b) in zip(df.itertuples(), [(s, b) for s in ("seed", "resort") for b in (94, 2)]):
        expected = straightforward(small, get_strategy("nixery", merge_mode=s), b, "any")[0]["pulled_bytes"]
        assert row.pulled_bytes == expected


@dataclass(frozen=True, eq=False)
class HalfAndHalf(Strategy):
    """A strategy with its own batch hook: the first half of the paths, then the rest."""

    name = "half-test"

    def _group(self, graph: ClosureGraph, context, budget: int) -> list[Layer]:
        n = len(graph.paths)
        if budget == 1 or n == 1:
            return [make_layer(graph, range(n))]
        return [make_layer(graph, range(n // 2)), make_layer(graph, range(n // 2, n))]

    def _group_batch(self, graph: ClosureGraph, context, budgets, memo) -> LayerBatch:
        n = len(graph.paths)
        memo["calls"] = (memo.get("calls") or 0) + 1
        if n == 1:
            return LayerBatch([(0,)], [[(0,)] for _ in budgets], key="one")
        halves = [tuple(range(n // 2)), tuple(range(n // 2, n))]
        return LayerBatch(halves, [[(0, 1)] if b == 1 else [(0,), (1,)] for b in budgets], key="halves")


def test_any_strategy_may_implement_the_batch_hook(debian) -> None:
    small = debian.subset(["img-curl", "img-git", "img-perl"])
    ev = SweepEvaluator(small)
    df = sweep(small, [HalfAndHalf()], [1, 5], rules=["any", "chain"], executor="serial", cache=False)
    rows = iter(df.itertuples())
    for b in (1, 5):
        for rule in ("any", "chain"):
            assert next(rows).pulled_bytes == straightforward(small, HalfAndHalf(), b, rule)[0]["pulled_bytes"]
    ev.layer_ids_batch(HalfAndHalf(), [1, 5])
    assert [memo.get("calls") for memo in ev.memos] == [1, 1, 1]  # one hook call per image for both budgets
    # The hook's result is checked like group()'s when asked.
    g = small.images[0].graph
    assert HalfAndHalf().group_batch(g, budgets=[1, 5]).layer_indices(0) == [tuple(range(len(g.paths)))]


def test_the_cache_key_covers_every_module_of_the_package(tmp_path: Path, debian, monkeypatch) -> None:
    """Editing graph.py (not a strategy or metrics module) in a copy of the package changes the digest and the key."""
    import shutil

    sweep_module = importlib.import_module("layerlab.metrics.sweep")
    from layerlab.metrics.sweep import package_digest, sweep_key
    from layerlab.strategies import Context

    package = Path(importlib.import_module("layerlab.graph").__file__).parent
    copy = tmp_path / "layerlab"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = package_digest(copy)
    assert before == package_digest(package)
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "x.pyc").write_bytes(b"byte code")  # caches do not count
    assert package_digest(copy) == before
    graph_py = copy / "graph.py"
    # The sweep's cache key, computed over the copy instead of the installed package.
    monkeypatch.setattr(sweep_module, "package_digest", lambda root=None: package_digest(copy))
    key_before = sweep_key(debian, [get_strategy("nixery")], [94], ["any"], Context(debian.popularity))
    graph_py.write_text(graph_py.read_text() + "\n# changed\n")
    assert package_digest(copy) != before
    assert sweep_key(debian, [get_strategy("nixery")], [94], ["any"], Context(debian.popularity)) != key_before
    graph_py.write_text(graph_py.read_text().removesuffix("\n# changed\n"))
    assert package_digest(copy) == before
    (copy / "strategies" / "_util.py").write_text((copy / "strategies" / "_util.py").read_text() + "\n")
    assert package_digest(copy) != before


def test_a_sweep_is_cut_into_pieces_small_enough_for_progress(debian) -> None:
    from layerlab.metrics.sweep import _pieces, plan_sweep

    space = {"size_threshold": log_range(10**6, 10**9, 10), "popularity_threshold": log_range(10, 10**5, 10)}
    points = grid("nixery", space)
    plan = plan_sweep(debian, points, [94, 30, 10])
    pieces = _pieces(plan, 2)
    assert len(pieces) == 25 and max(p.points for p in pieces) == 3 * 4  # 4 % of the sweep per piece
    assert [c for p in pieces for c in p.configs] == [(type(s), dict(s.values)) for s in points]  # in order, each once


@dataclass(frozen=True, eq=False)
class OneLayerNixery(Nixery):
    """A subclass that changes the grouping but inherits Nixery's batch hook."""

    name = "one-layer-nixery-test"

    def _group(self, graph: ClosureGraph, context, budget: int) -> list[Layer]:
        return [make_layer(graph, range(len(graph.paths)))]


def test_a_subclass_overriding_group_is_not_bypassed_by_an_inherited_batch_hook(debian) -> None:
    small = debian.subset(["img-curl", "img-git"])
    df = sweep(small, [OneLayerNixery()], [94], executor="serial", cache=False)
    assert df.pulled_bytes.item() == straightforward(small, OneLayerNixery(), 94, "any")[0]["pulled_bytes"]
    assert df.max_layers.item() == 1


def test_every_cache_follows_one_rule(tmp_path, monkeypatch) -> None:
    from layerlab.image.store import default_store_dir
    from layerlab.metrics.sweep import default_cache_dir as sweep_cache
    from layerlab.sources.nix import default_cache_dir as nix_cache

    def places() -> tuple[Path, Path, Path]:
        return nix_cache(), sweep_cache(), default_store_dir()

    for name in ("LAYERLAB_CACHE_DIR", "LAYERLAB_STORE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home = tmp_path / "home" / ".cache" / "layerlab"
    assert places() == (home, home / "sweep", home / "store")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    xdg = tmp_path / "xdg" / "layerlab"
    assert places() == (xdg, xdg / "sweep", xdg / "store")
    monkeypatch.setenv("LAYERLAB_CACHE_DIR", str(tmp_path / "ll"))
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "blobs"))
    assert places() == (tmp_path / "ll", tmp_path / "ll" / "sweep", tmp_path / "blobs")
