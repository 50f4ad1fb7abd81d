"""The workbench in a real browser: JupyterLab, notebooks 1 and 2, driven like a user would.

Starts JupyterLab on a free port (on a copy of the notebooks, so nothing in the
repository is saved over), opens the notebooks in headless Debian Chromium
driven by Playwright and runs all cells.  Notebook 1: drags the budget slider of
the tune panel and checks that the layer count and the pull figure change;
changes side B of the compare panel and reads the diff of A and B.  Notebook 2:
types a package into the search box and reads its layer and reason; hovers a
box of the tree and reads its name; clicks a box to zoom into its subtree;
saves the configuration and loads it with ``layerlab group --config``; drags a
slider and sees the busy line, then the tree redrawn.
Screenshots of each step are saved to ``tests/artifacts/``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from layerlab.net import free_port, wait_for_server
from layerlab.workbench.notebooks import NOTEBOOK_DIR, jupyter_command

from .conftest import ROOT, require_tool

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of the notebooks; yields (base URL, token)."""
    work = tmp_path_factory.mktemp("lab")
    nbdir = work / "notebooks"
    nbdir.mkdir()
    shutil.copy(NOTEBOOK_DIR / "01-tune-thresholds.ipynb", nbdir)
    shutil.copy(NOTEBOOK_DIR / "02-why-this-split.ipynb", nbdir)
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(work / "config"),
        JUPYTER_RUNTIME_DIR=str(work / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(work / "workspaces"),
        IPYTHONDIR=str(work / "ipython"),
    )
    # No "get notified about Jupyter news?" pop-up over the screenshot.
    labconfig = work / "config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    port = free_port()
    token = secrets.token_hex(16)
    cmd = jupyter_command(nbdir, port, token) + ["--LabApp.expose_app_in_browser=True"]
    log = open(work / "lab.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, token, proc, timeout=120)
        yield url, token, nbdir
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def summary_cells(page) -> tuple[str, str]:
    panel = page.locator(".ll-tune-panel").first
    return panel.locator("td.ll-layers").first.text_content().strip(), panel.locator(
        "td.ll-pull"
    ).first.text_content().strip()


def test_budget_slider_changes_layers_and_pull(lab) -> None:
    chromium = require_tool("chromium")
    from playwright.sync_api import sync_playwright

    url, token, _ = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"{url}/lab/tree/01-tune-thresholds.ipynb?token={token}", timeout=120_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            # Wait for the kernel, then run every cell through JupyterLab's own command.
            page.wait_for_function(
                """() => {
                    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                    return k && k.status === 'idle';
                }""",
                timeout=120_000,
            )
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_selector(".ll-tune-panel td.ll-pull", timeout=180_000)
            # Every cell ran without an error.
            page.wait_for_function(
                """() => {
                    const w = window.jupyterapp.shell.currentWidget;
                    return w.sessionContext.session.kernel.status === 'idle'
                        && document.querySelectorAll('.jp-Notebook .jp-InputArea-prompt').length > 0
                        && [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')]
                              .every(p => /\\[\\d+\\]/.test(p.textContent));
                }""",
                timeout=180_000,
            )
            assert (
                page.locator(
                    ".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                ).count()
                == 0
            )
            assert (
                page.locator(".jp-Notebook .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").count()
                == 0
            )

            budget = page.locator(".ll-tune-panel .ll-budget").first
            budget.scroll_into_view_if_needed()
            layers_before, pull_before = summary_cells(page)
            readout_before = budget.locator(".widget-readout").text_content().strip()
            assert (layers_before, readout_before) == ("18", "30")  # img-rustc at budget 30
            assert page.locator(".ll-tune-panel svg.ll-chart-svg rect.ll-bar").count() == 18
            assert re.fullmatch(r"\d+(\.\d+)? GB", pull_before)

            # Drag the slider handle to the left end of its track.
            handle = budget.locator(".noUi-handle").first
            track = budget.locator(".noUi-base").first
            hb, tb = handle.bounding_box(), track.bounding_box()
            page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
            page.mouse.down()
            page.mouse.move(tb["x"] + tb["width"] * 0.03, hb["y"] + hb["height"] / 2, steps=12)
            page.mouse.up()

            page.wait_for_function(
                """([before]) => {
                    const cell = document.querySelector('.ll-tune-panel td.ll-layers');
                    return cell && cell.textContent !== before;
                }""",
                arg=[layers_before],
                timeout=60_000,
            )
            page.wait_for_timeout(500)  # let the last debounced update land
            layers_after, pull_after = summary_cells(page)
            readout_after = budget.locator(".widget-readout").text_content().strip()
            budget_after = int(readout_after)
            assert budget_after < 10
            assert layers_after == str(min(budget_after, 18)) and layers_after != layers_before
            assert pull_after != pull_before and re.fullmatch(r"\d+(\.\d+)? GB", pull_after)
            # The chart was redrawn: one bar per layer of the image shown.
            bars = page.locator(".ll-tune-panel svg.ll-chart-svg rect.ll-bar")
            assert bars.count() == int(layers_after)
            assert f"pulled: {pull_after}" in page.locator(".ll-tune-panel svg.ll-chart-svg").first.text_content()

            panel = page.locator(".ll-tune-panel").first
            panel.scroll_into_view_if_needed()
            panel.screenshot(path=str(ARTIFACTS / "browser-tune-panel.png"))
            page.screenshot(path=str(ARTIFACTS / "browser-notebook.png"))
        finally:
            browser.close()
    assert (ARTIFACTS / "browser-tune-panel.png").stat().st_size > 10_000


def run_notebook(page, url: str, token: str, name: str, ready: str) -> None:
    """Open notebook ``name``, run all cells through JupyterLab's own command, wait for ``ready`` and the last cell."""
    # "reset": open only this notebook, not the ones an earlier page left in the shared workspace.
    page.goto(f"{url}/lab/tree/{name}?token={token}&reset", timeout=120_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_function(
        "([name]) => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.context.path.endsWith(name)",
        arg=[name],
        timeout=120_000,
    )
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
            return k && k.status === 'idle';
        }""",
        timeout=120_000,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(ready, timeout=180_000)
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            return w.sessionContext.session.kernel.status === 'idle'
                && [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')]
                      .every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        timeout=180_000,
    )
    assert page.locator(".jp-Notebook .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").count() == 0
    assert (
        page.locator(".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    )


@pytest.fixture(scope="module")
def browser():
    chromium = require_tool("chromium")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def why(lab, browser):
    """Notebook 2 run in one page, shared by the tree-panel tests (in file order)."""
    url, token, nbdir = lab
    page = browser.new_page(viewport={"width": 1500, "height": 1200})
    run_notebook(page, url, token, "02-why-this-split.ipynb", ".ll-tree-panel .ll-tree .js-plotly-plot g.slice")
    yield page, nbdir
    page.close()


def wait_quiet(page) -> None:
    """Wait until the panel's busy line is empty and the kernel is idle."""
    page.wait_for_function(
        """() => {
            const busy = document.querySelector('.ll-tree-panel .ll-busy');
            const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
            return !busy && k.status === 'idle';
        }""",
        timeout=60_000,
    )


def test_search_shows_the_layer_and_reason(why) -> None:
    page, _ = why
    panel = page.locator(".ll-tree-panel").first
    # The notebook opens with libllvm15 explained: big, merged into the catch-all layer.
    assert panel.locator(".ll-explain td.ll-x-reason").first.text_content().strip() == "merged"
    box = panel.locator(".ll-search input").first
    box.scroll_into_view_if_needed()
    box.fill("libc6")
    box.press("Enter")
    page.wait_for_function(
        """() => {
            const c = document.querySelector('.ll-tree-panel .ll-explain td.ll-x-name');
            return c && c.textContent.startsWith('libc6-');
        }""",
        timeout=60_000,
    )
    reason = panel.locator(".ll-explain td.ll-x-reason").first.text_content().strip()
    layer = panel.locator(".ll-explain td.ll-x-layer").first.text_content().strip()
    popular = panel.locator(".ll-explain td.ll-x-popular").first.text_content()
    assert reason == "popular" and re.fullmatch(r"\d+", layer) and popular.startswith("yes, popularity ")
    assert "kde-full" in panel.locator(".ll-explain td.ll-x-chain").first.text_content()
    # The path is outlined in the tree: one box with a thick black border.
    page.wait_for_function(
        """() => [...document.querySelectorAll('.ll-tree-panel .ll-tree g.slice path.surface')]
                 .some(p => getComputedStyle(p).strokeWidth === '4px' || p.style.strokeWidth === '4px')""",
        timeout=30_000,
    )
    panel.locator(".ll-explain").first.screenshot(path=str(ARTIFACTS / "browser-search-explain.png"))


def _slices(page):
    return page.locator(".ll-tree-panel .ll-tree .js-plotly-plot g.slice")


def test_hovering_a_tree_box_shows_its_name(why) -> None:
    page, _ = why
    box = page.locator(".ll-search input").first
    box.fill("")
    box.press("Enter")
    wait_quiet(page)
    page.wait_for_timeout(500)
    tree = page.locator(".ll-tree-panel .ll-tree .js-plotly-plot").first
    tree.scroll_into_view_if_needed()
    # The widest box below the image box: its label is the first line of its text.
    slices = _slices(page)
    best, width = None, 0.0
    for k in range(min(slices.count(), 40)):
        bb = slices.nth(k).bounding_box()
        label = slices.nth(k).locator("text.slicetext").first
        if (
            bb
            and bb["width"] * bb["height"] > width
            and label.count()
            and "kde-full" not in (label.text_content() or "")
        ):
            best, width = k, bb["width"] * bb["height"]
    assert best is not None
    target = slices.nth(best)
    bb = target.bounding_box()
    page.mouse.move(bb["x"] + bb["width"] / 2, bb["y"] + bb["height"] / 2)
    page.wait_for_selector(".ll-tree .hoverlayer .hovertext", timeout=10_000)
    hover = page.locator(".ll-tree .hoverlayer .hovertext").first.text_content()
    name = target.locator("text.slicetext").first.text_content()
    # Box text is "name" + "kept-alive size"; the hover starts with the same name, then sizes, layer and reason.
    first = hover.split("own ")[0].strip()
    assert first and name.startswith(first), (hover, name)
    assert "keeps" in hover and "layer " in hover and "flags:" in hover
    tree.screenshot(path=str(ARTIFACTS / "browser-tree-hover.png"))


def test_clicking_a_box_zooms_into_its_subtree(why) -> None:
    page, _ = why
    slices = _slices(page)
    before = slices.count()
    # Pick a box whose subtree has children: its hover says it keeps more alive than it owns.
    target = None
    for k in range(1, min(before, 40)):
        txt = slices.nth(k).locator("text.slicetext").first
        if not txt.count():
            continue
        bb = slices.nth(k).bounding_box()
        page.mouse.move(bb["x"] + bb["width"] / 2, bb["y"] + bb["height"] / 2)
        page.wait_for_timeout(150)
        hover = page.locator(".ll-tree .hoverlayer .hovertext")
        if hover.count():
            m = re.search(r"own ([\d.]+ \w?B), keeps ([\d.]+ \w?B)", hover.first.text_content())
            if m and m.group(1) != m.group(2):
                target = k
                break
    assert target is not None
    name = slices.nth(target).locator("text.slicetext").first.text_content().split("\n")[0]
    slices.nth(target).click()
    # After the zoom the clicked path is the root of the view: the path bar names it, and its box spans the plot.
    page.wait_for_function(
        """([name]) => [...document.querySelectorAll('.ll-tree .pathbar text, .ll-tree g.pathbar text')]
                 .some(t => t.textContent.length > 0)""",
        arg=[name],
        timeout=10_000,
    )
    page.wait_for_timeout(1000)  # the zoom transition
    first = _slices(page).first
    assert name[:10] in first.locator("text.slicetext").first.text_content()
    plot_box = page.locator(".ll-tree .js-plotly-plot .main-svg").first.bounding_box()
    assert first.bounding_box()["height"] > 0.8 * (plot_box["height"] - 60)
    page.locator(".ll-tree-panel .ll-tree").first.screenshot(path=str(ARTIFACTS / "browser-tree-zoom.png"))


def test_save_configuration_and_group_with_it(why) -> None:
    page, nbdir = why
    saved = nbdir / "layerlab-config.json"
    assert not saved.exists()
    button = page.locator(".ll-tree-panel .ll-save").first
    button.scroll_into_view_if_needed()
    button.click()
    page.wait_for_selector(".ll-tree-panel .ll-saved-note", timeout=30_000)
    assert "layerlab group GRAPH --config layerlab-config.json" in page.locator(".ll-saved-note").first.text_content()
    doc = json.loads(saved.read_text())
    assert doc["budget"] == 30 and doc["params"]["popularity_threshold"] == 100
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "layerlab.cli",
            "group",
            str(ROOT / "data" / "debian" / "kde-full.graph.json"),
            "-p",
            str(ROOT / "data" / "debian" / "popularity.json"),
            "--config",
            str(saved),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    layers = json.loads(out.stdout)
    assert len(layers) == 30 and sum(len(layer["contents"]) for layer in layers) == 1189
    # The same layers the panel shows: its table lists 30 layers.
    assert page.locator(".ll-tree-panel .ll-summary td.ll-layers").first.text_content().strip() == "30"
    page.locator(".ll-tree-panel").first.screenshot(path=str(ARTIFACTS / "browser-save-config.png"))


def test_a_slider_move_shows_the_busy_line_then_the_new_tree(why) -> None:
    page, _ = why
    panel = page.locator(".ll-tree-panel").first
    budget = panel.locator(".ll-budget").first
    budget.scroll_into_view_if_needed()
    draws = int(page.locator(".ll-tree-panel .ll-tree").first.get_attribute("data-draws") or 0)
    assert draws > 0 and panel.locator(".ll-summary td.ll-layers").first.text_content().strip() == "30"
    handle, track = budget.locator(".noUi-handle").first, budget.locator(".noUi-base").first
    hb, tb = handle.bounding_box(), track.bounding_box()
    page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
    page.mouse.down()
    page.mouse.move(tb["x"] + tb["width"] * 0.06, hb["y"] + hb["height"] / 2, steps=8)
    # While the panel regroups (a drag is applied 100 ms after its last move) the line above the tree says so.
    page.wait_for_selector(".ll-tree-panel .ll-busy", state="visible", timeout=10_000)
    assert "regrouping" in panel.locator(".ll-busy").first.text_content()
    panel.screenshot(path=str(ARTIFACTS / "browser-tree-busy.png"))
    page.mouse.up()
    # Then the busy line goes, and the tree has been redrawn in place for the new budget.
    wait_quiet(page)
    page.wait_for_timeout(300)
    wait_quiet(page)
    after = int(budget.locator(".widget-readout").text_content().strip())
    assert after < 30
    assert panel.locator(".ll-summary td.ll-layers").first.text_content().strip() == str(after)
    assert int(page.locator(".ll-tree-panel .ll-tree").first.get_attribute("data-draws")) > draws
    assert page.locator(".ll-tree-panel .ll-tree .js-plotly-plot").count() == 1 and _slices(page).count() > 20
    assert page.locator(".ll-tree-panel .ll-tree .gtitle").first.text_content().endswith(f" {after} layers)")


def test_compare_panel_diffs_two_configurations(lab, browser) -> None:
    url, token, _ = lab
    page = browser.new_page(viewport={"width": 1500, "height": 1200})
    try:
        run_notebook(page, url, token, "01-tune-thresholds.ipynb", ".ll-compare-panel td.ll-diff-moved")
        panel = page.locator(".ll-compare-panel").first
        moved_before = panel.locator("td.ll-diff-moved-set").first.text_content().strip()
        any_before = panel.locator("td.ll-diff-any").first.text_content().strip()
        assert re.fullmatch(r"[\d,]+ \([\d.]+ \w?B\)", moved_before)
        # Side B: switch the strategy to auto-layer.
        strategy_b = panel.locator(".ll-side-B .ll-strategy select").first
        strategy_b.scroll_into_view_if_needed()
        strategy_b.select_option("auto-layer")
        page.wait_for_function(
            """([before]) => {
                const c = document.querySelector('.ll-compare-panel td.ll-diff-any');
                return c && c.textContent.trim() !== before;
            }""",
            arg=[any_before],
            timeout=60_000,
        )
        page.wait_for_timeout(500)
        any_after = panel.locator("td.ll-diff-any").first.text_content().strip()
        chain_after = panel.locator("td.ll-diff-chain").first.text_content().strip()
        assert re.fullmatch(r"[\d.]+ \w?B", any_after) and re.fullmatch(r"[\d.]+ \w?B", chain_after)
        assert "auto-layer" in panel.locator("td.ll-config").nth(1).text_content()
        assert panel.locator(".ll-diff-paths tr").count() > 1  # moved paths listed, with their layers
        panel.locator(".ll-diff-box").first.scroll_into_view_if_needed()
        panel.locator(".ll-diff-box").first.screenshot(path=str(ARTIFACTS / "browser-compare-diff.png"))
        panel.locator(".ll-chart").first.screenshot(path=str(ARTIFACTS / "browser-compare-chart.png"))
    finally:
        page.close()


def test_workbench_command_prints_a_working_url(tmp_path: Path) -> None:
    import requests

    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerlab.cli", "workbench", "--notebooks", str(nbdir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        m = re.fullmatch(r"layerlab workbench: (http://127\.0\.0\.1:(\d+))/lab\?token=([0-9a-f]{32})", line)
        assert m, line
        base, token = m.group(1), m.group(3)
        assert (
            requests.get(f"{base}/api/status", headers={"Authorization": f"token {token}"}, timeout=10).status_code
            == 200
        )
        assert requests.get(f"{base}/api/contents", timeout=10).status_code == 403  # the token is required
        tree = requests.get(f"{base}/api/contents", headers={"Authorization": f"token {token}"}, timeout=10).json()
        assert tree["path"] == "" and tree["type"] == "directory"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_workbench_rejects_a_missing_directory(tmp_path: Path, capsys) -> None:
    from layerlab.cli import main

    assert main(["workbench", "--notebooks", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == f"layerlab: error: {tmp_path / 'nope'}: no such directory"
