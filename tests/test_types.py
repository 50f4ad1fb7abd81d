"""The package type-checks cleanly with mypy, under the ``[tool.mypy]`` settings in pyproject.toml.

mypy runs in a subprocess of the interpreter running the tests (it is in the
``test`` extra), from the repository root so that it reads the project's
configuration and keeps its incremental cache in ``.mypy_cache``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_mypy(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,  # the tests read the exit status and output
    )


@pytest.mark.slow
def test_package_type_checks() -> None:
    r = run_mypy("--config-file", str(ROOT / "pyproject.toml"))
    output = (r.stdout + r.stderr).strip()
    assert r.returncode == 0, f"mypy reports errors in layerlab:\n{output}"
    assert output.startswith("Success: no issues found"), output


def test_a_type_error_fails_the_check(tmp_path: Path) -> None:
    # The same settings on a one-line module with a wrong annotation: mypy must
    # exit non-zero and name the file, line and error code.
    cfg = tmp_path / "mypy.ini"
    cfg.write_text("[mypy]\npython_version = 3.11\nignore_missing_imports = True\nwarn_unused_ignores = True\n")
    (tmp_path / "bad.py").write_text('width: int = "wide"\nok = 1  # type: ignore\n')
    r = run_mypy("--config-file", str(cfg), "--cache-dir", str(tmp_path / "cache"), "bad.py", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    expected = 'bad.py:1: error: Incompatible types in assignment (expression has type "str", variable has type "int")'
    assert f"{expected}  [assignment]" in r.stdout
    assert 'bad.py:2: error: Unused "type: ignore" comment' in r.stdout
    assert "Found 2 errors in 1 file" in r.stdout
