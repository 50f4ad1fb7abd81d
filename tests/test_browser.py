"""The workbench in a real browser: JupyterLab, notebook 1, the budget slider.

Starts JupyterLab on a free port (on a copy of the notebooks, so nothing in the
repository is saved over), opens ``01-tune-thresholds.ipynb`` in headless
Debian Chromium driven by Playwright, runs all cells, drags the budget slider
of the tune panel and checks that the layer count and the pull figure shown
change.  A screenshot of the panel is saved to ``tests/artifacts/``.
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

from layerlab.cli.workbench import NOTEBOOK_DIR, free_port, jupyter_command, wait_for_server

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
        yield url, token
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
    return panel.locator("td.ll-layers").first.text_content().strip(), panel.locator("td.ll-pull").first.text_content().strip()


def test_budget_slider_changes_layers_and_pull(lab) -> None:
    chromium = require_tool("chromium")
    from playwright.sync_api import sync_playwright

    url, token = lab
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
            assert page.locator(".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
            assert page.locator(".jp-Notebook .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").count() == 0

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


def test_workbench_command_prints_a_working_url(tmp_path: Path) -> None:
    import requests

    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerlab.cli", "workbench", "--notebooks", str(nbdir)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        m = re.fullmatch(r"layerlab workbench: (http://127\.0\.0\.1:(\d+))/lab\?token=([0-9a-f]{32})", line)
        assert m, line
        base, token = m.group(1), m.group(3)
        assert requests.get(f"{base}/api/status", headers={"Authorization": f"token {token}"}, timeout=10).status_code == 200
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
