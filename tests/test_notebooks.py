"""Every notebook runs top to bottom in a real kernel; the report renders it to HTML.

The notebooks are executed once per session (a module fixture) and the
executed copies are checked for errors and for the content each notebook
promises.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

from layerlab.cli import main
from layerlab.errors import ConfigError, LayerlabError
from layerlab.workbench.notebooks import NOTEBOOK_DIR, execute_notebook, notebooks_in
from layerlab.workbench.report import render_html, run_report

from .conftest import require_tool

NOTEBOOKS = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))

pytestmark = pytest.mark.slow


def outputs(nb, kind: str | None = None) -> list:
    out = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            out.extend(o for o in cell.outputs if kind is None or o.get("output_type") == kind)
    return out


def text_of(nb) -> str:
    parts = []
    for o in outputs(nb):
        if o.get("output_type") == "stream":
            parts.append(o.text)
        elif "data" in o:
            parts.append(o["data"].get("text/plain", ""))
            parts.append(o["data"].get("text/html", ""))
    return "\n".join(parts)


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """Sweeps and closures the notebooks compute are cached in a temporary directory, not the user's."""
    old = os.environ.get("LAYERLAB_CACHE_DIR")
    os.environ["LAYERLAB_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("LAYERLAB_CACHE_DIR", None)
    else:
        os.environ["LAYERLAB_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def executed() -> dict:
    return {}


def run(executed: dict, name: str):
    if name not in executed:
        executed[name] = execute_notebook(NOTEBOOK_DIR / name, timeout=600)
    return executed[name]


def test_the_notebooks_are_there() -> None:
    assert NOTEBOOKS == [
        "01-tune-thresholds.ipynb",
        "02-why-this-split.ipynb",
        "03-cache-overlap.ipynb",
        "04-build-a-real-image.ipynb",
    ]


#: Notebooks that need tools beyond Python.
TOOLS = {"04-build-a-real-image.ipynb": ("nix-build", "docker-registry", "skopeo")}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_without_error(executed: dict, name: str) -> None:
    for tool in TOOLS.get(name, ()):
        require_tool(tool)
    nb = run(executed, name)
    assert not outputs(nb, "error")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), "every code cell ran"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert "What this notebook is for" in first.source
    # Stored without outputs: the repository holds sources, the report holds results.
    stored = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    assert all(not c.get("outputs") for c in stored.cells if c.cell_type == "code")


def pngs(nb) -> int:
    return sum(1 for o in outputs(nb) if "data" in o and "image/png" in o["data"])


def test_tune_notebook_content(executed: dict) -> None:
    nb = run(executed, "01-tune-thresholds.ipynb")
    text = text_of(nb)
    # The panel and its static snapshot; nixery at budget 30 on the Debian set: 1.774 x the ideal.
    assert "<TunePanel: nixery, budget 30>" in text and "<ComparePanel: nixery, budget 30>" in text
    assert 'class="ll-ratio">1.774×<' in text and "img-rustc" in text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="ll-chart-svg"' in text
    # The budget table: nixery at budget 10 is 1.813 x the ideal, auto-layer at 94 1.027.
    assert "1.813" in text and "1.027" in text
    assert pngs(nb) >= 1
    # The compare panel's diff of A and B, and the interactive charts (a table where there is no plotly.js).
    assert 'class="ll-diff-moved"' in text and 'class="ll-diff-chain"' in text
    assert "class='ll-pull-budget'" in text and "class='ll-overlap-pairs'" in text
    plotly = "application/vnd.plotly.v1+json"
    figures = [o["data"][plotly] for o in outputs(nb) if plotly in o.get("data", {})]
    assert [f["data"][0]["type"] for f in figures] == ["scatter", "heatmap"]


def test_why_notebook_content(executed: dict) -> None:
    nb = run(executed, "02-why-this-split.ipynb")
    text = text_of(nb)
    assert "<TreePanel: kde-full, nixery-2022, budget 30>" in text and 'class="ll-big">444<' in text
    # The tables follow the panel and list everything: 444 big and 126 popular paths, all 790 initial layers.
    assert "444 big (over 100 MB), 126 popular (at least 100)" in text
    assert "790 initial layers, budget 30: 761 merged, 29 kept" in text and text.count("merged into layer 0") == 761
    assert text.count('class="ll-browse-layer"') == 30
    # The search typed in the panel: libllvm15 was big, lost the merge and went to the catch-all layer.
    assert 'class="ll-x-reason">merged<' in text
    assert "big: yes, closure size 198 MB against 100 MB (1.98× the threshold)" in text
    assert "budget 30 for 790 initial layers" in text


def test_overlap_notebook_content(executed: dict) -> None:
    nb = run(executed, "03-cache-overlap.ipynb")
    text = text_of(nb)
    assert "30 images, 6.01 GB in all, 2.89 GB of distinct paths (the ideal)" in text
    assert "of the shared path bytes sit in identical layers" in text
    assert "train: even images" in text and "test: odd images" in text
    assert "update figures over 400 of 1768 pairs" in text and "on the front:" in text
    assert "update-chain 94" in text and "pull-any 10" in text
    assert pngs(nb) == 5  # heat map, strategies vs ideal, sweep, tuned point, Pareto front


def test_build_notebook_content(executed: dict) -> None:
    for tool in TOOLS["04-build-a-real-image.ipynb"]:
        require_tool(tool)
    nb = run(executed, "04-build-a-real-image.ipynb")
    text = text_of(nb)
    assert "14 store paths, 34.6 MB" in text
    # git + python3: 7 store layers, the customisation layer and the config.
    assert re.search(r"layerlab/demo:git-python3: 9 blobs sent \(34\.6 MB\), 0 already there", text)
    # curl + python3 shares four identical layers with it (python3, curl, openssl, readline).
    assert re.search(
        r"layerlab/demo:curl-python3: 5 blobs sent \([\d.]+ MB\), 4 already there \(16\.1 MB not uploaded\)", text
    )
    assert "{'layerlab/demo': ['git-python3', 'curl-python3']}" in text
    # the whole manifest in a collapsible viewer; the layer table names the packages of each layer
    manifest_digest = re.search(r"manifest (sha256:[0-9a-f]{64})", text).group(1)
    assert "<details><summary>The whole manifest" in text and "&quot;schemaVersion&quot;: 2" in text
    assert "python3-3.11.9" in text and "git-2.44.0" in text
    # served by layerlab serve with the same configuration, pulled back with skopeo: the same digest
    assert f"pulled manifest digest: {manifest_digest} == {manifest_digest}" in text
    assert "build-start" in text and "/v2/git/python3/manifests/latest" in text
    # the work directory is kept, with the OCI layout the text invites the reader to open
    assert "registry and server stopped; the images stay in" in text
    kept = Path(NOTEBOOK_DIR).resolve().parent / "build" / "notebook-04"
    index = json.loads((kept / "oci" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == manifest_digest
    assert pngs(nb) == 1


def test_report_html_shows_panels_without_a_kernel(executed: dict) -> None:
    html = render_html(run(executed, "01-tune-thresholds.ipynb"))
    assert html.count('class="ll-summary"') >= 2 and "ll-snapshot" in html
    assert "application/vnd.jupyter.widget-view+json" not in html  # no live widget, no CDN script
    assert "Tune thresholds" in html


# -------------------------------------------------------------- the kernel
def small_notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Small\n\nWhat this notebook is for: a test.")]
        + [nbformat.v4.new_code_cell(c) for c in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(nb, path)
    return path


def test_kernel_is_this_virtual_environment(tmp_path: Path) -> None:
    p = small_notebook(tmp_path / "k.ipynb", "import sys, os; print(sys.prefix); print(os.getcwd())")
    nb = execute_notebook(p)
    prefix, cwd = outputs(nb, "stream")[0].text.split()
    assert Path(prefix).resolve() == Path(sys.prefix).resolve()
    assert Path(cwd).resolve() == tmp_path.resolve()


def test_a_failing_cell_is_one_clear_error(tmp_path: Path) -> None:
    p = small_notebook(tmp_path / "bad.ipynb", "x = 1", "1 / 0")
    with pytest.raises(LayerlabError, match=r"bad.ipynb: cell 2 failed: ZeroDivisionError: division by zero"):
        execute_notebook(p)


def test_unreadable_notebook(tmp_path: Path) -> None:
    p = tmp_path / "broken.ipynb"
    p.write_text("{not json")
    with pytest.raises(LayerlabError, match="broken.ipynb: cannot read notebook"):
        execute_notebook(p)


def test_notebooks_in(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no notebooks found"):
        notebooks_in(tmp_path)
    small_notebook(tmp_path / "b.ipynb")
    small_notebook(tmp_path / "a.ipynb")
    (tmp_path / ".hidden.ipynb").write_text("{}")
    assert [p.name for p in notebooks_in(tmp_path)] == ["a.ipynb", "b.ipynb"]
    assert [p.name for p in notebooks_in(tmp_path, ["b"])] == ["b.ipynb"]


def test_report_command(tmp_path: Path, capsys) -> None:
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    small_notebook(nbdir / "one.ipynb", "print(6 * 7)")
    out = tmp_path / "out"
    assert main(["report", "--notebooks", str(nbdir), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "one.html"]
    page = (out / "one.html").read_text()
    assert "42" in page and "What this notebook is for" in page
    index = (out / "index.html").read_text()
    assert '<a href="one.html">Small</a>' in index
    assert capsys.readouterr().out.strip() == f"{out / 'index.html'} (1 notebooks)"


def test_report_command_fails_on_an_error(tmp_path: Path, capsys) -> None:
    small_notebook(tmp_path / "bad.ipynb", "raise ValueError('no data')")
    assert main(["report", "--notebooks", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"layerlab: error: {tmp_path / 'bad.ipynb'}: cell 1 failed: ValueError: no data"


def test_run_report_writes_pages_in_order(tmp_path: Path) -> None:
    small_notebook(tmp_path / "2-b.ipynb", "2")
    small_notebook(tmp_path / "1-a.ipynb", "1")
    pages = run_report(tmp_path, tmp_path / "html")
    assert [p.name for p in pages] == ["1-a.html", "2-b.html"]


def test_slider_bursts_are_debounced_in_a_real_kernel(tmp_path: Path) -> None:
    # Three budget changes in a row inside the kernel's event loop: one update, 0.2 s after the last.
    p = small_notebook(
        tmp_path / "debounce.ipynb",
        "import asyncio\n"
        "from layerlab.workbench import TunePanel\n"
        "panel = TunePanel('kde-full', 'nixery', budget=30, debounce=0.2)\n"
        "for b in (20, 10, 5):\n"
        "    panel.controls[0].budget.value = b\n"
        "print('before', panel.updates, panel.result.layer_count)",
        "await asyncio.sleep(0.6)\nprint('after', panel.updates, panel.result.layer_count)",
    )
    nb = execute_notebook(p)
    lines = [o.text.strip() for o in outputs(nb, "stream")]
    assert lines == ["before 1 30", "after 2 5"]
