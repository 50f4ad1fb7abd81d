"""The code passes the linter and the formatter, under the ``[tool.ruff]`` settings in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREES = ["layerlab", "tests", "benchmarks", "tools"]


def ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_ruff_check_finds_nothing() -> None:
    r = ruff("check", "--no-cache", *TREES)
    assert r.returncode == 0, f"ruff check reports problems:\n{r.stdout}{r.stderr}"


def test_the_code_is_formatted() -> None:
    r = ruff("format", "--check", "--no-cache", "--output-format", "concise", *TREES)
    listing = "\n".join(line.split(":", 1)[0] for line in r.stdout.splitlines() if "would be reformatted" in line)
    assert r.returncode == 0, f"files ruff format would change (run `ruff format {' '.join(TREES)}`):\n{listing}"


def test_the_linter_runs_with_the_project_settings(tmp_path: Path) -> None:
    # The project's settings on a file with a too-long line, an unused import and a stale noqa marker.
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "bad.py").write_text("import os\n" + "x = 1  # noqa: E501\n" + "y = '" + "a" * 130 + "'\n")
    r = ruff("check", "--no-cache", "--output-format", "concise", "bad.py", cwd=tmp_path)
    assert r.returncode == 1
    for code in ("F401", "RUF100", "E501"):
        assert f" {code} " in r.stdout, r.stdout
