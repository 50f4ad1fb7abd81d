"""Fuzzing ``layerlab build``: image references, tags, every image and registry flag, output targets.

Pushes go to a :class:`~tests.fake_registry.FakeRegistry` on 127.0.0.1 (the
generated part is the repository and tag), so a build either completes (an
image in the blob store, the layout, the archive and the registry) or fails
with one error line and status 2 before writing anything.  A few runs go
through a real ``layerlab`` process to check the same from outside.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layerlab.errors import LayerlabError
from layerlab.image.manifest import check_repository, check_tag
from layerlab.registry import Reference

from .fake_registry import FakeRegistry
from .reliability_support import FUZZ, assert_clean_outcome, cli, count, demo_store, store_is_sound, tree_listing

odd = st.sampled_from(
    [
        "",
        "\0",
        "\n",
        " ",
        "-",
        "..",
        ".",
        "a b",
        "UPPER",
        "a__b",
        "a___b",
        "a--b",
        "-a",
        "a-",
        "_a",
        "x" * 129,
        "x" * 300,
        "é",
        "\udcff",
        "a/b",
        "a//b",
        "/a",
        "a:b",
        "a@b",
        "$(x)",
    ]
)
tags = st.one_of(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True), st.text(max_size=12), odd)
repos = st.one_of(
    st.from_regex(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*){0,2}", fullmatch=True),
    st.text(max_size=12),
    odd,
)
hosts = st.one_of(
    st.sampled_from(
        [
            "localhost:5000",
            "127.0.0.1:5000",
            "reg.example.com",
            "[::1]:5000",
            "-x:1",
            "a_b.c",
            "localhost",
            "host:99999x",
            "x.-y.z",
        ]
    ),
    st.text(max_size=10),
)


@FUZZ
@given(
    st.sampled_from(["", "http://", "https://", "ftp://"]),
    hosts,
    repos,
    st.one_of(st.none(), tags),
    st.one_of(st.none(), st.sampled_from(["sha256:" + "a" * 64, "sha256:" + "A" * 64, "md5:x", ""])),
)
def test_reference_grammar(scheme, host, repo, tag, digest):
    """Reference.parse accepts exactly the distribution spec's grammar and round-trips what it accepts."""
    count("fuzz inputs")
    text = (
        f"{scheme}{host}/{repo}" + (f":{tag}" if tag is not None else "") + (f"@{digest}" if digest is not None else "")
    )
    try:
        ref = Reference.parse(text)
    except LayerlabError as err:
        assert "\n" not in str(err)
        return
    check_repository(ref.repository)
    if ref.tag is not None:
        check_tag(ref.tag)
    assert Reference.parse(("http://" if ref.scheme == "http" else "") + str(ref)) == ref


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-build")
    store, graph = demo_store(root)
    with FakeRegistry() as reg:
        yield store, graph, reg


flag_values = {
    "--tag": tags,
    "--compression": st.sampled_from(["gzip", "zstd", "none", "lz4", ""]),
    "--level": st.one_of(st.integers(min_value=-3, max_value=25).map(str), st.sampled_from(["x", "1.5", ""])),
    "--arch": st.one_of(st.sampled_from(["amd64", "arm64", ""]), st.text(max_size=6)),
    "--os": st.one_of(st.sampled_from(["linux", ""]), st.text(max_size=6)),
    "--env": st.one_of(st.sampled_from(["A=1", "=x", "NOEQ", "A=\0", "A=é"]), st.text(max_size=8)),
    "--cmd": st.text(max_size=8),
    "--entrypoint": st.text(max_size=8),
    "--workdir": st.text(max_size=8),
    "--user": st.text(max_size=8),
    "--workers": st.integers(min_value=-2, max_value=4).map(str),
    "--budget": st.integers(min_value=-2, max_value=6).map(str),
    "--chunk-size": st.one_of(st.integers(min_value=-5, max_value=5000).map(str), st.sampled_from(["0", "x"])),
    "--timeout": st.sampled_from(["5", "0", "-1", "nan", "inf", "x", "0.5"]),
    "--format": st.sampled_from(["oci", "docker", "v1"]),
    "--store-dir": st.sampled_from(["STORE", "/", "relative", "/nix/../nix/store", "STORE/"]),
    "--parallel": st.sampled_from(["threads", "processes", "x"]),
    "--strategy": st.sampled_from(["nixery", "auto-layer", "keystone", "nope"]),
}
switches = ["--insecure-tls", "--plain-http", "--no-customisation", "--json"]


