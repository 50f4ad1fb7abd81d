"""Closures from Nix itself: package sources, attribute lookup, builds, popularity.

This is how layerlab asks Nix for an image's contents, the way Nixery does:
a *package source* names a package set, an *image name* names packages in it,
and :func:`closure` builds them and returns their runtime closure graph.

API (stable; other modules and tests build on it):

``parse_source(text) -> PackageSource``
    Validate ``nixpkgs!<channel>``, ``git!<url>!<rev>`` (a 40-hex rev is a
    commit, anything else a ref), ``path!<dir>`` (relative to the current
    directory, made absolute) and ``flake!<ref>``.  Anything that could be
    read as a command-line option or hold shell or Nix syntax is refused with
    an :class:`~layerlab.errors.InputError`.
``parse_image_name(name) -> (packages, arch)``
    Nixery image names: ``shell/git/htop``, the ``shell`` meta-package,
    an ``arm64/`` prefix.  Packages come back sorted and de-duplicated, so
    the order of the names never changes the image.
``closure(source, packages, *, method="path-info", ...) -> NixClosure``
    Look the packages up, build them, and return a :class:`NixClosure`: the
    runtime closure graph (roots = the requested packages, with ``narSize``
    and ``closureSize``) plus each requested name's store path, which the
    image builder needs for the customisation layer.  ``method`` is
    ``"path-info"`` (``nix path-info --json --recursive --closure-size``,
    the default: measured faster, see ``benchmarks/bench_closure.py``) or
    ``"export"`` (a derivation with structured-attrs
    ``exportReferencesGraph``, as Nixery's builder).  Missing packages raise
    :class:`~layerlab.errors.NotFoundError` listing every one of them.
``popularity(source, store=None) -> Popularity``
    Nixery's ``popcount`` over every package of a source: how many store
    paths of the whole set reference each ``name-version`` (built locally, or
    read from a binary cache's narinfo files without building).
``list_packages(source) -> dict``
    Every derivation of a source by attribute path (``xorg.xev``).

Invocation details live in :mod:`layerlab.sources.nix_run` (argument lists,
``NIX_CONFIG``, progress callback, timeout, stderr tail in errors).  Results
are cached on disk (:class:`ClosureCache`) under
``$LAYERLAB_CACHE_DIR`` or ``$XDG_CACHE_HOME/layerlab`` (``~/.cache/layerlab``),
keyed by (source, sorted packages, system, method, Nix version); a ``path!``
source adds a fingerprint of its files, and mutable sources (a channel, a git
branch, an unlocked flake) expire after ``ttl`` seconds.  A hit is used only
when every store path of the requested packages still exists.

The Nix side is ``layerlab/nix/lookup.nix``, shipped with the package; every
value reaches it through ``--argstr``, never spliced into Nix code.

Example:
    >>> src = parse_source("git!https://github.com/NixOS/nixpkgs!nixos-24.05")
    >>> src.kind, src.rev, src.immutable
    ('git', 'nixos-24.05', False)
    >>> parse_image_name("arm64/htop/shell")
    (('bashInteractive', 'coreutils', 'htop', 'moreutils', 'nano'), 'arm64')
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

from ..errors import GraphError, InputError, LayerlabError, NixError, NotFoundError
from ..fileio import atomic_write, cache_dir
from ..graph import ClosureGraph
from ..popularity import Popularity, compute_popularity
from .files import graph_from_json
from .nix_run import OFFLINE_CONFIG, ProgressEvent, nix_environment, nix_version, progress_parser, run_nix

__all__ = [
    "PackageSource",
    "NixClosure",
    "ClosureCache",
    "parse_source",
    "parse_image_name",
    "check_package_names",
    "closure",
    "popularity",
    "list_packages",
    "system_for_arch",
    "lookup_expression",
    "default_cache_dir",
    "METHODS",
    "META_PACKAGES",
    "ARCHITECTURES",
    "OFFLINE_CONFIG",
]

#: The ways :func:`closure` can ask Nix for a closure graph.
METHODS = ("path-info", "export")

#: Image-name components that stand for several packages (as in Nixery).
META_PACKAGES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"shell": ("bashInteractive", "coreutils", "moreutils", "nano")}
)

#: Image architecture -> Nix system.
ARCHITECTURES: Mapping[str, str] = MappingProxyType({"amd64": "x86_64-linux", "arm64": "aarch64-linux"})

_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f'\"`$\\;|&<>(){}\[\]*?#~!^]")
_CHANNEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/+-]{0,199}")
_URL = re.compile(
    r"(?:(?:https?|ssh|git|file|git\+ssh|git\+https)://[A-Za-z0-9._~%@:+/=,-]+"
    r"|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~%/+-]+)"
)
_FLAKE = re.compile(r"(?:[a-z][a-z0-9+.-]*:[A-Za-z0-9._~%@:+/=,&?-]+|[A-Za-z][A-Za-z0-9_-]*(?:/[A-Za-z0-9._/-]+)?)")
_ATTR_PART = r"[A-Za-z0-9_][A-Za-z0-9_+'-]*"
_ATTR_PATH = re.compile(rf"{_ATTR_PART}(?:\.{_ATTR_PART})*")
_NOT_FOUND = re.compile(r"layerlab: not_found (\[.*?\])")


# --------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class PackageSource:
    """A validated package source.

    Attributes:
        kind: ``nixpkgs``, ``git``, ``path`` or ``flake``.
        location: channel, git URL, absolute directory or flake reference.
        rev: for ``git``, the commit or ref; empty otherwise.
    """

    kind: str
    location: str
    rev: str = ""

    @property
    def spec(self) -> str:
        """The canonical text form, e.g. ``path!/abs/dir``."""
        if self.kind == "git":
            return f"git!{self.location}!{self.rev}"
        return f"{self.kind}!{self.location}"

    def __str__(self) -> str:
        return self.spec

    @property
    def immutable(self) -> bool:
        """Whether the source always denotes the same package set: a git
        commit, or a flake reference pinned to a commit or NAR hash.
        (A ``path!`` directory is covered by a fingerprint of its files.)"""
        if self.kind == "git":
            return bool(_COMMIT.fullmatch(self.rev))
        if self.kind == "flake":
            return bool(re.search(r"(?:[/=])[0-9a-f]{40}(?:$|[&/?])|narHash=", self.location))
        return False

    def nix_args(self) -> list[str]:
        """The ``--argstr`` arguments that hand this source to ``lookup.nix``.

        Example:
            >>> parse_source("nixpkgs!nixos-24.05").nix_args()[:4]
            ['--argstr', 'sourceType', 'nixpkgs', '--argstr']
        """
        return ["--argstr", "sourceType", self.kind, "--argstr", "location", self.location, "--argstr", "rev", self.rev]

    def fingerprint(self) -> str:
        """For a ``path!`` source, a digest of its files' names, sizes and
        modification times (so an edited package set is not served from the
        cache); empty for other kinds.

        Example:
            >>> parse_source("nixpkgs!nixos-24.05").fingerprint()
            ''
            >>> import layerlab.sources.nix as m
            >>> testpkgs = Path(m.__file__).parent.parent.parent / "nix" / "testpkgs"
            >>> len(parse_source(f"path!{testpkgs}").fingerprint())
            64
        """
        if self.kind != "path":
            return ""
        h = hashlib.sha256()
        for root, dirs, files in os.walk(self.location):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".git"))
            for name in sorted(files):
                p = os.path.join(root, name)
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                h.update(f"{os.path.relpath(p, self.location)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return h.hexdigest()


def parse_source(text: str, *, base: str | os.PathLike[str] | None = None) -> PackageSource:
    """Parse and validate a package source specification.

    Args:
        text: ``nixpkgs!<channel>``, ``git!<url>!<rev>``, ``path!<dir>`` or
            ``flake!<ref>``.
        base: the directory a relative ``path!`` is resolved against (default:
            the current directory).

    Raises:
        InputError: an unknown kind, a malformed or unsafe value, or a
            ``path!`` directory that does not exist.

    Example:
        >>> parse_source("nixpkgs!nixos-24.05").spec
        'nixpkgs!nixos-24.05'
        >>> parse_source("git!https://example.org/p.git!0123456789abcdef0123456789abcdef01234567").immutable
        True
        >>> parse_source("pathls -l/testpkgs")
        Traceback (most recent call last):
        ...
        layerlab.errors.InputError: package source: 'pathls -l/testpkgs' has no '!'; expected nixpkgs!<channel>, \
