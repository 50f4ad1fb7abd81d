"""Helpers for the fuzz and fault suites: counts, in-process CLI runs, a small store, invariants.

It holds no tests.  ``count(kind)`` records how many inputs were tried and
faults injected; ``tests/conftest.py`` writes the totals, with the outcome of
every fuzz and fault test, to ``build/reliability.json`` at the end of a run
(``make reliability`` runs both suites and prints it).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, settings

from layerlab.cli import main

#: Totals of this run: "fuzz inputs", "fault injections", "subprocess calls checked".
COUNTS: Counter[str] = Counter()

#: The fuzz suite's Hypothesis profile: bounded examples per test (LAYERLAB_FUZZ_EXAMPLES, default 100), no deadline
#: (the machine is shared; timing is not what is tested), health checks on speed off.
settings.register_profile(
    "layerlab-fuzz",
    max_examples=int(os.environ.get("LAYERLAB_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
FUZZ = settings(settings.get_profile("layerlab-fuzz"))


def count(kind: str, n: int = 1) -> None:
    COUNTS[kind] += n


# ------------------------------------------------------------------ running the CLI
class _Stream(io.StringIO):
    """A text stream with a ``buffer`` for the byte writes some commands make."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = io.BytesIO()


def cli(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    """Run ``layerlab argv`` in this process; return (status, stdout, stderr)."""
    out, err = _Stream(), _Stream()
    old_in = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in argv])
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 2
    finally:
        sys.stdin = old_in
    return rc, out.getvalue() + out.buffer.getvalue().decode(errors="replace"), err.getvalue()


def assert_clean_outcome(rc: int, err: str) -> bool:
    """Status 0, or 2 with exactly one ``layerlab: error:`` line (warnings aside) and no traceback; True on failure."""
    assert "Traceback" not in err, err
    assert rc in (0, 2), (rc, err)
    count("outcomes: refused" if rc == 2 else "outcomes: accepted")
    if rc == 2:
        lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("layerlab: warning:")]
        assert len(lines) == 1 and lines[0].startswith("layerlab: error: "), err
        return True
    return False


def tree_listing(root: Path) -> list[str]:
    """Every entry under ``root`` (relative, sorted); empty when it does not exist."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ------------------------------------------------------------------ a store on disk
def make_store(
    root: Path, packages: dict[str, dict[str, bytes]], refs: dict[str, list[str]] | None = None
) -> tuple[Path, Path]:
    """Write store paths under ``root/store`` and their graph to ``root/graph.json``; return (store dir, graph file)."""
    import orjson

    store = root / "store"
    records = []
    for pkg, files in packages.items():
        size = 0
        for rel, data in files.items():
            f = store / pkg / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(data)
            size += len(data)
        records.append(
            {
                "path": str(store / pkg),
                "narSize": size,
                "references": [str(store / r) for r in (refs or {}).get(pkg, [])],
            }
        )
    graph = root / "graph.json"
    graph.write_bytes(orjson.dumps(records))
    return store, graph


def demo_store(root: Path, *, big: int = 0) -> tuple[Path, Path]:
    """Three packages referencing a library; ``big`` adds that many bytes of random data to each."""
    rnd = os.urandom(big) if big else b""
    pkgs = {
        "aaa-app-1.0": {"bin/app": b"#!/bin/sh\necho app\n" + rnd, "share/doc/readme": b"app"},
        "bbb-tool-2.0": {"bin/tool": b"tool" + rnd[: big // 2]},
        "ccc-lib-3.0": {"lib/libc.so": b"lib" * 300 + rnd[big // 2 :]},
    }
    return make_store(root, pkgs, {"aaa-app-1.0": ["ccc-lib-3.0"], "bbb-tool-2.0": ["ccc-lib-3.0"]})


def store_is_sound(blob_store: Path) -> list[str]:
    """Names of blobs in a layerlab blob store (or an OCI layout) that do not hash to their name."""
    bad = []
    blobs = blob_store / "blobs" / "sha256"
    if not blobs.is_dir():
        return bad
    for f in blobs.iterdir():
        if f.name.startswith("."):
            continue
        h = hashlib.sha256()
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        if h.hexdigest() != f.name:
            bad.append(f.name)
    return bad


def temporaries(*dirs: Path) -> list[Path]:
    """Temporary entries layerlab writes (``tmp/blob-*``, ``.<name>.tmp-*``, ``.<name>.old-*``) under ``dirs``."""
    found = []
    for d in dirs:
        if not d.exists():
            continue
        for p in d.rglob("*"):
            n = p.name
            if (n.startswith("blob-") and p.parent.name == "tmp") or (
                n.startswith(".") and (".tmp-" in n or ".old-" in n)
            ):
                found.append(p)
    return found


# ------------------------------------------------------------------ processes
def tagged_processes(tag: str) -> list[int]:
    """Living processes whose environment holds ``LAYERLAB_FAULT_TAG=<tag>`` (a command and all it started)."""
    needle = f"LAYERLAB_FAULT_TAG={tag}".encode()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
            with open(f"/proc/{name}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env and state != b"Z":
            pids.append(int(name))
    return pids


def wait_no_processes(tag: str, timeout: float = 15.0) -> list[int]:
    """Wait until no process carries ``tag``; return the survivors (empty when none), killing them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = tagged_processes(tag)
        if not left:
            return []
        time.sleep(0.1)
    left = tagged_processes(tag)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


