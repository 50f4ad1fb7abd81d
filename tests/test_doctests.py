"""Every docstring example in the package runs and shows what it claims.

Every module outside the command line carries examples; the test fails if one
loses them.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import layerlab

MODULES = sorted(m.name for m in pkgutil.walk_packages(layerlab.__path__, "layerlab.") if not m.name.endswith("__main__"))
#: Modules whose behaviour is shown by their tests rather than examples.
WITHOUT_EXAMPLES = {"layerlab.sources", "layerlab.image"} | {m for m in MODULES if m.startswith("layerlab.cli")}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    if name not in WITHOUT_EXAMPLES:
        assert result.attempted > 0, f"{name} has no docstring examples"
