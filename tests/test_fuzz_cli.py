"""Fuzzing the flags of the analysis commands: ``pull``, ``sweep``, ``tune`` and ``plot``.

Random values for every option (budgets, rules, held images, grids and ranges, random sampling, search spaces and
methods, objectives, plot axes and resolutions) on a three-image set.  As everywhere: status 0, or
status 2 with one ``layerlab: error:`` line and no output file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import DATA
from .reliability_support import FUZZ, assert_clean_outcome, cli, count

IMAGES = ["img-make", "img-curl", "img-sqlite3"]
odd = st.sampled_from(["", "\0", "\n", " ", "-1", "0", "x", "1e400", "nan", "..", "a=b=c", "=", ",", ":::", "1:2:3:4"])
ints = st.one_of(st.integers(min_value=-3, max_value=12).map(str), odd)
budgets = st.one_of(
    st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=3).map(lambda xs: ",".join(map(str, xs))),
    st.lists(st.integers(min_value=-2, max_value=100), min_size=1, max_size=3).map(lambda xs: ",".join(map(str, xs))),
    odd,
)
#: Mostly valid, sometimes not: valid inputs reach the computation, invalid ones the checks.
mostly = st.sampled_from
params = st.sampled_from(
    ["size_threshold", "popularity_threshold", "merge_mode", "size_measure", "alpha", "nope", "popularity_percentile"]
)
values = st.one_of(
    st.sampled_from(
        [
            "1M",
            "10M",
            "100",
            "1000",
            "seed",
            "resort",
            "nar",
            "0.5",
            "99",
            "-5",
            "1G:1M:3",
            "1M:1G:3",
            "10:100000:4",
            "1:2:0",
            "1M,10M",
            "0.1:1:3",
        ]
    ),
    st.sampled_from(["1M,10M", "10,100", "1M:1G:3", "10:10000:3"]),
    odd,
)
grids = st.one_of(
    st.lists(st.tuples(params, values).map(lambda kv: f"{kv[0]}={kv[1]}"), max_size=2),
    st.sampled_from([["size_threshold=1M,10M"], ["popularity_threshold=10:10000:3"], []]),
)


@pytest.fixture(scope="module")
def imageset(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz-cli-set")
    for name in IMAGES:
        (d / f"{name}.graph.json").write_bytes((DATA / "debian" / "imageset" / f"{name}.graph.json").read_bytes())
    return d


def _check(argv: list, out: Path) -> None:
    count("fuzz inputs")
    rc, _, err = cli(argv)
    if assert_clean_outcome(rc, err):
        assert not out.exists() and not [p for p in out.parent.iterdir() if ".tmp-" in p.name], err


@FUZZ
@given(
    mostly(["nixery", "auto-layer", "keystone", "nope"]),
    budgets,
    mostly(["any", "chain", "any", "x"]),
    st.lists(st.one_of(st.sampled_from(IMAGES), st.sampled_from(IMAGES), odd), max_size=2),
)
def test_pull_flags(imageset, strategy, budget, rule, held):
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "never-written"
        argv = [
            "pull",
            imageset,
            "-s",
            strategy,
            f"--budget={budget.split(',')[0]}",
            "--rule",
            rule,
            "-p",
            DATA / "debian" / "popularity.json",
            "--json",
        ]
        for h in held:
            argv += [f"--held={h}"]
        _check(argv, out)


@FUZZ
@given(
    st.lists(mostly(["nixery", "auto-layer", "popularity-contest", "nixery", "nope"]), max_size=2),
    grids,
    budgets,
    st.one_of(st.none(), ints),
    st.sampled_from(["csv", "parquet", "txt"]),
    st.sampled_from([[], ["--rule", "chain"]]),
)
def test_sweep_flags(imageset, strategies, grid, budget, random_n, suffix, rule):
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / f"sweep.{suffix}"
        argv = ["sweep", imageset, f"--budgets={budget}", "--serial", "--no-cache", "--quiet", "-o", out, *rule]
        for s in strategies:
            argv += ["-s", s]
        for g in grid:
            argv += [f"--grid={g}"]
        if random_n is not None:
            argv += [f"--random={random_n}", "--seed=1"]
        _check(argv, out)


@FUZZ
@given(
    mostly(["nixery", "nixery", "auto-layer", "nope"]),
    grids,
    st.sampled_from(["grid", "random", "coordinate"]),
    st.one_of(st.integers(min_value=1, max_value=3).map(str), st.integers(min_value=1, max_value=3).map(str), odd),
    mostly(["pulled_bytes", "ratio", "storage_bytes", "pulled_bytes", "nope", ""]),
    st.integers(min_value=-1, max_value=60),
)
def test_tune_flags(imageset, strategy, space, method, steps, objective, budget):
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "points.csv"
        argv = [
            "tune",
            imageset,
            "-s",
            strategy,
            "--method",
            method,
            f"--steps={steps}",
            "--samples=3",
            f"--objective={objective}",
            f"--budget={budget}",
            "--serial",
            "--no-cache",
            "--quiet",
            "-o",
            out,
        ]
        for sp in space:
            argv += [f"--space={sp}"]
        _check(argv, out)


@settings(FUZZ, max_examples=min(FUZZ.max_examples, 30))  # each example draws a figure
@given(
    st.sampled_from(["layers", "tree", "sweep", "pull"]),
    st.one_of(st.integers(min_value=-5, max_value=20).map(str), odd),
    st.one_of(st.sampled_from(["10", "50", "0", "-1", "5000", "100000"]), odd),
    values,
    values,
)
def test_plot_flags(imageset, kind, budget, dpi, x, y):
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "fig.png"
        graph = imageset / f"{IMAGES[0]}.graph.json"
        if kind in ("layers", "tree"):
            argv = ["plot", kind, graph, "-s", "nixery", f"--budget={budget}"]
        elif kind == "sweep":
            argv = [
                "plot",
                "sweep",
                imageset,
                f"--x=size_threshold={x}",
                f"--y=popularity_threshold={y}",
                f"--budget={budget}",
            ]
        else:
            argv = ["plot", "pull", imageset, "--strategies=nixery", f"--budgets={budget}"]
        _check(argv + [f"--dpi={dpi}", "-o", out], out)
