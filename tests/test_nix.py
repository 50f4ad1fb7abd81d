"""Closures from a real Nix (Debian nix-bin) and the offline package set in nix/testpkgs.

Expected values come from nix/testpkgs/default.nix: the runtime dependencies
each package declares, the file sizes it writes, and the NAR format's rules
(see :func:`nar_size`), so every size Nix reports is checked against one
worked out independently here.
"""

from __future__ import annotations

import lzma
import os
import shutil
import stat
import subprocess
import uuid
import zlib
from pathlib import Path

import orjson
import pytest

from layerlab.cli import main
from layerlab.errors import NixError, NotFoundError
from layerlab.graph import store_name
from layerlab.popularity import Popularity
from layerlab.sources.files import load_graph
from layerlab.sources.nix import (
    OFFLINE_CONFIG,
    ClosureCache,
    closure,
    list_packages,
    parse_image_name,
    popularity,
    system_for_arch,
)
from layerlab.sources.nix_run import nix_environment, run_nix
from layerlab.strategies import Context, Nixery, check_layers

from .conftest import ROOT, require_tool, tools_required

pytestmark = pytest.mark.nix

TESTPKGS = ROOT / "nix" / "testpkgs"
SRC = f"path!{TESTPKGS}"


@pytest.fixture(scope="module", autouse=True)
def nix():
    """A working Nix: the tools are installed and the store can be written."""
    for tool in ("nix", "nix-build", "nix-instantiate", "nix-store"):
        require_tool(tool)
    env = nix_environment(OFFLINE_CONFIG)
    try:
        # opens (as root: creates) /nix/store and its database
        probe = run_nix(["nix-store", "--add", str(TESTPKGS / "tar.sh")], env=env, timeout=120)
    except NixError as err:
        message = f"Nix cannot use its store (as non-root, /nix must exist and be writable): {err}"
        if tools_required():
            pytest.fail(message)
        pytest.skip(message)
    assert probe.stdout.decode().startswith("/nix/store/")
    return env


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Keep the default closure cache (used by ``layerlab group --source``) out of the user's home."""
    monkeypatch.setenv("LAYERLAB_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "layerlab-cache"))


def get(packages, **kw):
    kw.setdefault("settings", OFFLINE_CONFIG)
    kw.setdefault("cache", False)
    return closure(SRC, packages, **kw)


def names(graph) -> list[str]:
    return sorted(store_name(p) for p in graph.paths)


def nar_size(path: str) -> int:
    """The size of a path's NAR serialisation, from the format's rules.

    Every string is an 8-byte length followed by its bytes padded to a
    multiple of 8; a node is ``( type <t> ... )``; a regular file adds
    ``executable ""`` when executable and ``contents <bytes>``; a symlink
    ``target <t>``; a directory ``entry ( name <n> node <node> )`` per entry in
    name order.  The archive starts with ``nix-archive-1``.
    """

    def s(n: int) -> int:
        return 8 + (n + 7) // 8 * 8

    def node(p: str) -> int:
        st = os.lstat(p)
        total = s(1) + s(4)  # "(" "type"
        if stat.S_ISLNK(st.st_mode):
            total += s(7) + s(6) + s(len(os.fsencode(os.readlink(p))))
        elif stat.S_ISREG(st.st_mode):
            total += s(7)
            if st.st_mode & 0o100:
                total += s(10) + s(0)
            total += s(8) + s(st.st_size)
        else:
            total += s(9)
            for name in sorted(os.listdir(p)):
                total += s(5) + s(1) + s(4) + s(len(os.fsencode(name))) + s(4) + node(os.path.join(p, name)) + s(1)
        return total + s(1)  # ")"

    return s(13) + node(path)


# ------------------------------------------------------------------ closures
def test_hello_closure_sizes_and_references(tmp_path):
    c = get(["hello"])
    g = c.graph
    assert names(g) == ["glibc-2.39-52", "hello-2.12.1"]
    hello = c.packages["hello"]
    glibc = next(p for p in g.paths if p.endswith("-glibc-2.39-52"))
    assert [g.paths[r] for r in g.roots] == [hello]
    assert g.refs[g.index[hello]] == (g.index[glibc],) and g.refs[g.index[glibc]] == ()
    # the files default.nix asks for
    assert os.path.getsize(f"{hello}/bin/hello") == 60_000
    assert os.stat(f"{hello}/bin/hello").st_mode & 0o111
    with open(f"{hello}/bin/hello", "rb") as fh:
        assert fh.readline() == f"RPATH={glibc}/lib\n".encode()
    # narSize from Nix equals the NAR format's arithmetic; hello: 60,000 bytes + 480 of framing
    assert g.nar_size[g.index[hello]] == nar_size(hello) == 60_480
    assert g.nar_size[g.index[glibc]] == nar_size(glibc)
    assert g.closure_size[g.index[hello]] == nar_size(hello) + nar_size(glibc)
    assert c.system == "x86_64-linux" or c.system == os.uname().machine + "-linux"
    reported = run_nix(["nix-instantiate", "--version"]).stdout.decode().split()[-1]
    assert c.nix_version == reported and c.nix_version.startswith("2.")
    assert get(["hello"], cache=ClosureCache(tmp_path)).nix_version == reported  # the memoised version


def test_git_closure_is_what_default_nix_declares():
    g = get(["git"]).graph
    # git: glibc zlib openssl curl perl pcre2 bash; curl adds nghttp2
    assert names(g) == [
        "bash-5.2p26",
        "curl-8.7.1",
        "git-2.44.0",
        "glibc-2.39-52",
        "nghttp2-1.61.0",
        "openssl-3.0.13",
        "pcre2-10.43",
        "perl-5.38.2",
        "zlib-1.3.1",
    ]
    assert g.edge_count == 7 + 4 + 2 + 1 + 1 + 1 + 1 + 1  # git, curl, openssl, perl, pcre2, bash, nghttp2, zlib->glibc
    for p in g.paths:
        assert g.nar_size[g.index[p]] == nar_size(p)
    root = g.roots[0]
    assert g.closure_size[root] == sum(g.nar_size)
    # symlinks of the tree are real symlinks
    git = g.paths[root]
    assert os.readlink(f"{git}/bin/git-upload-pack") == "git"


@pytest.mark.parametrize("packages", [["git", "pythonEnv"], ["htop", "xorg.xev"], list(parse_image_name("shell")[0])])
def test_export_references_graph_equals_path_info(packages):
    a = get(packages, method="path-info")
    b = get(packages, method="export")
    assert a.graph.paths == b.graph.paths
    assert a.graph.refs == b.graph.refs
    assert a.graph.nar_size == b.graph.nar_size
    assert a.graph.closure_size == b.graph.closure_size
    assert a.graph.roots == b.graph.roots
    assert dict(a.packages) == dict(b.packages)
    assert all(h for h in a.graph.nar_hash) and all(h for h in b.graph.nar_hash)


def test_every_missing_name_is_reported_together():
    for method in ("path-info", "export"):
        with pytest.raises(NotFoundError) as err:
            get(["hello", "nope", "xorg.libx11", "xorg", "alsonope"], method=method)
        # xorg is a set, not a package; nested names are not case-folded
        assert err.value.packages == ["alsonope", "nope", "xorg", "xorg.libx11"]
        assert str(err.value) == f"{SRC}: packages not found: alsonope, nope, xorg, xorg.libx11"


def test_case_insensitive_fallback_at_top_level():
    c = get(["haskellpackages.stylish-haskell", "bashinteractive", "texlivefull", "HELLO", "Xorg.xev"])
    found = {k: store_name(v) for k, v in c.packages.items()}
    assert found == {
        "HELLO": "hello-2.12.1",
        "Xorg.xev": "xev-1.2.5",
        "bashinteractive": "bash-interactive-5.2p26",
        "haskellpackages.stylish-haskell": "stylish-haskell-0.14.5.0",
        "texlivefull": "texlive-combined-full-2023",
    }
    direct = get(["haskellPackages.stylish-haskell"])
    assert direct.packages["haskellPackages.stylish-haskell"] == c.packages["haskellpackages.stylish-haskell"]


def test_nested_attribute():
    g = get(["xorg.xev"]).graph
    assert names(g) == ["glibc-2.39-52", "libX11-1.8.7", "libXau-1.0.11", "libxcb-1.16", "xev-1.2.5"]


def test_build_time_only_dependency_is_absent_from_the_runtime_closure():
    g = get(["htop"]).graph
    assert names(g) == ["glibc-2.39-52", "htop-3.3.0", "ncurses-6.4"]
    # ...although htop's build used autoconf (and the blob generator)
    drv = list_packages(SRC, settings=OFFLINE_CONFIG)["htop"]["drv"]
    env = nix_environment(OFFLINE_CONFIG)
    requisites = run_nix(["nix-store", "--query", "--requisites", drv], env=env).stdout.decode().split()
    build_inputs = {store_name(p) for p in requisites}
    assert "autoconf-2.72.drv" in build_inputs and "blobgen-1.0.drv" in build_inputs
    assert not any(n.startswith(("autoconf", "blobgen")) or n.endswith(".tar") for n in names(g))


def test_big_package_is_over_100_mb_and_incompressible():
    c = get(["texliveFull"])
    g = c.graph
    root = g.roots[0]
    assert g.closure_size[root] > 100_000_000
    assert names(g) == [
        "glibc-2.39-52",
        "libffi-3.4.6",
        "ncurses-6.4",
        "openssl-3.0.13",
        "perl-5.38.2",
        "python3-3.11.9",
        "readline-8.2p10",
        "sqlite-3.45.3",
        "texlive-bin-2023",
        "texlive-combined-full-2023",
        "texlive-fonts-2023",
        "zlib-1.3.1",
    ]
    fonts = next(p for p in g.paths if p.endswith("-texlive-fonts-2023"))
    part = Path(fonts, "share/texmf-dist/fonts/part-00.dat").read_bytes()
    assert len(part) == 4_000_000
    sample = part[:1_000_000]
    assert len(zlib.compress(sample, 9)) > len(sample)
    assert len(lzma.compress(sample, preset=6)) > len(sample)
    # distinct files hold distinct bytes
    other = Path(fonts, "share/texmf-dist/fonts/part-01.dat").read_bytes()[:65536]
    assert other != part[:65536]


def test_package_contents_are_reproducible():
    """Nix rebuilds curl's tar archive and tree and finds the same bytes (``--check``)."""
    env = nix_environment(OFFLINE_CONFIG)
    get(["curl"])
    drv = list_packages(SRC, settings=OFFLINE_CONFIG)["curl"]["drv"]
    inputs = run_nix(["nix-store", "--query", "--references", drv], env=env).stdout.decode().split()
    tar_drv = next(p for p in inputs if p.endswith("-curl-8.7.1.tar.drv"))
    for d in (tar_drv, drv):
        run_nix(["nix-store", "--realise", "--check", d], env=env, timeout=300)  # raises when the output differs


def test_image_closure_groups_into_layers_holding_every_path_once():
    packages, arch = parse_image_name("shell/htop/git")
    assert arch == "amd64"
    c = get(packages)
    g = c.graph
    assert sorted(store_name(g.paths[r]) for r in g.roots) == [
        "bash-interactive-5.2p26",
        "coreutils-9.5",
        "git-2.44.0",
        "htop-3.3.0",
        "moreutils-0.69",
        "nano-7.2",
    ]
    layers = Nixery().group(g, Context(), 5)
    check_layers(g, layers, 5)
    assert sorted(p for layer in layers for p in layer.paths) == list(g.paths)


def test_order_of_names_does_not_change_the_result():
    a = get(["htop", "hello", "curl"])
    b = get(["curl", "htop", "hello", "curl"])
    assert a.graph.paths == b.graph.paths and dict(a.packages) == dict(b.packages)


def test_arm64_selects_another_system_and_reports_nix_stderr():
    amd = list_packages(SRC, settings=OFFLINE_CONFIG)["hello"]
    arm = list_packages(SRC, system=system_for_arch("arm64"), settings=OFFLINE_CONFIG)["hello"]
    assert arm["drv"] != amd["drv"] and arm["name"] == amd["name"] == "hello-2.12.1"
    if os.uname().machine == "aarch64":
        pytest.skip("this machine builds aarch64-linux")
    with pytest.raises(NixError) as err:
        get(["hello"], system="aarch64-linux")
    msg = str(err.value)
    assert msg.startswith("nix-build: failed with exit status")
    assert "aarch64-linux" in msg  # the tail of Nix's own stderr


# ---------------------------------------------------- invocation and caching
def test_cache_serves_the_same_closure_without_nix(tmp_path):
    cache = ClosureCache(tmp_path)
    first = get(["curl", "hello"], cache=cache)
    assert not first.cached
    second = get(["hello", "curl"], cache=cache)
    assert second.cached
    assert second.graph.paths == first.graph.paths and second.graph.refs == first.graph.refs
    assert second.graph.closure_size == first.graph.closure_size and dict(second.packages) == dict(first.packages)
    assert len(list((tmp_path / "closures").iterdir())) == 1
    # another method is another entry
    assert not get(["hello", "curl"], cache=cache, method="export").cached


def _write_set(directory: Path, body: str) -> str:
    directory.mkdir()
    (directory / "default.nix").write_text(
        "{ system ? builtins.currentSystem }:\n"
        'let mk = name: script: derivation { inherit name system; builder = "/bin/sh"; args = [ "-c" script ]; };\n'
        f"in rec {{ {body} }}\n"
    )
    return f"path!{directory}"


def test_users_own_experimental_features_do_not_disable_the_nix_command(monkeypatch):
    monkeypatch.setenv("NIX_CONFIG", "experimental-features = ca-derivations")
    c = closure(SRC, ["hello"], cache=False, settings={"sandbox": "false", "substituters": ""})
    assert names(c.graph) == ["glibc-2.39-52", "hello-2.12.1"]


def test_progress_events_follow_the_build(tmp_path):
    nonce = uuid.uuid4().hex
    src = _write_set(tmp_path / "set", f'fresh = mk "fresh-1.0" "echo built-{nonce} >&2; echo {nonce} > $out";')
    events = []
    c = closure(src, ["fresh"], settings=OFFLINE_CONFIG, cache=False, progress=events.append)
    assert Path(c.packages["fresh"]).read_text() == nonce + "\n"
    kinds = [(e.kind, e.what) for e in events if e.kind in ("plan", "build")]
    assert kinds == [("plan", ""), ("build", "fresh-1.0")]
    assert [e.total for e in events if e.kind == "plan"] == [1]
    assert any(e.line == f"built-{nonce}" for e in events)


def test_leftover_directory_of_an_interrupted_build_is_rebuilt(tmp_path):
    nonce = uuid.uuid4().hex
    src = _write_set(tmp_path / "set", f'left = mk "left-1.0" "echo {nonce} > $out";')
    out = list_packages(src, settings=OFFLINE_CONFIG)["left"]["out"]
    os.mkdir(out)  # exists on disk, but Nix never registered it
    try:
        c = closure(src, ["left"], settings=OFFLINE_CONFIG, cache=False)
        assert c.packages["left"] == out
        assert Path(out).read_text() == nonce + "\n"
    finally:
        if os.path.isdir(out):
            os.rmdir(out)


def test_case_fallback_prefers_the_lower_case_name(tmp_path):
    nonce = uuid.uuid4().hex
    src = _write_set(
        tmp_path / "set",
        f'Foo = mk "Foo-{nonce}" "echo > $out"; foo = mk "foo-{nonce}" "echo > $out"; '
        f'Only = mk "Only-{nonce}" "echo > $out";',
    )
    c = closure(src, ["FOO", "Foo", "only"], settings=OFFLINE_CONFIG, cache=False)
    assert {k: store_name(v) for k, v in c.packages.items()} == {
        "FOO": f"foo-{nonce}",
        "Foo": f"Foo-{nonce}",
        "only": f"Only-{nonce}",
    }


def test_package_set_may_be_a_plain_attribute_set_or_ignore_system(tmp_path):
    nonce = uuid.uuid4().hex
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "default.nix").write_text(
        f'{{ p = derivation {{ name = "p-{nonce}"; system = builtins.currentSystem; builder = "/bin/sh"; '
        f'args = [ "-c" "echo > $out" ]; }}; }}\n'
    )
    c = closure(f"path!{plain}", ["p"], settings=OFFLINE_CONFIG, cache=False)
    assert store_name(c.packages["p"]) == f"p-{nonce}"
    other = tmp_path / "other"
    other.mkdir()
    (other / "default.nix").write_text("{ ... }: import " + str(plain) + "\n")
    assert closure(f"path!{other}", ["p"], settings=OFFLINE_CONFIG, cache=False).packages["p"] == c.packages["p"]


