"""Load closure graphs from every file format a Nix user will hold.

Supported layouts (detected from the content, not the file name):

``export``
    Nix's structured-attrs ``exportReferencesGraph`` JSON (``.attrs.json``),
    as Nixery's builder reads it:
    ``{"exportReferencesGraph": {"graph": [roots]}, "graph": [records]}``.
    Every key of ``exportReferencesGraph`` names a list of records at the top
    level; the roots of all keys are merged.
``list``
    A plain list of records, ``[{"path", "narSize", "closureSize", "narHash",
    "references"}]``: nixpkgs' ``closure-graph.json`` / ``writeReferencesGraph``
    and ``nix path-info --json`` of Nix 2.18 and older.  A ``{"graph": [...]}``
    object without ``exportReferencesGraph`` is read the same way.
``path-info``
    ``nix path-info --json`` of Nix 2.19 and newer: an object keyed by store
    path, with or without the ``path`` key inside each value.  A ``null`` value
    (an invalid path) is an error.
``text``
    The classic text ``exportReferencesGraph`` format: for each path, its
    name, its deriver (possibly empty), a reference count and the references.
    It carries no sizes.

Roots are taken from the file when it names them (``export``), otherwise they
are the paths nothing references (see :meth:`ClosureGraph.from_records`).

Large ``list`` and single-key ``export`` documents are decoded typed, straight
into columns (:mod:`layerlab.sources._typed`); any other document, and any
that does not decode that way, takes the general way, so both accept the same
documents, build the same graph and word the same errors.

Example:
    >>> g = parse_graph(b'[{"path": "/nix/store/a-x", "narSize": 1, "references": []}]', source="x.json")
    >>> detect_format(b'[]'), g.summary()["paths"]
    ('list', 1)
"""

from __future__ import annotations

import gc
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson

from ..errors import GraphError, InputError
from ..fileio import compression_of, read_bytes
from ..graph import DEFAULT_STORE_DIR, ClosureGraph