git!<url>!<rev>, path!<dir> or flake!<ref>; the shell may have rewritten it: quote sources in single quotes, as in \
'path!nix/testpkgs'
        >>> parse_source("nixpkgs!$(reboot)")
        Traceback (most recent call last):
        ...
        layerlab.errors.InputError: package source: channel '$(reboot)' may only hold letters, digits, '.', '_' and '-'
    """
    where = "package source"
    if not isinstance(text, str) or not text:
        raise InputError(
            "empty package source; expected nixpkgs!<channel>, git!<url>!<rev>, path!<dir> or flake!<ref>", source=where
        )
    if any(c in text for c in "\n\r\x00"):
        raise InputError("package source holds a line break or NUL", source=where)
    kind, sep, rest = text.partition("!")
    if not sep:
        hint = ""
        if text.startswith(("nixpkgs", "git", "path", "flake")):
            # An unquoted '!' in an interactive bash starts a history expansion,
            # which rewrites or swallows the rest of the word.
            hint = "; the shell may have rewritten it: quote sources in single quotes, as in 'path!nix/testpkgs'"
        raise InputError(
            f"{text!r:.80} has no '!'; expected nixpkgs!<channel>, git!<url>!<rev>, path!<dir> or flake!<ref>{hint}",
            source=where,
        )
    if kind == "nixpkgs":
        if not _CHANNEL.fullmatch(rest):
            raise InputError(f"channel {rest!r:.80} may only hold letters, digits, '.', '_' and '-'", source=where)
        return PackageSource("nixpkgs", rest)
    if kind == "git":
        url, sep, rev = rest.rpartition("!")
        if not sep or not url or not rev:
            raise InputError(f"{text!r:.80}: expected git!<url>!<rev>", source=where)
        if not _URL.fullmatch(url) or url.startswith("-"):
            raise InputError(
                f"git URL {url!r:.80} is not an http(s)/ssh/git/file URL or user@host:path, or holds unsafe characters",
                source=where,
            )
        _check_git_host(url, where)
        if not (
            _COMMIT.fullmatch(rev)
            or (_REF.fullmatch(rev) and ".." not in rev and not rev.endswith((".", "/", ".lock")))
        ):
            raise InputError(
                f"git rev {rev!r:.80} is neither a 40-hex commit nor a valid branch or tag name", source=where
            )
        return PackageSource("git", url, rev)
    if kind == "path":
        if not rest or _UNSAFE.search(rest.replace(" ", "")) or rest.startswith("-"):
            raise InputError(f"directory {rest!r:.80} is empty or holds unsafe characters", source=where)
        p = Path(rest)
        if not p.is_absolute():
            p = Path(base) / p if base is not None else Path.cwd() / p
        p = Path(os.path.normpath(p))
        try:
            is_dir, has_default = p.is_dir(), (p / "default.nix").is_file()
        except (OSError, ValueError) as err:
            raise InputError(
                f"directory {str(p)!r:.80} cannot be read: {getattr(err, 'strerror', None) or err}", source=where
            ) from None
        if not is_dir:
            raise InputError(f"directory {str(p)!r:.120} does not exist", source=where)
        if not has_default:
            raise InputError(f"directory {str(p)!r:.120} has no default.nix", source=where)
        return PackageSource("path", str(p))
    if kind == "flake":
        if not _FLAKE.fullmatch(rest) or rest.startswith("-"):
            raise InputError(f"flake reference {rest!r:.80} is malformed or holds unsafe characters", source=where)
        return PackageSource("flake", rest)
    raise InputError(f"unknown kind {kind!r:.40}; expected nixpkgs, git, path or flake", source=where)


def _check_git_host(url: str, where: str) -> None:
    """Refuse a git URL whose user, host or scp-style path starts with ``-``: ssh would read it as an option
    (``ssh://-oProxyCommand=...``), whatever git does about it."""
    if "://" in url:
        scheme, rest = url.split("://", 1)
        user, _, host = rest.split("/", 1)[0].rpartition("@")
        parts = [user, host]
        if scheme != "file" and not host:
            raise InputError(f"git URL {url!r:.80} has no host", source=where)
    else:  # user@host:path
        user, _, rest = url.partition("@")
        host, _, path = rest.partition(":")
        parts = [user, host, path]
    if any(part.startswith("-") for part in parts):
        raise InputError(f"git URL {url!r:.80}: a user, host or path starting with '-' is refused", source=where)


# ------------------------------------------------------------------- image names
def check_package_names(packages: Iterable[str], *, source: str = "packages") -> tuple[str, ...]:
    """Validate attribute paths and return them sorted and de-duplicated.

    Raises:
        InputError: an empty list or a name that is not a dotted attribute path.

    Example:
        >>> check_package_names(["git", "xorg.xev", "git"])
        ('git', 'xorg.xev')
    """
    names = list(packages)
    bad = [n for n in names if not isinstance(n, str) or not _ATTR_PATH.fullmatch(n)]
    if bad:
        raise InputError("not attribute paths: " + ", ".join(repr(b) for b in bad), source=source)
    if not names:
        raise InputError("no packages requested", source=source)
    return tuple(sorted(set(names)))


def parse_image_name(name: str) -> tuple[tuple[str, ...], str]:
    """The packages and architecture an image name asks for.

    ``/`` separates packages; ``shell`` expands to an interactive shell,
    coreutils and a few basics; a leading ``arm64/`` (or ``amd64/``) picks
    the architecture (default ``amd64``).  The result is sorted, so the order
    of the names never changes the image.

    Raises:
        InputError: an empty name, an empty component or a malformed package name.

    Example:
        >>> parse_image_name("htop/git")
        (('git', 'htop'), 'amd64')
        >>> parse_image_name("haskellpackages.stylish-haskell")
        (('haskellpackages.stylish-haskell',), 'amd64')
    """
    parts = name.strip("/").split("/") if isinstance(name, str) else []
    if not parts or parts == [""]:
        raise InputError("empty image name", source="image name")
    arch = "amd64"
    if parts[0] in ARCHITECTURES:
        arch = parts.pop(0)
    if not parts:
        raise InputError(f"image name {name!r} names an architecture but no packages", source="image name")
    if any(not p for p in parts):
        raise InputError(f"image name {name!r} has an empty component", source="image name")
    packages: list[str] = []
    for p in parts:
        packages.extend(META_PACKAGES.get(p, (p,)))
    return check_package_names(packages, source=f"image name {name!r}"), arch


def system_for_arch(arch: str) -> str:
    """The Nix system of an image architecture: ``arm64`` -> ``aarch64-linux``.

    Example:
        >>> system_for_arch("arm64"), system_for_arch("amd64")
        ('aarch64-linux', 'x86_64-linux')
    """
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise InputError(
            f"unknown architecture {arch!r}; expected one of {', '.join(ARCHITECTURES)}", source="architecture"
        ) from None


def lookup_expression() -> Path:
    """The path of ``lookup.nix`` shipped inside the package.

    Example:
        >>> lookup_expression().name, lookup_expression().is_file()
        ('lookup.nix', True)
    """
    return Path(__file__).resolve().parent.parent / "nix" / "lookup.nix"


# ------------------------------------------------------------------------ results
@dataclass(frozen=True, eq=False)
class NixClosure:
    """The closure of some packages, as Nix reported it.

    Attributes:
        graph: the runtime closure; its roots are the requested packages' paths.
        packages: requested attribute path -> store path, sorted by name.
        source: the package source's canonical spec.
        system: the Nix system the packages were built for.
        method: ``path-info`` or ``export``.
        nix_version: the version of Nix that produced it.
        cached: whether this came from the on-disk cache.
    """

    graph: ClosureGraph
    packages: Mapping[str, str]
    source: str
    system: str
    method: str
    nix_version: str
    cached: bool = False

    @property
    def store_paths(self) -> tuple[str, ...]:
        """The requested packages' store paths, sorted and de-duplicated."""
        return tuple(sorted(set(self.packages.values())))

    def to_json(self) -> dict[str, Any]:
        """A JSON document holding everything, for the cache and ``--out``.

        Example:
            >>> g = ClosureGraph.from_records([{"path": "/nix/store/a-hello-1", "narSize": 1}])
            >>> c = NixClosure(g, {"hello": "/nix/store/a-hello-1"}, "nixpkgs!x", "x86_64-linux", "path-info", "2.18")
            >>> c.to_json()["exportReferencesGraph"]
            {'graph': ['/nix/store/a-hello-1']}
        """
        return {
            "source": self.source,
            "system": self.system,
            "method": self.method,
            "nixVersion": self.nix_version,
            "packages": dict(self.packages),
            "exportReferencesGraph": {"graph": list(self.store_paths)},
            "graph": self.graph.to_records(),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], *, source: str | None = None, cached: bool = False) -> NixClosure:
        """Read back :meth:`to_json`.

        Raises:
            GraphError: the document is not a closure document.

        Example:
            >>> g = ClosureGraph.from_records([{"path": "/nix/store/a-hello-1", "narSize": 1}])
            >>> c = NixClosure(g, {"hello": "/nix/store/a-hello-1"}, "nixpkgs!x", "x86_64-linux", "path-info", "2.18")
            >>> NixClosure.from_json(c.to_json()).packages
            {'hello': '/nix/store/a-hello-1'}
        """
        try:
            packages = dict(doc["packages"])
            graph = ClosureGraph.from_records(doc["graph"], sorted(set(packages.values())), source=source)
            return cls(graph, packages, doc["source"], doc["system"], doc["method"], doc["nixVersion"], cached)
        except (KeyError, TypeError, ValueError) as err:
            raise GraphError(f"not a layerlab closure document ({err})", source=source) from None


