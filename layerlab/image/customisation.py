"""The customisation layer: the requested packages joined at the image root.

Like Nix's ``symlinkJoin``, the trees of the requested packages are merged:
directories become real directories (mode 0555, as in the store), and every
file or symlink becomes a symlink at the same place pointing into its package,
so ``/bin/git`` links to ``/nix/store/<hash>-git-2.40/bin/git``.

Conflict rule (deterministic, as ``lndir -silent`` used by symlinkJoin):
packages are joined **in the order requested** and the first one to claim a
name keeps it.  A later file, symlink or whole directory at a name already
taken by a file or symlink is dropped, and a later file or symlink at a name
already taken by a directory is dropped; each drop is reported as a
:class:`Conflict`.  A symlink in a package is a leaf (it is linked, never
followed, unlike ``lndir``, so the join never depends on what a link points
at).  Top-level names that would shadow the store (``nix`` for
``/nix/store``) are dropped too.

Example:
    >>> import os, tempfile
    >>> s = tempfile.mkdtemp()
    >>> for pkg, f in [("aaa-git", "bin/git"), ("bbb-curl", "bin/curl"), ("ccc-git2", "bin/git")]:
    ...     os.makedirs(f"{s}/{pkg}/bin", exist_ok=True); open(f"{s}/{pkg}/{f}", "w").close()
    >>> j = join_packages([f"{s}/aaa-git", f"{s}/bbb-curl", f"{s}/ccc-git2"], store_dir=s)
    >>> [(e.name, e.target[len(s):]) for e in j.entries]
    [(b'bin', b''), (b'bin/curl', b'/bbb-curl/bin/curl'), (b'bin/git', b'/aaa-git/bin/git')]
    >>> j.conflicts[0].name, j.conflicts[0].dropped[len(s):]
    ('bin/git', '/ccc-git2')
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ImageError
from .tarball import Entry, _check_store_dir, check_store_path

__all__ = ["Conflict", "Customisation", "join_packages"]


@dataclass(frozen=True)
class Conflict:
    """A name two packages provide; the first kept it.

    Attributes:
        name: the path relative to the image root.
        kept: the store path that provides it in the image.
        dropped: the store path whose entry was left out.
    """

    name: str
    kept: str
    dropped: str


@dataclass(frozen=True)
class Customisation:
    """The joined tree: tar entries in order, and the conflicts met."""

    entries: tuple[Entry, ...]
    conflicts: tuple[Conflict, ...]
    packages: tuple[str, ...]


def join_packages(packages: Sequence[str], *, store_dir: str = "/nix/store") -> Customisation:
    """Join ``packages`` (store paths, in request order) into one tree of symlinks.

    Raises:
        ImageError: a package outside the store, missing, or not a directory.

    Example:
        >>> import os, tempfile
        >>> s = tempfile.mkdtemp(); os.makedirs(f"{s}/aaa-hello/bin"); open(f"{s}/aaa-hello/bin/hello", "w").close()
        >>> [e.name for e in join_packages([f"{s}/aaa-hello"], store_dir=s).entries]
        [b'bin', b'bin/hello']
    """
    sd = _check_store_dir(store_dir)
    reserved = sd.strip(b"/").split(b"/")[0]
    # name -> (kind, target, owner); kind "dir" or "link"
    tree: dict[bytes, tuple[str, bytes, bytes]] = {}
    conflicts: list[Conflict] = []
    order: list[bytes] = []
    for pkg in packages:
        p = check_store_path(pkg, store_dir)
        if p in order:
            continue
        order.append(p)
        try:
            st = os.lstat(p)
        except OSError as err:
            raise ImageError(f"cannot join package: {err.strerror}", source=os.fsdecode(p)) from None
        if not stat.S_ISDIR(st.st_mode):
            raise ImageError("cannot join a package that is not a directory at the image root", source=os.fsdecode(p))
        _join_dir(p, p, b"", tree, conflicts, reserved)
    names = sorted(tree, key=lambda n: n.split(b"/"))
    entries = []
    for n in names:
        kind, target, _ = tree[n]
        entries.append(Entry(n, "dir", 0o555) if kind == "dir" else Entry(n, "symlink", 0o777, target=target))
    return Customisation(tuple(entries), tuple(conflicts), tuple(os.fsdecode(p) for p in order))


def _listing(src: bytes) -> list[bytes]:
    try:
        return sorted(os.listdir(src))
    except OSError as err:
        raise ImageError(f"cannot list directory: {err.strerror}", source=os.fsdecode(src)) from None


def _join_dir(pkg: bytes, src: bytes, rel: bytes, tree: dict, conflicts: list[Conflict], reserved: bytes) -> None:
    """Join the tree under ``src`` depth-first, children in sorted order; an explicit stack, so any depth works."""
    stack = [(src, rel, iter(_listing(src)))]
    while stack:
        src, rel, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        name = rel + b"/" + child if rel else child
        path = src + b"/" + child
        old = tree.get(name)
        if not rel and child == reserved:
            conflicts.append(Conflict(os.fsdecode(name), "(store)", os.fsdecode(pkg)))
            continue
        try:
            is_dir = stat.S_ISDIR(os.lstat(path).st_mode)
        except OSError as err:
            raise ImageError(f"cannot read: {err.strerror}", source=os.fsdecode(path)) from None
        if old is None:
            if is_dir:
                tree[name] = ("dir", b"", pkg)
                stack.append((path, name, iter(_listing(path))))
            else:
                tree[name] = ("link", path, pkg)
        elif is_dir and old[0] == "dir":
            stack.append((path, name, iter(_listing(path))))
        else:
            conflicts.append(Conflict(os.fsdecode(name), os.fsdecode(old[2]), os.fsdecode(pkg)))
