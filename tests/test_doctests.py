"""Every docstring example in the package runs and shows what it claims."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import layerlab

MODULES = sorted(m.name for m in pkgutil.walk_packages(layerlab.__path__, "layerlab.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_most_modules_have_examples() -> None:
    with_examples = [n for n in MODULES if doctest.DocTestFinder().find(importlib.import_module(n)) and any(
        t.examples for t in doctest.DocTestFinder().find(importlib.import_module(n))
    )]
    assert len(with_examples) >= 0.6 * len(MODULES), sorted(set(MODULES) - set(with_examples))
