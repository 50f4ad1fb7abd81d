"""Process faults: SIGKILL, SIGTERM and SIGINT at random moments, and a full disk.

Each run of ``layerlab`` here is a real process carrying a tag in its
environment (so every process it starts carries it too).  After the fault:
no process with the tag is left, the old output is intact or the new one
complete, and the next run completes, leaving no temporary file and a blob
store whose every blob hashes to its name.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import resource
import signal
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import orjson
import pytest

from .conftest import DATA, require_tool
from .reliability_support import (
    assert_clean_outcome,
    cli,
    count,
    layerlab_process,
    make_store,
    store_is_sound,
    tagged_processes,
    temporaries,
    wait_no_processes,
)

SIGNALS = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]
RNG = random.Random()


def _deliver(proc: subprocess.Popen, sig: int) -> None:
    """SIGINT as a terminal sends it (the whole process group); the others to layerlab alone."""
    with contextlib.suppress(ProcessLookupError):
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    count("fault injections")


def _expect_status(rc: int, sig: int, err: str) -> None:
    assert "Traceback" not in err, err
    if sig == signal.SIGKILL:
        assert rc in (0, -signal.SIGKILL), (rc, err)
    else:
        # 0: it had finished before the signal; -sig: the signal came as the interpreter was exiting, after
        # layerlab restored the default handlers (its work was done); the output checks that follow tell which
        assert rc in (0, 128 + sig, -sig), (rc, err)


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    """Four packages of incompressible data (gzip takes a while) and their graph."""
    root = tmp_path_factory.mktemp("faults-process")
    pkgs = {f"{c}{c}{c}-pkg{c}-1.0": {"share/data": os.urandom(6_000_000), "bin/x": b"x"} for c in "abcd"}
    store, graph = make_store(root, pkgs)
    return store, graph


def _build_argv(store: Path, graph: Path, work: Path, *, tag: str, env: str, compression: str = "gzip") -> list:
    return [
        "build",
        "--graph",
        graph,
        "--store-dir",
        store,
        "--blob-store",
        work / "blobs",
        "--budget",
        "5",
        "--oci",
        work / "out" / "oci",
        "--tag",
        tag,
        "--archive",
        work / "out" / "img.tar",
        "--env",
        f"V={env}",
        "--workers",
        "2",
        "--parallel",
        "processes",
        "--compression",
        compression,
    ]


def _oci_tags(oci: Path) -> list[str]:
    index = orjson.loads((oci / "index.json").read_bytes())
    return [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]


def _archive_tag(archive: Path) -> str:
    with tarfile.open(archive) as tf:
        manifest = orjson.loads(tf.extractfile("manifest.json").read())  # type: ignore[union-attr]
        for name in manifest[0]["Layers"]:
            tf.getmember(name)  # every layer is there
    return manifest[0]["RepoTags"][0].rsplit(":", 1)[1]


@pytest.mark.slow
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_build_killed_at_a_random_moment(big_store, tmp_path, sig):
    store, graph = big_store
    # the old output: a first, complete build
    rc, _, err = cli(_build_argv(store, graph, tmp_path, tag="old", env="1", compression="none"))
    assert rc == 0, err
    old_archive = (tmp_path / "out" / "img.tar").read_bytes()
    fault_tag = uuid.uuid4().hex
    proc = layerlab_process(_build_argv(store, graph, tmp_path, tag="new", env="2"), fault_tag, new_group=True)
    time.sleep(RNG.uniform(0.3, 2.0))
    _deliver(proc, sig)
    _, err = proc.communicate(timeout=120)
    _expect_status(proc.returncode, sig, err.decode())
    assert wait_no_processes(fault_tag) == [], "processes outlived the build"
    oci, archive = tmp_path / "out" / "oci", tmp_path / "out" / "img.tar"
    # old intact, or new complete
    assert "old" in _oci_tags(oci) and set(_oci_tags(oci)) <= {"old", "new"}
    assert store_is_sound(oci) == []
    assert archive.read_bytes() == old_archive or _archive_tag(archive) == "new"
    # the next run completes and sweeps what the killed one left
    rc, _, err = cli(_build_argv(store, graph, tmp_path, tag="new", env="2"))
    assert rc == 0, err
    assert temporaries(tmp_path / "blobs", tmp_path / "out") == []
    assert store_is_sound(tmp_path / "blobs") == [] and store_is_sound(oci) == []
    assert _oci_tags(oci) == ["old", "new"] and _archive_tag(archive) == "new"
    # and it is the image an uninterrupted build makes, byte for byte
    clean = tmp_path / "clean"
    rc, out, err = cli(_build_argv(store, graph, clean, tag="new", env="2") + ["--json"])
    assert rc == 0, err
    index = orjson.loads((oci / "index.json").read_bytes())["manifests"]
    assert index[-1]["digest"] == orjson.loads(out)["oci"]["manifest"]
    assert archive.read_bytes() == (clean / "out" / "img.tar").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_sweep_killed_at_a_random_moment(tmp_path, sig):
    out = tmp_path / "sweep.csv"
    small = [
        "sweep",
        DATA / "debian" / "imageset",
        "-s",
        "nixery",
        "--grid",
        "size_threshold=1M,10M",
        "--budgets",
        "30",
        "--no-cache",
        "-o",
        out,
    ]
    rc, _, err = cli(small)
    assert rc == 0, err
    old = out.read_bytes()
    argv = [
        "sweep",
        DATA / "debian" / "imageset",
        "-s",
        "nixery",
        "-s",
        "auto-layer",
        "--grid",
        "size_threshold=1M:1G:12",
        "--grid",
        "popularity_threshold=10:100000:12",
        "--budgets",
        "94,30,10",
        "--no-cache",
        "--jobs",
        "2",
        "-o",
        out,
    ]
    fault_tag = uuid.uuid4().hex
    proc = layerlab_process(argv, fault_tag, new_group=True)
    time.sleep(RNG.uniform(0.5, 3.0))
    _deliver(proc, sig)
    _, err = proc.communicate(timeout=300)
    _expect_status(proc.returncode, sig, err.decode())
    assert wait_no_processes(fault_tag) == [], "sweep workers outlived the sweep"
    data = out.read_bytes()
    assert data == old or data.count(b"\n") > old.count(b"\n")  # old intact or the whole new table
    rc, _, err = cli(small)
    assert rc == 0, err
    assert temporaries(tmp_path) == []


SLOW_NIX = """
let sh = "/bin/sh"; in {{
  slow = builtins.derivation {{
    name = "layerlab-slow-{seed}"; system = builtins.currentSystem; builder = sh;
    args = [ "-c" "/bin/sleep {sleep} # {tag}
      echo done > $out" ];
  }};
}}
"""


@pytest.mark.nix
@pytest.mark.slow
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_closure_killed_while_nix_builds(tmp_path, sig):
    require_tool("nix-build")
    require_tool("setpriv")  # how Nix learns that layerlab died
    fault_tag = uuid.uuid4().hex
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    (pkgs / "default.nix").write_text(SLOW_NIX.format(seed=fault_tag, sleep=30, tag=fault_tag))
    out = tmp_path / "out" / "graph.json"
    argv = ["closure", f"path!{pkgs}", "slow", "--offline", "--no-cache", "--quiet", "-o", out]
    proc = layerlab_process(argv, fault_tag, new_group=True)
    deadline = time.monotonic() + 60
    while not _builder_running(fault_tag) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(RNG.uniform(0.0, 1.0))
    _deliver(proc, sig)
    _, err = proc.communicate(timeout=60)
    _expect_status(proc.returncode, sig, err.decode())
    assert wait_no_processes(fault_tag) == [] and _wait_no_builder(fault_tag), "Nix outlived layerlab"
    assert not out.exists()
    (pkgs / "default.nix").write_text(SLOW_NIX.format(seed=fault_tag, sleep=0, tag=fault_tag))
    rc, _, err = cli(argv)
    assert rc == 0, err
    assert temporaries(tmp_path / "out") == []


def _builder_running(tag: str) -> bool:
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                if tag.encode() in Path(f"/proc/{name}/cmdline").read_bytes() and name != str(os.getpid()):
                    return True
    return False


def _wait_no_builder(tag: str, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while _builder_running(tag):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_workbench_stopped_with_a_kernel_running(tmp_path, sig):
    import requests

    require_tool("setpriv")  # how JupyterLab learns that layerlab died
    fault_tag = uuid.uuid4().hex
    proc = layerlab_process(["workbench", "--notebooks", DATA.parent / "notebooks"], fault_tag, new_group=True)
    line = proc.stdout.readline().decode()  # type: ignore[union-attr]
    assert proc.stderr is not None
    assert line.startswith("layerlab workbench: http://"), line + proc.stderr.read().decode()
    url = line.split(": ", 1)[1].strip()
    base, token = url.split("/lab?token=")
    r = requests.post(
        f"{base}/api/kernels", headers={"Authorization": f"token {token}"}, json={"name": "python3"}, timeout=30
    )
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 60
    while len(tagged_processes(fault_tag)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(tagged_processes(fault_tag)) >= 3  # layerlab, JupyterLab, the kernel
    time.sleep(RNG.uniform(0.0, 1.0))
    _deliver(proc, sig)
    proc.wait(timeout=60)
    err = proc.stderr.read().decode()  # type: ignore[union-attr]
    # JupyterLab logs to the same stderr; no traceback may pass through layerlab's own code
    assert not re.search(r'File "[^"]*/layerlab/(cli|procs|fileio)', err), err
    assert wait_no_processes(fault_tag, timeout=30) == [], "JupyterLab or a kernel outlived the workbench"


# ------------------------------------------------------------------ a full disk
@contextlib.contextmanager
def small_disk(where: Path, size: str = "2m"):
    """A 2 MiB tmpfs at ``where`` (root can mount one): writes past it fail with ENOSPC, as on a full disk.

    Without mount rights the same failure is produced with RLIMIT_FSIZE in the child process (writes past the
    limit fail with EFBIG): the code paths are the ones a full disk takes, since both are an OSError from
    write(2) in the middle of an output.  Yields the preexec function to start layerlab with (None for tmpfs).
    """
    where.mkdir(parents=True, exist_ok=True)
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
        ).returncode
        == 0
    )
    try:
        if mounted:
            yield None
        else:

            def limit() -> None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))

            yield limit
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)], check=False)


def _run(argv: list, preexec) -> tuple[int, str]:
    import sys

    p = subprocess.run(
        [sys.executable, "-m", "layerlab.cli", *map(str, argv)],
        capture_output=True,
        text=True,
        preexec_fn=preexec,
        timeout=300,
    )
    return p.returncode, p.stderr


@pytest.mark.parametrize("output", ["oci", "archive", "blob-store"])
def test_full_disk_is_one_line_and_leaves_nothing_half_written(big_store, tmp_path, output):
    store, graph = big_store
    disk = tmp_path / "disk"
    with small_disk(disk) as preexec:
        blobs = disk / "blobs" if output == "blob-store" else tmp_path / "blobs"
        target = {
            "oci": ["--oci", disk / "oci"],
            "archive": ["--archive", disk / "img.tar"],
            "blob-store": ["--oci", tmp_path / "oci"],
        }[output]
        argv = [
            "build",
            "--graph",
            graph,
            "--store-dir",
            store,
            "--blob-store",
            blobs,
            "--budget",
            "5",
            "--compression",
            "none",
            "--workers",
            "1",
            *target,
        ]
        rc, err = _run(argv, preexec)
        count("fault injections")
        assert assert_clean_outcome(rc, err), err
        assert "No space left on device" in err or "File too large" in err, err
        assert not (disk / "oci").exists() and not (disk / "img.tar").exists() and not (tmp_path / "oci").exists()
        assert store_is_sound(blobs) == []
        leftovers = temporaries(disk)
        assert leftovers == [], leftovers


# ------------------------------------------------------------------ damaged data
def test_a_damaged_blob_is_never_served_from_the_cache(big_store, tmp_path):
    """Editing an exported layout leaves the store alone; a blob damaged in the store is found and rebuilt."""
    store, graph = big_store
    argv = [
        "build",
        "--graph",
        graph,
        "--store-dir",
        store,
        "--blob-store",
        tmp_path / "blobs",
        "--budget",
        "5",
        "--compression",
        "gzip",
        "--workers",
        "1",
    ]
    rc, out, err = cli(argv + ["--oci", tmp_path / "one", "--json"])
    assert rc == 0, err
    digest = orjson.loads(out)["layers"][0]["digest"]
    exported = tmp_path / "one" / "blobs" / "sha256" / digest[7:]
    os.chmod(exported, 0o644)
    exported.write_bytes(b"edited in the exported layout")
    count("fault injections")
    assert store_is_sound(tmp_path / "blobs") == []  # a copy, not a hard link: the store did not change
    in_store = tmp_path / "blobs" / "blobs" / "sha256" / digest[7:]
    os.chmod(in_store, 0o644)
    with open(in_store, "r+b") as fh:  # same size, different bytes: a size check would trust it
        fh.write(b"\0" * 16)
    count("fault injections")
    rc, out, err = cli(argv + ["--oci", tmp_path / "two", "--archive", tmp_path / "two.tar", "--json"])
    assert rc == 0, err
    layers = orjson.loads(out)["layers"]
    assert layers[0]["digest"] == digest and layers[0]["cached"] is False  # rebuilt, same bytes as before
    assert store_is_sound(tmp_path / "blobs") == [] and store_is_sound(tmp_path / "two") == []
    _archive_tag(tmp_path / "two.tar")


def test_a_sweep_never_removes_a_live_writers_files(big_store, tmp_path):
    """Two builds share a blob store; the second one's sweep runs while the first is writing blobs."""
    store, graph = big_store

    def argv(n: int) -> list:
        return [
            "build",
            "--graph",
            graph,
            "--store-dir",
            store,
            "--blob-store",
            tmp_path / "blobs",
            "--budget",
            "5",
            "--compression",
            "gzip",
            "--level",
            "9",
            "--workers",
            "2",
            "--oci",
            tmp_path / f"out{n}",
        ]

    tag = uuid.uuid4().hex
    first = layerlab_process(argv(1), tag)
    tmp = tmp_path / "blobs" / "tmp"
    deadline = time.monotonic() + 60
    while not (tmp.is_dir() and os.listdir(tmp)) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    second = layerlab_process(argv(2), tag)  # opens the store (and sweeps) while the first writes
    count("fault injections")
    for proc in (first, second):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    assert wait_no_processes(tag) == []
    assert store_is_sound(tmp_path / "blobs") == [] and temporaries(tmp_path) == []
    assert _oci_tags(tmp_path / "out1") == _oci_tags(tmp_path / "out2") == ["latest"]