def test_cli_progress_bar_counts_the_builds(tmp_path, monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    nonce = uuid.uuid4().hex
    src = _write_set(
        tmp_path / "set",
        f'a = mk "a-{nonce}" "echo > $out"; b = mk "b-{nonce}" "echo ${{a}} > $out"; '
        f'c = mk "c-{nonce}" "echo ${{b}} > $out";',
    )
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main(["closure", src, "c", "--offline", "--no-cache", "--out", str(tmp_path / "g.json")]) == 0
    shown = term.getvalue()
    assert "nix build" in shown and "3/3" in shown and f"c-{nonce}" in shown
    assert names(load_graph(tmp_path / "g.json")) == [f"a-{nonce}", f"b-{nonce}", f"c-{nonce}"]


def test_build_failure_reports_the_tail_of_stderr(tmp_path):
    nonce = uuid.uuid4().hex
    src = _write_set(tmp_path / "set", f'broken = mk "broken-1.0" "echo boom-{nonce} >&2; exit 3";')
    with pytest.raises(NixError) as err:
        closure(src, ["broken"], settings=OFFLINE_CONFIG, cache=False)
    assert f"boom-{nonce}" in str(err.value)
    assert "exit code 3" in str(err.value)


def test_timeout_kills_the_build(tmp_path):
    nonce = uuid.uuid4().hex
    src = _write_set(tmp_path / "set", f'slow = mk "slow-{nonce}" "while :; do :; done";')
    with pytest.raises(NixError, match=r"timed out after 3 s"):
        closure(src, ["slow"], settings=OFFLINE_CONFIG, cache=False, timeout=3)


def test_evaluation_error_is_a_nix_error(tmp_path):
    src = _write_set(tmp_path / "set", 'bad = throw "no-such-thing-here";')
    with pytest.raises(NixError, match="no-such-thing-here"):
        closure(src, ["bad"], settings=OFFLINE_CONFIG, cache=False)


# ------------------------------------------------------------- other sources
def test_git_source_gives_the_same_packages(tmp_path):
    git = require_tool("git")
    repo = tmp_path / "repo"
    shutil.copytree(TESTPKGS, repo)
    genv = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
        "HOME": str(tmp_path),
    }
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "set"]):
        subprocess.run([git, *args], cwd=repo, env=genv, check=True)
    rev = subprocess.run(
        [git, "rev-parse", "HEAD"], cwd=repo, env=genv, check=True, capture_output=True, text=True
    ).stdout.strip()
    expected = get(["hello"]).packages["hello"]
    for spec in (f"git!file://{repo}!{rev}", f"git!file://{repo}!main"):
        c = closure(spec, ["hello"], settings=OFFLINE_CONFIG, cache=False)
        assert c.packages["hello"] == expected
        assert c.source == spec


