"""The pull, sweep and tune commands on a hand-computed image set and the bundled one."""

from __future__ import annotations

import io
import json
from pathlib import Path

import orjson
import pandas as pd
import pytest

from layerlab.cli import main
from layerlab.imageset import default_imageset
from layerlab.metrics import layer_imageset, pull_cost
from layerlab.metrics.sweep import grid, sweep
from layerlab.strategies import get_strategy

S = "/nix/store/"
SIZES = {"a": 10, "b": 20, "c": 30, "d": 40, "e": 50}


def path(p: str) -> str:
    return f"{S}{p}{p}{p}-{p}-1"


def write(d: Path, name: str, refs: dict[str, str], root: str) -> None:
    recs = [{"path": path(p), "narSize": SIZES[p], "references": [path(r) for r in rs]} for p, rs in refs.items()]
    (d / f"{name}.graph.json").write_text(json.dumps({"exportReferencesGraph": {"graph": [path(root)]}, "graph": recs}))


@pytest.fixture()
def abc(tmp_path: Path) -> Path:
    """1-one: a->b->c (60 bytes); 2-two: d->b->c (90); 3-three: e->c (80).  Union 150, sum 230."""
    d = tmp_path / "abc"
    d.mkdir()
    write(d, "1-one", {"a": "b", "b": "c", "c": ""}, "a")
    write(d, "2-two", {"d": "b", "b": "c", "c": ""}, "d")
    write(d, "3-three", {"e": "c", "c": ""}, "e")
    return d


def test_pull_prints_exact_integers(abc: Path, capsys) -> None:
    assert main(["pull", str(abc), "--strategy", "single-layer"]) == 0
    out = capsys.readouterr().out
    assert "pulled    230 bytes in 3 layers\n" in out
    assert "ideal     150 bytes" in out
    assert "ratio     1.5333\n" in out
    assert main(["pull", str(abc), "--strategy", "per-path", "--held", "2-two", "--per-image"]) == 0
    out = capsys.readouterr().out
    assert "pulled    60 bytes in 2 layers\n" in out and "ideal     60 bytes" in out and "ratio     1.0000" in out
    assert "holding 2-two" in out
    lines = [ln.split() for ln in out.splitlines() if ln.startswith(("1-one", "2-two", "3-three"))]
    assert [(ln[0], ln[3]) for ln in lines] == [("1-one", "10"), ("2-two", "0"), ("3-three", "50")]


