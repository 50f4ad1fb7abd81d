"""``layerlab serve`` against Debian's ``docker-registry`` and against ``layerlab build`` + transfer.

Images come from the offline package set (nix/testpkgs), built by the local
Nix before timing starts.  Both registries run on 127.0.0.1 on this machine;
the load client is curl for both (16 curl processes, each on one keep-alive
connection), so the client costs the same on both sides.

Figures, each with its baseline measured in the same run:

* **cached manifest**: median time of a ``GET /v2/<name>/manifests/latest``
  (OCI ``Accept``) with 16 concurrent clients, the image already built;
  baseline: docker-registry answering the same manifest (copied into it with
  ``skopeo copy --preserve-digests``) from its filesystem storage;
* **blob throughput**: 16 concurrent clients each downloading every layer
  blob of an image of about 100 MB; baseline: docker-registry serving the
  same blobs from its filesystem storage.  Bytes per second over all clients,
  best of the rounds;
* **first pull of an unbuilt image**: ``skopeo copy docker://… oci:DIR``
  from a server with an empty blob store (Nix store warm, closure cache
  cold); baseline: ``layerlab build --oci`` of the same request (empty blob
  store, closure cache cold) plus the transfer, timed as the same skopeo pull
  from a server that has the image already.  Median of the rounds.  The
  pull starts two seconds after the server answers: the figure is for a
  running server (whose idle build worker has started), not for one starting.

Usage: ``python benchmarks/bench_serve.py [--rounds N] [--requests N] [--first-rounds N]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import record

SRC = f"path!{ROOT / 'nix' / 'testpkgs'}"
OCI = "application/vnd.oci.image.manifest.v1+json"
CLIENTS = 16
BIG = "texlivefull"  # about 100 MB of layers
SMALL = "curl/hello"  # the manifest figure
FIRST = ["git", "python3"]  # the first-pull figure
SETTLE = 2.0  # seconds between a server's start and its first timed pull
ARGS = ["--offline", "--strategy", "nixery", "--set", "size_threshold=5000000", "--budget", "8"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.time() + 30
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)


@contextlib.contextmanager
def layerlab_serve(work: Path, store: Path, cache: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "LAYERLAB_CACHE_DIR": str(cache)}
    err = work / f"serve-{port}.stderr"
    with open(err, "wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "layerlab.cli",
                "serve",
                "--source",
                SRC,
                *ARGS,
                "--port",
                str(port),
                "--store",
                str(store),
                "--log",
                str(work / f"serve-{port}.log"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=fh,
        )
    try:
        try:
            wait(f"http://127.0.0.1:{port}/v2/", proc, "layerlab serve")
        except RuntimeError as e:
            raise RuntimeError(f"{e}: {err.read_text()[-2000:]}") from None
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()


@contextlib.contextmanager
def docker_registry(work: Path) -> Iterator[str]:
    port = free_port()
    cfg = work / "registry.yml"
    cfg.write_text(
        f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {work / 'registry'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait(f"http://127.0.0.1:{port}/v2/", proc, "docker-registry")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()


def skopeo(src: str, dst: str) -> None:
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--preserve-digests",
            src,
            dst,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def curl_clients(urls: list[str], *, timings: bool) -> tuple[float, list[float], int]:
    """16 curl processes, each fetching ``urls`` in order on one connection.

    Returns (wall seconds, per-request seconds, bytes received in all).
    """
    fmt = "%{time_total} %{size_download} %{http_code}\\n"
    cmd = ["curl", "-s", "-H", f"Accept: {OCI}", "-w", fmt]
    for u in urls:
        cmd += ["-o", "/dev/null", u]
    t = time.perf_counter()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(CLIENTS)]
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - t
    times, total = [], 0
    for out in outs:
        for line in out.split("\n"):
            if not line.strip():
                continue
            sec, size, code = line.split()
            if code not in ("200", "307"):
                raise RuntimeError(f"HTTP {code} from {urls[0]}")
            times.append(float(sec))
            total += int(size)
    if len(times) != CLIENTS * len(urls):
        raise RuntimeError("some transfers did not complete")
    return wall, (times if timings else []), total


def manifest_median(host: str, name: str, n: int) -> float:
    _, times, _ = curl_clients([f"http://{host}/v2/{name}/manifests/latest"] * n, timings=True)
    return statistics.median(times)


def blob_throughput(host: str, name: str, digests: list[str], rounds: int) -> float:
    urls = [f"http://{host}/v2/{name}/blobs/{d}" for d in digests]
    best = 0.0
    for _ in range(rounds):
        wall, _, total = curl_clients(urls, timings=False)
        best = max(best, total / wall)
    return best


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200, help="manifest requests per client")
    ap.add_argument("--first-rounds", type=int, default=5, help="rounds of the first-pull figure")
    args = ap.parse_args()
    for tool in ("curl", "skopeo", "docker-registry", "nix-build"):
        if shutil.which(tool) is None:
            print(f"bench_serve: {tool} is not installed", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        subprocess.run(
            [
                "nix-build",
                str(ROOT / "nix" / "testpkgs"),
                "--no-out-link",
                "-A",
                "texliveFull",
                "-A",
                "curl",
                "-A",
                "hello",
                "-A",
                "git",
                "-A",
                "python3",
                "--option",
                "sandbox",
                "false",
                "--option",
                "substituters",
                "",
            ],
            check=True,
            capture_output=True,
        )
        with layerlab_serve(work, work / "store", work / "cache") as ours, docker_registry(work) as theirs:
            for name in (SMALL, BIG):  # build, then copy the same image into docker-registry
                skopeo(f"docker://{ours}/{name}:latest", f"docker://{theirs}/{name}:latest")
            m = requests.get(f"http://{ours}/v2/{BIG}/manifests/latest", headers={"Accept": OCI}).json()
            digests = [x["digest"] for x in m["layers"]]
            size = sum(x["size"] for x in m["layers"])
            for host in (ours, theirs):  # same bytes on both sides
                r = requests.get(f"http://{host}/v2/{SMALL}/manifests/latest", headers={"Accept": OCI})
                assert r.status_code == 200, r.text

            # 1. a cached manifest, 16 concurrent clients (rounds interleaved)
            mine, base = [], []
            for _ in range(args.rounds):
                base.append(manifest_median(theirs, SMALL, args.requests))
                mine.append(manifest_median(ours, SMALL, args.requests))
            mine_ms, base_ms = statistics.median(mine) * 1000, statistics.median(base) * 1000
            print(
                f"cached manifest, {CLIENTS} clients x {args.requests} requests: "
                f"layerlab serve {mine_ms:.2f} ms median, "
                f"docker-registry {base_ms:.2f} ms; ratio {base_ms / mine_ms:.2f}x (goal: < 5 ms)"
            )
            record(
                "serve: cached manifest, 16 concurrent clients (median)",
                round(mine_ms, 3),
                "ms",
                baseline="docker-registry (filesystem storage), same manifest, same client (curl)",
                baseline_value=round(base_ms, 3),
                goal="< 5 ms",
                note=f"{CLIENTS} curl clients x {args.requests} keep-alive requests, median of {args.rounds} rounds",
            )

            # 2. blob throughput, 16 concurrent clients
            theirs_bps = blob_throughput(theirs, BIG, digests, args.rounds)
            ours_bps = blob_throughput(ours, BIG, digests, args.rounds)
            ratio = ours_bps / theirs_bps
            print(
                f"blob throughput, {CLIENTS} clients x {len(digests)} blobs ({size / 1e6:.0f} MB each): "
                f"layerlab serve {ours_bps / 1e6:.0f} MB/s, docker-registry {theirs_bps / 1e6:.0f} MB/s; "
                f"ratio {ratio:.2f} (goal >= 0.8)"
            )
            # recorded as time per GB, so that the page's ratio (baseline / value) is the throughput ratio
            record(
                "serve: blob download time per GB, 16 concurrent clients",
                round(1e9 / ours_bps, 4),
                "s/GB",
                baseline="docker-registry (filesystem storage), same blobs, same client (curl)",
                baseline_value=round(1e9 / theirs_bps, 4),
                goal=">= 0.8x docker-registry's throughput",
                note=f"{ours_bps / 1e6:.0f} MB/s against {theirs_bps / 1e6:.0f} MB/s; best of {args.rounds} rounds, "
                f"{size / 1e6:.0f} MB per client",
            )

        # 3. first pull of an unbuilt image vs layerlab build --oci + transfer
        name = "/".join(FIRST)
        first, built, transfer = [], [], []
        for n in range(args.first_rounds + 1):  # round 0 warms the page cache for both sides and is not counted
            r = work / f"round{n}"
            r.mkdir()

            def pull(r: Path = r, n: int = n) -> None:
                with layerlab_serve(r, r / "store", r / "cache") as host:
                    time.sleep(SETTLE)  # a running server: its idle build worker has started
                    t = timed(lambda: skopeo(f"docker://{host}/{name}:latest", f"oci:{r / 'pulled'}:latest"))
                    u = timed(lambda: skopeo(f"docker://{host}/{name}:latest", f"oci:{r / 'again'}:latest"))
                if n:
                    first.append(t)
                    transfer.append(u)

            def build(r: Path = r, n: int = n) -> None:
                env = {**os.environ, "LAYERLAB_CACHE_DIR": str(r / "build-cache")}
                t = timed(
                    lambda: subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "layerlab.cli",
                            "build",
                            SRC,
                            *sorted(FIRST),
                            *ARGS,
                            "--blob-store",
                            str(r / "b"),
                            "--oci",
                            str(r / "built"),
                        ],
                        env=env,
                        check=True,
                        capture_output=True,
                    )
                )
                if n:
                    built.append(t)

            for step in (pull, build) if n % 2 else (build, pull):  # alternate which goes first
                step()
        f, b, t = statistics.median(first), statistics.median(built), statistics.median(transfer)
        print(
            f"first pull of {name}: {f:.2f} s; layerlab build --oci {b:.2f} s + transfer {t:.2f} s = {b + t:.2f} s; "
            f"ratio {f / (b + t):.2f} (goal <= 1.10)"
        )
        record(
            "serve: first pull of an unbuilt image (skopeo copy)",
            round(f, 3),
            "s",
            baseline="layerlab build --oci + the same pull of the built image",
            baseline_value=round(b + t, 3),
            goal="<= 1.10x baseline",
            note=f"{name}, median of {args.first_rounds} rounds; Nix store warm, caches cold",
        )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
