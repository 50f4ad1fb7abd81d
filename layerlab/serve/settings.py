"""What ``layerlab serve`` serves and how: one typed record, read from flags, JSON or TOML.

A configuration tuned in the workbench is saved as the JSON a configured
strategy writes (``strategy.to_json()``: ``{"strategy": NAME, "params":
{...}}``); :func:`load_settings` reads that file as it is, and also accepts
the other settings next to those two keys (``budget``, ``source``...).  A TOML
file carries the same keys::

    source = "path!nix/testpkgs"
    offline = true
    strategy = "nixery"
    budget = 10
    [params]
    size_threshold = 5000000

Command-line flags override the file.  Every value is checked when the
settings are made, so a bad file stops the server before it listens, with one
line naming the file and the key.

Example:
    >>> s = ServeSettings(source="path!nix/testpkgs", strategy="nixery", params={"size_threshold": "5M"}, budget=10)
    >>> s.make_strategy().size_threshold, s.configuration()["budget"]
    (5000000, 10)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import ConfigError, InputError, LayerlabError
from ..fileio import read_bytes
from ..image.tarball import COMPRESSIONS
from ..strategies import DEFAULT_STRATEGY, Strategy, get_strategy, params_from_strings, read_strategy_config

__all__ = ["FORMATS", "ServeSettings", "load_settings"]

#: Manifest formats a client may be given.
FORMATS = ("oci", "docker")


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``layerlab serve`` needs.

    Attributes:
        source: the package source (``nixpkgs!``, ``git!``, ``path!``, ``flake!``).
        offline: build without sandbox or binary cache (the offline package set).
        strategy, params: the layering strategy and its parameter values.
        budget: layers of an image, the customisation layer included.
        popularity: a ``popularity.json`` file, ``source`` (computed over the
            package source), or none.
        compression, level: of the layer blobs.
        format: the manifest served when a client accepts both formats.
        store: the blob store directory (default: layerlab's).
        host, port: where to listen.
        blob_url: when set, blob downloads are redirected to
            ``<blob_url>/sha256/<hex>`` (a static server of ``<store>/blobs``).
        max_builds: builds running at once; more wait their turn.
        build_timeout: seconds a build may take before it is stopped.
        ttl: seconds a manifest built from a mutable source (channel, branch,
            local directory) is served before it is built again.
        workers: layers built at once inside one build (default: CPUs).
        log: the access and build log file (default: stderr).
    """

    source: str
    offline: bool = False
    strategy: str = DEFAULT_STRATEGY
    params: Mapping[str, Any] = field(default_factory=dict)
    budget: int = 94
    popularity: str | None = None
    compression: str = "gzip"
    level: int | None = None
    format: str = "oci"
    store: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    blob_url: str | None = None
    max_builds: int = 2
    build_timeout: float = 1800.0
    ttl: float = 3600.0
    workers: int | None = None
    log: str | None = None

    def __post_init__(self) -> None:
        from ..sources.nix import parse_source

        parse_source(self.source)
        self.make_strategy()
        checks = [
            (
                isinstance(self.budget, int) and not isinstance(self.budget, bool) and self.budget >= 2,
                f"budget must be an integer of at least 2 (one layer is the customisation layer), not {self.budget!r}",
            ),
            (
                self.compression in COMPRESSIONS,
                f"compression must be one of {', '.join(COMPRESSIONS)}, not {self.compression!r}",
            ),
            (self.format in FORMATS, f"format must be oci or docker, not {self.format!r}"),
            (
                not (self.format == "docker" and self.compression == "zstd"),
                "zstd layers have no docker manifest: use format oci",
            ),
            (isinstance(self.port, int) and 0 <= self.port < 65536, f"port must be 0..65535, not {self.port!r}"),
            (
                isinstance(self.max_builds, int) and self.max_builds >= 1,
                f"max_builds must be at least 1, not {self.max_builds!r}",
            ),
            (
                _positive(self.build_timeout),
                f"build_timeout must be a positive number of seconds, not {self.build_timeout!r}",
            ),
            (_positive(self.ttl), f"ttl must be a positive number of seconds, not {self.ttl!r}"),
            (
                self.blob_url is None or self.blob_url.startswith(("http://", "https://")),
                f"blob_url must start with http:// or https://, not {self.blob_url!r}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message, source="layerlab serve")
        if self.popularity not in (None, "source") and not os.path.isfile(self.popularity):
            raise ConfigError(f"popularity file {self.popularity!r} does not exist", source="layerlab serve")

    def make_strategy(self) -> Strategy:
        """The configured strategy (preset values, then ``params``).

        Example:
            >>> ServeSettings(source="path!nix/testpkgs", strategy="nixery-2022").make_strategy().popularity_threshold
            100
        """
        return get_strategy(self.strategy, **dict(self.params))

    def popularity_id(self) -> str | None:
        """What the popularity setting means for the cache: ``source``, a file's digest, or None.

        Example:
            >>> ServeSettings(source="path!nix/testpkgs", popularity="source").popularity_id()
            'source'
        """
        if self.popularity in (None, "source"):
            return self.popularity
        return "sha256:" + hashlib.sha256(read_bytes(self.popularity)).hexdigest()

    def configuration(self) -> dict[str, Any]:
        """Everything but the request that decides an image's bytes (part of the manifest cache key).

        Example:
            >>> sorted(ServeSettings(source="path!nix/testpkgs").configuration())
            ['budget', 'compression', 'level', 'offline', 'popularity', 'strategy']
        """
        return {
            "strategy": self.make_strategy().to_json(),
            "budget": self.budget,
            "popularity": self.popularity_id(),
            "compression": self.compression,
            "level": self.level,
            "offline": self.offline,
        }


def _positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0


#: The keys a settings file may hold besides ``strategy``, ``params`` and ``budget``.
SETTINGS_KEYS = frozenset(f.name for f in fields(ServeSettings)) - {"strategy", "params", "budget"}


def load_settings(path: str | None = None, *, set_params: Sequence[str] = (), **overrides: Any) -> ServeSettings:
    """Settings from a JSON or TOML file (``.toml``: TOML), then ``overrides`` (None values ignored),
    then ``set_params`` (``KEY=VALUE`` strings for the strategy, as ``--set``).

    The file is read by :func:`~layerlab.strategies.read_strategy_config`, the
    one reader of saved strategy configurations; its other keys are the
    settings' fields.  A ``strategy`` override that differs from the file's
    drops the file's parameters, which belong to the file's strategy.

    Raises:
        ConfigError: an unreadable file, an unknown key, or an invalid value;
            the message names the file.

    Example:
        >>> load_settings(None, source="path!nix/testpkgs", budget=5).budget
        5
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    values: dict[str, Any] = {}
    strategy: Strategy | None = None
    if path:
        try:
            config = read_strategy_config(path, default=DEFAULT_STRATEGY, known=SETTINGS_KEYS, word="setting")
        except InputError as err:
            raise ConfigError(err.message, source=path) from None
        values.update(config.other)
        if config.budget is not None:
            values["budget"] = config.budget
        if given.get("strategy", config.name) == config.name:
            strategy = config.strategy
    values.update((k, v) for k, v in given.items() if k not in ("strategy", "params"))
    if strategy is None:
        strategy = get_strategy(given.get("strategy", DEFAULT_STRATEGY))
    if given.get("params"):
        strategy = strategy.replace(**given["params"])
    if set_params:
        strategy = strategy.replace(**params_from_strings(type(strategy), set_params))
    if "source" not in values:
        raise ConfigError("name a package source (--source or 'source' in the file)", source=path or "layerlab serve")
    try:
        return ServeSettings(**values, strategy=strategy.name, params=dict(strategy.values))
    except LayerlabError as err:
        if not path:
            raise
        raise ConfigError(err.message if err.source == "layerlab serve" else str(err), source=path) from None
    except TypeError as err:
        raise ConfigError(f"invalid settings: {err}", source=path or "layerlab serve") from None
