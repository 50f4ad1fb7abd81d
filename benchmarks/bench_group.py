"""Speed of Nixery's grouping.

1. ``kde-full`` (1,189 paths) grouped in-process at budget 94 (target: under
   20 ms), against a straightforward networkx transcription in the same run.
2. ``layerlab group`` on the 63,671-path universe graph with popularity.json at
   budget 94 as a whole process (target: under 1.5 s), against the
   straightforward transcription run as a process.

The baseline (``_straightforward_nixery.py``) merges in constant time a
merge, as Nixery's Go program does.  Both versions must produce the same
layer sets; the script checks it.  Figures are printed and recorded with
``_report.record`` (``docs/benchmarks.md``).

Run: ``.venv/bin/python benchmarks/bench_group.py``
"""

from __future__ import annotations

import json
import lzma
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import _straightforward_nixery as baseline
from _report import record

from layerlab.popularity import load_popularity
from layerlab.sources.files import load_graph
from layerlab.strategies import Context, get_strategy

DEBIAN = ROOT / "data" / "debian"


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), result


def bench_kde() -> None:
    graph = load_graph(DEBIAN / "kde-full.graph.json")
    pop = load_popularity(DEBIAN / "popularity.json")
    ctx = Context(pop)
    strategy = get_strategy("nixery")
    doc = json.loads((DEBIAN / "kde-full.graph.json").read_text())
    raw_pop = dict(pop.counts)
    ours_med, ours_min, layers = timed(lambda: strategy.group(graph, ctx, 94), 50)
    base_med, base_min, base_layers = timed(lambda: baseline.group(doc, raw_pop, 94), 10)
    assert {frozenset(lay.paths) for lay in layers} == {frozenset(lay) for lay in base_layers}, "outputs differ"
    print(f"kde-full grouping, budget 94: {ours_med * 1e3:.1f} ms median ({ours_min * 1e3:.1f} min); target < 20 ms")
    print(f"  baseline (networkx transcription): {base_med * 1e3:.1f} ms median -> {base_med / ours_med:.1f}x faster")
    record(
        "Nixery grouping of kde-full, budget 94, in-process",
        ours_med * 1e3,
        "ms",
        baseline="straightforward networkx transcription, constant-time merge",
        baseline_value=base_med * 1e3,
        goal="< 20 ms",
        note="medians of 50 (layerlab) and 10 (baseline) runs",
    )


def bench_universe() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "universe.graph.json"
        graph.write_bytes(lzma.decompress((DEBIAN / "universe.graph.json.xz").read_bytes()))
        pop = DEBIAN / "popularity.json"
        ours_cmd = [
            str(Path(sys.executable).with_name("layerlab")),
            "group",
            str(graph),
            "--strategy",
            "nixery",
            "--popularity",
            str(pop),
            "--budget",
            "94",
            "--out",
            f"{tmp}/ours.json",
        ]
        base_cmd = [
            sys.executable,
            str(ROOT / "benchmarks" / "_straightforward_nixery.py"),
            str(graph),
            str(pop),
            "94",
            f"{tmp}/base.json",
        ]

        def run(cmd):
            return lambda: subprocess.run(cmd, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})

        run(ours_cmd)()  # warm the page cache
        ours_med, ours_min, _ = timed(run(ours_cmd), 5)
        base_med, base_min, _ = timed(run(base_cmd), 1)
        ours = {frozenset(lay["contents"]) for lay in json.loads(Path(f"{tmp}/ours.json").read_text())}
        base = {frozenset(lay["contents"]) for lay in json.loads(Path(f"{tmp}/base.json").read_text())}
        assert ours == base, "outputs differ"
    print(
        f"universe (63,671 paths) `layerlab group` process: {ours_med:.2f} s median ({ours_min:.2f} s min); "
        "target < 1.5 s"
    )
    print(f"  baseline (stdlib json + networkx, as a process): {base_med:.2f} s -> {base_med / ours_med:.1f}x faster")
    record(
        "layerlab group on the universe graph (63,671 paths), budget 94, whole process",
        ours_med,
        "s",
        baseline="the straightforward transcription (constant-time merge) as a process",
        baseline_value=base_med,
        goal="< 1.5 s",
        note="median of 5 runs; baseline 1 run",
    )


if __name__ == "__main__":
    bench_kde()
    bench_universe()
