"""Small graph helpers shared by the strategy modules.

* :func:`iter_bits` lists the set bits of a Python-int bit set (the form of
  :attr:`ClosureGraph.closure_bits`) quickly, through numpy.
* :func:`package_key` is the ``name-version`` then hash sort key the nixpkgs
  tools use to break ties.

Example:
    >>> iter_bits(0b10110)
    [1, 2, 4]
    >>> package_key("/nix/store/abc-hello-2.10")
    'hello-2.10-/nix/store/abc'
"""

from __future__ import annotations

__all__ = ["iter_bits", "package_key"]


def iter_bits(x: int) -> list[int]:
    """Indices of the set bits of ``x``, ascending.

    Example:
        >>> iter_bits(0)
        []
    """
    if x <= 0:
        return []
    if x.bit_count() <= 24:
        out = []
        while x:
            low = x & -x
            out.append(low.bit_length() - 1)
            x ^= low
        return out
    import numpy as np  # only for large sets: package_key's users need no numpy

    raw = x.to_bytes((x.bit_length() + 7) // 8, "little")
    return np.flatnonzero(np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")).tolist()


def package_key(path: str) -> str:
    """Sort key of nixpkgs' popularity tools: the store path with its hash part
    moved to the end, so ties sort by name and version, then hash."""
    first, sep, rest = path.partition("-")
    if not sep:
        return path
    return f"{rest}-{first}"
