"""``layerlab score`` on the hand-computed three-image set (figures derived in tests/test_scorecard.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from layerlab.cli import main

S = "/nix/store/"
SIZES = {"a": 10, "b": 20, "c": 30, "d": 40, "e": 50}


def path(p: str) -> str:
    return f"{S}{p}{p}{p}-{p}-1"


def write(d: Path, name: str, refs: dict[str, str], root: str) -> None:
    recs = [{"path": path(p), "narSize": SIZES[p], "references": [path(r) for r in rs]} for p, rs in refs.items()]
    (d / f"{name}.graph.json").write_text(json.dumps({"exportReferencesGraph": {"graph": [path(root)]}, "graph": recs}))


@pytest.fixture()
def abc(tmp_path: Path) -> Path:
    d = tmp_path / "abc"
    d.mkdir()
    write(d, "1-one", {"a": "b", "b": "c", "c": ""}, "a")
    write(d, "2-two", {"d": "b", "b": "c", "c": ""}, "d")
    write(d, "3-three", {"e": "c", "c": ""}, "e")
    return d


def test_score_table(abc: Path, capsys) -> None:
    assert main(["score", str(abc), "-s", "per-path", "-b", "94,2", "-q"]) == 0
    out = capsys.readouterr().out
    assert "images    3 (abc), ideal 150 bytes" in out
    assert "every pair of 8 (image, store path) pairs" in out
    # per-path at 94: 150/150, 230/150, 420/420, 530/420; at 2: 200/150, 230/150, 470/420, 550/420.
    assert "per-path     94     1.000      1.533      1.000        1.262" in out
    assert "per-path      2     1.333      1.533      1.119        1.310" in out
    assert "(420 renamed)" in out


def test_score_json_and_out(abc: Path, tmp_path: Path, capsys) -> None:
    out_file = tmp_path / "card.csv"
    assert (
        main(["score", str(abc), "-s", "per-path", "-s", "single-layer", "-b", "94", "--json", "-o", str(out_file)])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["images"] == 3 and len(doc["rows"]) == 8
    first = doc["rows"][0]
    assert (first["strategy"], first["figure"], first["bytes"], first["bound_bytes"], first["repulled_bytes"]) == (
        "per-path",
        "pull-any",
        150,
        150,
        None,
    )
    chain = doc["rows"][3]
    assert (chain["figure"], chain["repulled_bytes"], chain["renamed_bytes"], chain["pairs"]) == (
        "update-chain",
        530,
        420,
        8,
    )
    frame = pd.read_csv(out_file)
    assert frame["bytes"].tolist() == [r["bytes"] for r in doc["rows"]]


def test_score_sample_and_errors(abc: Path, capsys) -> None:
    assert main(["score", str(abc), "-s", "per-path", "-b", "94", "--sample", "3", "--seed", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows[2]["pairs"] == 3 and rows[2]["renamed_bytes"] < 420
    for argv, message in [
        (["-b", "9x"], "--budgets: expected comma-separated integers"),
        (["-s", "nope"], "unknown strategy 'nope'"),
        (["--sample", "0"], "--sample must be at least 1"),
        (["--executor", "gpu"], "executor must be an Executor"),
        (["-s", "nixery", "-s", "keystone", "--set", "alpha=1"], "--set applies to one strategy"),
    ]:
        assert main(["score", str(abc), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("layerlab: error: ") and message in err and err.count("\n") == 1


def test_score_on_a_thread_pool_equals_in_process(abc: Path, capsys) -> None:
    base = ["score", str(abc), "-s", "per-path", "-s", "keystone", "-b", "94,2", "--json"]
    assert main(base) == 0
    here = json.loads(capsys.readouterr().out)
    assert main([*base, "--executor", "thread", "--jobs", "2"]) == 0
    assert json.loads(capsys.readouterr().out) == here
