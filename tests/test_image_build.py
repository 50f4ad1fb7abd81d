"""Image building from a store-like directory: customisation, order, config, manifests, cache, outputs."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import tarfile
import threading

import orjson
import pytest

from layerlab.cli import main
from layerlab.errors import ConfigError, ImageError, LayerlabError, StrategyError
from layerlab.graph import ClosureGraph
from layerlab.image import (
    BlobStore,
    ImageConfig,
    build_image,
    join_packages,
    nixery_output,
    write_docker_archive,
    write_oci_layout,
)
from layerlab.image.layout import atomic_dir
from layerlab.strategies.base import Layer


@pytest.fixture
def store_tree(tmp_path):
    """Three packages: git (bin/git, share/man/git.1), curl (bin/curl, bin/git!), lib (lib/libz.so)."""
    s = tmp_path / "store"
    files = {
        "aaa-git-2.40": {"bin/git": "git", "share/man/git.1": "man"},
        "bbb-curl-8.0": {"bin/curl": "curl", "bin/git": "impostor", "share/man/curl.1": "man"},
        "ccc-zlib-1.3": {"lib/libz.so": "z" * 1000},
    }
    for pkg, content in files.items():
        for rel, text in content.items():
            f = s / pkg / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text)
    graph = ClosureGraph.from_records(
        [
            {"path": f"{s}/aaa-git-2.40", "narSize": 300, "references": [f"{s}/ccc-zlib-1.3"]},
            {"path": f"{s}/bbb-curl-8.0", "narSize": 200, "references": [f"{s}/ccc-zlib-1.3"]},
            {"path": f"{s}/ccc-zlib-1.3", "narSize": 1000, "references": []},
        ],
        name="demo",
    )
    return s, graph


def _layers(s):
    return [
        Layer((f"{s}/aaa-git-2.40",), 300, rating=10, reason="dominator"),
        Layer((f"{s}/bbb-curl-8.0",), 200, rating=10, reason="dominator"),
        Layer((f"{s}/ccc-zlib-1.3",), 1000, rating=500, reason="popular"),
    ]


def test_customisation_join_and_conflicts(store_tree):
    s, _ = store_tree
    j = join_packages([f"{s}/aaa-git-2.40", f"{s}/bbb-curl-8.0", f"{s}/aaa-git-2.40"], store_dir=str(s))
    got = [(e.name.decode(), e.kind, e.target.decode()) for e in j.entries]
    assert got == [
        ("bin", "dir", ""),
        ("bin/curl", "symlink", f"{s}/bbb-curl-8.0/bin/curl"),
        ("bin/git", "symlink", f"{s}/aaa-git-2.40/bin/git"),  # first requested wins
        ("share", "dir", ""),
        ("share/man", "dir", ""),
        ("share/man/curl.1", "symlink", f"{s}/bbb-curl-8.0/share/man/curl.1"),
        ("share/man/git.1", "symlink", f"{s}/aaa-git-2.40/share/man/git.1"),
    ]
    assert [(c.name, c.kept, c.dropped) for c in j.conflicts] == [("bin/git", f"{s}/aaa-git-2.40", f"{s}/bbb-curl-8.0")]
    assert j.packages == (f"{s}/aaa-git-2.40", f"{s}/bbb-curl-8.0")
    # the reverse order flips the winner
    j2 = join_packages([f"{s}/bbb-curl-8.0", f"{s}/aaa-git-2.40"], store_dir=str(s))
    assert {e.name: e.target for e in j2.entries}[b"bin/git"] == f"{s}/bbb-curl-8.0/bin/git".encode()


def test_customisation_refuses_store_shadowing_and_file_packages(tmp_path):
    s = tmp_path / "store"
    top = str(s).split("/")[1]  # the store dir's first component ("nix" for /nix/store)
    (s / "aaa-odd" / top).mkdir(parents=True)
    (s / "aaa-odd" / "bin").mkdir()
    (s / "aaa-odd" / "bin" / "x").write_text("")
    (s / "aaa-odd" / "zz").write_text("")
    (s / "bbb-file").write_text("a file")
    j = join_packages([f"{s}/aaa-odd"], store_dir=str(s))
    assert [e.name for e in j.entries] == [b"bin", b"bin/x", b"zz"]
    assert [(c.name, c.kept, c.dropped) for c in j.conflicts] == [(top, "(store)", f"{s}/aaa-odd")]
    with pytest.raises(ImageError, match="bbb-file: cannot join a package that is not a directory"):
        join_packages([f"{s}/bbb-file"], store_dir=str(s))


def test_manifest_keeps_the_given_order_customisation_last(store_tree, tmp_path):
    s, graph = store_tree
    layers = _layers(s)
    for order in (layers, list(reversed(layers)), [layers[1], layers[2], layers[0]]):
        img = build_image(graph, order, [f"{s}/aaa-git-2.40"], store=BlobStore(tmp_path / "b"), store_dir=str(s))
        assert [x.paths for x in img.layers[:3]] == [x.paths for x in order]
        assert img.layers[-1].kind == "customisation"
        manifest = orjson.loads(img.oci_manifest())
        assert [d["digest"] for d in manifest["layers"]] == [x.info.digest for x in img.layers]


def test_cli_build_manifest_in_the_strategy_order(store_tree, tmp_path, capsys):
    from layerlab.strategies import get_strategy

    s, graph = store_tree
    gfile = _graph_file(graph, tmp_path)
    for strategy in ("per-path", "keystone", "nixery", "nixery-2022"):
        lfile = tmp_path / f"{strategy}.layers.json"
        assert main(["group", str(gfile), "--strategy", strategy, "--out", str(lfile)]) == 0
        written = orjson.loads(lfile.read_bytes())
        expected = [list(x.paths) for x in get_strategy(strategy).group(graph)]
        assert [x["contents"] for x in written] == expected
        assert all(type(x["mergeRating"]) is int and x["mergeRating"] >= 0 for x in written)
        oci = tmp_path / f"oci-{strategy}"
        args = [
            "build",
            "--graph",
            str(gfile),
            "--store-dir",
            str(s),
            "--blob-store",
            str(tmp_path / "b"),
            "--compression",
            "none",
            "--oci",
            str(oci),
            "--json",
        ]
        for extra in (["--layers", str(lfile)], ["--strategy", strategy]):
            assert main([*args, *extra]) == 0
            summary = orjson.loads(capsys.readouterr().out)
            assert [x["paths"] for x in summary["layers"][:-1]] == [len(c) for c in expected]
            assert summary["layers"][-1]["kind"] == "customisation"
            index = orjson.loads((oci / "index.json").read_bytes())
            digest = index["manifests"][0]["digest"].split(":")[1]
            manifest = orjson.loads((oci / "blobs" / "sha256" / digest).read_bytes())
            assert [d["digest"] for d in manifest["layers"]] == [x["digest"] for x in summary["layers"]]


def test_config_and_manifests(store_tree, tmp_path):
    s, graph = store_tree
    store = BlobStore(tmp_path / "b")
    cfg = ImageConfig(
        architecture="arm64",
        env=("PATH=/bin",),
        cmd=("git", "--version"),
        entrypoint=("/bin/sh", "-c"),
        working_dir="/work",
        user="1000:1000",
    )
    img = build_image(graph, _layers(s), [f"{s}/aaa-git-2.40"], store=store, store_dir=str(s), config=cfg)
    doc = orjson.loads(img.config)
    assert doc["architecture"] == "arm64" and doc["os"] == "linux" and doc["created"] == "1970-01-01T00:00:01Z"
    assert doc["config"] == {
        "Env": ["PATH=/bin"],
        "Cmd": ["git", "--version"],
        "Entrypoint": ["/bin/sh", "-c"],
        "WorkingDir": "/work",
        "User": "1000:1000",
    }
    assert doc["rootfs"] == {"type": "layers", "diff_ids": img.diff_ids}
    assert [h["created_by"] for h in doc["history"]] == [
        "layerlab: 1 store paths (dominator)",
        "layerlab: 1 store paths (dominator)",
        "layerlab: 1 store paths (popular)",
        "layerlab: customisation layer joining 1 packages",
    ]
    assert img.config_digest == "sha256:" + hashlib.sha256(img.config).hexdigest()
    assert store.read_bytes(img.config_digest) == img.config
    oci = orjson.loads(img.oci_manifest())
    assert oci["mediaType"] == "application/vnd.oci.image.manifest.v1+json" and oci["schemaVersion"] == 2
    assert oci["config"] == {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": img.config_digest,
        "size": len(img.config),
    }
    for entry, layer in zip(oci["layers"], img.layers, strict=True):
        blob = store.read_bytes(layer.info.digest)
        assert entry == {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": "sha256:" + hashlib.sha256(blob).hexdigest(),
            "size": len(blob),
        }
        assert layer.info.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()
    docker = orjson.loads(img.docker_manifest())
    assert docker["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert docker["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert {x["mediaType"] for x in docker["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    # the customisation layer holds the links, nothing else
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(store.read_bytes(img.layers[-1].info.digest)))) as t:
        assert [(m.name, m.linkname) for m in t.getmembers()] == [
            ("bin", ""),
            ("bin/git", f"{s}/aaa-git-2.40/bin/git"),
            ("share", ""),
            ("share/man", ""),
            ("share/man/git.1", f"{s}/aaa-git-2.40/share/man/git.1"),
        ]


def test_zstd_has_no_docker_manifest(store_tree, tmp_path):
    s, graph = store_tree
    img = build_image(graph, _layers(s), [], store=BlobStore(tmp_path / "b"), store_dir=str(s), compression="zstd")
    assert {x["mediaType"] for x in orjson.loads(img.oci_manifest())["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    }
    with pytest.raises(ImageError, match="docker manifest has no media type for zstd"):
        img.docker_manifest()


def test_layer_cache_builds_a_shared_layer_once(store_tree, tmp_path):
    s, graph = store_tree
    store = BlobStore(tmp_path / "b")
    first = build_image(graph, _layers(s), [], store=store, store_dir=str(s))
    assert [x.cached for x in first.layers] == [False, False, False]
    # a second image sharing the zlib layer, with git and curl merged into one layer
    merged = [Layer((f"{s}/aaa-git-2.40", f"{s}/bbb-curl-8.0"), 500, 1, "merged"), _layers(s)[2]]
    second = build_image(graph, merged, [], store=store, store_dir=str(s))
    assert [(x.paths, x.cached) for x in second.layers] == [(merged[0].paths, False), ((f"{s}/ccc-zlib-1.3",), True)]
    assert second.layers[1].info == first.layers[2].info
    # the cache is keyed by compression too, and ignores entries whose blob is gone
    plain = build_image(None, merged[1:], [], store=store, store_dir=str(s), compression="none")
    assert not plain.layers[0].cached
    os.unlink(store.blob_path(plain.layers[0].info.digest))
    again = build_image(None, merged[1:], [], store=store, store_dir=str(s), compression="none")
    assert not again.layers[0].cached and store.verify(again.layers[0].info.digest)
    assert os.listdir(store.root / "tmp") == []


def test_concurrent_builds_share_one_store(store_tree, tmp_path):
    s, graph = store_tree
    store = BlobStore(tmp_path / "b")
    results = []

    def run():
        results.append(
            build_image(graph, _layers(s), [f"{s}/aaa-git-2.40"], store=store, store_dir=str(s)).oci_manifest()
        )

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(set(results)) == 1
    assert os.listdir(store.root / "tmp") == []


def test_bad_inputs(store_tree, tmp_path):
    s, graph = store_tree
    store = BlobStore(tmp_path / "b")
    with pytest.raises(StrategyError, match="left .*ccc-zlib-1.3 out of every layer"):
        build_image(graph, _layers(s)[:2], [], store=store, store_dir=str(s))
    with pytest.raises(ImageError, match="requested package /nix/store/x-y is not in the closure graph"):
        build_image(graph, _layers(s), ["/nix/store/x-y"], store=store, store_dir=str(s))
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        ImageConfig(env=("NOEQUALS",))
    with pytest.raises(ImageError, match="compression must be one of"):
        build_image(graph, _layers(s), [], store=store, store_dir=str(s), compression="lz4")


def test_oci_layout_and_atomic_replacement(store_tree, tmp_path):
    s, graph = store_tree
    store = BlobStore(tmp_path / "b")
    img = build_image(graph, _layers(s), [f"{s}/aaa-git-2.40"], store=store, store_dir=str(s))
    out = tmp_path / "out" / "oci"
    digest = write_oci_layout(img, store, out, tag="v1")
    assert orjson.loads((out / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    index = orjson.loads((out / "index.json").read_bytes())
    assert index["manifests"] == [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": len(img.oci_manifest()),
            "annotations": {"org.opencontainers.image.ref.name": "v1"},
        }
    ]
    blobs = sorted(os.listdir(out / "blobs" / "sha256"))
    assert blobs == sorted([digest[7:], img.config_digest[7:]] + [x.info.digest[7:] for x in img.layers])
    for b in blobs:
        assert hashlib.sha256((out / "blobs" / "sha256" / b).read_bytes()).hexdigest() == b
    # writing again adds a tag and keeps everything else, the other tag and files layerlab did not write included
    (out / "stray").write_text("x")
    write_oci_layout(img, store, out, tag="v2")
    assert (out / "stray").read_text() == "x"
    index = orjson.loads((out / "index.json").read_bytes())
    tags = [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]
    assert tags == ["v1", "v2"]
    # a directory that is not an OCI layout is never replaced
    other = tmp_path / "out" / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(ImageError, match="not empty.*not an OCI image layout"):
        write_oci_layout(img, store, other, tag="v1")
    assert os.listdir(other) == ["notes.txt"]
    with pytest.raises(LayerlabError, match="not empty"):
        with atomic_dir(other) as tmp:
            pass
    other.joinpath("notes.txt").unlink()
    other.rmdir()
    # a failing write of a new directory leaves nothing
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "out" / "new") as tmp:
            (tmp / "index.json").write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(os.listdir(tmp_path / "out")) == ["oci"]


def test_failed_build_leaves_no_image(store_tree, tmp_path):
    s, graph = store_tree
    os.mkfifo(s / "ccc-zlib-1.3" / "lib" / "fifo")
    out = tmp_path / "out"
    code = main(
        [
            "build",
            "--graph",
            str(_graph_file(graph, tmp_path)),
            "--store-dir",
            str(s),
            "--blob-store",
            str(tmp_path / "b"),
            "--oci",
            str(out / "oci"),
            "--archive",
            str(out / "a.tar"),
            "--package",
            f"{s}/aaa-git-2.40",
        ]
    )
    assert code == 2
    assert not out.exists() or os.listdir(out) == []
    assert os.listdir(tmp_path / "b" / "tmp") == []


def _graph_file(graph, tmp_path):
    f = tmp_path / "graph.json"
    f.write_bytes(
        orjson.dumps(
            [
                {"path": p, "narSize": graph.nar_size[i], "references": [graph.paths[j] for j in graph.refs[i]]}
                for i, p in enumerate(graph.paths)
            ]
        )
    )
    return f


def test_docker_archive_layout(store_tree, tmp_path):
    s, graph = store_tree
    store = BlobStore(tmp_path / "b")
    img = build_image(graph, _layers(s), [f"{s}/aaa-git-2.40"], store=store, store_dir=str(s), compression="zstd")
    out = tmp_path / "img.tar"
    write_docker_archive(img, store, out, repo_tag="demo:v1")
    with tarfile.open(out) as t:
        manifest = orjson.loads(t.extractfile("manifest.json").read())
        assert manifest == [
            {
                "Config": img.config_digest[7:] + ".json",
                "RepoTags": ["demo:v1"],
                "Layers": [x.info.diff_id[7:] + "/layer.tar" for x in img.layers],
            }
        ]
        assert t.extractfile(manifest[0]["Config"]).read() == img.config
        for layer in img.layers:  # uncompressed, matching the diff_id
            data = t.extractfile(layer.info.diff_id[7:] + "/layer.tar").read()
            assert "sha256:" + hashlib.sha256(data).hexdigest() == layer.info.diff_id
    first = out.read_bytes()
    write_docker_archive(img, store, out, repo_tag="demo:v1")
    assert out.read_bytes() == first


def test_nixery_output(store_tree, tmp_path):
    s, graph = store_tree
    store = BlobStore(tmp_path / "b")
    img = build_image(graph, _layers(s), [f"{s}/aaa-git-2.40"], store=store, store_dir=str(s), md5=True)
    doc = orjson.loads(nixery_output(img, store))
    assert doc["manifest"] == orjson.loads(img.docker_manifest())
    assert set(doc["layerLocations"]) == {img.config_digest[7:]} | {x.info.digest[7:] for x in img.layers}
    for hexd, loc in doc["layerLocations"].items():
        data = open(loc["path"], "rb").read()
        assert hashlib.sha256(data).hexdigest() == hexd
        assert loc["md5"] == base64.b64encode(hashlib.md5(data).digest()).decode()


def test_cli_graph_and_layers_json(store_tree, tmp_path, capsys):
    s, graph = store_tree
    gfile = _graph_file(graph, tmp_path)
    lfile = tmp_path / "layers.json"
    lfile.write_bytes(
        orjson.dumps(
            [
                {"contents": [f"{s}/ccc-zlib-1.3"], "mergeRating": 7},
                {"contents": [f"{s}/aaa-git-2.40", f"{s}/bbb-curl-8.0"], "mergeRating": 9},
            ]
        )
    )
    args = [
        "build",
        "--graph",
        str(gfile),
        "--layers",
        str(lfile),
        "--store-dir",
        str(s),
        "--blob-store",
        str(tmp_path / "b"),
        "--package",
        f"{s}/bbb-curl-8.0",
        "--compression",
        "none",
        "--env",
        "A=1",
        "--cmd",
        "curl",
        "--oci",
        str(tmp_path / "oci"),
        "--nixery-json",
        str(tmp_path / "n.json"),
        "--json",
    ]
    assert main(args) == 0
    summary = orjson.loads(capsys.readouterr().out)
    # The manifest lists the layers as layers.json does: zlib, then git + curl, then the customisation layer.
    assert [x["paths"] for x in summary["layers"]] == [1, 2, 1]
    assert [x["rating"] for x in summary["layers"]] == [7, 9, 0]
    assert [x["kind"] for x in summary["layers"]] == ["store", "store", "customisation"]
    nix = orjson.loads((tmp_path / "n.json").read_bytes())
    assert {x["mediaType"] for x in nix["manifest"]["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar"}
    assert main(args) == 0
    again = orjson.loads(capsys.readouterr().out)
    assert [x["cached"] for x in again["layers"]] == [True, True, False]
    assert again["oci"]["manifest"] == summary["oci"]["manifest"]
    lfile.write_text('[{"contents": ["/nix/store/zzz-absent"]}]')
    assert main(args) == 2
    assert "layers.json: layer 0 holds '/nix/store/zzz-absent', which is not in the graph" in capsys.readouterr().err
    assert main(["build", "--graph", str(gfile)]) == 2
    assert "name an output" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_build_leaves_old_output_or_nothing(tmp_path):
    """SIGKILL at several moments: the targets are absent or complete, never half-written."""
    import signal
    import subprocess
    import sys
    import tarfile as tf
    import time

    s = tmp_path / "store"
    paths = []
    for i in range(6):
        p = s / f"{i:03d}-big"
        p.mkdir(parents=True)
        (p / "blob").write_bytes(os.urandom(40 << 20))
        paths.append({"path": str(p), "narSize": 40 << 20})
    gfile = tmp_path / "g.json"
    gfile.write_bytes(orjson.dumps(paths))
    out = tmp_path / "out"
    args = [
        sys.executable,
        "-m",
        "layerlab.cli",
        "build",
        "--graph",
        str(gfile),
        "--store-dir",
        str(s),
        "--strategy",
        "per-path",
        "--no-customisation",
        "--compression",
        "none",
        "--oci",
        str(out / "oci"),
        "--archive",
        str(out / "a.tar"),
    ]
    for n, delay in enumerate([0.3, 0.6, 0.9, 1.2, 1.6, 2.2]):
        env = {**os.environ, "LAYERLAB_STORE": str(tmp_path / f"blobs{n}")}
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for name in ("oci", "a.tar"):
            target = out / name
            if not target.exists():
                continue
            if name == "oci":
                index = orjson.loads((target / "index.json").read_bytes())
                manifest = orjson.loads(
                    (target / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_bytes()
                )
                for d in [manifest["config"]] + manifest["layers"]:
                    blob = (target / "blobs" / "sha256" / d["digest"][7:]).read_bytes()
                    assert len(blob) == d["size"] and hashlib.sha256(blob).hexdigest() == d["digest"][7:]
            else:
                with tf.open(target) as t:
                    names = t.getnames()
                assert "manifest.json" in names and len(names) == 2 * 6 + 2
        # no half-written temporary files under the final names; leftovers are hidden temp entries only
        assert all(e.startswith(".") or e in ("oci", "a.tar") for e in os.listdir(out)) if out.exists() else True
    # after the kills a full run succeeds and replaces whatever was there
    r = subprocess.run(
        args, env={**os.environ, "LAYERLAB_STORE": str(tmp_path / "blobs0")}, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    with tf.open(out / "a.tar") as t:
        assert len(t.getnames()) == 2 * 6 + 2
    assert len(orjson.loads((out / "oci" / "index.json").read_bytes())["manifests"]) == 1


def test_processes_and_threads_give_the_same_image(store_tree, tmp_path):
    s, graph = store_tree
    a = build_image(
        graph, _layers(s), [f"{s}/aaa-git-2.40"], store=BlobStore(tmp_path / "t"), store_dir=str(s), parallel="threads"
    )
    b = build_image(
        graph,
        _layers(s),
        [f"{s}/aaa-git-2.40"],
        store=BlobStore(tmp_path / "p"),
        store_dir=str(s),
        parallel="processes",
    )
    assert a.oci_manifest() == b.oci_manifest() and a.config == b.config
    os.mkfifo(s / "ccc-zlib-1.3" / "fifo")
    with pytest.raises(ImageError, match="ccc-zlib-1.3/fifo: is a FIFO"):
        build_image(graph, _layers(s), [], store=BlobStore(tmp_path / "p2"), store_dir=str(s), parallel="processes")
    with pytest.raises(ImageError, match="parallel must be threads or processes"):
        build_image(graph, _layers(s), [], store=BlobStore(tmp_path / "p3"), store_dir=str(s), parallel="fibers")


def test_deep_trees_build_without_recursion(tmp_path):
    """A package 1,200 directories deep: the customisation join and the tarball walk are iterative."""
    s = tmp_path / "store"
    pkg = s / "aaa-deep-1.0"
    deep = pkg
    pkg.mkdir(parents=True)
    try:
        for _ in range(1200):  # one level at a time (pathlib's parents=True recurses)
            deep = deep / "d"
            deep.mkdir()
        (deep / "leaf").write_text("x")
        graph = ClosureGraph.from_records([{"path": str(pkg), "narSize": 1}])
        img = build_image(graph, [Layer((str(pkg),), 1)], [str(pkg)], store=BlobStore(tmp_path / "b"), store_dir=str(s))
        names = [e.name for e in join_packages([str(pkg)], store_dir=str(s)).entries]
        assert len(names) == 1201 and names[-1].endswith(b"/d/leaf")
        assert [layer.kind for layer in img.layers] == ["store", "customisation"]
    finally:
        # bottom-up, whatever happened: shutil.rmtree (pytest's clean-up of old temporary directories) recurses
        if (deep / "leaf").exists():
            (deep / "leaf").unlink()
        while deep != pkg:
            deep.rmdir()
            deep = deep.parent


def test_read_a_built_image_back_for_the_layer_browser(store_tree, tmp_path):
    from layerlab.errors import InputError
    from layerlab.image.inspect import read_oci_layout
    from layerlab.workbench.render import built_browser_html

    s, graph = store_tree
    store = BlobStore(tmp_path / "b")
    built = {}
    for name, pkg in (("git", "aaa-git-2.40"), ("curl", "bbb-curl-8.0")):
        img = build_image(graph, _layers(s), [f"{s}/{pkg}"], store=store, store_dir=str(s))
        digest = write_oci_layout(img, store, tmp_path / name, tag="v1")
        got_digest, layers = read_oci_layout(tmp_path / name, tag="v1")
        assert got_digest == digest and [x.digest for x in layers] == [x.info.digest for x in img.layers]
        assert [x.blob_size for x in layers] == [x.info.size for x in img.layers]
        built[name] = layers
    # The zlib layer holds one store path with its 1000-byte file.
    zlib = next(x for x in built["git"] if f"{s}/ccc-zlib-1.3" in x.store_paths(str(s)))
    assert zlib.store_paths(str(s)) == {f"{s}/ccc-zlib-1.3": 1000}
    assert any(f.name.endswith("ccc-zlib-1.3/lib/libz.so") and f.size == 1000 and f.kind == "file" for f in zlib.files)
    html_ = built_browser_html(built, "git", store_dir=str(s))
    assert html_.count('class="ll-built-layer"') == len(built["git"]) and "shared with curl" in html_
    with pytest.raises(InputError, match="not an OCI image layout"):
        read_oci_layout(tmp_path / "nothing")
    with pytest.raises(ImageError, match="no image tagged 'v9'"):
        read_oci_layout(tmp_path / "git", tag="v9")
