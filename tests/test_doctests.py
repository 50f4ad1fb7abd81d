"""Every docstring example in the package runs and shows what it claims.

Every module outside the command line carries examples, and so does every
public function and method (a ``>>>`` line; ``# doctest: +SKIP`` where it needs
Nix, a registry or the network); the tests fail when one loses them.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import layerlab

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(layerlab.__path__, "layerlab.") if not m.name.endswith("__main__")
)
#: Modules whose behaviour is shown by their tests rather than examples.
WITHOUT_EXAMPLES = {"layerlab.sources", "layerlab.image"} | {m for m in MODULES if m.startswith("layerlab.cli")}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    if name not in WITHOUT_EXAMPLES:
        assert result.attempted > 0, f"{name} has no docstring examples"


#: Modules whose public functions must show an example: outside the command line, not private.
PUBLIC_MODULES = [
    m for m in MODULES if not m.startswith("layerlab.cli") and not any(p.startswith("_") for p in m.split(".")[1:])
]


def public_functions(module: object) -> list[tuple[str, object]]:
    """The functions defined in ``module`` and the methods of its classes, whose names do not start with ``_``."""
    name = getattr(module, "__name__", "")
    out: list[tuple[str, object]] = []
    for attr, obj in vars(module).items():
        if attr.startswith("_") or getattr(obj, "__module__", None) != name:
            continue
        if inspect.isfunction(obj):
            out.append((attr, obj))
        elif inspect.isclass(obj):
            for member, value in vars(obj).items():
                fn = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
                if not member.startswith("_") and inspect.isfunction(fn):
                    out.append((f"{attr}.{member}", fn))
    return out


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_function_shows_an_example(name: str) -> None:
    functions = public_functions(importlib.import_module(name))
    missing = [qual for qual, fn in functions if ">>>" not in (fn.__doc__ or "")]
    assert not missing, f"{name}: public functions without a docstring example: {', '.join(missing)}"


def test_the_example_check_sees_what_it_should() -> None:
    import types

    mod = types.ModuleType("layerlab.demo")
    exec(
        'def shown():\n    """>>> 1\n    1"""\n'
        'def bare():\n    """No example."""\n'
        "def _private():\n    pass\n"
        "class K:\n    def method(self):\n        pass\n    @classmethod\n    def make(cls):\n        pass\n",
        mod.__dict__,
    )
    assert sorted(q for q, _ in public_functions(mod)) == ["K.make", "K.method", "bare", "shown"]
