"""Fuzzing package sources, package and image names and Nix options: nothing unvalidated reaches a process.

``subprocess.Popen`` is replaced by a recorder for these tests.  Every
command layerlab would start is checked: a Nix tool (behind ``setpriv``),
fixed flags, and user values only as the value of an ``--argstr`` (or
``--store``), each of which must pass layerlab's own validation again; then
the recorder stops the command before anything runs.  Every other outcome is
a one-line error with status 2 and no output file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layerlab.errors import LayerlabError
from layerlab.sources.nix import parse_source

from .reliability_support import FUZZ, StoppedCommand, assert_clean_outcome, cli, count, nix_recorder

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def recorder(monkeypatch):
    return nix_recorder(monkeypatch)


def run_stopped(argv: list) -> tuple[int, str, bool]:
    """Run the command line; (status, stderr, whether a checked command was stopped)."""
    try:
        rc, _, err = cli(argv)
    except StoppedCommand:
        return 0, "", True
    return rc, err, False


# ------------------------------------------------------------------ inputs
odd = st.sampled_from(
    [
        "",
        "\0",
        "\n",
        " ",
        "-",
        "--",
        "-oProxyCommand=x",
        "$(x)",
        "`x`",
        "a;b",
        "..",
        "~",
        "*",
        "é",
        "\udcff",
        "#",
        "!",
        "a b",
        "x" * 300,
    ]
)
channel = st.one_of(
    st.sampled_from(["nixos-24.05", "nixpkgs-unstable", "release-23.11"]),
    st.text(max_size=12),
    odd,
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True),
)
url = st.one_of(
    st.sampled_from(
        [
            "https://github.com/NixOS/nixpkgs",
            "git@github.com:NixOS/nixpkgs.git",
            "ssh://git@host/x.git",
            "file:///srv/repo",
            "ssh://-oProxyCommand=touch%20x/y",
            "git@-oProxy=x:y",
            "-u@h:p",
            "ssh://host:-1/x",
            "https://h/x?y=1&z=2",
            "ext::sh -c x",
            "ssh://git@host/-x",
        ]
    ),
    st.text(max_size=20),
    odd,
    st.from_regex(
        r"(https|ssh|git)://([a-z]{1,5}@)?[a-z0-9-]{1,8}(\.[a-z]{2,3})?(:[0-9]{1,4})?/[A-Za-z0-9._~/-]{0,15}",
        fullmatch=True,
    ),
    st.from_regex(r"[a-z-]{1,5}@[a-z0-9.-]{1,8}:[A-Za-z0-9._/-]{0,12}", fullmatch=True),
)
rev = st.one_of(
    st.sampled_from(["main", "nixos-24.05", "0" * 40, "refs/heads/x", "..", "-x", "a..b", "x.lock", "v1/"]),
    st.text(max_size=12),
    odd,
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._/+-]{0,15}", fullmatch=True),
)
flake = st.one_of(
    st.sampled_from(["nixpkgs", "github:NixOS/nixpkgs/nixos-24.05", "path:/tmp/x", "-x", "git+ssh://-o/x"]),
    st.text(max_size=15),
    odd,
)


@st.composite
def sources(draw) -> str:
    kind = draw(st.sampled_from(["nixpkgs", "git", "path", "flake", "nope", ""]))
    if kind == "nixpkgs":
        return f"nixpkgs!{draw(channel)}"
    if kind == "git":
        return f"git!{draw(url)}!{draw(rev)}"
    if kind == "path":
        return "path!" + draw(
            st.one_of(
                st.sampled_from([str(ROOT / "nix" / "testpkgs"), "nix/testpkgs", "/nonexistent", "/", "-x"]),
                st.text(max_size=10),
                odd,
            )
        )
    if kind == "flake":
        return f"flake!{draw(flake)}"
    return draw(st.one_of(st.text(max_size=20), odd))


names = st.one_of(
    st.sampled_from(
        [
            "hello",
            "git",
            "xorg.xev",
            "python3Packages.requests",
            "haskellPackages.a-b",
            "a.b.c",
            "shell",
            "arm64/htop",
            "shell/git",
            "-A",
            "--arg",
            "a..b",
            ".x",
            "x.",
            "a/b",
            "builtins.exec",
        ]
    ),
    st.text(max_size=10),
    odd,
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_'-]{0,8}(\.[A-Za-z_][A-Za-z0-9_'-]{0,8}){0,2}", fullmatch=True),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}(/[A-Za-z_][A-Za-z0-9_-]{0,8}){0,2}", fullmatch=True),
)
systems = st.one_of(
    st.none(),
    st.sampled_from(["x86_64-linux", "aarch64-linux", "x86_64", "-x", "a b", "x86_64-linux\n"]),
    st.text(max_size=10),
)


@FUZZ
@given(
    sources(),
    st.lists(names, min_size=1, max_size=3),
    st.booleans(),
    systems,
    st.sampled_from(["path-info", "export"]),
    st.one_of(st.none(), st.sampled_from(["0", "-1", "nan", "inf", "1e9", "5"])),
)
def test_closure_inputs(recorder, source, packages, image, system, method, timeout):
    count("fuzz inputs")
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "graph.json"
        argv = ["closure", source, *packages, "--offline", "--no-cache", "--quiet", "--method", method, "-o", out]
        if image:
            argv.append("--image")
        if system is not None:
            argv += ["--system", system]
        if timeout is not None:
            argv += ["--timeout", timeout]
        rc, err, stopped = run_stopped(argv)
        if not stopped:
            assert assert_clean_outcome(rc, err), "nothing can succeed without running Nix"
        assert not out.exists()


@FUZZ
@given(
    sources(),
    st.one_of(
        st.none(),
        st.sampled_from(
            ["https://cache.nixos.org", "file:///srv/cache", "-x", "https://-x", "ftp://x", "s3://b?region=x"]
        ),
        st.text(max_size=10),
    ),
)
def test_popcount_inputs(recorder, source, store):
    count("fuzz inputs")
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "pop.json"
        argv = ["popcount", source, "--offline", "--quiet", "-o", out] + (
            ["--store", store] if store is not None else []
        )
        rc, err, stopped = run_stopped(argv)
        if not stopped:
            assert assert_clean_outcome(rc, err)
        assert not out.exists()


@FUZZ
@given(sources())
def test_parse_source_is_total(source):
    """parse_source either returns a source that round-trips or raises a LayerlabError, whatever the text."""
    count("fuzz inputs")
    try:
        src = parse_source(source)
    except LayerlabError as err:
        assert "\n" not in str(err)
        return
    assert parse_source(src.spec) == src
    for value in (src.location, src.rev):
        assert not value.startswith("-") and "\0" not in value and "\n" not in value
