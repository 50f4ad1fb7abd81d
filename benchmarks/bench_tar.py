"""Layer-building throughput against GNU tar piped into sha256sum / gzip.

Builds a store-like tree of incompressible data (default 1 GiB, in a temp
dir), groups it into layers, and measures in the same run:

* baseline ``tar -c <paths> | sha256sum`` vs layerlab's uncompressed layers
  (tar stream + sha256 + writing the blobs into a blob store);
* baseline ``tar -c <paths> | gzip -6 | sha256sum`` vs layerlab's gzip-6
  layers (diff_id + blob digest + blob written), layers built in parallel.

Each figure is the best of ``--repeat`` runs, the file contents warm in the
page cache for every contender.  Throughput is the closure's file bytes per
second.  Usage::

    python benchmarks/bench_tar.py [--size 1G] [--layers 8] [--repeat 2] [--skip-gzip]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import record

from layerlab.image import BlobStore, build_image
from layerlab.strategies.base import Layer


def parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.lower().rstrip("b").rstrip("i")
    return int(float(t[:-1]) * units[t[-1]]) if t[-1] in units else int(t)


def make_tree(root: Path, total: int, npaths: int, max_exp: int = 20, seed: int = 7) -> tuple[list[str], int]:
    """Store paths with files of log-uniform sizes (16 B .. 2**max_exp B), random bytes."""
    rng = random.Random(seed)
    store = root / "store"
    paths = [store / f"{i:032x}-pkg{i}" for i in range(npaths)]
    block = os.urandom(32 << 20)
    written = 0
    n = 0
    while written < total:
        p = paths[n % npaths] / ("lib" if n % 3 else "bin") / f"d{n % 7}"
        p.mkdir(parents=True, exist_ok=True)
        size = min(int(2 ** rng.uniform(4, max_exp)), total - written)
        off = rng.randrange(0, len(block) - size)
        (p / f"file{n}").write_bytes(block[off : off + size])
        written += size
        n += 1
    return [str(p) for p in paths], n


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1G")
    ap.add_argument("--paths", type=int, default=48, help="store paths in the closure")
    ap.add_argument("--layers", type=int, default=8, help="layers the paths are grouped into")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--max-file", type=int, default=20, help="largest file is 2**N bytes (default 20: 1 MiB)")
    ap.add_argument(
        "--parallel",
        choices=("processes", "threads"),
        default="processes",
        help="how layers are built in parallel (default processes, as the command line)",
    )
    ap.add_argument("--skip-gzip", action="store_true")
    ap.add_argument("--dir", help="where to build the tree (default: a temp dir)")
    args = ap.parse_args()
    total = parse_size(args.size)
    tmp = Path(tempfile.mkdtemp(prefix="bench-tar-", dir=args.dir))
    try:
        paths, nfiles = make_tree(tmp, total, args.paths, args.max_file)
        store_dir = str(tmp / "store")
        layers = [
            Layer(tuple(sorted(paths[i :: args.layers])), None, rating=args.layers - i) for i in range(args.layers)
        ]
        rel = [p.lstrip("/") for p in sorted(paths)]
        print(
            f"tree: {total / 2**20:,.0f} MiB in {nfiles:,} files, {len(paths)} store paths, {args.layers} layers, "
            f"{os.cpu_count()} CPUs"
        )
        subprocess.run(
            f"find {store_dir} -type f -exec cat {{}} + > /dev/null", shell=True, check=True
        )  # warm the page cache

        def shell(cmd: str):
            return lambda: subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL, cwd="/")

        def ours(compression: str):
            def run() -> None:
                bs = tmp / "blobs"
                shutil.rmtree(bs, ignore_errors=True)
                build_image(
                    None,
                    layers,
                    [],
                    store=BlobStore(bs),
                    store_dir=store_dir,
                    compression=compression,
                    parallel=args.parallel,
                )

            return run

        listing = tmp / "paths.txt"
        listing.write_text("\n".join(rel) + "\n")
        tar = f"tar -c --sort=name -f - -T {listing}"
        # The target applies to coreutils' sha256sum (the stated baseline); openssl's
        # SHA-NI sha256 is shown as a stricter reference.
        rows = [
            ("uncompressed", f"{tar} | sha256sum", "none", 0.9),
            ("uncompressed", f"{tar} | openssl dgst -sha256", "none", None),
        ]
        if not args.skip_gzip:
            rows.append(("gzip -6", f"{tar} | gzip -6 | sha256sum", "gzip", 1.0))
        status = 0
        mine_cache: dict[str, float] = {}
        for label, base_cmd, compression, target in rows:
            base = min(timed(shell(base_cmd)) for _ in range(args.repeat))
            if compression not in mine_cache:
                mine_cache[compression] = min(timed(ours(compression)) for _ in range(args.repeat))
            mine = mine_cache[compression]
            ratio = base / mine
            mb = total / 2**20
            shown = base_cmd.replace(str(listing), "LIST")
            print(f"{label:13s} baseline `{shown}`: {mb / base:8.1f} MiB/s ({base:.2f} s)")
            print(
                f"{'':13s} layerlab ({args.layers} layers, {args.parallel}, blobs written): "
                f"{mb / mine:8.1f} MiB/s ({mine:.2f} s)"
            )
            verdict = (
                "(reference)"
                if target is None
                else f"(target >= {target:.2f}) " + ("OK" if ratio >= target else "BELOW TARGET")
            )
            print(f"{'':13s} ratio layerlab/baseline throughput: {ratio:.2f} {verdict}")
            # Recorded as seconds for the closure, so that the ratio is baseline / layerlab as for every time.
            record(
                f"{label} layers of a {mb:,.0f} MiB closure ({args.layers} layers, {args.parallel}, blobs written)",
                mine,
                "s",
                baseline=f"`{base_cmd.replace(str(listing), 'LIST')}`",
                baseline_value=base,
                goal=None if target is None else f">= {target:.2f}x the baseline's throughput",
                note=f"best of {args.repeat} runs; throughput {mb / mine:.1f} MiB/s against {mb / base:.1f} MiB/s",
            )
            if target is not None and ratio < target:
                status = 1
        return status
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
