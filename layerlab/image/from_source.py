"""From a package source and package names to what :func:`~.builder.build_image` takes.

``layerlab build SOURCE PKG...`` and ``layerlab serve`` both go through
:func:`plan_from_source`, so one request gives one image whichever of them
builds it:

1. Nix builds the packages and reports their runtime closure
   (:func:`layerlab.sources.nix.closure`);
2. the strategy groups the closure into ``budget - 1`` layers, one slot being
   kept for the customisation layer (all ``budget`` without it);
3. the customisation layer joins the packages **in the order they were
   named** (then any other store path the names resolved to), so naming the
   same packages in the same order gives the same image.

Example:
    >>> from layerlab.strategies import get_strategy
    >>> plan = plan_from_source("path!nix/testpkgs", ["hello"], get_strategy("nixery"), None, 3)  # doctest: +SKIP
    >>> [p.split("-", 1)[1] for p in plan.packages]  # doctest: +SKIP
    ['hello-2.12.1']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from ..sources.nix import NixClosure, PackageSource, closure
from ..strategies.base import Context, Layer, Strategy

__all__ = ["SourcePlan", "customisation_order", "plan_from_source"]


@dataclass(frozen=True)
class SourcePlan:
    """What an image of some packages of a source is made of.

    Attributes:
        closure: the packages' runtime closure, as Nix reported it.
        layers: the strategy's layers of the closure.
        packages: the store paths joined into the customisation layer, in
            order (empty without a customisation layer).
    """

    closure: NixClosure
    layers: tuple[Layer, ...]
    packages: tuple[str, ...]


def customisation_order(
    names: Sequence[str], resolved: Mapping[str, str], extra: Sequence[str] = ()
) -> tuple[str, ...]:
    """The store paths to join, in the order their names were given, each once.

    Example:
        >>> customisation_order(["git", "curl", "git"], {"curl": "/s/c", "git": "/s/g"}, ["/s/c", "/s/x"])
        ('/s/g', '/s/c', '/s/x')
    """
    out: list[str] = []
    for name in names:
        path = resolved.get(name)
        if path and path not in out:
            out.append(path)
    out += [p for p in extra if p not in out]
    return tuple(out)


def plan_from_source(
    source: PackageSource | str,
    packages: Sequence[str],
    strategy: Strategy,
    context: Context | None,
    budget: int,
    *,
    customisation: bool = True,
    settings: Mapping[str, str] | None = None,
    system: str | None = None,
    timeout: float = 1800.0,
    progress: Callable | None = None,
) -> SourcePlan:
    """Build ``packages`` of ``source`` with Nix and group their closure.

    Args:
        budget: layers of the whole image, the customisation layer included.
        customisation: whether one layer is kept for the joined packages.
        settings, system, timeout, progress: handed to
            :func:`layerlab.sources.nix.closure`.

    Raises:
        ConfigError: no package named, or a budget that leaves no layer for
            the closure.
        NotFoundError, NixError: as :func:`layerlab.sources.nix.closure`.

    Example:
        >>> from layerlab.sources.nix import OFFLINE_CONFIG
        >>> from layerlab.strategies import get_strategy
        >>> plan = plan_from_source("path!nix/testpkgs", ["hello", "curl"], get_strategy("nixery"), None, 4,
        ...                         settings=OFFLINE_CONFIG)  # doctest: +SKIP
        >>> len(plan.layers) <= 3, [p.split("-", 1)[1] for p in plan.packages]  # doctest: +SKIP
        (True, ['hello-2.12.1', 'curl-8.7.1'])
    """
    if not packages:
        raise ConfigError("name at least one package after the source", source="layerlab build")
    store_budget = budget - (1 if customisation else 0)
    if store_budget < 1:
        raise ConfigError(
            f"a budget of {budget} leaves no layer for the closure besides the customisation layer", source="--budget"
        )
    result = closure(source, packages, settings=settings, system=system, timeout=timeout, progress=progress)
    layers = strategy.group(result.graph, context or Context(), store_budget)
    joined = customisation_order(packages, result.packages, result.store_paths) if customisation else ()
    return SourcePlan(result, tuple(layers), joined)
