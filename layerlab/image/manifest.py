r"""Image manifests: OCI image manifest and Docker Image Manifest V2 Schema 2.

Both are serialised as compact JSON with sorted keys (a registry stores the
bytes it is given, and the digest of those bytes names the image), so the
same image always has the same manifest digests.

Media types by layer compression:

=========  ===============================================  ==================================================
blob       OCI                                              Docker schema 2
=========  ===============================================  ==================================================
none       ``application/vnd.oci.image.layer.v1.tar``        ``application/vnd.docker.image.rootfs.diff.tar``
gzip       ``application/vnd.oci.image.layer.v1.tar+gzip``   ``application/vnd.docker.image.rootfs.diff.tar.gzip``
zstd       ``application/vnd.oci.image.layer.v1.tar+zstd``   none: refused (use the OCI manifest)
=========  ===============================================  ==================================================

Names and tags follow the OCI distribution specification (v1.1, section
"Definitions"): a repository name matches
``[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*``
(at most 255 characters with the registry host), a tag
``[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}``.  :func:`check_tag` and
:func:`check_repository` are the one home of those rules (OCI layouts,
archives and registry references use them).

Example:
    >>> d = Descriptor("sha256:" + "a" * 64, 10)
    >>> doc = orjson.loads(oci_manifest(d, [Descriptor("sha256:" + "b" * 64, 5)], "gzip"))
    >>> doc["layers"][0]["mediaType"]
    'application/vnd.oci.image.layer.v1.tar+gzip'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from ..errors import ConfigError, ImageError

__all__ = [
    "Descriptor",
    "oci_manifest",
    "docker_manifest",
    "OCI_MANIFEST",
    "OCI_CONFIG",
    "OCI_INDEX",
    "DOCKER_MANIFEST",
    "DOCKER_CONFIG",
    "layer_media_type",
    "check_tag",
    "check_repository",
    "REPOSITORY",
    "TAG",
    "MAX_NAME_LENGTH",
]

_NAME_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
#: The distribution specification's repository name and tag grammars (use ``fullmatch``).
REPOSITORY = re.compile(rf"{_NAME_COMPONENT}(?:/{_NAME_COMPONENT})*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
#: Longest repository name (with the registry host) clients accept.
MAX_NAME_LENGTH = 255


def check_tag(tag: object, *, source: str = "--tag") -> str:
    """Return ``tag`` if the distribution specification's tag grammar allows it.

    Raises:
        ConfigError: anything else (empty, over 128 characters, a space, ``/``, a line break...).

    Example:
        >>> check_tag("v1.2-rc_3")
        'v1.2-rc_3'
        >>> check_tag("..")
        Traceback (most recent call last):
        ...
        layerlab.errors.ConfigError: --tag: invalid tag '..' (letters, digits, ...)
    """
    if not isinstance(tag, str) or not TAG.fullmatch(tag):
        raise ConfigError(
            f"invalid tag {tag!r:.140} (letters, digits, '_', '.', '-'; not starting with '.' or '-'; at most 128)",
            source=source,
        )
    return tag


def check_repository(name: object, *, host: str = "", source: str = "reference") -> str:
    """Return ``name`` if the distribution specification's repository grammar allows it.

    Raises:
        ConfigError: an upper-case letter, a leading or doubled separator, over 255 characters with ``host``...

    Example:
        >>> check_repository("team/my-app")
        'team/my-app'
    """
    if not isinstance(name, str) or not REPOSITORY.fullmatch(name):
        raise ConfigError(
            f"invalid repository name {name!r:.140} (lower case letters, digits, separators '.', '_', '__', '-')",
            source=source,
        )
    if len(host) + 1 + len(name) > MAX_NAME_LENGTH:
        raise ConfigError(f"repository name is longer than {MAX_NAME_LENGTH} characters with its host", source=source)
    return name


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

_OCI_LAYER = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
_DOCKER_LAYER = {
    "none": "application/vnd.docker.image.rootfs.diff.tar",
    "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
}


@dataclass(frozen=True)
class Descriptor:
    """A blob reference: digest and size (the media type is added per manifest)."""

    digest: str
    size: int


def layer_media_type(compression: str, fmt: str = "oci") -> str:
    """The layer media type for a compression in the ``oci`` or ``docker`` format.

    Raises:
        ImageError: zstd in a Docker manifest.

    Example:
        >>> layer_media_type("zstd"), layer_media_type("gzip", "docker")
        ('application/vnd.oci.image.layer.v1.tar+zstd', 'application/vnd.docker.image.rootfs.diff.tar.gzip')
    """
    table = _OCI_LAYER if fmt == "oci" else _DOCKER_LAYER
    try:
        return table[compression]
    except KeyError:
        raise ImageError(
            f"the {fmt} manifest has no media type for {compression} layers (use the OCI manifest)"
        ) from None


def _dump(doc: dict) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def oci_manifest(
    config: Descriptor, layers: Sequence[Descriptor], compression: str, annotations: dict[str, str] | None = None
) -> bytes:
    """The OCI image manifest bytes.

    Example:
        >>> config, layer = Descriptor("sha256:" + "a" * 64, 10), Descriptor("sha256:" + "b" * 64, 5)
        >>> orjson.loads(oci_manifest(config, [layer], "none", {"org.example": "x"}))["annotations"]
        {'org.example': 'x'}
    """
    mt = layer_media_type(compression, "oci")
    doc: dict = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
        "layers": [{"mediaType": mt, "digest": d.digest, "size": d.size} for d in layers],
    }
    if annotations:
        doc["annotations"] = dict(annotations)
    return _dump(doc)


def docker_manifest(config: Descriptor, layers: Sequence[Descriptor], compression: str) -> bytes:
    """The Docker Image Manifest V2 Schema 2 bytes (what Nixery serves).

    Example:
        >>> config, layer = Descriptor("sha256:" + "a" * 64, 10), Descriptor("sha256:" + "b" * 64, 5)
        >>> doc = orjson.loads(docker_manifest(config, [layer], "gzip"))
        >>> doc["schemaVersion"], doc["layers"][0]["mediaType"]
        (2, 'application/vnd.docker.image.rootfs.diff.tar.gzip')
    """
    mt = layer_media_type(compression, "docker")
    return _dump(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "digest": config.digest, "size": config.size},
            "layers": [{"mediaType": mt, "digest": d.digest, "size": d.size} for d in layers],
        }
    )