__all__ = ["load_graph", "parse_graph", "detect_format", "read_bytes", "graph_name"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector inside the block (restored after).

    Example:
        >>> import gc
        >>> with gc_paused():
        ...     gc.isenabled()
        False
        >>> gc.isenabled()
        True
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: From this many bytes on, documents of the common layouts are decoded typed
#: (:mod:`layerlab.sources._typed`); smaller ones do not repay the import.
_TYPED_FROM = 4 << 20


def graph_name(path: str | os.PathLike[str]) -> str:
    """An image name from a graph file name: ``img-nginx.graph.json.xz`` -> ``img-nginx``.

    Example:
        >>> graph_name("data/img-nginx.graph.json.xz")
        'img-nginx'
    """
    name = os.path.basename(os.fspath(path).rstrip(os.sep))
    for suffix in (".xz", ".gz", ".zst", ".json", ".graph", ".closure", ".txt"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def detect_format(data: bytes | Any) -> str:
    """Name the layout of a graph document: ``export``, ``list``, ``path-info`` or ``text``.

    ``data`` is either raw bytes or an already-decoded JSON value.

    Example:
        >>> detect_format(b'{"exportReferencesGraph": {"graph": []}, "graph": []}'), detect_format(b"[]")
        ('export', 'list')
        >>> detect_format({"/nix/store/a-x": {"narSize": 1}}), detect_format(b"/nix/store/a-x")
        ('path-info', 'text')
    """
    if isinstance(data, (bytes, bytearray)):
        head = data.lstrip()[:1]
        if head not in (b"{", b"["):
            return "text"
        data = orjson.loads(data)
    if isinstance(data, list):
        return "list"
    if isinstance(data, dict):
        if "exportReferencesGraph" in data:
            return "export"
        if isinstance(data.get("graph"), list):
            return "list"
        return "path-info"
    raise GraphError(f"unrecognised graph document of type {type(data).__name__}")


def parse_graph(
    data: bytes | str,
    *,
    source: str | None = None,
    name: str = "",
    store_dir: str = DEFAULT_STORE_DIR,
) -> ClosureGraph:
    """Parse a graph document in any supported layout.

    Raises:
        InputError: malformed JSON or text.
        GraphError: an inconsistent graph (see :meth:`ClosureGraph.from_records`).

    Example:
        >>> g = parse_graph(b'[{"path": "/nix/store/a-x", "narSize": 2, "references": []}]', name="x")
        >>> g.paths, g.nar_size
        (('/nix/store/a-x',), (2,))
        >>> parse_graph(b"{oops", source="g.json")
        Traceback (most recent call last):
        ...
        layerlab.errors.InputError: g.json: malformed JSON: ...
    """
    if isinstance(data, str):
        data = data.encode()
    stripped = data.lstrip()
    if not stripped:
        raise InputError("file is empty, expected a closure graph", source=source)
    if stripped[:1] not in (b"{", b"["):
        return _parse_text(data, source=source, name=name)
    # The document and the graph are tens of thousands of acyclic containers;
    # the cyclic garbage collector would scan them again and again while they
    # are built (a third of the load time of a 63,000-path graph).
    with gc_paused():
        if len(data) >= _TYPED_FROM:
            from ._typed import typed_columns

            columns = typed_columns(data)
            if columns is not None:
                paths, refs, nar, closure, hashes, roots = columns
                return ClosureGraph.from_columns(
                    paths, refs, nar, closure, hashes, roots, name=name, source=source, store_dir=store_dir
                )
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as err:
            raise InputError(f"malformed JSON: {err}", source=source) from None
        return graph_from_json(doc, source=source, name=name, store_dir=store_dir)


def graph_from_json(
    doc: Any, *, source: str | None = None, name: str = "", store_dir: str = DEFAULT_STORE_DIR
) -> ClosureGraph:
    """Build a graph from an already-decoded JSON document (any JSON layout).

    Example:
        >>> g = graph_from_json({"/nix/store/a-x": {"narSize": 3, "references": []}})
        >>> g.paths, g.nar_size
        (('/nix/store/a-x',), (3,))
    """
    fmt = detect_format(doc) if isinstance(doc, (list, dict)) else None
    if fmt is None:
        raise GraphError(f"expected a JSON object or list, found {type(doc).__name__}", source=source)
    if fmt == "list":
        return ClosureGraph.from_records(
            doc if isinstance(doc, list) else doc["graph"], None, name=name, source=source, store_dir=store_dir
        )
    if fmt == "export":
        spec = doc["exportReferencesGraph"]
        if not isinstance(spec, Mapping):
            raise GraphError("'exportReferencesGraph' must be an object of root lists", source=source)
        records: list[Any] = []
        roots: list[str] = []
        for key, key_roots in spec.items():
            if isinstance(key_roots, str):
                key_roots = [key_roots]
            if not isinstance(key_roots, list):
                raise GraphError(f"exportReferencesGraph.{key} must be a list of store paths", source=source)
            recs = doc.get(key)
            if not isinstance(recs, list):
                raise GraphError(
                    f"exportReferencesGraph names '{key}', but '{key}' is not a list of paths", source=source
                )
            records.extend(recs)
            roots.extend(key_roots)
        return ClosureGraph.from_records(records, roots, name=name, source=source, store_dir=store_dir)
    # path-info object form
    records = []
    for path, info in doc.items():
        if info is None:
            raise GraphError(f"{path} is not a valid store path (null in path-info output)", source=source)
        if not isinstance(info, Mapping):
            raise GraphError(f"entry for {path} is not an object", source=source)
        if "path" in info and info["path"] != path:
            raise GraphError(f"entry keyed {path} names path {info['path']}", source=source)
        rec = dict(info)
        rec["path"] = path if "/" in path else f"{store_dir}/{path}"
        records.append(rec)
    return ClosureGraph.from_records(records, None, name=name, source=source, store_dir=store_dir)


def _parse_text(data: bytes, *, source: str | None, name: str) -> ClosureGraph:
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text: {err}", source=source) from None
    records = []
    i = 0
    n = len(lines)
    while i < n:
        if not lines[i].strip():
            i += 1
            continue
        path = lines[i].strip()
        if not path.startswith("/"):
            raise InputError(f"line {i + 1}: expected a store path, found {path!r:.60}", source=source)
        if i + 2 >= n:
            raise InputError(f"line {i + 1}: truncated entry for {path}", source=source)
        count_line = lines[i + 2].strip()
        if not count_line.isdigit():
            raise InputError(f"line {i + 3}: expected a reference count, found {count_line!r:.40}", source=source)
        count = int(count_line)
        refs = [ln.strip() for ln in lines[i + 3 : i + 3 + count]]
        if len(refs) < count:
            raise InputError(f"line {i + 3}: {path} announces {count} references, file ends first", source=source)
        records.append({"path": path, "references": refs})
        i += 3 + count
    return ClosureGraph.from_records(records, None, name=name, source=source)


def load_graph(
    path: str | os.PathLike[str], *, name: str | None = None, store_dir: str = DEFAULT_STORE_DIR
) -> ClosureGraph:
    """Load a closure graph file in any supported layout (optionally compressed).

    Args:
        path: the file, or ``-`` for standard input; ``.xz``, ``.gz`` and
            ``.zst`` data is decompressed (recognised by suffix or content).
        name: a label for the graph, by default derived from the file name.

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp(); f = os.path.join(d, "hello.graph.json")
        >>> _ = open(f, "w").write('[{"path": "/nix/store/a-hello", "narSize": 3}]')
        >>> load_graph(f).name
        'hello'
    """
    stdin = os.fspath(path) == "-"
    if name is None:
        name = "stdin" if stdin else graph_name(path)
    if not stdin:
        graph = _load_mapped(path, name=name, store_dir=store_dir)
        if graph is not None:
            return graph
    data = read_bytes(path)
    return parse_graph(data, source="<stdin>" if stdin else str(path), name=name, store_dir=store_dir)


def _load_mapped(path: str | os.PathLike[str], *, name: str, store_dir: str) -> ClosureGraph | None:
    """A large, uncompressed file of a common layout decoded typed straight from
    the page cache (memory-mapped, not copied); ``None`` for any other file or
    any failure, which :func:`read_bytes` and :func:`parse_graph` then meet and
    report the general way."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size < _TYPED_FROM:
            return None
        import mmap

        with open(path, "rb") as handle:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    with mapped:
        head = mapped[:64]
        if compression_of(head, os.fspath(path)) is not None or head.lstrip()[:1] not in (b"{", b"["):
            return None
        from ._typed import typed_columns

        with gc_paused():
            columns = typed_columns(mapped)
            if columns is None:
                return None
            paths, refs, nar, closure, hashes, roots = columns
            return ClosureGraph.from_columns(
                paths, refs, nar, closure, hashes, roots, name=name, source=str(path), store_dir=store_dir
            )