# -------------------------------------------------------------------------- cache
def default_cache_dir() -> Path:
    """``$LAYERLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/layerlab``, else ``~/.cache/layerlab``.

    Example:
        >>> import os
        >>> os.environ["LAYERLAB_CACHE_DIR"] = "/tmp/ll"; str(default_cache_dir())
        '/tmp/ll'
        >>> del os.environ["LAYERLAB_CACHE_DIR"]
    """
    return cache_dir()


@dataclass(frozen=True)
class ClosureCache:
    """Closures on disk, one JSON file per key, written atomically.

    Attributes:
        directory: where entries live (``<directory>/closures/<key>.json``).
        ttl: seconds a result from a mutable source stays valid.
    """

    directory: Path
    ttl: float = 3600.0

    @staticmethod
    def key(source: PackageSource, packages: Sequence[str], system: str, method: str, version: str) -> str:
        """The cache key: a digest of (source, sorted packages, system, method, Nix version, fingerprint).

        Example:
            >>> src = parse_source("nixpkgs!nixos-24.05")
            >>> a = ClosureCache.key(src, ["b", "a"], "x86_64-linux", "path-info", "2.18")
            >>> a == ClosureCache.key(src, ["a", "b"], "x86_64-linux", "path-info", "2.18"), len(a)
            (True, 40)
        """
        doc = [source.spec, sorted(packages), system, method, version, source.fingerprint()]
        return hashlib.sha256(orjson.dumps(doc)).hexdigest()[:40]

    def _file(self, key: str) -> Path:
        return Path(self.directory) / "closures" / f"{key}.json"

    def get(self, key: str, *, immutable: bool) -> NixClosure | None:
        """The cached closure, or None when absent, expired, unreadable or
        naming store paths that no longer exist.

        Example:
            >>> import tempfile
            >>> ClosureCache(Path(tempfile.mkdtemp())).get("0" * 40, immutable=True) is None
            True
        """
        f = self._file(key)
        try:
            data = f.read_bytes()
            doc = orjson.loads(data)
        except (OSError, orjson.JSONDecodeError):
            return None
        if not immutable and time.time() - doc.get("created", 0) > self.ttl:
            return None
        try:
            result = NixClosure.from_json(doc, source=str(f), cached=True)
        except GraphError:
            return None
        if not all(os.path.exists(p) for p in result.store_paths):
            return None
        return result

    def put(self, key: str, result: NixClosure) -> None:
        """Store a closure (atomically; errors writing the cache are ignored).

        Example:
            >>> import tempfile
            >>> cache = ClosureCache(Path(tempfile.mkdtemp()))
            >>> g = ClosureGraph.from_records([{"path": "/", "narSize": 1}])  # "/" exists: the entry stays valid
            >>> cache.put("k", NixClosure(g, {"root": "/"}, "nixpkgs!x", "x86_64-linux", "path-info", "2.18"))
            >>> cache.get("k", immutable=False).packages
            {'root': '/'}
        """
        f = self._file(key)
        doc = result.to_json()
        doc["created"] = time.time()
        with contextlib.suppress(LayerlabError):
            atomic_write(f, orjson.dumps(doc))


