"""Image names and tags to build requests, as Nixery reads them.

The repository name lists packages separated by ``/`` (``shell/git/htop``);
``shell`` stands for an interactive shell and basic tools; a leading
``arm64/`` asks for the arm64 architecture
(:func:`layerlab.sources.nix.parse_image_name`).  The packages are sorted and
de-duplicated, so ``git/htop`` and ``htop/git`` are one image.

The tag picks the revision of the package source where the source has
revisions: for ``git!<url>!<rev>`` the tag is the branch, tag or commit to
check out, for ``nixpkgs!<channel>`` the channel; ``latest`` is the
configured one.  ``path!`` and ``flake!`` sources have a single revision and
serve it under any tag.

Example:
    >>> from layerlab.sources.nix import PackageSource
    >>> src = PackageSource("git", "https://example.org/pkgs.git", "main")
    >>> r = image_request("arm64/shell/hello", "release-1", src)
    >>> r.packages, r.arch, r.source.rev
    (('bashInteractive', 'coreutils', 'hello', 'moreutils', 'nano'), 'arm64', 'release-1')
    >>> image_request("hello", "latest", src).source.rev
    'main'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..sources.nix import PackageSource, parse_image_name, parse_source
from .protocol import ApiError, check_name, check_reference

__all__ = ["ImageRequest", "image_request", "source_for_tag"]


@dataclass(frozen=True)
class ImageRequest:
    """One image to serve.

    Attributes:
        name: the repository name as requested.
        tag: the tag as requested.
        packages: attribute paths, sorted and de-duplicated.
        arch: ``amd64`` or ``arm64``.
        source: the package source at the revision the tag picks.
    """

    name: str
    tag: str
    packages: tuple[str, ...]
    arch: str
    source: PackageSource

    def to_json(self) -> dict[str, Any]:
        """The request as JSON (for the build worker and the cache entry).

        Example:
            >>> image_request("hello", "latest", parse_source("path!nix/testpkgs")).to_json()["packages"]
            ['hello']
        """
        return {
            "name": self.name,
            "tag": self.tag,
            "packages": list(self.packages),
            "arch": self.arch,
            "source": self.source.spec,
        }


def source_for_tag(source: PackageSource, tag: str) -> PackageSource:
    """The package source at the revision ``tag`` names (``latest``: the configured one).

    Raises:
        ApiError: ``NAME_INVALID`` when the tag is no valid revision for the source.

    Example:
        >>> source_for_tag(PackageSource("nixpkgs", "nixos-24.05"), "nixos-unstable").spec
        'nixpkgs!nixos-unstable'
    """
    if tag == "latest" or source.kind in ("path", "flake"):
        return source
    spec = f"git!{source.location}!{tag}" if source.kind == "git" else f"nixpkgs!{tag}"
    try:
        return parse_source(spec)
    except InputError as err:
        raise ApiError.of(
            "NAME_INVALID", f"tag {tag!r} names no revision of the package source: {err.message}"
        ) from None


def image_request(name: str, tag: str, source: PackageSource) -> ImageRequest:
    """Validate a repository name and tag and say what to build.

    Raises:
        ApiError: ``NAME_INVALID`` for a name outside the registry grammar or
            a component that is no attribute path, or a malformed tag.

    Example:
        >>> image_request("htop/git", "latest", PackageSource("nixpkgs", "nixos-24.05")).packages
        ('git', 'htop')
        >>> image_request("git;reboot", "latest", PackageSource("nixpkgs", "nixos-24.05"))
        Traceback (most recent call last):
        ...
        layerlab.serve.protocol.ApiError: NAME_INVALID: invalid repository name 'git;reboot'
    """
    check_name(name)
    check_reference(tag)
    try:
        packages, arch = parse_image_name(name)
    except InputError as err:
        raise ApiError.of("NAME_INVALID", err.message, {"name": name}) from None
    return ImageRequest(name, tag, packages, arch, source_for_tag(source, tag))
