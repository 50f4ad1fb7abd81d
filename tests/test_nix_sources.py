"""Package sources, image names, Nix invocation and the closure cache, without Nix itself.

The commands run here are real processes (/bin/sh); only Nix is not needed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest

from layerlab.errors import InputError, NixError
from layerlab.graph import ClosureGraph
from layerlab.sources.nix import (
    ClosureCache,
    NixClosure,
    PackageSource,
    _graph_from_path_info,
    check_package_names,
    lookup_expression,
    parse_image_name,
    parse_source,
    system_for_arch,
)
from layerlab.sources.nix_run import nix_environment, progress_parser, run_nix

ROOT = Path(__file__).resolve().parent.parent
TESTPKGS = ROOT / "nix" / "testpkgs"


# ------------------------------------------------------------------- sources
@pytest.mark.parametrize(
    "text, kind, location, rev, immutable",
    [
        ("nixpkgs!nixos-24.05", "nixpkgs", "nixos-24.05", "", False),
        ("nixpkgs!nixpkgs-unstable", "nixpkgs", "nixpkgs-unstable", "", False),
        (
            "git!https://github.com/NixOS/nixpkgs!nixos-24.05",
            "git",
            "https://github.com/NixOS/nixpkgs",
            "nixos-24.05",
            False,
        ),
        ("git!git@github.com:NixOS/nixpkgs.git!master", "git", "git@github.com:NixOS/nixpkgs.git", "master", False),
        (
            "git!https://example.org/p.git!0123456789abcdef0123456789abcdef01234567",
            "git",
            "https://example.org/p.git",
            "0123456789abcdef0123456789abcdef01234567",
            True,
        ),
        ("git!file:///srv/pkgs!refs/tags/v1.0", "git", "file:///srv/pkgs", "refs/tags/v1.0", False),
        ("flake!github:NixOS/nixpkgs/nixos-24.05", "flake", "github:NixOS/nixpkgs/nixos-24.05", "", False),
        (
            "flake!github:NixOS/nixpkgs/0123456789abcdef0123456789abcdef01234567",
            "flake",
            "github:NixOS/nixpkgs/0123456789abcdef0123456789abcdef01234567",
            "",
            True,
        ),
        ("flake!nixpkgs", "flake", "nixpkgs", "", False),
        ("flake!path:/srv/flake", "flake", "path:/srv/flake", "", False),
    ],
)
def test_parse_source_accepts(text, kind, location, rev, immutable):
    src = parse_source(text)
    assert (src.kind, src.location, src.rev, src.immutable) == (kind, location, rev, immutable)
    assert src.spec == text
    assert parse_source(src.spec) == src


def test_git_rev_of_40_hex_is_a_commit_anything_else_a_ref():
    # 39 and 41 hex digits, or upper case, are refs (Nixery's rule is the length)
    assert not parse_source("git!https://e.org/r!" + "a" * 39).immutable
    assert parse_source("git!https://e.org/r!" + "a" * 40).immutable


def test_parse_path_source_is_made_absolute(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "default.nix").write_text("{ ... }: {}")
    src = parse_source("path!set", base=tmp_path)
    assert src == PackageSource("path", str(tmp_path / "set"))
    assert parse_source(f"path!{tmp_path}/set/../set") == src


def test_path_source_must_exist_and_hold_default_nix(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        parse_source(f"path!{tmp_path}/absent")
    with pytest.raises(InputError, match="has no default.nix"):
        parse_source(f"path!{tmp_path}")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty package source"),
        ("nixos-24.05", "has no '!'"),
        ("svn!http://x", "unknown kind 'svn'"),
        ("nixpkgs!$(reboot)", "channel"),
        ("nixpkgs!nixos-24.05; rm -rf /", "channel"),
        ('nixpkgs!x" + builtins.readFile /etc/shadow + "', "channel"),
        ("nixpkgs!-I/etc", "channel"),
        ("nixpkgs!a\nb", "line break"),
        ("git!https://github.com/x/y", "expected git!<url>!<rev>"),
        ("git!--upload-pack=touch /tmp/pwned!main", "git URL"),
        ("git!https://e.org/$(id)!main", "git URL"),
        ("git!https://e.org/r!main;id", "git rev"),
        ("git!https://e.org/r!-b", "git rev"),
        ("git!https://e.org/r!a..b", "git rev"),
        ("git!https://e.org/r!`id`", "git rev"),
        ("path!/tmp/$(id)", "unsafe characters"),
        ("path!-rf", "unsafe characters"),
        ("path!/tmp/x;y", "unsafe characters"),
        ("flake!github:a/b;id", "flake reference"),
        ("flake!--impure", "flake reference"),
        ("flake!github:a/b ${x}", "flake reference"),
    ],
)
def test_parse_source_rejects(text, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")) as err:
        parse_source(text)
    assert str(err.value).startswith("package source: ")
    assert "\n" not in str(err.value)


def test_lookup_expression_ships_with_the_package():
    path = lookup_expression()
    assert path.is_file() and path.parent.name == "nix" and path.parent.parent.name == "layerlab"


# --------------------------------------------------------------- image names
def test_image_name_packages_are_sorted_so_order_does_not_matter():
    assert parse_image_name("htop/git/curl") == (("curl", "git", "htop"), "amd64")
    assert parse_image_name("curl/htop/git") == parse_image_name("htop/git/curl")


def test_shell_meta_package_anywhere():
    expected = ("bashInteractive", "coreutils", "git", "moreutils", "nano")
    assert parse_image_name("shell/git") == (expected, "amd64")
    assert parse_image_name("git/shell") == (expected, "amd64")
    # duplicates fold: shell already holds coreutils
    assert parse_image_name("coreutils/shell")[0] == ("bashInteractive", "coreutils", "moreutils", "nano")


def test_arm64_prefix_picks_the_architecture():
    assert parse_image_name("arm64/hello") == (("hello",), "arm64")
    assert parse_image_name("amd64/hello") == (("hello",), "amd64")
    assert system_for_arch("arm64") == "aarch64-linux"
    assert system_for_arch("amd64") == "x86_64-linux"
    # only a leading component is an architecture
    assert parse_image_name("hello/arm64") == (("arm64", "hello"), "amd64")
    with pytest.raises(InputError, match="unknown architecture 'ppc'"):
        system_for_arch("ppc")


def test_nested_and_lowercase_names_pass_through():
    assert parse_image_name("xorg.xev/haskellpackages.stylish-haskell") == (
        ("haskellpackages.stylish-haskell", "xorg.xev"),
        "amd64",
    )


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "empty image name"),
        ("arm64", "names an architecture but no packages"),
        ("git//htop", "empty component"),
        ("git/$(id)", "not attribute paths"),
        ("xorg..xev", "not attribute paths"),
        (".git", "not attribute paths"),
    ],
)
def test_bad_image_names(name, message):
    with pytest.raises(InputError, match=message.replace("$", r"\$").replace("(", r"\(").replace(")", r"\)")):
        parse_image_name(name)


def test_check_package_names_lists_every_bad_name():
    with pytest.raises(InputError) as err:
        check_package_names(["git", "a b", "x;y", "ok.name"])
    assert str(err.value) == "packages: not attribute paths: 'a b', 'x;y'"
    with pytest.raises(InputError, match="no packages requested"):
        check_package_names([])


# ---------------------------------------------------------------- invocation
def test_nix_config_precedence_defaults_user_explicit():
    env = nix_environment(
        {"cores": "2"},
        base_env={"NIX_CONFIG": "cores = 1\nmax-jobs = 3", "HOME": "/h"},
        defaults={"extra-experimental-features": "nix-command", "cores": "0"},
    )
    # a default that extends a list comes after the user's own lines, which could reset the list
    assert (
        env["NIX_CONFIG"] == "cores = 0\ncores = 1\nmax-jobs = 3\nextra-experimental-features = nix-command\ncores = 2"
    )
    assert env["HOME"] == "/h"
    # an empty value (substituters =) is written without trailing space
    assert nix_environment({"substituters": ""}, base_env={}, defaults={})["NIX_CONFIG"] == "substituters ="


def test_nix_config_rejects_line_breaks_and_bad_names():
    with pytest.raises(NixError, match="line break"):
        nix_environment({"substituters": "x\nsandbox = false"}, base_env={}, defaults={})
    with pytest.raises(NixError, match="invalid Nix setting name"):
        nix_environment({"a = b\nc": "d"}, base_env={}, defaults={})


def test_run_streams_stderr_lines_and_returns_stdout():
    seen = []
    res = run_nix(["/bin/sh", "-c", "echo out; echo one >&2; echo two >&2"], on_stderr=seen.append)
    assert res.stdout == b"out\n"
    assert seen == ["one", "two"]
    assert res.stderr_tail == ("one", "two")


def test_run_reads_both_pipes_without_deadlock_and_keeps_a_last_unterminated_line():
    script = 'i=0; while [ $i -lt 2000 ]; do printf "%0500d\\n" $i; echo err$i >&2; i=$((i+1)); done; printf end >&2'
    seen = []
    res = run_nix(["/bin/sh", "-c", script], on_stderr=seen.append)
    assert len(res.stdout) == 2000 * 501
    assert res.stdout.splitlines()[1999] == b"%0500d" % 1999
    assert seen[:2] == ["err0", "err1"] and seen[-2:] == ["err1999", "end"] and len(seen) == 2001


def test_run_failure_carries_the_tail_of_stderr():
    script = "i=0; while [ $i -lt 40 ]; do echo line$i >&2; i=$((i+1)); done; exit 3"
    with pytest.raises(NixError) as err:
        run_nix(["/bin/sh", "-c", script], what="nix-build")
    msg = str(err.value)
    assert msg.startswith("nix-build: failed with exit status 3:")
    assert "line39" in msg and "line15" in msg and "line14\n" not in msg  # the last 25 lines


def test_run_timeout_kills_the_process_group(tmp_path):
    marker = tmp_path / "child.pid"
    start = time.monotonic()
    with pytest.raises(NixError, match="timed out after 0.5 s"):
        run_nix(["/bin/sh", "-c", f"/bin/sh -c 'echo $$ > {marker}; while :; do :; done' & wait"], timeout=0.5)
    assert time.monotonic() - start < 10
    pid = int(marker.read_text())
    for _ in range(50):  # the grandchild dies with its group
        if not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the builder's child survived the timeout")


def test_missing_tool_is_a_clear_error():
    with pytest.raises(NixError, match="not found on PATH; install Nix"):
        run_nix(["nix-surely-absent-tool"])


def test_progress_parser():
    e = progress_parser("these 12 derivations will be built:")
    assert (e.kind, e.total) == ("plan", 12)
    assert progress_parser("this derivation will be built:").total == 1
    e = progress_parser("building '/nix/store/a3xk1rd6kf2fk4dqp6fjlh9v30x6z0g4-glibc-2.39-52.tar.drv'...")
    assert (e.kind, e.what) == ("build", "glibc-2.39-52.tar")
    e = progress_parser(
        "copying path '/nix/store/a3xk1rd6kf2fk4dqp6fjlh9v30x6z0g4-zlib-1.3' from 'https://cache.nixos.org'..."
    )
    assert (e.kind, e.what) == ("fetch", "zlib-1.3")
    assert progress_parser("warning: something").kind == "log"


# ----------------------------------------------------------- path-info forms
A = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app-1.0"
L = "/nix/store/llllllllllllllllllllllllllllllll-libc-2.39"
T = "/nix/store/tttttttttttttttttttttttttttttttt-tool-2"


def test_path_info_list_form_of_nix_2_8():
    doc = [
        {"path": A, "narSize": 100, "closureSize": 130, "references": [L, T]},
        {"path": L, "narSize": 20, "closureSize": 20, "references": [L]},
        {"path": T, "narSize": 10, "closureSize": 30, "references": [L]},
    ]
    g = _graph_from_path_info(orjson.dumps(doc), [A, T], "test")
    assert g.paths == (A, L, T)
    assert [g.paths[r] for r in g.roots] == [A, T]  # T is requested although A references it
    assert g.refs == ((1, 2), (), (1,))
    assert g.nar_size == (100, 20, 10) and g.closure_size == (130, 20, 30)


def test_path_info_object_form_of_newer_nix_gives_the_same_graph():
    listed = [
        {"path": A, "narSize": 100, "closureSize": 130, "references": [L, T]},
        {"path": L, "narSize": 20, "closureSize": 20, "references": [L]},
        {"path": T, "narSize": 10, "closureSize": 30, "references": [L]},
    ]
    obj = {r["path"]: {k: v for k, v in r.items() if k != "path"} for r in listed}
    g1 = _graph_from_path_info(orjson.dumps(listed), [A], "x")
    g2 = _graph_from_path_info(orjson.dumps(obj), [A], "x")
    assert (g1.paths, g1.refs, g1.nar_size, g1.closure_size, g1.roots) == (
        g2.paths,
        g2.refs,
        g2.nar_size,
        g2.closure_size,
        g2.roots,
    )


def test_path_info_errors():
    with pytest.raises(NixError, match="malformed JSON"):
        _graph_from_path_info(b"[{", [A], "x")
    with pytest.raises(Exception, match="requested paths absent"):
        _graph_from_path_info(orjson.dumps([{"path": L, "narSize": 1, "references": []}]), [A], "x")
    with pytest.raises(Exception, match="not a valid store path"):
        _graph_from_path_info(orjson.dumps({A: None}), [A], "x")


# --------------------------------------------------------------------- cache
def _fake_closure(tmp_path: Path, source: str = "path!/x") -> NixClosure:
    a, b = tmp_path / "store" / "aaa-app-1", tmp_path / "store" / "bbb-lib-2"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    g = ClosureGraph.from_records(
        [
            {"path": str(a), "narSize": 5, "references": [str(b)]},
            {"path": str(b), "narSize": 7, "references": []},
        ],
        [str(a)],
    )
    return NixClosure(g, {"app": str(a)}, source, "x86_64-linux", "path-info", "2.8.0")


def test_closure_document_round_trip(tmp_path):
    c = _fake_closure(tmp_path)
    doc = orjson.loads(orjson.dumps(c.to_json()))
    back = NixClosure.from_json(doc)
    assert back.packages == {"app": c.packages["app"]}
    assert back.graph.paths == c.graph.paths and back.graph.refs == c.graph.refs
    assert back.graph.closure_size == (12, 7)
    assert doc["exportReferencesGraph"] == {"graph": [c.packages["app"]]}


def test_cache_put_get_is_atomic_and_checks_store_paths(tmp_path):
    cache = ClosureCache(tmp_path / "cache")
    c = _fake_closure(tmp_path)
    src = PackageSource("git", "https://e.org/r", "a" * 40)
    key = ClosureCache.key(src, ["app"], "", "path-info", "2.8.0")
    assert cache.get(key, immutable=True) is None
    cache.put(key, c)
    files = sorted(p.name for p in (tmp_path / "cache" / "closures").iterdir())
    assert files == [f"{key}.json"]  # no temporary file left behind
    hit = cache.get(key, immutable=True)
    assert hit is not None and hit.cached and hit.graph.paths == c.graph.paths
    os.rmdir(c.packages["app"])  # garbage-collected: the entry no longer counts
    assert cache.get(key, immutable=True) is None


def test_cache_entries_of_mutable_sources_expire(tmp_path):
    cache = ClosureCache(tmp_path / "cache", ttl=60)
    c = _fake_closure(tmp_path)
    cache.put("k", c)
    assert cache.get("k", immutable=False) is not None
    f = tmp_path / "cache" / "closures" / "k.json"
    doc = orjson.loads(f.read_bytes())
    doc["created"] -= 61
    f.write_bytes(orjson.dumps(doc))
    assert cache.get("k", immutable=False) is None
    assert cache.get("k", immutable=True) is not None


def test_cache_key_ignores_package_order_but_not_version_or_source(tmp_path):
    src = PackageSource("nixpkgs", "nixos-24.05")
    k = ClosureCache.key(src, ["b", "a"], "", "path-info", "2.8.0")
    assert k == ClosureCache.key(src, ["a", "b"], "", "path-info", "2.8.0")
    assert k != ClosureCache.key(src, ["a", "b"], "", "path-info", "2.18.1")
    assert k != ClosureCache.key(PackageSource("nixpkgs", "nixos-23.11"), ["a", "b"], "", "path-info", "2.8.0")


def test_path_source_fingerprint_follows_file_changes(tmp_path):
    (tmp_path / "default.nix").write_text("{}")
    src = parse_source(f"path!{tmp_path}")
    before = src.fingerprint()
    assert before == src.fingerprint()
    (tmp_path / "pkg.nix").write_text("{}")
    assert src.fingerprint() != before


def test_corrupt_cache_entry_is_ignored(tmp_path):
    cache = ClosureCache(tmp_path)
    (tmp_path / "closures").mkdir()
    (tmp_path / "closures" / "k.json").write_bytes(b"{not json")
    assert cache.get("k", immutable=True) is None
    (tmp_path / "closures" / "k.json").write_bytes(b'{"graph": 3}')
    assert cache.get("k", immutable=True) is None