# ----------------------------------------------------------------------- closures
ProgressCallback = Callable[[ProgressEvent], None]


def closure(
    source: PackageSource | str,
    packages: Iterable[str],
    *,
    method: str = "path-info",
    system: str | None = None,
    timeout: float = 1800.0,
    settings: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
    cache: ClosureCache | bool | None = True,
) -> NixClosure:
    """Build packages of a source and return their runtime closure.

    Args:
        source: a :class:`PackageSource` or its text form.
        packages: attribute paths (``git``, ``xorg.xev``); order and
            duplicates do not matter.
        method: ``path-info`` (default) or ``export``; both give the same graph.
        system: the Nix system to build for (default: Nix's own).
        timeout: seconds each Nix command may run.
        settings: extra Nix settings for ``NIX_CONFIG`` (for example
            :data:`OFFLINE_CONFIG`).
        progress: called with a :class:`ProgressEvent` for every line Nix
            writes to stderr (builds started, fetches, log lines).
        cache: True for the default :class:`ClosureCache`, a cache, or
            False/None for none.

    Raises:
        NotFoundError: some packages are not in the source (all listed).
        NixError: Nix failed (the message ends with the tail of its stderr) or
            timed out.
        InputError: a malformed source or package name.

    Example:
        >>> c = closure("path!nix/testpkgs", ["hello"], settings=OFFLINE_CONFIG)  # doctest: +SKIP
        >>> [p.split("-", 1)[1] for p in c.graph.paths]  # doctest: +SKIP
        ['glibc-2.39-52', 'hello-2.12.1']
    """
    src = parse_source(source) if isinstance(source, str) else source
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}", source="method")
    names = check_package_names(packages)
    _check_run_options(system, timeout)
    env = nix_environment(_settings_for(src, settings))
    store = _cache_from(cache)
    sys_args = ["--argstr", "system", system] if system else []
    key = version = None
    if store is not None:
        # remembered per Nix binary, so that a cache hit starts no Nix process
        version = nix_version(env=env, cache_dir=str(store.directory))
        key = ClosureCache.key(src, names, system or "", method, version)
        hit = store.get(key, immutable=src.immutable)
        if hit is not None:
            return hit
    on_line = (lambda line: progress(progress_parser(line))) if progress is not None else None
    expr = str(lookup_expression())
    common = [*src.nix_args(), "--argstr", "packages", orjson.dumps(list(names)).decode(), *sys_args]

    # 1. look the names up: every missing one is reported together
    looked = _eval_json(
        ["nix-instantiate", "--eval", "--strict", "--json", expr, *common, "-A", "lookup"], env, timeout, on_line, src
    )
    missing = looked.get("not_found") or []
    if missing:
        raise NotFoundError(list(missing), source=src.spec)
    found = {name: entry["out"] for name, entry in sorted(looked["packages"].items())}
    system_used = looked.get("system") or system or ""
    version = version or looked.get("nixVersion") or ""

    # 2. build and read the closure
    if method == "path-info":
        outs = sorted(set(found.values()))
        path_info = ["nix", "path-info", "--json", "--recursive", "--closure-size", *outs]
        # the lookup ran read-only (no .drv files written); nix-build writes and builds them
        build = ["nix-build", "--no-out-link", expr, *common, "-A", "build"]
        if not all(os.path.exists(p) for p in outs):
            run_nix(build, env=env, timeout=timeout, on_stderr=on_line, what="nix-build")
        try:
            res = run_nix(path_info, env=env, timeout=timeout, on_stderr=on_line, what="nix path-info")
        except NixError:
            # e.g. a leftover directory of an interrupted build, not a valid
            # path: build for real, then ask again (a second failure is raised)
            run_nix(build, env=env, timeout=timeout, on_stderr=on_line, what="nix-build")
            res = run_nix(path_info, env=env, timeout=timeout, on_stderr=on_line, what="nix path-info")
        graph = _graph_from_path_info(res.stdout, outs, src.spec)
    else:
        res = run_nix(
            ["nix-build", "--no-out-link", expr, *common, "-A", "graph"],
            env=env,
            timeout=timeout,
            on_stderr=on_line,
            what="nix-build",
        )
        out = res.stdout.decode().strip().splitlines()
        if not out:
            raise NixError("nix-build printed no output path", source="nix-build")
        try:
            data = Path(out[-1]).read_bytes()
        except OSError as err:
            raise NixError(f"cannot read {out[-1]}: {err.strerror}", source="nix-build") from None
        graph = graph_from_json(orjson.loads(data), source=out[-1])
    result = NixClosure(graph, MappingProxyType(found), src.spec, system_used, method, version)
    if store is not None and key is not None:
        store.put(key, result)
    return result


