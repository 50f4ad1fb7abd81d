"""No module imports one above it in the documented layering.

The layering, bottom first (a module may import modules of its own level and
below, never above)::

    errors < fileio, units, net, procs < sources.nix_run < graph < popularity
      < sources.files, sources.nix < strategies < imageset < metrics < image
      < registry, local_registry < serve < plot < workbench < cli

Where a file sits differs from the one-line summary "sources -> graph ->
popularity -> strategies" in one place, on purpose:

* ``layerlab.sources.nix_run`` (running Nix: environment, settings, progress,
  version) needs nothing above :mod:`layerlab.fileio`, so it sits at the bottom
  of the sources, below the graph.
* ``layerlab.sources.files`` and ``layerlab.sources.nix`` (and the package
  ``layerlab.sources`` that re-exports them) turn outside data into layerlab's
  model: they parse graph files into :class:`~layerlab.graph.ClosureGraph`
  objects and count Nix package sets into a
  :class:`~layerlab.popularity.Popularity` table.  A loader must import the
  model it builds, so these files sit above ``graph`` and ``popularity`` and
  below ``strategies``; the graph and popularity modules import nothing from
  them (checked here like every other pair).

Imports are read with ``ast`` from the source, function-level imports
included (importing late does not change which module depends on which);
``if TYPE_CHECKING:`` imports are included too.  A module of a package not
listed here fails the test until it is placed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "layerlab"

#: Bottom first; a name covers the module and, for a package, everything inside it
#: (the longest matching name wins, so ``sources.nix_run`` overrides ``sources``).
LAYERS: list[tuple[str, ...]] = [
    ("errors",),
    ("fileio", "units", "net", "procs"),
    ("sources.nix_run",),
    ("graph",),
    ("popularity", "_popindex"),
    ("sources", "sources.files", "sources.nix"),
    ("strategies",),
    ("imageset",),
    ("metrics",),
    ("image",),
    ("registry", "local_registry"),
    ("serve",),
    ("plot",),
    ("workbench", "widgets"),
    ("cli",),
]
LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts)


def level_of(name: str) -> int | None:
    """The level of ``name`` (relative to ``layerlab``), from the longest listed prefix."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        found = LEVEL.get(".".join(parts[:k]))
        if found is not None:
            return found
    return None


def imports_of(source: str, name: str, *, is_package: bool = False) -> set[str]:
    """Every ``layerlab`` module the source of module ``name`` imports (names relative to ``layerlab``)."""
    tree = ast.parse(source)
    package = name.split(".") if is_package else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.removeprefix("layerlab.") for a in node.names if a.name.startswith("layerlab."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                stem = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.startswith("layerlab"):
                stem = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:
                # "from . import graph" imports the module graph; "from .graph import X" the module graph too.
                candidate = [*stem, alias.name]
                where = PACKAGE / Path(*candidate)
                is_module = where.is_dir() or where.with_suffix(".py").exists()
                out.add(".".join(candidate if is_module else stem))
    out.discard("")
    return out


def imported_modules(path: Path) -> set[str]:
    """Every ``layerlab`` module the file ``path`` of the package imports."""
    return imports_of(path.read_text(), module_name(path), is_package=path.name == "__init__.py")


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) or "layerlab" for p in MODULES])
def test_no_module_imports_one_above_it(path: Path) -> None:
    name = module_name(path)
    if not name:
        return  # layerlab/__init__.py, if there is one, re-exports only
    mine = level_of(name)
    assert mine is not None, f"layerlab.{name} has no place in the layering: add it to LAYERS in {Path(__file__).name}"
    above = sorted(f"layerlab.{other}" for other in imported_modules(path) if (level_of(other) or 0) > mine)
    assert not above, f"layerlab.{name} imports {', '.join(above)}, above it in the layering"


def test_the_check_finds_an_upward_import() -> None:
    """The reader sees relative, absolute and function-level imports, and the levels order as documented."""
    assert level_of("strategies.nixery") == LEVEL["strategies"]
    assert level_of("sources.nix_run") < level_of("graph") < level_of("sources.files") < level_of("strategies")  # type: ignore[operator]
    assert imported_modules(PACKAGE / "graph.py") == {"errors", "units"}
    for name, text in (
        ("graph", "from .strategies import get_strategy\n"),
        ("graph", "import layerlab.metrics.sweep\n"),
        ("strategies.nixery", "def late():\n    from ..image.builder import build_image\n"),
        ("popularity", "from . import imageset\n"),
    ):
        found = imports_of(text, name)
        assert any(level_of(n) > level_of(name) for n in found), (text, found)  # type: ignore[operator]
    assert imports_of("from ..graph import ClosureGraph\nfrom .base import Layer\n", "strategies.nixery") == {
        "graph",
        "strategies.base",
    }
