"""The core commands: group, info, strategies; error reporting."""

from __future__ import annotations

import orjson
import pytest

from layerlab.cli import main

from .conftest import DATA, TESTDATA

DEBIAN = DATA / "debian"


def test_group_to_stdout(capsysbinary):
    args = ["group", str(DEBIAN / "bash-coreutils.graph.json"), "-p", str(DEBIAN / "popularity.json"), "-s", "nixery"]
    assert main(args) == 0
    layers = orjson.loads(capsysbinary.readouterr().out)
    assert [sorted(layer) for layer in layers] == [["contents", "mergeRating"]] * len(layers)
    seed = orjson.loads((TESTDATA / "seed-layers" / "bash-coreutils-b94.layers.json").read_bytes())
    assert {frozenset(lay["contents"]) for lay in layers} == {frozenset(lay["contents"]) for lay in seed}


def test_group_to_file_with_params(tmp_path, capsys):
    out = tmp_path / "layers.json"
    rc = main(
        [
            "group",
            str(DEBIAN / "kde-full.graph.json"),
            "-p",
            str(DEBIAN / "popularity.json"),
            "--strategy",
            "nixery",
            "--budget",
            "10",
            "--set",
            "size_threshold=50M",
            "--set",
            "merge-mode=resort",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    layers = orjson.loads(out.read_bytes())
    assert len(layers) == 10
    assert sum(len(lay["contents"]) for lay in layers) == 1189
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["group", "EDGE/missingref.json"],
            "missingref.json: /nix/store/aaaa-A references /nix/store/zzzz-Z, which is not in the graph",
        ),
        (["group", "EDGE/tie.json", "--budget", "0"], "budget must be an integer of at least 1, not 0"),
        (["group", "EDGE/tie.json", "-p", "EDGE/popneg.json"], "popneg.json: popularity of 'A' is negative (-1)"),
        (["group", "EDGE/tie.json", "--set", "size_threshold"], "--set: expected KEY=VALUE"),
        (["group", "EDGE/tie.json", "--set", "colour=blue"], "unknown parameter colour"),
        (["group", "EDGE/tie.json", "--strategy", "nope"], "unknown strategy 'nope'"),
        (["info", "EDGE/nothere.json"], "nothere.json: cannot read file"),
    ],
)
def test_errors_are_one_line_and_exit_2(args, message, capsys):
    args = [a.replace("EDGE", str(TESTDATA / "edge")) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("layerlab: error: ")
    assert message in err
    assert "Traceback" not in err


def test_info(capsys):
    assert main(["info", str(DEBIAN / "kde-full.graph.json")]) == 0
    out = capsys.readouterr().out
    assert "paths   1,189" in out and "edges   9,646" in out and "cycles  2 (4 paths)" in out
    assert main(["info", "--json", str(TESTDATA / "edge" / "unreach.json")]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["unreachable"] == 1 and doc["roots"] == 1


def test_unreachable_warning_is_one_line(capsys):
    assert main(["group", str(TESTDATA / "edge" / "unreach.json"), "--strategy", "nixery"]) == 0
    captured = capsys.readouterr()
    assert "layerlab: warning: " in captured.err and "reachable from no root" in captured.err
    assert len(orjson.loads(captured.out)) == 2


def test_strategies_listing(capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    assert "nixery:" in out and "nixery-2022:" in out and "size_threshold (bytes" in out
    assert main(["strategies", "--json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["nixery-2022"]["preset"]["popularity_threshold"] == 100
    assert {p["name"] for p in doc["nixery"]["params"]} >= {"size_threshold", "popularity_threshold", "merge_mode"}
