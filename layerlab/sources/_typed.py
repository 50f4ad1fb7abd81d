"""Typed decoding of the two common graph layouts, straight into columns.

``nix path-info --json`` lists and structured-attrs ``exportReferencesGraph``
documents with the one key ``graph`` are by far the largest inputs.  Decoding
them with msgspec into typed records (rather than a dictionary per record)
checks every field's type while parsing and hands
:meth:`~layerlab.graph.ClosureGraph.from_columns` its columns without a
dictionary look-up per field (msgspec: https://jcristharif.com/msgspec/).

Large documents are first decoded with each record's ``references`` kept as
raw JSON text, which the compiled helper ``_refscan`` (built with the package
when a C compiler is at hand) turns straight into the positions of the paths
they name: no string object per reference, no dictionary look-up.  It accepts
only plainly written arrays of strings (ASCII, no escape, no white space, as
Nix and nixpkgs write them) each naming a listed path exactly; for anything
else, or without the helper, the document is decoded with ``references``
typed as lists of strings, as it always is on small documents.

Everything else — another layout, an unexpected type, a size outside
``0 .. 2**63 - 1``, malformed JSON — gives ``None``, and the caller decodes
the document the general way, which also words every error; so both ways
accept the same documents and build the same graph.

Example:
    >>> paths, refs, nar, closure, hashes, roots = typed_columns(
    ...     b'{"exportReferencesGraph": {"graph": ["/s/a"]}, "graph": [{"path": "/s/a", "narSize": 1}]}')
    >>> paths, refs, nar, roots
    (['/s/a'], [None], [1], ['/s/a'])
    >>> typed_columns(b'{"/s/a": {"narSize": 1}}') is None  # path-info objects: the general way
    True
"""

from __future__ import annotations

import mmap
from operator import attrgetter
from typing import Annotated, Any

import msgspec

from ..graph import ReferenceIndices

try:
    from . import _refscan
except ImportError:  # built without a C compiler: references are decoded as strings
    _refscan = None  # type: ignore[assignment]

__all__ = ["typed_columns"]

#: A size as the general way accepts it, within what msgspec checks in C.
_Size = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class _Record(msgspec.Struct, rename="camel", gc=False):
    path: str
    references: list[str] | None = None
    nar_size: _Size | None = None
    closure_size: _Size | None = None
    nar_hash: str | None = None


class _Export(msgspec.Struct, rename="camel", forbid_unknown_fields=True, gc=False):
    # Absent and null differ: null is an error the general way reports.
    export_references_graph: dict[str, list[str]] | msgspec.UnsetType = msgspec.UNSET
    graph: list[_Record] | msgspec.UnsetType = msgspec.UNSET


_DECODER = msgspec.json.Decoder(_Export | list[_Record])


class _RawRecord(msgspec.Struct, rename="camel", gc=False):
    path: str
    references: msgspec.Raw = msgspec.Raw(b"null")  # absent and null alike: none
    nar_size: _Size | None = None
    closure_size: _Size | None = None
    nar_hash: str | None = None


class _RawExport(msgspec.Struct, rename="camel", forbid_unknown_fields=True, gc=False):
    export_references_graph: dict[str, list[str]] | msgspec.UnsetType = msgspec.UNSET
    graph: list[_RawRecord] | msgspec.UnsetType = msgspec.UNSET


_RAW_DECODER = msgspec.json.Decoder(_RawExport | list[_RawRecord])

#: From this many bytes on, references are first kept as raw text for ``_refscan``.
_SCAN_FROM = 1 << 20

_FIELDS = ("path", "references", "nar_size", "closure_size", "nar_hash")

Columns = tuple[list[Any], Any, list[Any], list[Any], list[Any], list[str] | None]


def typed_columns(data: bytes | mmap.mmap, *, scan: bool | None = None) -> Columns | None:
    """``(paths, references, nar_size, closure_size, nar_hash, roots)`` of a list or
    single-key export document, each column in the listed order, or ``None``.

    ``roots`` is ``None`` for a list.  ``scan`` (by default: from 1 MiB of
    data on, when the compiled helper is built) resolves the references in C,
    which makes the references column a :class:`~layerlab.graph.ReferenceIndices`
    when every reference is plainly written; see the module documentation.

    Example:
        >>> typed_columns(b'[{"path": "/s/a", "references": ["/s/a"], "narHash": "sha256:x"}]')[:5]
        (['/s/a'], [['/s/a']], [None], [None], ['sha256:x'])
        >>> typed_columns(b'[{"path": "/s/a", "narSize": -1}]') is None
        True
    """
    if scan is None:
        scan = len(data) >= _SCAN_FROM
    if scan and _refscan is not None:
        raw = _records(data, _RAW_DECODER)
        if raw is None:
            return None
        records, roots = raw
        paths = list(map(attrgetter("path"), records))
        found = _refscan.resolve(paths, list(map(attrgetter("references"), records)))
        if found is not None:
            import numpy as np

            refs = ReferenceIndices(np.frombuffer(found[0], dtype=np.int64), np.frombuffer(found[1], dtype=np.int64))
            nar, closure, hashes = (list(map(attrgetter(f), records)) for f in _FIELDS[2:])
            return (paths, refs, nar, closure, hashes, roots) if all(paths) else None
        del records, raw, paths  # not plainly written: decoded again, references typed
    typed = _records(data, _DECODER)
    if typed is None:
        return None
    records, roots = typed
    paths, refs_typed, nar, closure, hashes = (list(map(attrgetter(f), records)) for f in _FIELDS)
    if not all(paths):  # an empty path: the general way names the record
        return None
    return paths, refs_typed, nar, closure, hashes, roots


def _records(data: bytes | mmap.mmap, decoder: msgspec.json.Decoder[Any]) -> tuple[list[Any], list[str] | None] | None:
    """The records and the roots (``None`` for a list) of a list or single-key export document, or ``None``."""
    try:
        doc = decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if isinstance(doc, list):
        return doc, None
    spec = doc.export_references_graph
    if isinstance(doc.graph, msgspec.UnsetType):
        return None
    if isinstance(spec, msgspec.UnsetType):
        return doc.graph, None
    if list(spec) != ["graph"]:
        return None
    return doc.graph, spec["graph"]
