"""The parts of the OCI distribution protocol the server speaks: errors, names, manifest negotiation.

Errors travel as the specification's JSON body, ``{"errors": [{"code",
"message", "detail"}]}``, with the status the specification gives each code
(OCI distribution spec, "Error Codes"; ``UNKNOWN`` and ``UNAVAILABLE`` as
the CNCF distribution registry uses them for server-side failures).

Repository names follow the specification's grammar
(``[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*``),
which has no room for ``..``, ``/`` at either end, spaces or shell
metacharacters; anything else is ``NAME_INVALID`` before any work is done.

The manifest format is negotiated from ``Accept`` (RFC 9110 §12.5.1): the
OCI image manifest or the Docker Image Manifest V2 Schema 2, whichever the
client rates higher; a tie (both listed, ``*/*``, no header) goes to the
server's default.

Example:
    >>> choose_format("application/vnd.docker.distribution.manifest.v2+json", "oci")
    'docker'
    >>> choose_format("application/vnd.oci.image.manifest.v1+json;q=0.5, */*;q=0.9", "docker")
    'docker'
    >>> ApiError.of("NAME_INVALID", "bad name").status
    400
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ..image.manifest import DOCKER_MANIFEST, OCI_MANIFEST, REPOSITORY, TAG

__all__ = ["MEDIA_TYPES", "STATUS", "ApiError", "check_name", "check_reference", "choose_format", "is_digest"]

#: Error code -> HTTP status.
STATUS = {
    "BLOB_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
    "UNKNOWN": 500,
    "UNAVAILABLE": 503,
}

#: Manifest format -> media type.
MEDIA_TYPES = {"oci": OCI_MANIFEST, "docker": DOCKER_MANIFEST}

_NAME = REPOSITORY  # the distribution specification's grammars, kept in layerlab.image.manifest
_TAG = TAG
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class ApiError(Exception):
    """An error answered to the client in the specification's JSON form.

    Attributes:
        code: the specification's error code (``MANIFEST_UNKNOWN``...).
        status: the HTTP status.
        message: one line for people.
        detail: machine-readable detail (for example the missing packages).
    """

    def __init__(self, code: str, status: int, message: str, detail: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.status, self.message, self.detail = code, status, message, detail

    @classmethod
    def of(cls, code: str, message: str, detail: Any = None) -> ApiError:
        """An error with the status its code has in :data:`STATUS`.

        Example:
            >>> ApiError.of("MANIFEST_UNKNOWN", "packages not found: x").status
            404
        """
        return cls(code, STATUS[code], message, detail)

    def body(self) -> bytes:
        """The JSON body.

        Example:
            >>> ApiError.of("BLOB_UNKNOWN", "no such blob", {"digest": "sha256:0"}).body()
            b'{"errors":[{"code":"BLOB_UNKNOWN","message":"no such blob","detail":{"digest":"sha256:0"}}]}'
        """
        entry: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return orjson.dumps({"errors": [entry]})


def is_digest(reference: str) -> bool:
    """Whether a manifest reference is a digest (``sha256:<64 hex>``) rather than a tag.

    Example:
        >>> is_digest("sha256:" + "a" * 64), is_digest("latest")
        (True, False)
    """
    return bool(_DIGEST.fullmatch(reference))


def check_name(name: str) -> str:
    """Return a repository name if the specification's grammar allows it.

    Raises:
        ApiError: ``NAME_INVALID``.

    Example:
        >>> check_name("shell/git")
        'shell/git'
        >>> check_name("../etc")
        Traceback (most recent call last):
        ...
        layerlab.serve.protocol.ApiError: NAME_INVALID: invalid repository name '../etc'
    """
    if len(name) > 255 or not _NAME.fullmatch(name):
        raise ApiError.of("NAME_INVALID", f"invalid repository name {name[:80]!r}", {"name": name[:255]})
    return name


def check_reference(reference: str) -> str:
    """Return a tag or digest reference if well formed.

    Raises:
        ApiError: ``NAME_INVALID`` for a malformed tag, ``DIGEST_INVALID`` for
            a digest that is not ``sha256:<64 hex>``.

    Example:
        >>> check_reference("v1.2")
        'v1.2'
        >>> check_reference("md5:abc")
        Traceback (most recent call last):
        ...
        layerlab.serve.protocol.ApiError: DIGEST_INVALID: invalid digest 'md5:abc'; expected sha256:<64 hex>
    """
    if is_digest(reference) or _TAG.fullmatch(reference):
        return reference
    if ":" in reference:
        raise ApiError.of("DIGEST_INVALID", f"invalid digest {reference[:80]!r}; expected sha256:<64 hex>")
    raise ApiError.of("NAME_INVALID", f"invalid tag {reference[:80]!r}", {"reference": reference[:128]})


def _accepted(accept: str) -> dict[str, float]:
    """Media type (or range) -> quality, from an ``Accept`` header."""
    out: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        q = 1.0
        for p in params:
            k, _, v = p.partition("=")
            if k.strip().lower() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        out[media.lower()] = max(q, out.get(media.lower(), 0.0))
    return out


def _quality(table: dict[str, float], media: str) -> float:
    if media in table:
        return table[media]
    kind = media.split("/")[0] + "/*"
    return table.get(kind, table.get("*/*", 0.0))


def choose_format(accept: str | None, default: str, *, allowed: tuple[str, ...] = ("oci", "docker")) -> str | None:
    """The manifest format to answer with: ``oci``, ``docker``, or None when the client accepts neither.

    Args:
        accept: the ``Accept`` header(s), comma-joined; None or empty accepts anything.
        default: the server's preference on a tie.
        allowed: the formats this image has (a zstd image has no Docker manifest).

    Example:
        >>> choose_format("application/vnd.oci.image.manifest.v1+json, */*;q=0.1", "docker")
        'oci'
        >>> choose_format("application/vnd.docker.distribution.manifest.v2+json", "oci", allowed=("oci",)) is None
        True
    """
    if not accept:
        return default if default in allowed else allowed[0]
    table = _accepted(accept)
    rated = {fmt: _quality(table, MEDIA_TYPES[fmt]) for fmt in allowed}
    best = max(rated.values())
    if best <= 0:
        return None
    if rated.get(default, 0.0) == best:
        return default
    return next(fmt for fmt in allowed if rated[fmt] == best)
