"""Typed decoding of the two common graph layouts, straight into columns.

``nix path-info --json`` lists and structured-attrs ``exportReferencesGraph``
documents with the one key ``graph`` are by far the largest inputs.  Decoding
them with msgspec into typed records (rather than a dictionary per record)
checks every field's type while parsing and hands
:meth:`~layerlab.graph.ClosureGraph.from_columns` its columns without a
dictionary look-up per field (msgspec: https://jcristharif.com/msgspec/).

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

_FIELDS = ("path", "references", "nar_size", "closure_size", "nar_hash")

Columns = tuple[list[Any], list[Any], list[Any], list[Any], list[Any], list[str] | None]


def typed_columns(data: bytes | mmap.mmap) -> Columns | None:
    """``(paths, references, nar_size, closure_size, nar_hash, roots)`` of a list or
    single-key export document, each column in the listed order, or ``None``.

    ``roots`` is ``None`` for a list.  See the module documentation.

    Example:
        >>> typed_columns(b'[{"path": "/s/a", "references": ["/s/a"], "narHash": "sha256:x"}]')[:5]
        (['/s/a'], [['/s/a']], [None], [None], ['sha256:x'])
        >>> typed_columns(b'[{"path": "/s/a", "narSize": -1}]') is None
        True
    """
    try:
        doc = _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    roots: list[str] | None = None
    if isinstance(doc, _Export):
        spec = doc.export_references_graph
        if isinstance(doc.graph, msgspec.UnsetType):
            return None
        if not isinstance(spec, msgspec.UnsetType):
            if list(spec) != ["graph"]:
                return None
            roots = spec["graph"]
        records: list[Any] = doc.graph
    else:
        records = doc
    del doc
    paths, refs, nar, closure, hashes = (list(map(attrgetter(f), records)) for f in _FIELDS)
    if not all(paths):  # an empty path: the general way names the record
        return None
    return paths, refs, nar, closure, hashes, roots