def test_pull_json_matches_the_api(capsys) -> None:
    assert main(["pull", "--strategy", "nixery", "--budget", "10", "--rule", "chain", "--json", "--per-image"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    s = default_imageset()
    sm = pull_cost(layer_imageset(get_strategy("nixery"), s, 10), "chain").summary
    assert doc["pulled_bytes"] == sm["pulled_bytes"] and doc["ideal_bytes"] == sm["ideal_bytes"] == s.union_bytes
    assert doc["rule"] == "chain" and len(doc["per_image"]) == 30


def test_pull_with_a_popularity_file(abc: Path, tmp_path: Path, capsys) -> None:
    pop = tmp_path / "pop.json"
    pop.write_text('{"c-1": 1000}')
    # Nixery with c popular: one = [{a,b},{c}], two = [{b,d},{c}], three = [{e},{c}]: 60 + 60 + 50.
    assert main(["pull", str(abc), "-s", "nixery", "-p", str(pop), "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["pulled_bytes"] == 170
    assert main(["pull", str(abc), "-s", "nixery", "--json"]) == 0  # nothing popular: one layer per image
    assert orjson.loads(capsys.readouterr().out)["pulled_bytes"] == 230


def test_pull_errors(abc: Path, capsys) -> None:
    assert main(["pull", str(abc), "--held", "nope"]) == 2
    assert "no image named 'nope'" in capsys.readouterr().err
    assert main(["pull", str(abc / "missing")]) == 2
    assert "no such directory or manifest file" in capsys.readouterr().err


def test_sweep_writes_csv_and_parquet(tmp_path: Path, capsys) -> None:
    args = [
        "sweep",
        "-s",
        "nixery",
        "--grid",
        "popularity_threshold=10,1000",
        "--grid",
        "size_threshold=1M:100M:3",
        "--budgets",
        "94,10",
        "--rule",
        "any",
        "--rule",
        "chain",
        "--serial",
        "--cache-dir",
        str(tmp_path / "c"),
    ]
    assert main([*args, "-o", str(tmp_path / "s.parquet")]) == 0
    assert "6 configurations x 2 budgets over 30 images" in capsys.readouterr().err
    df = pd.read_parquet(tmp_path / "s.parquet")
    pts = grid("nixery", {"popularity_threshold": [10, 1000], "size_threshold": [10**6, 10**7, 10**8]})
    expect = sweep(default_imageset(), pts, [94, 10], rules=["any", "chain"], executor="serial", cache=False)
    pd.testing.assert_frame_equal(df, expect)
    assert main([*args, "-o", str(tmp_path / "s.csv"), "-q"]) == 0
    csv = pd.read_csv(tmp_path / "s.csv")
    assert csv["pulled_bytes"].tolist() == expect["pulled_bytes"].tolist()


def test_sweep_random_and_errors(tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "sweep",
                "-s",
                "nixery",
                "--grid",
                "size_threshold=1M:1G:2",
                "--random",
                "4",
                "--seed",
                "2",
                "--serial",
                "--no-cache",
                "-q",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    df = pd.read_csv(__import__("io").StringIO(out))
    assert len(df) == 4 and df["size_threshold"].between(10**6, 10**9).all()
    assert main(["sweep", "-s", "nixery", "--grid", "size_threshold"]) == 2
    assert "expected KEY=V1,V2 or KEY=LO:HI:N" in capsys.readouterr().err
    assert main(["sweep", "-s", "nixery", "--budgets", "9x"]) == 2
    assert "--budgets: expected comma-separated integers" in capsys.readouterr().err
    assert main(["sweep", "-s", "nixery", "--random", "3"]) == 2
    assert "--random needs --grid ranges" in capsys.readouterr().err


def test_tune_reports_and_writes(tmp_path: Path, capsys) -> None:
    args = [
        "tune",
        "-s",
        "nixery",
        "--budget",
        "30",
        "--space",
        "popularity_threshold=3,30,300,3000",
        "--serial",
        "--no-cache",
    ]
    assert (
        main([*args, "--json", "-o", str(tmp_path / "pts.csv"), "--sensitivity", str(tmp_path / "sens.parquet")]) == 0
    )
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["best"]["params"]["popularity_threshold"] in (3, 30, 300, 3000)
    pts = pd.read_csv(tmp_path / "pts.csv")
    assert doc["value"] == pts["pulled_bytes"].min() and len(pts) == 5
    sens = pd.read_parquet(tmp_path / "sens.parquet")
    assert sens["param"].unique().tolist() == ["popularity_threshold"]
    assert main([*args]) == 0
    out = capsys.readouterr().out
    assert f"pulled_bytes {int(doc['value'])} on debian-30" in out and "sensitivity" in out


def test_sweep_several_strategies_applies_parameters_where_declared(tmp_path: Path, capsys) -> None:
    out = tmp_path / "two.csv"
    assert (
        main(
            [
                "sweep",
                "-s",
                "nixery",
                "-s",
                "auto-layer",
                "--grid",
                "popularity_threshold=10,1000",
                "--budgets",
                "30",
                "--serial",
                "--no-cache",
                "-q",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    df = pd.read_csv(out)
    assert df["strategy"].tolist() == ["nixery", "nixery", "auto-layer"]
    s = default_imageset()
    for row in df.itertuples():
        params = {} if row.strategy == "auto-layer" else {"popularity_threshold": int(row.popularity_threshold)}
        lay = layer_imageset(get_strategy(row.strategy, **params), s, 30)
        assert row.pulled_bytes == pull_cost(lay).summary["pulled_bytes"]
    assert main(["sweep", "-s", "nixery", "-s", "auto-layer", "--grid", "nope=1,2", "--no-cache", "-q"]) == 2
    assert "unknown parameter nope" in capsys.readouterr().err


def test_pull_layer_order(abc: Path, tmp_path: Path, capsys) -> None:
    pop = tmp_path / "pop.json"
    pop.write_text('{"c-1": 1000}')
    base = ["pull", str(abc), "-s", "nixery", "-p", str(pop), "--rule", "chain", "--json"]
    assert main(base) == 0
    assert orjson.loads(capsys.readouterr().out)["pulled_bytes"] == 230
    assert main([*base, "--set", "layer_order=rating"]) == 0
    assert orjson.loads(capsys.readouterr().out)["pulled_bytes"] == 170


def test_score_and_sweep_take_strategies_alike(capsys) -> None:
    helps = {}
    for verb in ("score", "sweep"):
        with pytest.raises(SystemExit):
            main([verb, "--help"])
        helps[verb] = " ".join(capsys.readouterr().out.split())
    for text in helps.values():
        assert "strategy name (repeatable; default: the default strategy, marked in `layerlab strategies`)" in text
        assert "Nixery popularity.json (default: the image set's own)" in text
    assert "with several strategies, give one --strategy" in helps["score"]
    assert "with several strategies, each strategy that declares it" in helps["sweep"]
    # sweep: --set goes to the strategies that declare it; one none declares is named with the strategies
    base = ["sweep", "-s", "nixery", "-s", "auto-layer", "--budgets", "30", "--serial", "--no-cache", "-q"]
    assert main([*base, "--set", "merge_mode=resort", "--set", "size-threshold=5M"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert frame["strategy"].tolist() == ["nixery", "auto-layer"]
    assert frame["merge_mode"].tolist()[0] == "resort" and frame["size_threshold"].tolist()[0] == 5_000_000
    assert pd.isna(frame["merge_mode"].tolist()[1])
    for argv, message in [
        (["--set", "nope=1"], "--set: unknown parameter nope: none of nixery, auto-layer declares it"),
        (["--grid", "nope=1,2"], "--grid: unknown parameter nope: none of nixery, auto-layer declares it"),
        (["--budgets", ","], "--budgets: expected at least one budget"),
        (["--set", "merge_mode"], "--set: expected KEY=VALUE, got 'merge_mode'"),
        (["--grid", "=1,2"], "--grid: expected KEY=V1,V2 or KEY=LO:HI:N, got '=1,2'"),
    ]:
        assert main([*base, *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("layerlab: error: ") and message in err and err.count("\n") == 1
    # one strategy takes every --set, and its own error lists what it knows
    assert main(["sweep", "-s", "auto-layer", "--set", "merge_mode=resort", "--no-cache", "-q"]) == 2
    assert "unknown parameter merge_mode" in capsys.readouterr().err
