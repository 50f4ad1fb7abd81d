"""The documentation cannot drift from the program.

* ``mkdocs build --strict`` succeeds: no broken link, no missing page, no
  docstring the API reference cannot render.
* Every fenced ``sh`` block of every page (and of the README) runs, in page
  order, in a scratch directory that sees the clone's ``data/``, ``nix/`` and
  ``notebooks/``, with ``layerlab`` on ``PATH``.  A block preceded by
  ``<!-- norun: reason -->`` is skipped (it needs the network, starts a server
  or installs packages); ``<!-- requires: tool ... -->`` names external tools
  the block needs (missing: skipped, or failed under CI).
* Every fenced ``pycon`` block runs as a doctest, in the same directory.
* Shell examples quote every ``!`` in single quotes (an interactive bash
  would expand it), and the pages name the real default strategy.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from layerlab.strategies import DEFAULT_STRATEGY

from .conftest import ROOT, require_tool

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)
MARK = re.compile(r"<!--\s*(norun|requires):?\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str
    norun: str | None
    requires: tuple[str, ...]


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of ``page`` with the marker comment just above each."""
    text = page.read_text()
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        norun = mark.group(2) if mark and mark.group(1) == "norun" else None
        requires = tuple(mark.group(2).split()) if mark and mark.group(1) == "requires" else ()
        out.append(Block(page, text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2), norun, requires))
    return out


def unquoted_bang(code: str) -> str | None:
    """The first line holding a ``!`` outside single quotes, or None (comments are ignored)."""
    for line in code.splitlines():
        quoted = False
        for n, ch in enumerate(line):
            if ch == "'":
                quoted = not quoted
            elif ch == "#" and not quoted and (n == 0 or line[n - 1] in " \t"):
                break
            elif ch == "!" and not quoted:
                return line
    return None


def test_unquoted_bang_finder() -> None:
    assert unquoted_bang("layerlab closure path!nix/testpkgs git") is not None
    assert unquoted_bang("layerlab closure 'path!nix/testpkgs' git  # path!x in a comment") is None
    assert unquoted_bang("echo 'a' b!c") is not None


def test_site_builds_strictly(tmp_path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "site" / "api" / "index.html").is_file()
    assert "ClosureGraph" in (tmp_path / "site" / "api" / "index.html").read_text()


def test_readme_is_a_front_page() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 10_000
    assert "make demo" in readme and "make test" in readme and ".venv/bin/layerlab" in readme
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_shell_examples_quote_every_bang(page) -> None:
    for b in blocks(page):
        if b.lang in ("sh", "bash", "console", "shell"):
            bad = unquoted_bang(b.code)
            assert bad is None, f"{page.name}:{b.line}: quote sources in single quotes: {bad}"


def test_pages_name_the_real_default() -> None:
    named = {(p.name, m) for p in PAGES for m in re.findall(r"default strategy is `([\w-]+)`", p.read_text())}
    assert named, "no page names the default strategy"
    assert {m for _, m in named} == {DEFAULT_STRATEGY}, named


def _scratch(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    work = tmp_path / "work"
    work.mkdir()
    for name in ("data", "nix", "notebooks"):
        (work / name).symlink_to(ROOT / name)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "LAYERLAB_CACHE_DIR": str(tmp_path / "cache"),
        "LAYERLAB_STORE": str(tmp_path / "store"),
        "HOME": str(tmp_path / "home"),
        "NO_COLOR": "1",
    }
    return work, env


def run_shell(code: str, cwd: Path, env: dict[str, str], timeout: float = 600) -> tuple[int, str]:
    """Run a shell block in its own process group; on timeout the whole group is killed (a server started by a
    block that should have been marked norun cannot hang the suite)."""
    import signal

    proc = subprocess.Popen(
        ["bash", "-e", "-o", "pipefail", "-c", code],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        return -1, f"timed out after {timeout:.0f} s (a long-running command needs <!-- norun: reason -->)\n{err}"
    return proc.returncode, err


RUNNABLE = [(p, b) for p in PAGES for b in blocks(p) if b.lang in ("sh", "pycon") and b.norun is None]


@pytest.mark.parametrize("page", sorted({p for p, _ in RUNNABLE}), ids=lambda p: p.name)
def test_page_examples_run(page, tmp_path, monkeypatch) -> None:
    work, env = _scratch(tmp_path)
    ran = 0
    globs: dict = {}
    for b in blocks(page):
        if b.lang not in ("sh", "pycon") or b.norun is not None:
            continue
        for tool in b.requires:
            require_tool(tool)
        where = f"{page.name}:{b.line}"
        if b.lang == "sh":
            code, err = run_shell(b.code, work, env)
            assert code == 0, f"{where}: exit {code}\n{b.code}\n{err[-3000:]}"
        else:
            monkeypatch.chdir(work)
            for key in ("LAYERLAB_CACHE_DIR", "LAYERLAB_STORE"):
                monkeypatch.setenv(key, env[key])
            test = doctest.DocTestParser().get_doctest(b.code, globs, where, str(page), b.line)
            runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
            runner.run(test, clear_globs=False)
            globs.update(test.globs)  # later blocks of the page see earlier names
            assert runner.failures == 0, f"{where}: {runner.failures} of {runner.tries} examples failed"
        ran += 1
    assert ran > 0, f"{page.name}: every example is marked norun"


def test_every_norun_says_why() -> None:
    for page in PAGES:
        for b in blocks(page):
            if b.norun is not None:
                assert b.norun.strip(), f"{page.name}:{b.line}: norun without a reason"


def test_benchmarks_page_is_written_from_the_records(tmp_path) -> None:
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("write_page", ROOT / "benchmarks" / "write_page.py")
    assert spec is not None and spec.loader is not None
    wp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wp)
    records = tmp_path / "bench"
    records.mkdir()
    common = {"machine": "x86_64, 2 cores", "date": "2026-01-02", "note": None, "goal": None, "estimate": False}
    rows = [
        {
            "script": "bench_b",
            "figure": "group kde",
            "value": 7.5,
            "unit": "ms",
            "baseline": "networkx | port",
            "baseline_value": 45.0,
            "ratio": 6.0,
            **common,
            "goal": "< 20 ms",
        },
        {
            "script": "bench_b",
            "figure": "Go program",
            "value": 300.0,
            "unit": "s",
            "baseline": None,
            "baseline_value": None,
            "ratio": None,
            **common,
            "estimate": True,
        },
    ]
    (records / "bench_b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (records / "bench_a.jsonl").write_text(json.dumps({**rows[0], "script": "bench_a", "figure": "tar"}) + "\n")
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:begin -->\nold\n<!-- results:end -->\ntail\n")
    page = tmp_path / "benchmarks.md"
    assert wp.main(["--records", str(records), "--page", str(page), "--readme", str(readme)]) == 0
    text = page.read_text()
    assert text.index("## bench_a") < text.index("## bench_b")  # scripts in name order
    assert "| group kde | 7.5 ms | networkx \\| port: 45 ms | 6× | < 20 ms | x86_64, 2 cores | 2026-01-02 |" in text
    assert "| Go program *(estimate)* | 300 s |" in text
    front = readme.read_text()
    assert "old" not in front and "| group kde | 7.5 ms | 6× | < 20 ms |" in front and front.endswith("tail\n")
    assert "Go program" not in front  # only figures with a goal reach the front page
    first = page.read_bytes()
    wp.main(["--records", str(records), "--page", str(page), "--readme", str(readme)])
    assert page.read_bytes() == first  # same records, same bytes
