"""The examples in the docstrings of the image-set and metrics modules run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "layerlab.imageset",
    "layerlab.metrics",
    "layerlab.metrics.layering",
    "layerlab.metrics.pull",
    "layerlab.metrics.storage",
    "layerlab.metrics.overlap",
    "layerlab.metrics.distribution",
    "layerlab.metrics.churn",
    "layerlab.metrics.sweep",
    "layerlab.metrics.tune",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
