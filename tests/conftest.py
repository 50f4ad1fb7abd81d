"""Shared fixtures: bundled data paths and the tool-requirement rule.

A test that needs an external tool (nix, skopeo, umoci, docker-registry,
chromium) calls :func:`require_tool`.  On a user's machine a missing tool skips
the test; when ``LAYERLAB_REQUIRE_TOOLS=1`` or ``CI=true`` (as ``.ci/run``
sets) it fails the test instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
TESTDATA = Path(__file__).resolve().parent / "data"


def tools_required() -> bool:
    return os.environ.get("LAYERLAB_REQUIRE_TOOLS") == "1" or os.environ.get("CI", "").lower() == "true"


def require_tool(name: str) -> str:
    """Return the tool's path; skip (or fail under CI) when it is missing."""
    path = shutil.which(name)
    if path is None:
        if tools_required():
            pytest.fail(f"required tool {name!r} is not installed (CI must install it)")
        pytest.skip(f"{name} not installed")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def testdata_dir() -> Path:
    return TESTDATA


# ------------------------------------------------------------------ reliability counts
_OUTCOMES: dict[str, dict[str, int]] = {}


def _suite_of(nodeid: str) -> str | None:
    name = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    if name.startswith("test_fuzz_"):
        return "fuzz"
    if name.startswith("test_faults_"):
        return "faults"
    return None


def pytest_runtest_logreport(report) -> None:
    suite = _suite_of(report.nodeid)
    if suite is None or (report.when != "call" and not (report.failed or report.skipped)):
        return
    outcome = "failed" if report.failed else "skipped" if report.skipped else "passed"
    _OUTCOMES.setdefault(suite, {"passed": 0, "failed": 0, "skipped": 0})[outcome] += 1


def pytest_sessionfinish(session, exitstatus) -> None:
    """Write build/reliability.json when fuzz or fault tests ran: inputs tried, faults injected, outcomes."""
    import json
    import sys as _sys

    if not _OUTCOMES:
        return
    support = _sys.modules.get("tests.reliability_support")
    counts = dict(support.COUNTS) if support is not None else {}
    doc = {"counts": dict(sorted(counts.items())), "tests": _OUTCOMES}
    out = ROOT / "build" / "reliability.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
