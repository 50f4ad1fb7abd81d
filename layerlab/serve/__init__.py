"""``layerlab serve``: a registry that builds the images it is asked for, as Nixery does.

A client pulls ``127.0.0.1:8080/shell/git:latest``; the server reads the name
as packages of its package source, builds the image the way ``layerlab build``
does (the same manifest, byte for byte), keeps the manifest, and serves the
layers from the blob store, or redirects blob downloads to a static server.

* :mod:`.settings`: what to serve (source, strategy, budget...), from flags,
  the JSON a configured strategy writes, or TOML;
* :mod:`.protocol`: the distribution API's errors, names and manifest negotiation;
* :mod:`.names`: image names and tags to build requests;
* :mod:`.cache`: built manifests on disk, keyed by revision, packages and configuration;
* :mod:`.builds`: one build per image, in worker processes (:mod:`.worker`),
  a limit on concurrent builds, a timeout;
* :mod:`.app`: the Starlette application, the access log, :func:`run`.

The names below are imported on first use, so a build worker
(``python -m layerlab.serve.worker``) never loads the HTTP stack.

Example:
    >>> from layerlab.serve import create_app, load_settings
    >>> settings = load_settings(None, source="path!nix/testpkgs", offline=True, strategy="nixery", budget=10)
    >>> settings.make_strategy().name, settings.budget
    ('nixery', 10)
    >>> app = create_app(settings)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ServeSettings", "create_app", "load_settings", "run"]

_HOMES = {"ServeSettings": "settings", "load_settings": "settings", "create_app": "app", "run": "app"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(name)