def layerlab_process(
    argv: list[str], tag: str, *, cwd: Path | None = None, env: dict | None = None, new_group: bool = False
) -> subprocess.Popen:
    """Start ``layerlab argv`` as a real process carrying ``tag`` in its environment."""
    e = dict(os.environ if env is None else env)
    e["LAYERLAB_FAULT_TAG"] = tag
    return subprocess.Popen(
        [sys.executable, "-m", "layerlab.cli", *map(str, argv)],
        cwd=cwd,
        env=e,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=new_group,
    )


# ------------------------------------------------------------------ commands layerlab would start
NIX_TOOLS = {"nix", "nix-build", "nix-instantiate", "nix-store"}
_FLAGS = {"--eval", "--strict", "--json", "--no-out-link", "--recursive", "--closure-size", "--version", "-A"}
_ATTRS = {"lookup", "build", "graph", "all"}
_ARGSTR = {"sourceType", "location", "rev", "packages", "system"}


class StoppedCommand(Exception):
    """The recorder stopped a command after checking it."""


def check_nix_command(argv: list[str]) -> None:
    """Fail unless every element of ``argv`` is a fixed token or a validated user value in its place.

    A Nix tool (behind ``setpriv``), fixed flags, the lookup expression, store paths, and user values only as
    ``--argstr NAME VALUE`` (each parsed again by layerlab's own validation) or a checked ``--store`` URL.
    """
    import json as _json

    from layerlab.sources.nix import _STORE_URL, _SYSTEM, check_package_names, lookup_expression, parse_source

    count("subprocess calls checked")
    args = list(argv)
    assert all(isinstance(a, str) and "\0" not in a for a in args), args
    if os.path.basename(args[0]) == "setpriv":
        assert args[1].startswith("--pdeathsig=") and args[2] == "--", args
        args = args[3:]
    assert os.path.basename(args[0]) in NIX_TOOLS, args
    argstr: dict[str, str] = {}
    i = 1
    while i < len(args):
        a = args[i]
        if a == "--argstr":
            name, value = args[i + 1], args[i + 2]
            assert name in _ARGSTR and name not in argstr, args
            argstr[name] = value
            i += 3
        elif a == "--store":
            assert _STORE_URL.fullmatch(args[i + 1]) and not args[i + 1].split("://", 1)[1].startswith("-"), args
            i += 2
        elif a == "-A":
            assert args[i + 1] in _ATTRS, args
            i += 2
        elif a in _FLAGS or a == str(lookup_expression()):
            i += 1
        else:
            assert a.startswith("/nix/store/") and "\n" not in a, f"unexpected argument {a!r} in {args}"
            i += 1
    if "location" in argstr:  # the source, as layerlab parsed it, parses again to the same thing
        kind, loc, rev = argstr["sourceType"], argstr["location"], argstr.get("rev", "")
        src = parse_source(f"git!{loc}!{rev}" if kind == "git" else f"{kind}!{loc}")
        assert (src.kind, src.location, src.rev) == (kind, loc, rev), args
    if "packages" in argstr:
        names = _json.loads(argstr["packages"])
        assert list(check_package_names(names)) == names, args
    if "system" in argstr:
        assert _SYSTEM.fullmatch(argstr["system"]), args


def nix_recorder(monkeypatch) -> list[list[str]]:
    """Replace ``subprocess.Popen``: check each command with :func:`check_nix_command`, then stop it."""
    calls: list[list[str]] = []

    def fake_popen(argv, *a, **k):
        calls.append(list(argv))
        check_nix_command(list(argv))
        raise StoppedCommand

    monkeypatch.setattr(subprocess, "Popen", fake_popen)
    return calls
