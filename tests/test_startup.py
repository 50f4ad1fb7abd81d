"""Start-up: a command imports what it uses, when it uses it.

``layerlab group`` with a strategy that needs no numpy, on a graph small
enough for the pure-Python paths, must finish without numpy, rustworkx,
pandas or networkx ever being imported; the strategy table must name every
family's module correctly, since it is what keeps the other modules unloaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from layerlab import strategies

ROOT = Path(__file__).resolve().parent.parent
DEBIAN = ROOT / "data" / "debian"
HEAVY = ("numpy", "rustworkx", "pandas", "networkx", "scipy")

PROBE = f"""
import json, sys
from layerlab.cli import main
status = main(sys.argv[1:])
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
loaded = sorted(m for m in sys.modules if m.startswith("layerlab.strategies."))
pools = sorted(m for m in ("concurrent.futures", "multiprocessing") if m in sys.modules)
print(json.dumps({{"status": status, "heavy": heavy, "strategies": loaded, "pools": pools}}))
"""


def probe(*argv: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


NUMPY_FREE = ["keystone", "single-layer", "nix2container", "pipeline", "auto-layer", "popularity-contest", "per-path"]


@pytest.mark.parametrize("strategy", NUMPY_FREE)
def test_group_with_a_numpy_free_strategy_imports_no_heavy_library(tmp_path, strategy):
    seen = probe(
        "group",
        str(DEBIAN / "kde-full.graph.json"),
        "--strategy",
        strategy,
        "--popularity",
        str(DEBIAN / "popularity.json"),
        "--out",
        str(tmp_path / "layers.json"),
    )
    assert seen["status"] == 0
    assert json.loads((tmp_path / "layers.json").read_text())
    assert seen["heavy"] == []
    # Only the strategy's own module (and what it builds on) was loaded.
    own = f"layerlab.strategies.{strategies.FAMILY_MODULES[strategy][0]}"
    assert own in seen["strategies"]
    assert {"layerlab.strategies.auto_layer", "layerlab.strategies.nixery"} & set(seen["strategies"]) <= {own}


def test_nixery_on_a_small_graph_imports_no_heavy_library_and_no_process_pool(tmp_path):
    out = tmp_path / "layers.json"
    kde, pop = str(DEBIAN / "kde-full.graph.json"), str(DEBIAN / "popularity.json")
    seen = probe("group", kde, "--strategy", "nixery", "--popularity", pop, "--out", str(out))
    assert seen["status"] == 0 and json.loads(out.read_text())
    assert "layerlab.strategies.nixery" in seen["strategies"]
    assert seen["heavy"] == [] and seen["pools"] == []


def test_the_default_strategy_on_a_small_graph_imports_no_heavy_library(tmp_path):
    seen = probe(
        "group",
        str(DEBIAN / "kde-full.graph.json"),
        "--popularity",
        str(DEBIAN / "popularity.json"),
        "--out",
        str(tmp_path / "layers.json"),
    )
    assert seen["status"] == 0
    assert seen["heavy"] == [], f"{strategies.DEFAULT_STRATEGY} imported {seen['heavy']}"


def test_info_imports_no_heavy_library():
    seen = probe("info", str(DEBIAN / "kde-full.graph.json"))
    assert seen["status"] == 0 and seen["heavy"] == []


def test_a_strategy_that_needs_numpy_still_gets_it(tmp_path):
    # auto-layer's large-graph path works in numpy, imported when it runs.
    universe = str(DEBIAN / "universe.graph.json.xz")
    seen = probe("group", universe, "--strategy", "auto-layer", "--out", str(tmp_path / "l.json"))
    assert seen["status"] == 0 and "numpy" in seen["heavy"]


def test_the_family_table_names_each_class_and_preset():
    table = strategies.available()
    for name, (module, cls_name) in strategies.FAMILY_MODULES.items():
        cls = strategies.family(name)
        assert cls.__name__ == cls_name and cls.__module__ == f"layerlab.strategies.{module}"
        assert cls.name == name
        for preset in cls.presets:
            assert strategies.PRESET_FAMILIES[preset] == name
    assert set(table) == set(strategies.FAMILY_MODULES) | set(strategies.PRESET_FAMILIES)
    assert set(strategies.FAMILIES) == set(strategies.FAMILY_MODULES)
    for preset, fam in strategies.PRESET_FAMILIES.items():
        assert strategies.strategy_class(preset) == (strategies.family(fam), strategies.family(fam).presets[preset])
