"""What a tuned configuration looks like in the peers' own build functions.

:func:`nix_snippets` gives, for a configured strategy and a budget, the Nix
expression fragment that makes nixpkgs' ``dockerTools.buildLayeredImage`` /
``streamLayeredImage`` (``maxLayers``, ``layeringPipeline``) or nix2container's
``buildImage`` (``maxLayers``) group the closure the same way, where such an
equivalent exists.  The correspondences are the ones the strategies reproduce
(see their modules): dockerTools counts its customisation layer in
``maxLayers``, so ``maxLayers = budget + 1``; nix2container's ``maxLayers``
is the number of store-path layers.

Example:
    >>> from layerlab.strategies import get_strategy
    >>> print(nix_snippets(get_strategy("auto-layer"), 30)["nixpkgs"])
    pkgs.dockerTools.streamLayeredImage {
      # name, tag, contents, config ...
      maxLayers = 31;
    }
"""

from __future__ import annotations

from typing import Any

import orjson

from .base import Strategy

__all__ = ["nix_value", "nix_snippets"]


def nix_value(value: Any) -> str:
    """A JSON value written as a Nix expression.

    Example:
        >>> nix_value([["popularity_contest"], ["limit_layers", 20], {"children_of": "/nix/store/x"}])
        '[ [ "popularity_contest" ] [ "limit_layers" 20 ] { children_of = "/nix/store/x"; } ]'
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return orjson.dumps(value).decode().replace("${", "\\${")
    if isinstance(value, (list, tuple)):
        return "[ " + " ".join(nix_value(v) for v in value) + (" ]" if value else "]")
    if isinstance(value, dict):
        body = " ".join(
            f"{orjson.dumps(str(k)).decode()} = {nix_value(v)};"
            if not str(k).isidentifier()
            else f"{k} = {nix_value(v)};"
            for k, v in value.items()
        )
        return "{ " + body + (" }" if value else "}")
    raise TypeError(f"no Nix form for {type(value).__name__}")


def _docker_tools(lines: list[str]) -> str:
    body = "".join(f"  {line}\n" for line in ["# name, tag, contents, config ...", *lines])
    return "pkgs.dockerTools.streamLayeredImage {\n" + body + "}"


def nix_snippets(strategy: Strategy, budget: int) -> dict[str, str]:
    """Nix fragments equivalent to ``strategy`` at ``budget``, by target (``nixpkgs``, ``nix2container``).

    Empty when no peer groups the same way (Nixery, keystone, the baselines).

    Example:
        >>> from layerlab.strategies import get_strategy
        >>> nix_snippets(get_strategy("nixery"), 30)
        {}
        >>> print(nix_snippets(get_strategy("nix2container"), 20)["nix2container"])
        nix2container.buildImage {
          # name, config, copyToRoot ...
          maxLayers = 20;
        }
    """
    name = strategy.name
    values = dict(strategy.values)
    out: dict[str, str] = {}
    if name == "auto-layer":
        out["nixpkgs"] = _docker_tools([f"maxLayers = {budget + 1};"])
    elif name == "popularity-contest" and values.get("score", "nixpkgs") != "appearances":
        pipeline = [["popularity_contest"], ["limit_layers", budget]]
        out["nixpkgs"] = _docker_tools([f"maxLayers = {budget + 1};", f"layeringPipeline = {nix_value(pipeline)};"])
    elif name == "pipeline" and not values.get("exclude_paths"):
        steps: Any = values.get("pipeline")
        if isinstance(steps, str):
            steps = orjson.loads(steps)
        out["nixpkgs"] = _docker_tools([f"maxLayers = {budget + 1};", f"layeringPipeline = {nix_value(steps)};"])
    elif name == "nix2container":
        body = "".join(f"  {line}\n" for line in ["# name, config, copyToRoot ...", f"maxLayers = {budget};"])
        out["nix2container"] = "nix2container.buildImage {\n" + body + "}"
    return out
