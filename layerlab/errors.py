"""The errors layerlab raises.

Every error layerlab raises on purpose is a :class:`LayerlabError`, so a caller
can catch one class and show ``str(err)``: a single line that names the input
(file, parameter, package source) and the problem.  The command-line tool
prints exactly that line and exits with status 2, never a traceback.

The hierarchy is deliberately small::

    LayerlabError
    ├── InputError          a file or value handed to layerlab is malformed
    │   ├── GraphError      a closure graph is inconsistent
    │   └── PopularityError a popularity table is malformed
    ├── ConfigError         a strategy, parameter or budget is invalid
    ├── StrategyError       a strategy cannot run on this input
    ├── NixError            Nix failed or a package was not found
    │   └── NotFoundError   requested packages are missing (all of them listed)
    ├── ImageError          an image or layer cannot be built
    └── RegistryError       a registry refused or failed a request

Example:
    >>> try:
    ...     raise GraphError("reference to absent path /nix/store/x-y", source="g.json")
    ... except LayerlabError as err:
    ...     print(err)
    g.json: reference to absent path /nix/store/x-y
"""

from __future__ import annotations

__all__ = [
    "one_line",
    "LayerlabError",
    "InputError",
    "GraphError",
    "PopularityError",
    "ConfigError",
    "StrategyError",
    "NixError",
    "NotFoundError",
    "ImageError",
    "RegistryError",
]


#: Characters that would break a one-line message (``str.splitlines`` breaks on all of these) or hide
#: text, each to its escape sequence (a table for ``str.translate``: no regular expression to compile at import).
_ESCAPES = {c: repr(chr(c))[1:-1] for c in (*range(0x09), *range(0x0A, 0x20), 0x7F, 0x85, 0x2028, 0x2029)}


def one_line(text: str) -> str:
    r"""``text`` with line breaks and control characters escaped, so it stays on one line.

    Example:
        >>> print(one_line("a\nb\x00c"))
        a\nb\x00c
    """
    return text.translate(_ESCAPES)


class LayerlabError(Exception):
    """Base class of every error layerlab raises on purpose.

    The text is one line whatever the input held: line breaks and control
    characters in ``message`` and ``source`` are shown escaped (a subclass
    that carries a multi-line log on purpose sets ``multiline``).

    Args:
        message: what is wrong, in one sentence.
        source: the file, URL or parameter the problem is in, if any; it is
            prefixed to the message as ``source: message``.
    """

    multiline = False

    def __init__(self, message: str, *, source: str | None = None) -> None:
        message, source = str(message), (None if source is None else str(source))
        if not self.multiline:
            message = one_line(message)
        if source is not None:
            source = one_line(source)
        self.message = message
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class InputError(LayerlabError):
    """A file or value given to layerlab is malformed or unreadable."""


class GraphError(InputError):
    """A closure graph is inconsistent (absent reference, absent root, duplicate path...)."""


class PopularityError(InputError):
    """A popularity table is malformed (non-integer or negative counts...)."""


class ConfigError(LayerlabError):
    """A strategy name, a parameter value or a budget is invalid."""


class StrategyError(LayerlabError):
    """A strategy cannot run on the given input (for example it needs narSize)."""


class NixError(LayerlabError):
    """Invoking Nix failed; the message carries the tail of Nix's stderr (indented lines after the first)."""

    multiline = True


class NotFoundError(NixError):
    """Some requested packages do not exist in the package source.

    Attributes:
        packages: every missing name, in request order.
    """

    def __init__(self, packages: list[str], *, source: str | None = None) -> None:
        self.packages = list(packages)
        super().__init__("packages not found: " + ", ".join(self.packages), source=source)


class ImageError(LayerlabError):
    """An image, layer tarball or blob cannot be built or written."""


class RegistryError(LayerlabError):
    """A container registry refused or failed a request."""