_SYSTEM = re.compile(r"[A-Za-z0-9_]+-[A-Za-z0-9_]+")
_STORE_URL = re.compile(r"(?:https?|file|s3|ssh|ssh-ng)://[A-Za-z0-9._~%@:+/=,&?-]+")


def _check_run_options(system: str | None, timeout: float, store: str | None = None) -> None:
    """Options that reach Nix, checked before any Nix process starts."""
    import math

    if system is not None and not (isinstance(system, str) and _SYSTEM.fullmatch(system)):
        raise InputError(f"system {system!r:.60} is not a Nix system such as x86_64-linux", source="--system")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise InputError(f"timeout must be a positive number of seconds, not {timeout!r:.40}", source="--timeout")
    good_store = isinstance(store, str) and _STORE_URL.fullmatch(store) and not store.split("://", 1)[1].startswith("-")
    if store is not None and not good_store:
        raise InputError(f"binary cache {store!r:.80} is not a http(s)/file/s3/ssh store URL", source="popularity")


def _settings_for(src: PackageSource, settings: Mapping[str, str] | None) -> dict[str, str]:
    merged = dict(settings or {})
    if src.kind == "flake":
        features = set((merged.get("extra-experimental-features") or "").split())
        merged["extra-experimental-features"] = " ".join(sorted(features | {"nix-command", "flakes"}))
    return merged


