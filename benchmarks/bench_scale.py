"""Scaling benchmark: whole ``layerlab`` processes on graphs from 566 to 509,369 paths.

Graphs (generated into ``build/scale/``, never into the repository):

* ``k x universe`` for k = 1, 2, 4, 8: k disjoint copies of
  ``data/debian/universe.graph.json.xz``, every copy's store hashes rewritten
  to fresh random ones (``random.Random(SEED + copy)``, so every run makes the
  same files), all copy roots referenced by one new root path;
* ``kde-full`` (``data/debian/kde-full.graph.json``) and ``texlive`` (the
  closure of ``texlive-full`` in the universe, 566 paths).

For every graph and each strategy of :func:`strategies` (``nixery``, the
default strategy as named by ``layerlab.strategies.DEFAULT_STRATEGY`` at run
time, ``keystone``, ``auto-layer``) the script runs ``layerlab group GRAPH --strategy S
--popularity popularity.json --budget 94`` as a process and reads its wall
time, CPU time and peak resident memory (``os.wait4``'s rusage), with Python's
bytecode caches written and used as for an installed package.  The machine
is shared: CPU time is printed beside wall time because it moves less when
other work runs.  On the
universe graphs it also runs ``layerlab info`` and ``layerlab build --graph
GRAPH --oci DIR``, which loads, groups with the default strategy, checks the
layers and stops with an error at the first store path it cannot read: that
is the time and memory of ``build`` up to the store.

**What runs is an installed package**, as a user has it: the script builds a
wheel from a copy of the source tree and installs it into a throwaway
virtual environment (``build/scale/install/env``, made afresh each run; pip
compiles the bytecode as on any install), whose dependencies come from this
interpreter's site-packages through a plain path entry.  An editable install
(``make venv``) would add the start-up cost of setuptools' import hook for
editable packages to every process, which no installed copy pays.

The baseline is Nixery's 2019 Go program, whose figures are read from
``benchmarks/go_baseline.json`` (with the date, machine and how they were
obtained).  Each figure is printed with its ratio to Go and recorded with
``benchmarks/_report.py``.

Usage: ``python benchmarks/bench_scale.py [--max-copies 8] [--rounds 5] [--small-rounds 21]``
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import random
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import record

DEBIAN = ROOT / "data" / "debian"
OUT = ROOT / "build" / "scale"
POPULARITY = DEBIAN / "popularity.json"
SEED = 20191211
BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"  # Nix's base-32 alphabet
STORE = "/nix/store/"


def install() -> Path:
    """Build a wheel of the source tree and install it into a new virtual environment; return its ``bin``.

    The tree is copied first (a build writes into the tree it runs in), without
    the universe graph, which wheels never carry.
    """
    work = OUT / "install"
    shutil.rmtree(work, ignore_errors=True)
    src = work / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints", "universe.graph.json.xz")
    for name in ("layerlab", "data", "notebooks", "nix"):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    code = "import sys; from setuptools import build_meta as b; print(b.build_wheel(sys.argv[1]))"
    built = subprocess.run(
        [sys.executable, "-c", code, str(work)], cwd=src, check=True, capture_output=True, text=True
    ).stdout
    wheel = work / built.strip().splitlines()[-1]
    env = work / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies, as a path entry: .pth files there (the editable hook) are not processed.
    Path(site, "_bench_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index"]
    subprocess.run([*pip, str(wheel)], check=True)
    return env / "bin"


def strategies(bindir: Path) -> list[str]:
    """nixery, the default strategy, keystone and auto-layer, without repeats.

    The default is read in a child process: this process stays small, because
    a child's peak memory as the kernel reports it starts from its parent's
    size at the fork.
    """
    code = "from layerlab.strategies import DEFAULT_STRATEGY; print(DEFAULT_STRATEGY)"
    default = subprocess.run([bindir / "python", "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    return list(dict.fromkeys(["nixery", default, "keystone", "auto-layer"]))


def _fresh_hash(rng: random.Random) -> str:
    return "".join(rng.choice(BASE32) for _ in range(32))


def make_copies(universe: dict, k: int, target: Path) -> None:
    """Write ``k`` disjoint re-hashed copies of ``universe`` under one new root."""
    records = universe["graph"]
    roots = universe["exportReferencesGraph"]["graph"]
    graph: list[dict] = []
    new_roots: list[str] = []
    total = 0
    for copy in range(k):
        rng = random.Random(SEED + copy)
        rename = {}
        for rec in records:
            path = rec["path"]
            rename[path] = STORE + _fresh_hash(rng) + path[len(STORE) + 32 :]
        for rec in records:
            graph.append({**rec, "path": rename[rec["path"]], "references": [rename[r] for r in rec["references"]]})
            total += rec["narSize"]
        new_roots.extend(rename[r] for r in roots)
    root = STORE + _fresh_hash(random.Random(SEED - k)) + f"-universe-{k}x"
    graph.append({"path": root, "narSize": 0, "closureSize": total, "references": sorted(new_roots)})
    target.write_bytes(orjson.dumps({"exportReferencesGraph": {"graph": [root]}, "graph": graph}))


def make_texlive(universe: dict, target: Path) -> None:
    """The closure of ``texlive-full`` in the universe, rooted there."""
    by_path = {rec["path"]: rec for rec in universe["graph"]}
    root = next(p for p in by_path if p[len(STORE) + 33 :].startswith("texlive-full-"))
    seen, todo = {root}, [root]
    while todo:
        for r in by_path[todo.pop()]["references"]:
            if r not in seen:
                seen.add(r)
                todo.append(r)
    graph = [by_path[p] for p in sorted(seen)]
    target.write_bytes(orjson.dumps({"exportReferencesGraph": {"graph": [root]}, "graph": graph}))


def graphs(max_copies: int) -> dict[str, Path]:
    """Generate (once) and name every graph of the benchmark."""
    OUT.mkdir(parents=True, exist_ok=True)
    out = {"kde-full": DEBIAN / "kde-full.graph.json", "texlive": OUT / "texlive.graph.json"}
    universe = None
    copies = [k for k in (1, 2, 4, 8) if k <= max_copies]
    for k in copies:
        out[f"universe-{k}x"] = OUT / f"universe-{k}x.graph.json"
    for name, path in out.items():
        if path.exists():
            continue
        if universe is None:
            universe = orjson.loads(lzma.decompress((DEBIAN / "universe.graph.json.xz").read_bytes()))
        if name == "texlive":
            make_texlive(universe, path)
        else:
            make_copies(universe, int(name.split("-")[1][:-1]), path)
    return out


def run(cmd: list[str]) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds (user + system), peak RSS in bytes and exit status of one process."""
    # Bytecode caches used and written as for any installed package.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONHASHSEED": "0"}
    with open(OUT / "out" / "stderr.txt", "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, proc.returncode


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-copies", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5, help="rounds on the 1x universe graph (1 round above)")
    ap.add_argument("--small-rounds", type=int, default=21, help="rounds on kde-full and texlive (start-up dominates)")
    ap.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.generate_only:
        graphs(args.max_copies)
        return 0
    go = json.loads((ROOT / "benchmarks" / "go_baseline.json").read_text())
    go_label = "Go 2019 program (" + ("measured" if go["measured"] else "stated figures") + f", {go['date']})"
    # Generated in a child process, for the same reason as in strategies().
    subprocess.run([sys.executable, __file__, "--generate-only", "--max-copies", str(args.max_copies)], check=True)
    files = graphs(args.max_copies)
    (OUT / "out").mkdir(exist_ok=True)
    bindir = install()
    layerlab = str(bindir / "layerlab")
    names = strategies(bindir)
    print(f"layerlab installed from a wheel in {bindir.parent}")
    print(f"strategies: {', '.join(names)}; Go baseline: {go_label}")
    print(f"{'graph':<14} {'command':<22} {'seconds':>8} {'cpu s':>8} {'peak MiB':>9} {'x Go time':>9} {'x Go mem':>9}")
    tmp = OUT / "out"
    for gname, gfile in files.items():
        gofig = go["figures"].get(gname, {})
        commands: dict[str, list[str]] = {
            f"group {s}": [
                layerlab,
                "group",
                str(gfile),
                "--strategy",
                s,
                "--popularity",
                str(POPULARITY),
                "--budget",
                "94",
                "--out",
                str(tmp / "layers.json"),
            ]
            for s in names
        }
        if gname.startswith("universe"):
            commands["info"] = [layerlab, "info", str(gfile)]
            commands["build (to the store)"] = [
                layerlab,
                "build",
                "--graph",
                str(gfile),
                "--popularity",
                str(POPULARITY),
                "--oci",
                str(tmp / "oci"),
                "--blob-store",
                str(tmp / "blobs"),
            ]
        rounds = {"kde-full": args.small_rounds, "texlive": args.small_rounds, "universe-1x": args.rounds}.get(gname, 1)
        times: dict[str, list[float]] = {c: [] for c in commands}
        cpus: dict[str, list[float]] = {c: [] for c in commands}
        peaks: dict[str, list[int]] = {c: [] for c in commands}
        run(commands[next(iter(commands))])  # page cache
        for _ in range(rounds):  # interleaved
            for cname, cmd in commands.items():
                t, cpu, rss, status = run(cmd)
                if status and not cname.startswith("build"):
                    raise SystemExit(f"{cname} on {gname} failed with status {status}")
                times[cname].append(t)
                cpus[cname].append(cpu)
                peaks[cname].append(rss)
        for cname in commands:
            t = statistics.median(times[cname])
            cpu = statistics.median(cpus[cname])
            mib = max(peaks[cname]) / 2**20
            go_t, go_m = gofig.get("seconds"), gofig.get("peak_mib")
            is_group = cname.startswith("group")
            rt = f"{t / go_t:9.2f}" if go_t and is_group else " " * 9
            rm = f"{mib / go_m:9.2f}" if go_m and is_group else " " * 9
            print(f"{gname:<14} {cname:<22} {t:8.3f} {cpu:8.3f} {mib:9.0f} {rt} {rm}", flush=True)
            note = f"median of {rounds}, whole process" if rounds > 1 else "one run, whole process"
            goal_t = goal_m = None
            if is_group and gname in ("kde-full", "texlive"):
                goal_t = "<= 1.5x Go"
            elif is_group and gname in ("universe-1x", "universe-8x"):
                goal_t = "<= 0.5x Go"
                goal_m = "<= Go" if gname == "universe-8x" else None
            elif cname == "info" and gname == "universe-8x":
                goal_t, goal_m = "<= 5 s", "<= 2 GiB"
            record(
                f"{cname} {gname} time",
                round(t, 3),
                "s",
                baseline=go_label if is_group and go_t else None,
                baseline_value=go_t if is_group else None,
                goal=goal_t,
                note=note,
            )
            record(
                f"{cname} {gname} CPU time",
                round(cpu, 3),
                "s",
                note="user + system seconds of the process (less sensitive than wall time to other load)",
            )
            record(
                f"{cname} {gname} peak memory",
                round(mib, 1),
                "MiB",
                baseline=go_label if is_group and go_m else None,
                baseline_value=go_m if is_group else None,
                goal=goal_m,
                note="peak resident set (ru_maxrss)",
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
