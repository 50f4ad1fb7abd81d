"""An installed layerlab works on its own: sdist and wheel built here, the wheel installed into a fresh environment.

The wheel is built from the sdist (as pip does for a package from an index),
so both must carry the bundled data, the notebooks and the offline package
set.  The fresh virtual environment holds only layerlab itself; its
dependencies are read from this test environment's site-packages through a
plain path entry (no ``.pth`` processing, so the source tree's editable
install stays invisible), which keeps the test offline and quick.  Jupyter's
data files (kernel specs, nbconvert templates) are found the same way through
``JUPYTER_PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT, tools_required

pytestmark = pytest.mark.slow

#: What every installed copy must hold, relative to the ``layerlab`` package.
BUNDLED = (
    "data/debian/popularity.json",
    "data/debian/kde-full.graph.json",
    "data/debian/imageset/img-nginx.graph.json",
    "notebooks/01-tune-thresholds.ipynb",
    "notebooks/04-build-a-real-image.ipynb",
    "nix/lookup.nix",
    "nix/testpkgs/default.nix",
    "workbench/lab/overrides.json",
    "workbench/plotly_view.js",
    "py.typed",
)

#: Top-level directories of the source tree copied for the build (never the tree itself: builds write into it).
SOURCES = ("layerlab", "data", "notebooks", "nix")


def _build(hook: str, source: Path, out: Path) -> Path:
    """Run a PEP 517 hook of setuptools in ``source``; return the file it wrote."""
    code = f"import sys; from setuptools import build_meta as b; print(b.{hook}(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=source, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]


def _copy_tree(dest: Path) -> None:
    import shutil

    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints", "universe.graph.json.xz")
    dest.mkdir()
    for name in SOURCES:
        shutil.copytree(ROOT / name, dest / name, symlinks=True, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("dist")
    src = work / "src"
    _copy_tree(src)
    sdist = _build("build_sdist", src, work)
    with tarfile.open(sdist) as tar:
        tar.extractall(work / "unpacked", filter="data")
    (unpacked,) = (work / "unpacked").iterdir()
    wheel = _build("build_wheel", unpacked, work)
    return sdist, wheel


@pytest.fixture(scope="module")
def installed(dists, tmp_path_factory) -> tuple[Path, Path]:
    """A fresh virtual environment with the wheel installed; returns (its bin directory, its site-packages)."""
    _, wheel = dists
    venv = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "_layerlab_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    return venv / "bin", site


def _snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in d.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_sdist_and_wheel_carry_the_bundled_files(dists) -> None:
    sdist, wheel = dists
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        links = [m.name for m in tar.getmembers() if m.issym() or m.islnk()]
    assert {f"layerlab/{f}" for f in BUNDLED} <= names
    assert not links, f"links in the sdist: {links}"
    with zipfile.ZipFile(wheel) as z:
        wnames = set(z.namelist())
    assert {f"layerlab/{f}" for f in BUNDLED} <= wnames
    assert len([n for n in wnames if n.startswith("layerlab/data/debian/imageset/")]) == 30
    assert not any("universe" in n for n in wnames)  # the 6 MB stress-test graph stays in the source tree
    for helper in ("sources/_refscan", "_popindex", "strategies/_autolayer"):
        assert f"layerlab/{helper}.c" in names and f"layerlab/{helper}.pyi" in wnames
        if shutil.which("gcc") or tools_required():  # the C helpers are compiled where a compiler is
            assert any(n.startswith(f"layerlab/{helper}.") and n.endswith(".so") for n in wnames), wnames


def test_installed_commands_run_on_bundled_data(installed, tmp_path) -> None:
    bindir, site = installed
    layerlab = str(bindir / "layerlab")
    env = {
        **os.environ,
        "LAYERLAB_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
    }
    before = _snapshot(site)

    def run(*args: str) -> str:
        done = subprocess.run(
            [layerlab, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"layerlab {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout

    where = subprocess.run(
        [bindir / "python", "-c", "import layerlab.imageset as m; print(m.DATA_DIR)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(site), where  # the installed copy, not the source tree
    assert run("--version").startswith("layerlab ")
    data = Path(where) / "debian"
    assert "paths   1,189" in run("info", str(data / "kde-full.graph.json"))
    pulled = run("pull", "-b", "30")
    assert "images    30 (debian-30)" in pulled and "ratio" in pulled
    layers = run("group", str(data / "kde-full.graph.json"), "-p", str(data / "popularity.json"), "-b", "10")
    assert layers.count('"contents"') == 10
    run("report", "--only", "01", "--out", str(tmp_path / "report"))
    page = (tmp_path / "report" / "01-tune-thresholds.html").read_text()
    assert "<html" in page and "cdnjs" not in page
    assert _snapshot(site) == before  # nothing written into site-packages


def test_installed_workbench_opens_a_working_copy(installed, tmp_path) -> None:
    bindir, site = installed
    env = {
        **os.environ,
        "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
        "JUPYTERLAB_DIR": str(Path(sys.prefix) / "share" / "jupyter" / "lab"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    before = _snapshot(site)
    proc = subprocess.Popen(
        [bindir / "layerlab", "workbench"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("layerlab workbench: http"):
                break
        assert lines[0] == f"layerlab workbench: notebooks in {tmp_path / 'layerlab-notebooks'}", lines
        assert lines[-1].startswith("layerlab workbench: http://127.0.0.1:"), lines
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    copied = sorted(p.name for p in (tmp_path / "layerlab-notebooks").glob("*.ipynb"))
    assert copied == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert _snapshot(site) == before
