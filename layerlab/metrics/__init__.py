"""Metrics of a layering over an image set: what it costs a registry and its clients.

Every metric takes a :class:`Layering` (the layers of every image of an
:class:`~layerlab.imageset.ImageSet`, built with :func:`layer_imageset`) and
returns a :class:`MetricResult`: a tidy pandas DataFrame (one row per image,
pair or layer) plus a summary dict.  One family per module:

==================  ==========================================================
:mod:`.pull`        bytes and layers a client pulls (any-digest / ChainID
                    rules, starting cache), ideal and worst bounds
:mod:`.storage`     registry storage: unique layer bytes, duplication
:mod:`.overlap`     pairwise overlap: shared layers against shared paths
:mod:`.churn`       bytes re-pushed and re-pulled when one package changes
:mod:`.scorecard`   the four figures: pull and update, any digest and ChainID
:mod:`.distribution` layer counts, size distribution, headroom under 127
:mod:`.sweep`       grids / random samples of parameters x budgets x strategies
:mod:`.tune`        parameter search with sensitivity and train/test figures
==================  ==========================================================

Example:
    >>> from layerlab.imageset import default_imageset
    >>> from layerlab.strategies import get_strategy
    >>> lay = layer_imageset(get_strategy("nixery"), default_imageset(), budget=30)
    >>> round(pull_cost(lay).summary["ratio"], 2)
    1.77
"""

from .churn import churn, update_costs
from .distribution import LAYER_LIMIT, layer_counts, layer_sizes
from .layering import Layering, LayerTable, MetricResult, intern_layers, layer_imageset
from .overlap import overlap, overlap_matrix
from .pull import RULES, compare_pull, ideal_bytes, pull_bytes_of, pull_cost, simulate_pull, worst_bytes
from .scorecard import FIGURES, scorecard, scorecard_table
from .storage import registry_storage
from .sweep import default_space, grid, sample, sweep, write_frame
from .tune import TuneResult, tune

__all__ = [
    "Layering",
    "LayerTable",
    "MetricResult",
    "intern_layers",
    "layer_imageset",
    "RULES",
    "compare_pull",
    "ideal_bytes",
    "pull_bytes_of",
    "pull_cost",
    "simulate_pull",
    "worst_bytes",
    "churn",
    "update_costs",
    "FIGURES",
    "scorecard",
    "scorecard_table",
    "LAYER_LIMIT",
    "layer_counts",
    "layer_sizes",
    "overlap",
    "overlap_matrix",
    "registry_storage",
    "default_space",
    "grid",
    "sample",
    "sweep",
    "write_frame",
    "TuneResult",
    "tune",
]
