"""Byte counts as people read them: SI units, three significant digits.

At the bottom of the package (beside :mod:`layerlab.errors`) so that any module can print sizes.

Example:
    >>> format_bytes(1_234_567)
    '1.23 MB'
"""

from __future__ import annotations

from typing import Any

__all__ = ["format_bytes"]


def format_bytes(n: float, _pos: Any = None) -> str:
    """Bytes in SI units, three significant digits (usable as a matplotlib tick formatter).

    Example:
        >>> format_bytes(0), format_bytes(999), format_bytes(1_234_567), format_bytes(3.07e9)
        ('0 B', '999 B', '1.23 MB', '3.07 GB')
    """
    n = float(n)
    if n == 0:
        return "0 B"
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 999.5 or unit == "TB":
            if unit == "B":
                return f"{sign}{n:.0f} B"
            return f"{sign}{n:.3g} {unit}"
        n /= 1000
    raise AssertionError  # pragma: no cover