@st.composite
def build_flags(draw) -> tuple[list[str], bool, str, str]:
    flags: list[str] = []
    for name in draw(st.lists(st.sampled_from(sorted(flag_values)), max_size=5, unique=True)):
        flags += [name, draw(flag_values[name])]
    for name in draw(st.lists(st.sampled_from(switches), max_size=2, unique=True)):
        flags.append(name)
    push = draw(st.booleans())
    return flags, push, draw(repos), draw(tags)


@FUZZ
@given(build_flags(), st.sampled_from(["absent", "empty", "layout", "other-dir", "file"]))
def test_build_flags_and_targets(setup, flags_push, target):
    store, graph, reg = setup
    flags, push, repo, tag = flags_push
    count("fuzz inputs")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        oci = tmp / "out" / "oci"
        if target == "empty":
            oci.mkdir(parents=True)
        elif target == "other-dir":
            oci.mkdir(parents=True)
            (oci / "mine.txt").write_text("keep")
        elif target == "file":
            oci.parent.mkdir(parents=True)
            oci.write_text("keep")
        elif target == "layout":
            assert (
                cli(
                    [
                        "build",
                        "--graph",
                        graph,
                        "--store-dir",
                        store,
                        "--blob-store",
                        tmp / "b0",
                        "--oci",
                        oci,
                        "--tag",
                        "old",
                        "--budget",
                        "3",
                    ]
                )[0]
                == 0
            )
        flags = [str(store) + f[5:] if f.startswith("STORE") else f for f in flags]
        before = tree_listing(tmp)
        blobs = tmp / "blobs"
        argv = ["build", "--graph", graph, "--blob-store", blobs, "--oci", oci, "--archive", tmp / "out" / "img.tar"]
        if "--store-dir" not in flags:
            argv += ["--store-dir", store]
        if push:
            argv += ["--push", f"http://{reg.host}/{repo}:{tag}"]
        rc, _, err = cli(argv + flags)
        if assert_clean_outcome(rc, err):
            assert tree_listing(tmp) == before, f"a refused build wrote something: {err}"
            return
        assert store_is_sound(blobs) == [] and store_is_sound(oci) == []
        if target == "other-dir":
            pytest.fail("a directory that is not an OCI layout was written into")
        if target == "layout":
            assert (oci / "index.json").read_text().count('"org.opencontainers.image.ref.name"') >= 1


def test_a_few_runs_as_real_processes(setup, tmp_path):
    """The same contract seen from outside: status 2, one stderr line, nothing written, for each refused input."""
    store, graph, _ = setup
    base = [
        sys.executable,
        "-m",
        "layerlab.cli",
        "build",
        "--graph",
        str(graph),
        "--store-dir",
        str(store),
        "--blob-store",
        str(tmp_path / "blobs"),
    ]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes").write_text("keep")
    nul_graph = tmp_path / "nul.json"
    nul_graph.write_bytes(b'[{"path": "/nix/store/a-x\\u0000y", "narSize": 1}]')
    cases = [
        ["--oci", str(tmp_path / "mine")],
        ["--oci", "."],
        ["--oci", str(tmp_path / "o"), "--tag", "a\nb"],
        ["--oci", str(tmp_path / "o"), "--chunk-size", "-5"],
        ["--oci", str(tmp_path / "o"), "--level", "99"],
        ["--push", "http://127.0.0.1:9/x", "--ca-cert", str(tmp_path / "none.pem")],
        ["--oci", str(tmp_path / "o"), "--graph", str(nul_graph)],
    ]
    for extra in cases:
        before = tree_listing(tmp_path)
        p = subprocess.run(base + extra, capture_output=True, text=True, cwd=tmp_path, timeout=120)
        count("fuzz inputs")
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and p.stderr.startswith("layerlab: error: "), (
            extra,
            p.stderr,
        )
        assert "Traceback" not in p.stderr
        assert tree_listing(tmp_path) == before, extra
