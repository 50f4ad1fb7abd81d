"""tools/scorecard_table.py: the tables land between the markers, reruns are byte-identical, --check notices drift."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from layerlab.strategies import DEFAULT_STRATEGY

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("scorecard_table", ROOT / "tools" / "scorecard_table.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["scorecard_table"] = mod
    spec.loader.exec_module(mod)
    return mod


PAGE = """# Page

kept above

<!-- scorecard:full:start -->
old table
<!-- scorecard:full:end -->

kept between

<!-- scorecard:heldout:start -->
<!-- scorecard:heldout:end -->
kept below
"""


def test_tables_written_between_markers(tool, tmp_path: Path, monkeypatch, capsys) -> None:
    doc = tmp_path / "page.md"
    doc.write_text(PAGE)
    chosen = tmp_path / "heldout.json"
    chosen.write_text('{"strategy": "keystone", "even": {"alpha": 0.5}, "odd": {"beta": 0.0}}')
    monkeypatch.setattr(tool, "HELDOUT_FILE", chosen)
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    assert tool.main(["--doc", str(doc), "--sample", "12"]) == 0
    text = doc.read_text()
    assert "old table" not in text
    for kept in ("kept above", "kept between", "kept below"):
        assert kept in text
    full = text.split("<!-- scorecard:full:start -->")[1].split("<!-- scorecard:full:end -->")[0]
    assert "update figures over 12 sampled of 1768 (image, path) pairs" in full
    assert f"| `{DEFAULT_STRATEGY}` (default) |" in full and "| `single-layer` |" in full
    # single-layer re-ships whole images: its pull figures are one number at every budget.
    row = next(line for line in full.splitlines() if line.startswith("| `single-layer`"))
    pull_any = row.split("|")[2].strip().split(" / ")
    assert len(set(pull_any)) == 1
    held = text.split("<!-- scorecard:heldout:start -->")[1]
    assert "| odd | `keystone` chosen on even (alpha=0.5) |" in held
    assert "| even | `keystone` chosen on odd (beta=0.0) |" in held
    assert "| odd | `keystone` defaults |" in held and "| even | `auto-layer` |" in held
    # A rerun writes the same bytes; --check agrees, and notices an edit.
    assert tool.main(["--doc", str(doc), "--sample", "12"]) == 0
    assert doc.read_text() == text
    assert tool.main(["--doc", str(doc), "--sample", "12", "--check"]) == 0
    doc.write_text(text.replace("kept below", "edited below").replace("| `single-layer` |", "| `x` |"))
    assert tool.main(["--doc", str(doc), "--sample", "12", "--check"]) == 1
    capsys.readouterr()


def test_errors_are_one_line(tool, tmp_path: Path, monkeypatch, capsys) -> None:
    doc = tmp_path / "page.md"
    doc.write_text("# no markers\n")
    assert tool.main(["--doc", str(doc), "--sample", "5"]) == 2
    err = capsys.readouterr().err
    assert "no <!-- scorecard:full:start --> ... <!-- scorecard:full:end --> markers" in err and err.count("\n") == 1
    assert (
        tool.replace_block("a<!-- x:start -->b<!-- x:end -->c", "x", ["new"], "s")
        == "a<!-- x:start -->\nnew\n<!-- x:end -->c"
    )
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    monkeypatch.setattr(tool, "HELDOUT_FILE", bad)
    doc.write_text(PAGE)
    assert tool.main(["--doc", str(doc), "--sample", "5"]) == 2
    assert 'bad.json: expected {"strategy": NAME' in capsys.readouterr().err
