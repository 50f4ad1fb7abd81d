"""``layerlab plot KIND ... -o file.png``: the figures from the command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib.image
import pytest

from layerlab.cli import main

from .conftest import DATA

DEBIAN = DATA / "debian"
POP = str(DEBIAN / "popularity.json")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAYERLAB_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def three(tmp_path) -> Path:
    """A three-image set: curl, git, perl."""
    d = tmp_path / "three"
    d.mkdir()
    for name in ("img-curl", "img-git", "img-perl"):
        shutil.copy(DEBIAN / "imageset" / f"{name}.graph.json", d)
    return d


def png_size(path: Path) -> tuple[int, int]:
    img = matplotlib.image.imread(str(path))
    return img.shape[1], img.shape[0]


def test_plot_tree(tmp_path, capsys) -> None:
    out = tmp_path / "tree.png"
    assert (
        main(
            [
                "plot",
                "tree",
                str(DEBIAN / "kde-full.graph.json"),
                "-p",
                POP,
                "-s",
                "nixery-2022",
                "-b",
                "30",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == str(out)
    assert png_size(out) == (1300, 850)


def test_plot_layers_is_deterministic(tmp_path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for out in (a, b):
        assert (
            main(["plot", "layers", str(DEBIAN / "bash-coreutils.graph.json"), "-p", POP, "-b", "5", "-o", str(out)])
            == 0
        )
    assert a.read_bytes() == b.read_bytes()
    assert png_size(a) == (1000, 360)


def test_plot_overlap_pull_sweep(tmp_path, three) -> None:
    for kind, extra, size in (
        ("overlap", ["-b", "10"], None),
        ("pull", ["--strategies", "nixery,single-layer", "--budgets", "5,10"], (800, 460)),
        ("sweep", ["--x", "size_threshold=10M,100M", "--y", "popularity_threshold=100,1000", "-b", "10"], (700, 450)),
    ):
        out = tmp_path / f"{kind}.png"
        assert main(["plot", kind, str(three), *extra, "-o", str(out)]) == 0, kind
        if size:
            assert png_size(out) == size
        else:
            w, h = png_size(out)
            assert w > h > 300  # square heat map plus its colour bar


def test_plot_errors(tmp_path, three, capsys) -> None:
    out = str(tmp_path / "x.png")
    assert main(["plot", "tree", str(tmp_path / "missing.json"), "-o", out]) == 2
    assert "missing.json: cannot read file" in capsys.readouterr().err
    assert main(["plot", "sweep", str(three), "--x", "size_threshold", "-o", out]) == 2
    assert capsys.readouterr().err.strip() == "layerlab: error: --x: expected PARAM=V1,V2,..., got 'size_threshold'"
    assert main(["plot", "sweep", str(three), "--x", "size_threshold=1M", "--y", "size_threshold=2M", "-o", out]) == 2
    assert "the two axes must be different parameters" in capsys.readouterr().err
    assert main(["plot", "sweep", str(three), "--x", "nope=1", "-o", out]) == 2
    assert "unknown parameter nope" in capsys.readouterr().err
    assert main(["plot", "pull", str(three), "--budgets", "a,b", "-o", out]) == 2
    assert "--budgets: expected comma-separated integers" in capsys.readouterr().err
    assert main(["plot"]) == 2
    assert not Path(out).exists()
