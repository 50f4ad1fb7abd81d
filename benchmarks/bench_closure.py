"""Benchmark: ``layerlab closure`` on an already-built image against the bare ``nix path-info`` it runs.

The image is a few packages of the offline set (nix/testpkgs), built before
timing starts.  Timed, each as the median of several rounds (every round times each
candidate once, so load from other processes affects them alike):

* baseline: ``nix path-info --json --recursive --closure-size <store paths>``,
  the call layerlab makes, run directly;
* Nix alone: the name look-up (``nix-instantiate --eval`` of lookup.nix) plus
  that ``path-info``: everything Nix must do to answer "which closure do these
  names have", without layerlab;
* ``layerlab closure`` from the command line, cache off (a new Python
  process: start-up, look-up, path-info, parsing, writing JSON);
* ``layerlab closure`` from the command line with the on-disk cache warm (no
  Nix process at all);
* :func:`layerlab.sources.nix.closure` in-process, cache off, with each
  method (``path-info``, ``export``; for ``export`` also the first request of
  a package combination, which builds a new graph derivation), which is how
  the default method was picked.

Prints each figure and its ratio to the bare ``path-info`` call.

Usage: ``python benchmarks/bench_closure.py [RUNS]``
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _report import record

from layerlab.sources.nix import OFFLINE_CONFIG, closure, lookup_expression, parse_source
from layerlab.sources.nix_run import nix_environment

PACKAGES = ["git", "pythonEnv", "htop", "xorg.xev", "texliveFull"]


def round_robin_medians(candidates: dict, runs: int) -> dict[str, float]:
    """Median seconds of each candidate, timed in turn within every round so
    that load from other processes on the machine hits them all alike."""
    for fn in candidates.values():
        fn()  # warm the page cache and the on-disk caches
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(runs):
        for name, fn in candidates.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def run(args: list[str], env: dict[str, str]) -> bytes:
    return subprocess.run(args, env=env, check=True, capture_output=True).stdout


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    src = parse_source(f"path!{ROOT / 'nix' / 'testpkgs'}")
    print(f"building {', '.join(PACKAGES)} from {src.spec} (once, not timed)...", flush=True)
    built = closure(src, PACKAGES, settings=OFFLINE_CONFIG, cache=False)
    outs = list(built.store_paths)
    print(f"image: {len(built.graph)} store paths, {sum(built.graph.nar_size) / 1e6:.1f} MB")

    env = nix_environment(OFFLINE_CONFIG)
    path_info = ["nix", "path-info", "--json", "--recursive", "--closure-size", *outs]
    import orjson

    lookup = [
        "nix-instantiate",
        "--eval",
        "--strict",
        "--json",
        str(lookup_expression()),
        *src.nix_args(),
        "--argstr",
        "packages",
        orjson.dumps(sorted(PACKAGES)).decode(),
        "-A",
        "lookup",
    ]

    cache_dir = tempfile.mkdtemp(prefix="bench-closure-")
    cli_env = {**env, "LAYERLAB_CACHE_DIR": cache_dir}
    layerlab = [
        sys.executable,
        "-m",
        "layerlab.cli",
        "closure",
        src.spec,
        *PACKAGES,
        "--offline",
        "-q",
        "--out",
        os.devnull,
    ]

    candidates = {
        "nix path-info (baseline)": lambda: run(path_info, env),
        "nix-instantiate lookup + nix path-info": lambda: (run(lookup, env), run(path_info, env)),
        "layerlab closure, CLI, no cache": lambda: run([*layerlab, "--no-cache"], cli_env),
        "layerlab closure, CLI, cache warm": lambda: run(layerlab, cli_env),
        "closure() in-process, path-info": lambda: closure(src, PACKAGES, settings=OFFLINE_CONFIG, cache=False),
        "closure() in-process, export": lambda: closure(
            src, PACKAGES, settings=OFFLINE_CONFIG, cache=False, method="export"
        ),
    }
    figures = round_robin_medians(candidates, runs)

    # the export method builds one graph derivation per package combination:
    # time the first request of new combinations (path-info needs no build)
    extras = [
        "hello",
        "nano",
        "less",
        "curl",
        "coreutils",
        "moreutils",
        "bashInteractive",
        "sqlite",
        "gmp",
        "acl",
        "iana-etc",
        "cacert",
        "nghttp2",
        "readline",
        "haskellPackages.hlint",
        "python3Packages.requests",
    ]
    closure(src, extras, settings=OFFLINE_CONFIG, cache=False)  # built, not timed
    fresh = []
    for i in range(min(runs, len(extras))):
        combo = [*PACKAGES, extras[i], extras[(i + 5) % len(extras)], "xorg.libX11"]
        t = time.perf_counter()
        closure(src, combo, settings=OFFLINE_CONFIG, cache=False, method="export")
        fresh.append(time.perf_counter() - t)
    figures["closure() in-process, export, new combination"] = statistics.median(fresh)

    base = figures["nix path-info (baseline)"]
    print(f"median of {runs} runs")
    for name, seconds in figures.items():
        print(f"  {name:<40} {seconds * 1000:8.1f} ms   {seconds / base:5.2f}x path-info")
    # the export derivation copies .attrs.json with /bin/sh's `read`, one byte per
    # system call: its cost grows with the graph (time a 1 MB graph document)
    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp, "attrs.json")
        doc.write_bytes(
            orjson.dumps(
                [{"path": f"/nix/store/{'a' * 32}-p{i}", "narSize": i, "references": []} for i in range(10_000)]
            )
        )
        size = doc.stat().st_size
        t = time.perf_counter()
        subprocess.run(["/bin/sh", "-c", f'IFS= read -r json < "{doc}"; printf "%s" "$json" > "{tmp}/out"'], check=True)
        copy = time.perf_counter() - t
    print(
        f"export builder copying a {size / 1e6:.1f} MB graph with /bin/sh: {copy * 1000:.0f} ms "
        f"(a 63,000-path graph is about 25 MB: ~{copy * 25e6 / size:.0f} s on first request)"
    )
    for name, seconds in figures.items():
        if name != "nix path-info (baseline)":
            record(
                f"closure of {len(built.graph)} store paths: {name}",
                seconds * 1e3,
                "ms",
                baseline="nix path-info --json --recursive --closure-size",
                baseline_value=base * 1e3,
                note=f"median of {runs} runs",
            )
    nix_alone = figures["nix-instantiate lookup + nix path-info"]
    print(
        f"layerlab closure (CLI, no cache) / Nix alone: {figures['layerlab closure, CLI, no cache'] / nix_alone:.2f}x"
    )
    export, path_info = figures["closure() in-process, export"], figures["closure() in-process, path-info"]
    print(f"export / path-info method: {export / path_info:.2f}x")


if __name__ == "__main__":
    main()
