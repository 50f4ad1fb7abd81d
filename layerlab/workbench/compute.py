"""The compute step of the workbench: a configuration and an image set give an outcome.

A :class:`Config` (strategy name, parameter values, budget, cache rule) plus an
image set gives an :class:`Outcome` through :func:`evaluate`: the layers of
every image (:func:`layerlab.metrics.layer_imageset`), the pull cost over the
set (:func:`layerlab.metrics.pull_cost`) and the layers of the image on
display.  :class:`OutcomeCache` memoises outcomes per configuration (a
bounded, per-panel cache; no global state), so switching the displayed image
or going back to a previous slider position costs nothing.

Example:
    >>> from layerlab.imageset import default_imageset
    >>> s = default_imageset().subset(["img-curl", "img-git"])
    >>> out = evaluate(s, Config("nixery", budget=10), "img-git")
    >>> out.layer_count, out.pulled_bytes >= out.ideal_bytes
    (9, True)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import ConfigError, LayerlabError
from ..imageset import ImageSet
from ..metrics import Layering, layer_imageset, pull_cost
from ..plot import format_bytes
from ..strategies import get_strategy, strategy_class
from ..strategies.base import Context, Layer

__all__ = ["Config", "Outcome", "evaluate", "OutcomeCache"]


def _freeze(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(
        sorted(
            (k, orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode() if isinstance(v, dict) else v)
            for k, v in params.items()
        )
    )


@dataclass(frozen=True)
class Config:
    """One layering configuration: what a set of controls holds.

    Attributes:
        strategy: a strategy or preset name (``layerlab strategies``).
        params: parameter values on top of the preset (frozen as sorted pairs;
            dict values as JSON text).
        budget: maximum layers per image.
        rule: the pull rule, ``any`` (any digest) or ``chain`` (ChainID prefix).

    Example:
        >>> Config("nixery", {"size_threshold": 10**7}, 30).values()
        {'size_threshold': 10000000}
    """

    strategy: str
    params: Any = ()
    budget: int = 30
    rule: str = "any"

    def __post_init__(self) -> None:
        if isinstance(self.params, Mapping):
            object.__setattr__(self, "params", _freeze(self.params))

    def values(self) -> dict[str, Any]:
        """The parameter overrides as a dict (JSON text decoded back).

        Example:
            >>> Config("nixery", {"forced_popularity": {"x*": 5}}).values()
            {'forced_popularity': {'x*': 5}}
        """
        out = {}
        for k, v in self.params:
            out[k] = orjson.loads(v) if isinstance(v, str) and v.startswith("{") else v
        return out

    def build(self):
        """The configured strategy.

        Raises:
            ConfigError: unknown strategy or an invalid parameter value.

        Example:
            >>> Config("nixery-2022", {"size_threshold": 10**7}).build().popularity_threshold
            100
        """
        return get_strategy(self.strategy, **self.values())

    def label(self) -> str:
        """A short description: ``nixery, budget 30, size_threshold=10 MB``.

        Example:
            >>> Config("nixery", {"size_threshold": 10**7}, 30).label()
            'nixery, budget 30, size_threshold=10 MB'
        """
        parts = [self.strategy, f"budget {self.budget}"]
        cls, _ = strategy_class(self.strategy)
        for k, v in self.values().items():
            p = cls.param(k)
            parts.append(f"{k}={format_bytes(v) if p.kind == 'bytes' and v is not None else v}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Outcome:
    """What a configuration does to an image set.

    Attributes:
        config: the configuration.
        layering: the layers of every image.
        image: the image on display.
        layers: that image's layers, in manifest order.
        pull: the pull cost summary (:func:`layerlab.metrics.pull_cost`).
        cumulative: cumulative pulled bytes after each image, in pull order.
        cumulative_ideal: the same for the ideal bound.
    """

    config: Config
    layering: Layering
    image: str
    layers: tuple[Layer, ...]
    pull: Mapping[str, Any]
    cumulative: tuple[int, ...]
    cumulative_ideal: tuple[int, ...]

    @property
    def layer_count(self) -> int:
        """Layers of the displayed image."""
        return len(self.layers)

    @property
    def pulled_bytes(self) -> int:
        """Bytes one client pulls for the whole set."""
        return int(self.pull["pulled_bytes"])

    @property
    def ideal_bytes(self) -> int:
        """The ideal bound for the set (one layer per path)."""
        return int(self.pull["ideal_bytes"])

    @property
    def ratio(self) -> float:
        """Pulled bytes as a multiple of the ideal."""
        return float(self.pull["ratio"])

    @property
    def image_bytes(self) -> int:
        """Size of the displayed image."""
        return sum(layer.size or 0 for layer in self.layers)

    @property
    def largest_share(self) -> float:
        """Share of the displayed image in its largest layer."""
        total = self.image_bytes
        return max((layer.size or 0 for layer in self.layers), default=0) / total if total else 0.0

    def with_image(self, image: str | int) -> Outcome:
        """The same outcome displaying another image of the set, by name or index (nothing recomputed).

        Example:
            >>> from layerlab.imageset import default_imageset
            >>> out = evaluate(default_imageset().subset(["img-curl", "img-git"]), Config("nixery", budget=5))
            >>> other = out.with_image("img-curl")
            >>> other.image, other.layering is out.layering
            ('img-curl', True)
        """
        pos = self.layering.imageset.position(image)
        return Outcome(
            self.config,
            self.layering,
            self.layering.imageset.images[pos].name,
            tuple(self.layering.layers[pos]),
            self.pull,
            self.cumulative,
            self.cumulative_ideal,
        )


def evaluate(
    imageset: ImageSet, config: Config, image: str | int | None = None, *, context: Context | None = None
) -> Outcome:
    """Group every image of ``imageset`` with ``config`` and measure the pull cost (a pure function).

    Args:
        imageset: the images, in pull order.
        config: strategy, parameters, budget and pull rule.
        image: the image whose layers the outcome displays (default: the
            largest image of the set).
        context: popularity; defaults to the image set's table.

    Raises:
        ConfigError: unknown strategy or image, invalid parameter.
        StrategyError: the strategy cannot run on these graphs.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> out = evaluate(default_imageset(), Config("nixery", budget=94))
        >>> out.image, round(out.ratio, 2)
        ('img-rustc', 1.77)
    """
    strategy = config.build()
    lay = layer_imageset(strategy, imageset, config.budget, context, check=False)
    frame, summary = pull_cost(lay, config.rule)
    if image is None:
        pos = max(range(len(imageset)), key=lambda i: (imageset.images[i].bytes, -i))
    else:
        try:
            pos = imageset.position(image)
        except LayerlabError:
            raise ConfigError(
                f"no image {image!r} in the set (images: {', '.join(imageset.names)})", source=imageset.name
            ) from None
    return Outcome(
        config=config,
        layering=lay,
        image=imageset.images[pos].name,
        layers=tuple(lay.layers[pos]),
        pull=summary,
        cumulative=tuple(int(x) for x in frame["cumulative_pulled_bytes"]),
        cumulative_ideal=tuple(int(x) for x in frame["cumulative_ideal_bytes"]),
    )


@dataclass
class OutcomeCache:
    """:func:`evaluate` with a bounded memo per configuration, for one image set.

    Example:
        >>> from layerlab.imageset import default_imageset
        >>> ev = OutcomeCache(default_imageset().subset(["img-curl", "img-git"]))
        >>> a = ev(Config("nixery", budget=5), "img-curl"); b = ev(Config("nixery", budget=5), "img-git")
        >>> a.layering is b.layering, ev.misses
        (True, 1)
    """

    imageset: ImageSet
    size: int = 64
    misses: int = 0
    _memo: OrderedDict = field(default_factory=OrderedDict, repr=False)

    def __call__(self, config: Config, image: str | int | None = None) -> Outcome:
        hit = self._memo.get(config)
        if hit is None:
            self.misses += 1
            hit = evaluate(self.imageset, config)
            self._memo[config] = hit
            while len(self._memo) > self.size:
                self._memo.popitem(last=False)
        else:
            self._memo.move_to_end(config)
        return hit if image is None or image == hit.image else hit.with_image(image)
