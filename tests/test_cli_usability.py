"""What a new user meets first: the version, standard input, the default strategy, quoting, warnings."""

from __future__ import annotations

import gzip
import io
import lzma
import shutil
import subprocess
import sys

import orjson
import pytest
import zstandard

from layerlab import plot
from layerlab.cli import main
from layerlab.strategies import DEFAULT_STRATEGY, Layer, available

from .conftest import DATA

DEBIAN = DATA / "debian"
SMALL = DEBIAN / "bash-coreutils.graph.json"
POP = str(DEBIAN / "popularity.json")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAYERLAB_CACHE_DIR", str(tmp_path / "cache"))


def feed_stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_version_names_the_installed_distribution() -> None:
    from importlib.metadata import version

    out = subprocess.run(
        [sys.executable, "-m", "layerlab.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"layerlab {version('layerlab')}"


@pytest.mark.parametrize("compress", [None, gzip.compress, lzma.compress, zstandard.ZstdCompressor().compress])
def test_dash_reads_the_graph_from_standard_input(compress, monkeypatch, capsysbinary) -> None:
    raw = SMALL.read_bytes()
    assert main(["group", str(SMALL), "-s", "nixery", "-p", POP, "-b", "5"]) == 0
    from_file = capsysbinary.readouterr().out
    feed_stdin(monkeypatch, compress(raw) if compress else raw)
    assert main(["group", "-", "-s", "nixery", "-p", POP, "-b", "5"]) == 0
    assert capsysbinary.readouterr().out == from_file


def test_info_from_standard_input(monkeypatch, capsys) -> None:
    feed_stdin(monkeypatch, lzma.compress(SMALL.read_bytes()))
    assert main(["info", "-"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "graph   <stdin>" and "paths   14" in out


def test_garbage_on_standard_input_is_one_line(monkeypatch, capsys) -> None:
    feed_stdin(monkeypatch, b"\x1f\x8bnot gzip at all")
    assert main(["info", "-"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerlab: error: <stdin>: cannot decompress .gz data") and err.count("\n") == 1


def test_strategies_marks_the_default(capsys) -> None:
    assert main(["strategies"]) == 0
    heads = [line for line in capsys.readouterr().out.splitlines() if line and not line.startswith(" ")]
    marked = [line.split(":")[0] for line in heads if "(default)" in line.split(":")[0]]
    assert marked == [f"{DEFAULT_STRATEGY} (default)"]
    assert main(["strategies", "--json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert [name for name, entry in doc.items() if entry["default"]] == [DEFAULT_STRATEGY]


def test_set_without_strategy_configures_the_default(tmp_path, capsys) -> None:
    cls, _ = available()[DEFAULT_STRATEGY]
    declared = cls.params[0]
    value = declared.default if declared.default is not None else declared.minimum
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["group", str(SMALL), "-p", POP, "-o", str(a), "--set", f"{declared.name}={value}"]) == 0
    assert main(["group", str(SMALL), "-p", POP, "-o", str(b), "-s", DEFAULT_STRATEGY]) == 0
    assert a.read_bytes() == b.read_bytes()
    unknown = "no_such_knob" if DEFAULT_STRATEGY != "nixery" else "alpha"
    assert main(["group", str(SMALL), "-p", POP, "--set", f"{unknown}=1"]) == 2
    err = capsys.readouterr().err
    assert f"unknown parameter {unknown}: {DEFAULT_STRATEGY} is the default strategy" in err
    assert "--strategy NAME" in err and err.count("\n") == 1


@pytest.mark.parametrize("mangled", ["pathls -l/testpkgs", "nixpkgsnixos-24.05", "gitgit log/x"])
def test_a_source_the_shell_rewrote_points_at_quoting(mangled, capsys) -> None:
    assert main(["closure", mangled, "hello", "--out", "-"]) == 2
    err = capsys.readouterr().err
    assert "has no '!'" in err and "quote sources in single quotes, as in 'path!nix/testpkgs'" in err
    assert err.count("\n") == 1


def test_popularity_strategy_without_a_table_warns(capsys) -> None:
    assert main(["group", str(SMALL), "-s", "nixery", "-b", "5"]) == 0
    err = capsys.readouterr().err
    assert "layerlab: warning: strategy nixery uses a popularity table and none was given" in err
    assert main(["group", str(SMALL), "-s", "nixery", "-b", "5", "-p", POP]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["group", str(SMALL), "-s", "per-path", "-b", "5"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_plot_uses_no_popularity_the_image_set_lacks(tmp_path, capsys) -> None:
    d = tmp_path / "two"
    d.mkdir()
    for name in ("img-curl", "img-git"):
        shutil.copy(DEBIAN / "imageset" / f"{name}.graph.json", d)
    out = tmp_path / "o.png"
    assert main(["plot", "overlap", str(d), "-s", "nixery", "-b", "5", "-o", str(out)]) == 0
    assert "strategy nixery uses a popularity table and none was given" in capsys.readouterr().err
    assert main(["plot", "overlap", str(d), "-s", "nixery", "-b", "5", "-p", POP, "-o", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err
    from argparse import Namespace

    from layerlab.cli.workbench import _load_imageset

    assert _load_imageset(Namespace(imageset=str(d), popularity=None)).popularity is None


def test_layer_reasons_of_every_strategy_have_their_own_colour() -> None:
    graph_reasons = set()
    from layerlab.popularity import load_popularity
    from layerlab.sources.files import load_graph
    from layerlab.strategies import Context, get_strategy

    g = load_graph(DEBIAN / "git-curl-python3.graph.json")
    ctx = Context(popularity=load_popularity(POP))
    for name in available():
        for budget in (3, 94):
            graph_reasons |= {layer.reason for layer in get_strategy(name).group(g, ctx, budget)}
    reasons = sorted(graph_reasons | {"excluded", "unreachable", "big", "popular", "big+popular"})
    layers = [Layer((f"/nix/store/{n:032d}-p",), 10 + n, reason=r) for n, r in enumerate(reasons)]
    ax = plot.layer_sizes(layers).axes[0]
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    faces = [tuple(h.get_facecolor()) for h in legend.legend_handles]
    assert labels == reasons
    assert len(set(faces)) == len(reasons), dict(zip(labels, faces))
    bars = [tuple(p.get_facecolor()) for p in ax.patches]
    assert bars == faces


def test_jupyterlab_starts_without_the_news_prompt() -> None:
    import secrets
    import subprocess as sp

    import requests

    from layerlab.net import free_port, wait_for_server
    from layerlab.workbench.notebooks import NOTEBOOK_DIR, jupyter_command

    port, token = free_port(), secrets.token_hex(8)
    proc = sp.Popen(jupyter_command(NOTEBOOK_DIR, port, token), stdout=sp.DEVNULL, stderr=sp.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_server(url, token, proc)
        doc = requests.get(
            f"{url}/lab/api/settings/@jupyterlab/apputils-extension:notification",
            headers={"Authorization": f"token {token}"},
            timeout=30,
        ).json()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    props = doc["schema"]["properties"]
    assert props["fetchNews"]["default"] == "false"  # JupyterLab's own default, "none", asks the user
    assert props["checkForUpdates"]["default"] is False


def test_source_checkout_notebooks_open_in_place_installed_ones_are_copied(tmp_path) -> None:
    from layerlab.workbench.notebooks import (
        NOTEBOOK_DIR,
        in_source_checkout,
        working_copy,
    )

    assert in_source_checkout() and working_copy() == NOTEBOOK_DIR
    fake = tmp_path / "site-packages" / "layerlab" / "notebooks"
    fake.mkdir(parents=True)
    (fake / "01-a.ipynb").write_text("{}")
    assert not in_source_checkout(fake)
    dest = working_copy(tmp_path / "copy", source=fake)
    (dest / "01-a.ipynb").write_text('{"edited": true}')
    (fake / "02-b.ipynb").write_text("{}")
    working_copy(dest, source=fake)
    assert (dest / "01-a.ipynb").read_text() == '{"edited": true}'  # edits survive a restart
    assert (dest / "02-b.ipynb").read_text() == "{}"  # new notebooks arrive


def test_report_kernel_prints_no_transport_warning(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "layerlab.cli", "report", "--only", "01", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "without encryption" not in done.stderr and "WARNING" not in done.stderr, done.stderr
    page = (tmp_path / "01-tune-thresholds.html").read_text()
    assert "<script src=" not in page and "mathjax" not in page.lower()


def test_a_missing_workbench_extra_names_it(monkeypatch, capsys) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jupyterlab" else real(name, *a))
    assert main(["workbench"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "layerlab: error: layerlab workbench: jupyterlab is not installed; "
        "install the workbench extra (pip install 'layerlab[workbench]', or '.[workbench]' in a clone)\n"
    )


def test_set_with_a_saved_configuration_configures_the_saved_strategy(tmp_path) -> None:
    conf = tmp_path / "tuned.json"
    conf.write_text('{"strategy": "nixery", "params": {"size_threshold": 20000000}, "budget": 5}')
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    args = [str(SMALL), "-p", POP, "--set", "merge_mode=resort"]
    assert main(["group", *args, "--config", str(conf), "-o", str(a)]) == 0
    assert main(["group", *args, "-s", "nixery", "--set", "size_threshold=20M", "-b", "5", "-o", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
