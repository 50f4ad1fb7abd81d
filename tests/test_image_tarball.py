"""Layer tarballs: format, normalisation, odd store contents, digests, reproducibility."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard

from layerlab.errors import ConfigError, ImageError
from layerlab.image.tarball import check_store_path, store_entries, tar_header, write_layer


def _store(tmp_path):
    s = tmp_path / "store"
    s.mkdir()
    return s


def _members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
        return t.getmembers()


def _layer(paths, store, **kw) -> tuple[bytes, object]:
    out = io.BytesIO()
    info = write_layer([str(p) for p in paths], out, store_dir=str(store), **kw)
    return out.getvalue(), info


def test_header_fields_by_hand():
    h = tar_header(b"nix/store/abc-x/f", "file", 0o444, 5)
    assert len(h) == 512
    assert h[:17] == b"nix/store/abc-x/f" and h[17] == 0
    assert h[100:108] == b"0000444\0"
    assert h[108:124] == b"0000000\x000000000\0"  # uid, gid 0
    assert h[124:136] == b"00000000005\0"
    assert h[136:148] == b"00000000001\0"  # mtime 1
    assert h[156:157] == b"0"
    assert h[257:265] == b"ustar\x0000"
    assert h[265:329] == b"\0" * 64  # empty uname and gname
    # checksum: sum of the header with the checksum field as spaces
    blank = h[:148] + b" " * 8 + h[156:]
    assert int(h[148:154], 8) == sum(blank)


def test_long_name_uses_ustar_prefix_then_pax():
    name = b"nix/store/" + b"a" * 60 + b"/" + b"b" * 90
    h = tar_header(name, "file", 0o444, 0)
    assert len(h) == 512  # fits prefix (70) + name (90)
    assert h[345 : 345 + 70] == name[:70] and h[:90] == b"b" * 90
    long = b"nix/store/" + b"c" * 300
    h = tar_header(long, "symlink", 0o777, 0, b"/t" * 80)
    assert h[156:157] == b"x"  # pax header first
    records = h[512:1024].rstrip(b"\0")
    assert b" path=" + long + b"\n" in records and b" linkpath=" + b"/t" * 80 + b"\n" in records
    for rec in records.splitlines(keepends=True):
        assert int(rec.split(b" ", 1)[0]) == len(rec)  # pax record length counts itself


def test_entries_order_modes_and_parents(tmp_path):
    s = _store(tmp_path)
    p = s / "aaa-pkg"
    (p / "bin").mkdir(parents=True)
    (p / "bin" / "tool").write_text("#!/bin/sh\n")
    (p / "bin" / "tool").chmod(0o700)
    (p / "a-b").write_text("x")
    (p / "a").mkdir()
    (p / "a" / "z").write_text("zz")
    (p / "data").write_text("d")
    (p / "data").chmod(0o600)
    (p / "abs").symlink_to("/nix/store/other/bin/x")
    q = s / "bbb-other"
    q.write_text("single file store path")
    data, info = _layer([q, p], s)
    members = _members(data)
    root = str(s).lstrip("/")
    parts = root.split("/")
    parents = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    assert [m.name for m in members] == parents + [
        f"{root}/aaa-pkg",
        f"{root}/aaa-pkg/a",  # siblings sorted by bytes: "a" < "a-b" < "abs"; children right after their dir
        f"{root}/aaa-pkg/a/z",
        f"{root}/aaa-pkg/a-b",
        f"{root}/aaa-pkg/abs",
        f"{root}/aaa-pkg/bin",
        f"{root}/aaa-pkg/bin/tool",
        f"{root}/aaa-pkg/data",
        f"{root}/bbb-other",
    ]
    by = {m.name[len(root) + 1 :]: m for m in members if m.name.startswith(root + "/")}
    assert by["aaa-pkg"].mode == 0o555 and by["aaa-pkg"].isdir()
    assert by["aaa-pkg/bin/tool"].mode == 0o555
    assert by["aaa-pkg/data"].mode == 0o444
    assert by["aaa-pkg/abs"].issym() and by["aaa-pkg/abs"].linkname == "/nix/store/other/bin/x"
    assert by["bbb-other"].isfile() and by["bbb-other"].size == 22
    for m in members:
        assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", 1)
    assert info.entries == len(members)
    assert info.tar_size == len(data) and data.endswith(b"\0" * 1024)
    assert info.diff_id == info.digest == "sha256:" + hashlib.sha256(data).hexdigest()


def test_symlink_loops_and_absolute_links_are_kept(tmp_path):
    s = _store(tmp_path)
    p = s / "aaa-links"
    p.mkdir()
    (p / "loop-a").symlink_to("loop-b")
    (p / "loop-b").symlink_to("loop-a")
    (p / "self").symlink_to("self")
    (p / "etc").symlink_to("/etc")
    (p / "up").symlink_to("../../../../../../etc/shadow")
    data, _ = _layer([p], s)
    links = {m.name.rsplit("/", 1)[1]: m.linkname for m in _members(data) if m.issym()}
    assert links == {
        "loop-a": "loop-b",
        "loop-b": "loop-a",
        "self": "self",
        "etc": "/etc",
        "up": "../../../../../../etc/shadow",
    }


def test_store_path_that_is_a_symlink_is_not_followed(tmp_path):
    s = _store(tmp_path)
    (s / "aaa-target").mkdir()
    (s / "aaa-target" / "f").write_text("x")
    (s / "bbb-link").symlink_to(s / "aaa-target")
    data, _ = _layer([s / "bbb-link"], s)
    last = _members(data)[-1]
    assert last.name.endswith("bbb-link") and last.issym() and last.linkname == str(s / "aaa-target")


def test_hard_links_become_independent_files(tmp_path):
    s = _store(tmp_path)
    linked = s / "aaa-h"
    linked.mkdir()
    (linked / "one").write_bytes(b"same bytes\n")
    os.link(linked / "one", linked / "two")
    data_linked, info_linked = _layer([linked], s)
    members = _members(data_linked)
    assert [m.type for m in members if m.name.endswith(("one", "two"))] == [tarfile.REGTYPE, tarfile.REGTYPE]
    # the same contents as plain copies give the same bytes: the layer does not depend on hard links
    os.unlink(linked / "two")
    (linked / "two").write_bytes(b"same bytes\n")
    data_copy, info_copy = _layer([linked], s)
    assert data_copy == data_linked and info_copy.diff_id == info_linked.diff_id


def test_names_with_spaces_utf8_and_non_utf8_bytes(tmp_path):
    s = _store(tmp_path)
    p = s / "aaa-names"
    p.mkdir()
    (p / "with space").write_text("1")
    (p / "café ünïcode").write_text("2")
    raw = os.fsencode(str(p)) + b"/latin1-\xe9"
    with open(raw, "wb") as fh:
        fh.write(b"3")
    deep = p / ("d" * 120) / ("e" * 120)
    deep.mkdir(parents=True)
    (deep / "f \xe9").write_text("4")
    data, _ = _layer([p], s)
    # GNU tar reads it back with the original bytes
    out = tmp_path / "x"
    out.mkdir()
    (tmp_path / "l.tar").write_bytes(data)
    subprocess.run(["tar", "-xf", str(tmp_path / "l.tar"), "-C", str(out)], check=True)
    got = out / str(p).lstrip("/")
    assert (got / "with space").read_text() == "1"
    assert (got / "café ünïcode").read_text() == "2"
    assert open(os.fsencode(str(got)) + b"/latin1-\xe9", "rb").read() == b"3"
    assert (got / ("d" * 120) / ("e" * 120) / "f \xe9").read_text() == "4"
    assert b"hdrcharset=BINARY" not in data  # the only non-UTF-8 name is short: plain ustar, no pax header


def test_unreadable_file_root_reads_it_as_0444(tmp_path):
    s = _store(tmp_path)
    p = s / "aaa-secret"
    p.mkdir()
    (p / "secret").write_text("hidden")
    (p / "secret").chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(ImageError, match="secret: cannot read: Permission denied"):
            _layer([p], s)
        return
    data, _ = _layer([p], s)
    m = _members(data)[-1]
    assert m.name.endswith("secret") and m.mode == 0o444 and m.size == 6


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_unreadable_file_refused_for_a_user_who_cannot_read_it(tmp_path):
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(prefix="layerlab-test-"))  # pytest's base dir is private to root
    s = _store(tmp_path)
    p = s / "aaa-secret"
    p.mkdir()
    (p / "secret").write_text("hidden")
    (p / "secret").chmod(0)
    for d in [tmp_path, s, p]:
        d.chmod(0o755)
    code = (
        "import io, os, sys\n"
        "from layerlab.image.tarball import write_layer\n"
        "from layerlab.errors import ImageError\n"
        "os.setgid(65534); os.setuid(65534)\n"
        f"try: write_layer([{str(p)!r}], io.BytesIO(), store_dir={str(s)!r})\n"
        "except ImageError as e: print(e); sys.exit(3)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 3, r.stderr
    shutil.rmtree(tmp_path)
    assert r.stdout.strip() == f"{p}/secret: cannot read: Permission denied"


def test_fifo_refused(tmp_path):
    s = _store(tmp_path)
    p = s / "aaa-fifo"
    p.mkdir()
    os.mkfifo(p / "pipe")
    with pytest.raises(ImageError, match=r"aaa-fifo/pipe: is a FIFO"):
        _layer([p], s)


@pytest.mark.parametrize("path", ["/elsewhere/aaa-x", "{s}/../aaa-x", "{s}/aaa-x/sub", "{s}/..", "{s}"])
def test_paths_outside_the_store_refused(tmp_path, path):
    s = _store(tmp_path)
    with pytest.raises(ImageError, match="not a store path under"):
        _layer([path.format(s=s)], s)


def test_missing_store_path_and_bad_store_dir(tmp_path):
    s = _store(tmp_path)
    with pytest.raises(ImageError, match="aaa-gone: store path is not on disk"):
        _layer([s / "aaa-gone"], s)
    with pytest.raises(ConfigError, match="absolute, normalised"):
        list(store_entries(["/nix/store/a"], "nix/store"))
    assert check_store_path("/nix/store/abc-x", "/nix/store") == b"/nix/store/abc-x"


def test_large_file_spans_buffers_and_compressions_agree(tmp_path):
    s = _store(tmp_path)
    p = s / "aaa-big"
    p.mkdir()
    blob = os.urandom(9 << 20) + b"tail"  # more than two stream buffers
    (p / "big").write_bytes(blob)
    (p / "small").write_bytes(b"s" * 1000)
    plain, info = _layer([p], s, md5=True)
    assert info.md5 == base64.b64encode(hashlib.md5(plain).digest()).decode()
    assert _members(plain)[-2].size == len(blob)
    with tarfile.open(fileobj=io.BytesIO(plain)) as t:
        assert t.extractfile(t.getmember(str(p / "big").lstrip("/"))).read() == blob
    gz, ginfo = _layer([p], s, compression="gzip", md5=True)
    assert gzip.decompress(gz) == plain
    assert ginfo.diff_id == info.diff_id and ginfo.tar_size == len(plain)
    assert ginfo.digest == "sha256:" + hashlib.sha256(gz).hexdigest() and ginfo.size == len(gz)
    assert ginfo.md5 == base64.b64encode(hashlib.md5(gz).digest()).decode()
    assert gz[4:8] == b"\0\0\0\0"  # gzip mtime 0
    zs, zinfo = _layer([p], s, compression="zstd")
    assert zstandard.ZstdDecompressor().stream_reader(io.BytesIO(zs)).read() == plain
    assert zinfo.diff_id == info.diff_id and zinfo.digest == "sha256:" + hashlib.sha256(zs).hexdigest()
    unthreaded, uinfo = _layer([p], s, compression="gzip", threaded=False)
    assert unthreaded == gz and (uinfo.digest, uinfo.diff_id) == (ginfo.digest, ginfo.diff_id)


def test_unknown_compression(tmp_path):
    s = _store(tmp_path)
    (s / "aaa-x").mkdir()
    with pytest.raises(ConfigError, match="compression must be one of none, gzip, zstd"):
        _layer([s / "aaa-x"], s, compression="bzip2")


def test_byte_identical_across_processes_and_hash_seeds(tmp_path):
    s = _store(tmp_path)
    for name in ["ccc-z", "aaa-a", "bbb-m"]:
        d = s / name / "sub"
        d.mkdir(parents=True)
        for i in range(30):
            (d / f"f{i}-{name}").write_text(name * i)
        (s / name / "link").symlink_to("sub")
    code = (
        "import sys, io, hashlib\n"
        "from layerlab.image.tarball import write_layer\n"
        "out = io.BytesIO()\n"
        f"info = write_layer(sys.argv[1:], out, store_dir={str(s)!r}, compression='gzip')\n"
        "print(hashlib.sha256(out.getvalue()).hexdigest(), info.diff_id)\n"
    )
    outs = set()
    for seed, order in [("0", [2, 0, 1]), ("1", [0, 1, 2]), ("12345", [1, 2, 0])]:
        names = ["ccc-z", "aaa-a", "bbb-m"]
        args = [str(s / names[i]) for i in order]
        r = subprocess.run(
            [sys.executable, "-c", code, *args],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        outs.add(r.stdout)
    assert len(outs) == 1


def test_write_failure_is_an_image_error(tmp_path):
    s = _store(tmp_path)
    (s / "aaa-x").mkdir()
    (s / "aaa-x" / "f").write_bytes(b"x" * 100)
    with open("/dev/full", "wb", buffering=0) as full:
        with pytest.raises(ImageError, match="cannot write layer: No space left on device"):
            write_layer([str(s / "aaa-x")], full, store_dir=str(s))
