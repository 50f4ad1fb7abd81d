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