def _cache_from(cache: ClosureCache | bool | None) -> ClosureCache | None:
    if cache is True:
        return ClosureCache(default_cache_dir())
    if not cache:
        return None
    return cache


def _eval_json(args: list[str], env: Mapping[str, str], timeout: float, on_line, src: PackageSource) -> Any:
    try:
        res = run_nix(args, env=env, timeout=timeout, on_stderr=on_line, what="nix-instantiate")
    except NixError as err:
        m = _NOT_FOUND.search(str(err))
        if m:
            raise NotFoundError(orjson.loads(m.group(1)), source=src.spec) from None
        raise NixError(f"evaluating {src.spec} failed: {err.message}", source="nix-instantiate") from None
    try:
        return orjson.loads(res.stdout)
    except orjson.JSONDecodeError as err:
        raise NixError(f"nix-instantiate printed malformed JSON: {err}", source="nix-instantiate") from None


def _graph_from_path_info(data: bytes, roots: Sequence[str], source: str) -> ClosureGraph:
    """Parse ``nix path-info --json`` (list form of Nix <= 2.18, object form
    of newer Nix) and make the requested paths the roots."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise NixError(f"nix path-info printed malformed JSON: {err}", source="nix path-info") from None
    g = graph_from_json(doc, source=f"nix path-info ({source})")
    index = g.index
    missing = [r for r in roots if r not in index]
    if missing:
        raise GraphError("requested paths absent from path-info output: " + ", ".join(missing), source="nix path-info")
    return ClosureGraph(
        g.paths,
        g.refs,
        g.nar_size,
        g.closure_size,
        tuple(sorted(index[r] for r in roots)),
        True,
        g.nar_hash,
        g.name,
        g.source,
    )


# ------------------------------------------------------------------- popularity
def list_packages(
    source: PackageSource | str,
    *,
    system: str | None = None,
    timeout: float = 1800.0,
    settings: Mapping[str, str] | None = None,
) -> dict[str, dict[str, str]]:
    """Every derivation of a source: attribute path -> ``{"drv", "out", "name"}``.

    Nested sets are entered when they set ``recurseForDerivations`` (as
    ``nix-env -qa`` does); attributes that fail to evaluate are skipped.

    Example:
        >>> pkgs = list_packages("nixpkgs!nixos-24.05")  # doctest: +SKIP
        >>> pkgs["hello"]["name"]  # doctest: +SKIP
        'hello-2.12.1'
    """
    src = parse_source(source) if isinstance(source, str) else source
    _check_run_options(system, timeout)
    env = nix_environment(_settings_for(src, settings))
    sys_args = ["--argstr", "system", system] if system else []
    return _eval_json(
        [
            "nix-instantiate",
            "--eval",
            "--strict",
            "--json",
            str(lookup_expression()),
            *src.nix_args(),
            *sys_args,
            "-A",
            "all",
        ],
        env,
        timeout,
        None,
        src,
    )


def popularity(
    source: PackageSource | str,
    *,
    store: str | None = None,
    system: str | None = None,
    timeout: float = 1800.0,
    settings: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
    drop_ones: bool = True,
    cache: ClosureCache | bool | None = True,
) -> Popularity:
    """Nixery-style popularity of every package of a source.

    Counts, for each ``name-version``, how many store paths reference it
    (self-references excluded; Nixery's ``popcount``; entries counted once are
    dropped unless ``drop_ones`` is False).  The store paths are the outputs
    of every package of the source (:func:`list_packages`):

    * without ``store``, every package is built and the whole runtime
      closure of the set is counted;
    * with ``store`` (a binary cache such as ``https://cache.nixos.org`` or
      ``file:///srv/cache``), nothing is built: the references of each output
      come from the cache's ``.narinfo`` files, as Nixery's popcount reads
      them, and outputs the cache lacks are skipped.

    Example:
        >>> popularity("path!nix/testpkgs", settings=OFFLINE_CONFIG).of_name("glibc-2.39-52")  # doctest: +SKIP
        31
    """
    from collections import Counter

    from ..graph import store_name

    src = parse_source(source) if isinstance(source, str) else source
    _check_run_options(system, timeout, store)
    attrs = list_packages(src, system=system, timeout=timeout, settings=settings)
    if not attrs:
        raise NixError(f"{src.spec} has no packages", source="popularity")
    if store is None:
        result = closure(src, attrs, system=system, timeout=timeout, settings=settings, progress=progress, cache=cache)
        pop = compute_popularity(result.graph, drop_ones=drop_ones)
        return Popularity(pop.counts, source=src.spec)
    env = nix_environment(_settings_for(src, settings))
    on_line = (lambda line: progress(progress_parser(line))) if progress is not None else None
    outs = sorted({entry["out"] for entry in attrs.values()})
    res = run_nix(
        ["nix", "path-info", "--json", "--store", store, *outs],
        env=env,
        timeout=timeout,
        on_stderr=on_line,
        what="nix path-info",
    )
    try:
        doc = orjson.loads(res.stdout)
    except orjson.JSONDecodeError as err:
        raise NixError(f"nix path-info printed malformed JSON: {err}", source="nix path-info") from None
    infos = doc.items() if isinstance(doc, dict) else ((rec.get("path"), rec) for rec in doc)
    counter: Counter[str] = Counter()
    for path, info in infos:
        if not info or info.get("valid") is False:
            continue  # not in the cache: Nixery skips it too
        for ref in info.get("references") or ():
            ref = ref if "/" in ref else f"/nix/store/{ref}"
            if ref != path:
                counter[store_name(ref)] += 1
    counts = {k: v for k, v in sorted(counter.items()) if not (drop_ones and v == 1)}
    return Popularity(counts, source=src.spec)
