"""Where closure graphs come from: files on disk (:mod:`.files`) and Nix itself (:mod:`.nix`).

Everything here returns :class:`layerlab.graph.ClosureGraph` objects; nothing
above this package knows which format or tool a graph came from.
"""

from .files import detect_format, load_graph, parse_graph

__all__ = ["load_graph", "parse_graph", "detect_format"]
