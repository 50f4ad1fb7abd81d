"""Objectives over the scorecard's figures, the Pareto front, and tuning and sweeping against them."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pandas as pd
import pytest

from layerlab.cli import main
from layerlab.errors import ConfigError
from layerlab.imageset import default_imageset
from layerlab.metrics.objective import FIGURE_COLUMNS, add_figures, pareto_front, parse_objective
from layerlab.metrics.scorecard import scorecard
from layerlab.metrics.sweep import grid, sweep
from layerlab.metrics.tune import tune
from layerlab.strategies import get_strategy

from .metrics_fixtures import abc_set


# ------------------------------------------------------------ parsing
def test_parse_objectives() -> None:
    assert parse_objective("pull-chain").terms == (("pull_chain", 1.0),)
    assert parse_objective("update_any").kind == "column"
    assert (
        parse_objective("pulled_bytes").terms == (("pulled_bytes", 1.0),) and not parse_objective("ratio").needs_figures
    )
    w = parse_objective(" 2*pull-any + 0.5 * update-chain + storage_bytes")
    assert w.kind == "weighted" and w.terms == (("pull_any", 2.0), ("update_chain", 0.5), ("storage_bytes", 1.0))
    lex = parse_objective("lex:update-chain,pull-any")
    assert lex.kind == "lex" and lex.columns == ["update_chain", "pull_any"] and lex.needs_figures
    for bad in ["", "  ", "2*", "*pull-any", "pull-any+", "lex:", "lex:a,,b c", "-1*pull-any", "pull any"]:
        with pytest.raises(ConfigError):
            parse_objective(bad)


def test_keys_weighted_and_lexicographic() -> None:
    df = pd.DataFrame({"pull_chain": [1.5, 1.2, 1.4, 1.2], "update_chain": [1.9, 2.5, 1.9, 2.4], "strategy": "x"})
    assert parse_objective("pull-chain+update-chain").keys(df) == [3.4, 3.7, 3.3, 3.5999999999999996]
    keys = parse_objective("lex:pull-chain,update-chain").keys(df)
    assert min(range(4), key=lambda k: (keys[k], k)) == 3  # 1.2 ties, 2.4 < 2.5
    with pytest.raises(ConfigError, match="unknown objective 'strategy'"):
        parse_objective("strategy").keys(df)
    with pytest.raises(ConfigError, match="unknown objective 'update_any'"):
        parse_objective("update-any").keys(df)


# ------------------------------------------------------- Pareto front
def brute_front(df: pd.DataFrame, x: str, y: str) -> set[int]:
    keep = set()
    for i in range(len(df)):
        a = (df[x].iloc[i], df[y].iloc[i])
        dominated = any(
            (df[x].iloc[j] <= a[0] and df[y].iloc[j] <= a[1]) and (df[x].iloc[j] < a[0] or df[y].iloc[j] < a[1])
            for j in range(len(df))
        )
        if not dominated:
            keep.add(i)
    return keep


def test_pareto_front_equals_brute_force() -> None:
    rnd = random.Random(5)
    for n in [0, 1, 2, 5, 17, 60]:
        for _ in range(20):
            vals = [rnd.choice([1.0, 1.1, 1.2, 1.3, 1.5]) for _ in range(2 * n)]  # many ties and duplicates
            df = pd.DataFrame({"pull_any": vals[:n], "update_any": vals[n:]}, index=range(100, 100 + n))
            front = pareto_front(df, "pull-any", "update-any")
            assert {df.index.get_loc(i) for i in front.index} == brute_front(df, "pull_any", "update_any")
            assert front["pull_any"].is_monotonic_increasing
            assert front["update_any"].is_monotonic_decreasing
    with pytest.raises(ConfigError, match="no column 'pull_chain'"):
        pareto_front(pd.DataFrame({"a": [1]}))


# ---------------------------------------------- sweeping and tuning
def test_sweep_figures_agree_with_the_scorecard() -> None:
    s = abc_set()
    points = [get_strategy("per-path"), get_strategy("single-layer")]
    df = sweep(s, points, [94, 2], rules=["any", "chain"], executor="serial", cache=False, figures=True)
    card = scorecard(s, points, [94, 2])
    for row in df.itertuples():
        got = card[(card.spec == row.spec) & (card.budget == row.budget)].set_index("figure")["ratio"]
        assert [getattr(row, c) for c in FIGURE_COLUMNS.values()] == [got[f] for f in FIGURE_COLUMNS]
        assert row.ratio == getattr(row, f"pull_{row.rule}")
    # per-path at 94 (hand-computed in test_scorecard): update-chain 530 of 420 renamed bytes.
    first = df.iloc[1]
    assert (first.rule, first.repulled_chain_bytes, first.renamed_bytes, first.pairs) == ("chain", 530, 420, 8)
    plain = sweep(s, points, [94], executor="serial", cache=False)
    assert "update_any" not in plain.columns
    again = add_figures(plain, s, points, [94], pairs=3, seed=2)
    assert set(again["pairs"]) == {3}


def test_tune_on_a_figure_a_sum_and_a_lexicographic_order() -> None:
    s = default_imageset().subset(range(0, 30, 5))
    space = {"alpha": [0.0, 0.5, 2.0], "beta": [0.0, 1.0]}
    points = grid("keystone", space)
    card = scorecard(s, points, [10], sample=60, seed=3)
    wide = card.pivot_table(index="spec", columns="figure", values="ratio", sort=False)
    specs = [json.dumps(p.to_json(), sort_keys=True, separators=(",", ":")) for p in points]
    for objective, key in [
        ("update-chain", lambda f: f["update-chain"]),
        ("0.3*pull-chain+0.7*update-any", lambda f: 0.3 * f["pull-chain"] + 0.7 * f["update-any"]),
        ("lex:pull-any,update-chain", lambda f: (f["pull-any"], f["update-chain"])),
    ]:
        r = tune(
            "keystone", s, objective, 10, space=space, rule="chain", executor="serial", cache=False, pairs=60, seed=3
        )
        values = [key(wide.loc[spec]) for spec in specs]
        best = min(range(len(points)), key=lambda k: (values[k], k))
        assert r.strategy == points[best], objective
        first = values[best][0] if isinstance(values[best], tuple) else values[best]
        assert r.value == pytest.approx(first)
        assert {tuple(x) for x in r.front[["pull_chain", "update_chain"]].values} == {
            tuple(x)
            for x in pareto_front(r.points, "pull_chain", "update_chain")[["pull_chain", "update_chain"]].values
        }
    # Coordinate descent on a lexicographic objective compares whole keys.
    r = tune(
        "keystone",
        s,
        "lex:pull-any,update-chain",
        10,
        space=space,
        method="coordinate",
        executor="serial",
        cache=False,
        pairs=60,
        seed=3,
    )
    assert r.value <= r.baseline
    assert tune("keystone", s, "pulled_bytes", 10, space=space, executor="serial", cache=False).front is None


def test_cli_objective_pairs_and_front(tmp_path: Path, capsys) -> None:
    front = tmp_path / "front.csv"
    args = [
        "tune",
        "-s",
        "keystone",
        "--space",
        "alpha=0,1",
        "--space",
        "beta=0,1",
        "-b",
        "10",
        "--objective",
        "lex:pull-chain,update-chain",
        "--rule",
        "chain",
        "--pairs",
        "40",
        "--serial",
        "--no-cache",
        "-q",
        "--front",
        str(front),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Pareto front (" in out and "pull_chain against update_chain" in out
    table = pd.read_csv(front)
    assert len(table) >= 1 and set(table["pairs"]) == {40}
    assert main([*args[:-2], "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["objective"] == "lex:pull-chain,update-chain" and len(doc["front"]) == len(table)
    sweep_front = tmp_path / "sweep-front.csv"
    out_file = tmp_path / "sweep.csv"
    assert (
        main(
            [
                "sweep",
                "-s",
                "keystone",
                "--grid",
                "alpha=0,1",
                "--budgets",
                "10",
                "--rule",
                "chain",
                "--figures",
                "--pairs",
                "30",
                "--serial",
                "--no-cache",
                "-q",
                "-o",
                str(out_file),
                "--front",
                str(sweep_front),
            ]
        )
        == 0
    )
    swept = pd.read_csv(out_file)
    assert {"pull_any", "pull_chain", "update_any", "update_chain"} <= set(swept.columns)
    assert len(pd.read_csv(sweep_front)) >= 1
    capsys.readouterr()
    for argv, message in [
        (
            ["tune", "--objective", "pulled_bytes", "--front", str(front)],
            "--front: a Pareto front needs a scorecard objective",
        ),
        (["tune", "--objective", "2*", "--serial"], "expected NAME, WEIGHT*NAME"),
        (["sweep", "--figures", "--pairs", "0"], "--pairs must be at least 1"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_itertools_grid_covers_the_space() -> None:
    # The tuning test's brute force relies on grid() enumerating the whole product.
    space = {"alpha": [0.0, 0.5, 2.0], "beta": [0.0, 1.0]}
    got = {(p.alpha, p.beta) for p in grid("keystone", space)}
    assert got == set(itertools.product(space["alpha"], space["beta"]))