def test_flake_source_gives_the_same_packages(tmp_path):
    flake = tmp_path / "flake"
    flake.mkdir()
    shutil.copytree(TESTPKGS, flake / "testpkgs")
    system = get(["hello"]).system
    (flake / "flake.nix").write_text(
        "{ outputs = { self }: { legacyPackages."
        + system
        + ' = import ./testpkgs { system = "'
        + system
        + '"; }; }; }\n'
    )
    c = closure(f"flake!path:{flake}", ["xorg.xev", "hello"], settings=OFFLINE_CONFIG, cache=False)
    plain = get(["xorg.xev", "hello"])
    assert dict(c.packages) == dict(plain.packages)


# ----------------------------------------------------------------- popularity
def test_popularity_of_the_package_set():
    pop = popularity(SRC, settings=OFFLINE_CONFIG, cache=False)
    assert isinstance(pop, Popularity)
    # counted by hand in default.nix: packages listing each in their deps
    assert pop.counts["glibc-2.39-52"] == 31
    assert pop.counts["ncurses-6.4"] == 6
    assert pop.counts["perl-5.38.2"] == 4
    assert pop.counts["python3-3.11.9"] == 7
    assert "hello-2.12.1" not in pop.counts  # nothing references it
    assert "openblas-0.3.27" not in pop.counts  # referenced once: dropped, as Nixery does
    assert popularity(SRC, settings=OFFLINE_CONFIG, cache=False, drop_ones=False).counts["openblas-0.3.27"] == 1


