"""End to end with real tools: a Nix-built closure -> OCI layout -> skopeo, umoci; reproducibility."""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import require_tool
from .image_support import nix_closure_file

pytestmark = [pytest.mark.nix, pytest.mark.tools]


@pytest.fixture(scope="module")
def closure(tmp_path_factory):
    root, info, graph = nix_closure_file(tmp_path_factory, "nix")
    return root, [p["path"] for p in info], graph


def _build(args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "layerlab.cli", "build", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _same_tree(a: Path, b: Path) -> None:
    """Every entry of ``a`` exists in ``b`` with the same type, bytes, link target and permissions."""
    for dirpath, dirnames, filenames in os.walk(a):
        rel = os.path.relpath(dirpath, a)
        for name in dirnames + filenames:
            x, y = os.path.join(dirpath, name), os.path.join(b, rel, name)
            sx, sy = os.lstat(x), os.lstat(y)
            assert (sx.st_mode, sx.st_size) == (sy.st_mode, sy.st_size), (x, oct(sx.st_mode), oct(sy.st_mode))
            if os.path.islink(x):
                assert os.readlink(x) == os.readlink(y)
            elif os.path.isfile(x):
                assert filecmp.cmp(x, y, shallow=False), x


def test_oci_layout_passes_skopeo_and_umoci(closure, tmp_path):
    skopeo = require_tool("skopeo")
    umoci = require_tool("umoci")
    root, paths, graph = closure
    oci = tmp_path / "oci"
    r = _build(
        [
            "--graph",
            str(graph),
            "--strategy",
            "nixery",
            "--budget",
            "3",
            "--blob-store",
            str(tmp_path / "b"),
            "--oci",
            str(oci),
            "--tag",
            "v1",
            "--cmd",
            "/bin/app",
            "--json",
        ]
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    inspect = json.loads(
        subprocess.run([skopeo, "inspect", f"oci:{oci}:v1"], capture_output=True, text=True, check=True).stdout
    )
    assert inspect["Digest"] == summary["oci"]["manifest"]
    assert inspect["Layers"] == [x["digest"] for x in summary["layers"]]
    assert inspect["Architecture"] == "amd64" and inspect["Os"] == "linux"
    cfg = json.loads(
        subprocess.run(
            [skopeo, "inspect", "--config", f"oci:{oci}:v1"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert cfg["config"]["Cmd"] == ["/bin/app"] and cfg["rootfs"]["diff_ids"] == [
        x["diff_id"] for x in summary["layers"]
    ]

    archive = tmp_path / "copy.tar"
    subprocess.run(
        [skopeo, "copy", f"oci:{oci}:v1", f"docker-archive:{archive}:app:v1"], check=True, capture_output=True
    )
    back = json.loads(
        subprocess.run(
            [skopeo, "inspect", "--config", f"docker-archive:{archive}"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert back["rootfs"]["diff_ids"] == cfg["rootfs"]["diff_ids"]

    bundle = tmp_path / "bundle"
    subprocess.run([umoci, "unpack", "--image", f"{oci}:v1", str(bundle)], check=True, capture_output=True)
    rootfs = bundle / "rootfs"
    for p in paths:
        _same_tree(Path(p), rootfs / p.lstrip("/"))
        assert oct(os.lstat(rootfs / p.lstrip("/")).st_mode) == oct(os.lstat(p).st_mode)
    assert {Path(p).name for p in os.scandir(rootfs / "nix" / "store")} == {Path(p).name for p in paths}
    # the customisation links
    assert os.readlink(rootfs / "bin" / "app") == f"{root}/bin/app"
    assert os.readlink(rootfs / "lib") == f"{root}/lib"
    assert os.readlink(rootfs / "share" / "app.txt") == f"{root}/share/app.txt"
    assert sorted(os.listdir(rootfs)) == ["bin", "lib", "nix", "share"]


def test_our_docker_archive_is_read_by_skopeo(closure, tmp_path):
    skopeo = require_tool("skopeo")
    root, paths, graph = closure
    archive = tmp_path / "img.tar"
    r = _build(
        [
            "--graph",
            str(graph),
            "--strategy",
            "nixery",
            "--blob-store",
            str(tmp_path / "b"),
            "--compression",
            "zstd",
            "--archive",
            str(archive),
            "--tag",
            "v2",
            "--json",
        ]
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    cfg = json.loads(
        subprocess.run(
            [skopeo, "inspect", "--config", f"docker-archive:{archive}"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert cfg["rootfs"]["diff_ids"] == [x["diff_id"] for x in summary["layers"]]
    oci = tmp_path / "fromarchive"
    subprocess.run([skopeo, "copy", f"docker-archive:{archive}", f"oci:{oci}:x"], check=True, capture_output=True)


def test_two_processes_two_hash_seeds_identical_blobs_and_manifests(closure, tmp_path):
    root, paths, graph = closure
    outs = []
    for seed in ("0", "4242"):
        d = tmp_path / f"run{seed}"
        r = _build(
            [
                "--graph",
                str(graph),
                "--strategy",
                "nixery",
                "--blob-store",
                str(d / "b"),
                "--oci",
                str(d / "oci"),
                "--archive",
                str(d / "a.tar"),
            ],
            env={"PYTHONHASHSEED": seed},
        )
        assert r.returncode == 0, r.stderr
        blobs = {}
        for f in sorted((d / "oci" / "blobs" / "sha256").iterdir()):
            blobs[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
        outs.append(
            (blobs, (d / "oci" / "index.json").read_bytes(), hashlib.sha256((d / "a.tar").read_bytes()).hexdigest())
        )
    assert outs[0] == outs[1]
    assert all(k == v for k, v in outs[0][0].items())  # every blob is named by its digest


# ------------------------------------------------------- the offline Nix package set
TESTPKGS = Path(__file__).resolve().parent.parent / "nix" / "testpkgs"


@pytest.fixture(scope="module")
def testpkgs_closure():
    require_tool("nix-build")
    from layerlab.sources.nix import OFFLINE_CONFIG, closure

    return closure(f"path!{TESTPKGS}", ["curl", "hello"], settings=OFFLINE_CONFIG)


def test_offline_package_set_image_with_every_tool(testpkgs_closure, tmp_path):
    """skopeo inspect, skopeo copy to a docker archive, umoci unpack: every store path byte for byte."""
    skopeo = require_tool("skopeo")
    umoci = require_tool("umoci")
    c = testpkgs_closure
    oci = tmp_path / "oci"
    r = _build(
        [
            f"path!{TESTPKGS}",
            "curl",
            "hello",
            "--offline",
            "--strategy",
            "nixery",
            "--budget",
            "4",
            "--blob-store",
            str(tmp_path / "b"),
            "--oci",
            str(oci),
            "--tag",
            "t1",
            "--json",
        ]
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert len(summary["layers"]) <= 4 and summary["layers"][-1]["kind"] == "customisation"
    assert sum(x["paths"] for x in summary["layers"][:-1]) == len(c.graph.paths)
    inspect = json.loads(
        subprocess.run([skopeo, "inspect", f"oci:{oci}:t1"], capture_output=True, text=True, check=True).stdout
    )
    assert inspect["Digest"] == summary["oci"]["manifest"]
    subprocess.run(
        [skopeo, "copy", f"oci:{oci}:t1", f"docker-archive:{tmp_path / 'd.tar'}:tp:t1"], check=True, capture_output=True
    )
    bundle = tmp_path / "bundle"
    subprocess.run([umoci, "unpack", "--image", f"{oci}:t1", str(bundle)], check=True, capture_output=True)
    rootfs = bundle / "rootfs"
    assert sorted(os.listdir(rootfs / "nix" / "store")) == sorted(Path(p).name for p in c.graph.paths)
    for p in c.graph.paths:
        _same_tree(Path(p), rootfs / p.lstrip("/"))
    # customisation: every top-level file of curl and hello linked at the root, curl first
    for name in ("curl", "hello"):
        pkg = c.packages[name]
        for dirpath, _, filenames in os.walk(pkg):
            for f in filenames:
                rel = os.path.relpath(os.path.join(dirpath, f), pkg)
                link = rootfs / rel
                assert os.path.islink(link), rel
                owner = os.readlink(link)[: -len(rel) - 1]
                assert owner in (c.packages["curl"], c.packages["hello"])
                if name == "curl":
                    assert owner == pkg


def test_cli_popularity_from_the_source_matches_the_api(tmp_path):
    require_tool("nix-build")
    from layerlab.sources.nix import OFFLINE_CONFIG, closure, popularity
    from layerlab.strategies import Context, get_strategy

    src = f"path!{TESTPKGS}"
    r = _build(
        [
            src,
            "git",
            "hello",
            "--offline",
            "--strategy",
            "nixery-2022",
            "--budget",
            "10",
            "--popularity",
            "source",
            "--blob-store",
            str(tmp_path / "b"),
            "--oci",
            str(tmp_path / "oci"),
            "--json",
        ]
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    c = closure(src, ["git", "hello"], settings=OFFLINE_CONFIG)
    layers = get_strategy("nixery-2022").group(c.graph, Context(popularity=popularity(src, settings=OFFLINE_CONFIG)), 9)
    expected = layers  # the manifest lists the strategy's layers in its order
    assert [x["paths"] for x in summary["layers"][:-1]] == [len(x.paths) for x in expected]
    assert [x["rating"] for x in summary["layers"][:-1]] == [x.rating for x in expected]
    assert summary["layers"][-1]["kind"] == "customisation"
