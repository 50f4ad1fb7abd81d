"""The OCI image configuration (also what Docker's schema 2 points at).

The configuration is serialised as compact JSON with sorted keys, so it is a
pure function of its fields: the same layers and options give the same config
digest on every machine.  ``created`` defaults to ``1970-01-01T00:00:01Z``
(Nix's epoch, the mtime of every tar entry) for the same reason.

``config`` is always present, even empty: Kubernetes refuses images without
it (Nixery's note).  Each layer gets a ``history`` entry with ``created`` and
``created_by`` describing what it holds.

Example:
    >>> cfg = ImageConfig(env=("PATH=/bin",), cmd=("bash",))
    >>> doc = orjson.loads(config_json(cfg, ["sha256:" + "a" * 64], ["3 store paths"]))
    >>> doc["config"], doc["rootfs"]["type"], doc["history"][0]["created_by"]
    ({'Cmd': ['bash'], 'Env': ['PATH=/bin']}, 'layers', '3 store paths')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from ..errors import ConfigError

__all__ = ["ImageConfig", "config_json", "EPOCH"]

#: The ``created`` time of images and history entries.
EPOCH = "1970-01-01T00:00:01Z"


@dataclass(frozen=True)
class ImageConfig:
    """What goes into the image configuration besides the layers.

    Attributes:
        architecture: GOARCH spelling (``amd64``, ``arm64``...).
        os: GOOS spelling (``linux``).
        env: ``KEY=VALUE`` strings.
        cmd, entrypoint: argument vectors.
        working_dir, user: strings (``User`` may be ``uid:gid``).
        labels: image labels.
        created: the RFC 3339 creation time.
    """

    architecture: str = "amd64"
    os: str = "linux"
    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str | None = None
    user: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    created: str = EPOCH

    def __post_init__(self) -> None:
        for e in self.env:
            if "=" not in e or e.startswith("="):
                raise ConfigError(f"environment entry must be KEY=VALUE, not {e!r}", source="env")
        if not self.architecture or not self.os:
            raise ConfigError("architecture and os must not be empty", source="image config")
        texts = [
            self.architecture,
            self.os,
            *self.env,
            *(self.cmd or ()),
            *(self.entrypoint or ()),
            self.working_dir or "",
            self.user or "",
            *self.labels,
            *self.labels.values(),
            self.created,
        ]
        for t in texts:
            if not isinstance(t, str):
                raise ConfigError(f"expected text, not {type(t).__name__}", source="image config")
            try:
                t.encode("utf-8")
            except UnicodeEncodeError:
                raise ConfigError(f"{t!r:.60} is not valid UTF-8 text", source="image config") from None
            if "\0" in t:
                raise ConfigError(f"{t!r:.60} holds a NUL character", source="image config")

    def container_config(self) -> dict:
        """The ``config`` object (Docker's capitalised keys), empty when nothing is set.

        Example:
            >>> ImageConfig(cmd=("bash",), working_dir="/root").container_config()
            {'Cmd': ['bash'], 'WorkingDir': '/root'}
            >>> ImageConfig().container_config()
            {}
        """
        c: dict = {}
        if self.env:
            c["Env"] = list(self.env)
        if self.cmd is not None:
            c["Cmd"] = list(self.cmd)
        if self.entrypoint is not None:
            c["Entrypoint"] = list(self.entrypoint)
        if self.working_dir:
            c["WorkingDir"] = self.working_dir
        if self.user:
            c["User"] = self.user
        if self.labels:
            c["Labels"] = dict(self.labels)
        return c


def config_json(cfg: ImageConfig, diff_ids: Sequence[str], history: Sequence[str]) -> bytes:
    """The configuration blob for layers with ``diff_ids`` (``history`` describes each).

    Example:
        >>> doc = orjson.loads(config_json(ImageConfig(), ["sha256:" + "a" * 64], ["1 store path"]))
        >>> doc["rootfs"]["diff_ids"] == ["sha256:" + "a" * 64], doc["architecture"], doc["os"]
        (True, 'amd64', 'linux')
    """
    if len(history) != len(diff_ids):
        raise ConfigError("one history entry per layer is needed", source="image config")
    doc = {
        "architecture": cfg.architecture,
        "os": cfg.os,
        "created": cfg.created,
        "config": cfg.container_config(),
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": cfg.created, "created_by": h} for h in history],
    }
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