def test_popularity_from_a_binary_cache_builds_nothing(tmp_path):
    git = get(["git"]).packages["git"]
    cache = f"file://{tmp_path}/cache?compression=none"
    env = nix_environment(OFFLINE_CONFIG)
    run_nix(["nix", "copy", "--to", cache, git], env=env, timeout=600)
    pop = popularity(SRC, store=cache, settings=OFFLINE_CONFIG, drop_ones=False)
    # only git's closure is in the cache: git glibc zlib openssl curl perl pcre2 bash nghttp2
    assert dict(pop.counts) == {
        "glibc-2.39-52": 8,  # every other path of the closure
        "zlib-1.3.1": 3,  # openssl, curl, git
        "openssl-3.0.13": 2,  # curl, git
        "curl-8.7.1": 1,
        "perl-5.38.2": 1,
        "pcre2-10.43": 1,
        "bash-5.2p26": 1,
        "nghttp2-1.61.0": 1,
    }
    assert dict(popularity(SRC, store=cache, settings=OFFLINE_CONFIG).counts) == {
        "glibc-2.39-52": 8,
        "zlib-1.3.1": 3,
        "openssl-3.0.13": 2,
    }


def test_list_packages_recurses_into_marked_sets():
    attrs = list_packages(SRC, settings=OFFLINE_CONFIG)
    assert len(attrs) == 43  # 31 top-level packages, 6 python3Packages, 4 xorg, 2 haskellPackages
    assert {"xorg.xev", "haskellPackages.stylish-haskell", "python3Packages.numpy", "texliveFull", "glibc"} <= set(
        attrs
    )
    assert not any(a in ("xorg", "haskellPackages") or a.endswith("recurseForDerivations") for a in attrs)
    assert attrs["xorg.libX11"]["name"] == "libX11-1.8.7"


# ------------------------------------------------------------------------ CLI
def test_cli_closure_then_group(tmp_path, capsys):
    out = tmp_path / "graph.json"
    assert main(["closure", SRC, "git", "curl", "--offline", "--no-cache", "-q", "--out", str(out)]) == 0
    doc = orjson.loads(out.read_bytes())
    assert sorted(doc["packages"]) == ["curl", "git"]
    g = load_graph(out)
    assert names(g) == names(get(["git"]).graph)
    assert sorted(g.paths[r] for r in g.roots) == sorted(doc["packages"].values())
    layers_file = tmp_path / "layers.json"
    assert main(["group", str(out), "--budget", "3", "--out", str(layers_file)]) == 0
    from_file = orjson.loads(layers_file.read_bytes())
    assert main(["group", "--source", SRC, "--packages", "curl,git", "--offline", "--budget", "3"]) == 0
    from_source = orjson.loads(capsys.readouterr().out)
    assert from_source == from_file
    assert sorted(p for layer in from_file for p in layer["contents"]) == list(g.paths)


def test_cli_popcount(tmp_path):
    out = tmp_path / "popularity.json"
    assert main(["popcount", SRC, "--offline", "-q", "--no-cache", "--out", str(out)]) == 0
    counts = orjson.loads(out.read_bytes())
    assert counts["glibc-2.39-52"] == 31 and "hello-2.12.1" not in counts
    assert list(counts) == sorted(counts)


def test_cli_image_names_and_errors(tmp_path, capsys):
    assert main(["closure", SRC, "--image", "htop/xorg.xev", "--offline", "-q", "--no-cache"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert sorted(doc["packages"]) == ["htop", "xorg.xev"]
    assert main(["closure", SRC, "nope", "hello", "zilch", "--offline", "-q", "--no-cache"]) == 2
    assert capsys.readouterr().err.strip() == f"layerlab: error: {SRC}: packages not found: nope, zilch"
    assert main(["closure", SRC, "--image", "arm64/hello", "htop"]) == 2
    assert "two architectures, arm64 and amd64" in capsys.readouterr().err
    assert main(["closure", "nixpkgs!$(id)", "hello"]) == 2
    assert "channel '$(id)'" in capsys.readouterr().err
