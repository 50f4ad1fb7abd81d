"""``layerlab serve`` against real tools: a real Nix, skopeo, umoci, nginx, the server in its own process."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
import requests

from layerlab.sources.nix import OFFLINE_CONFIG, closure
from layerlab.strategies import get_strategy

from .conftest import require_tool
from .serve_support import SRC, free_port, nginx, serve
from .test_image_tools import _same_tree

pytestmark = [pytest.mark.nix, pytest.mark.tools, pytest.mark.slow]

OCI = "application/vnd.oci.image.manifest.v1+json"
DOCKER = "application/vnd.docker.distribution.manifest.v2+json"
STRATEGY = get_strategy("nixery", size_threshold=5_000_000)
BUDGET = 6


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> Path:
    """The configuration as the workbench saves it: strategy.to_json()."""
    require_tool("nix-build")
    f = tmp_path_factory.mktemp("config") / "tuned.json"
    f.write_text(json.dumps(STRATEGY.to_json()))
    return f


@pytest.fixture(scope="module")
def server(tmp_path_factory, tuned):
    with serve(tmp_path_factory.mktemp("serve"), "--config", str(tuned), "--budget", str(BUDGET)) as s:
        yield s


def skopeo_copy(server_host: str, ref: str, dest: Path, *extra: str) -> subprocess.CompletedProcess:
    skopeo = require_tool("skopeo")
    return subprocess.run(
        [skopeo, "copy", "--src-tls-verify=false", *extra, f"docker://{server_host}/{ref}", f"oci:{dest}:latest"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )


def oci_manifest_digest(layout: Path) -> str:
    return json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]


def test_pull_with_skopeo_unpack_with_umoci_equals_layerlab_build(server, tmp_path):
    umoci = require_tool("umoci")
    r = skopeo_copy(server.host, "shell/hello:latest", tmp_path / "pulled")
    assert r.returncode == 0, r.stderr
    served = oci_manifest_digest(tmp_path / "pulled")
    # the same request through `layerlab build` (the image name's packages, sorted, as the server reads them)
    packages = ["bashInteractive", "coreutils", "hello", "moreutils", "nano"]
    b = subprocess.run(
        [
            sys.executable,
            "-m",
            "layerlab.cli",
            "build",
            SRC,
            *packages,
            "--offline",
            "--strategy",
            "nixery",
            "--set",
            "size_threshold=5000000",
            "--budget",
            str(BUDGET),
            "--blob-store",
            str(tmp_path / "b"),
            "--oci",
            str(tmp_path / "built"),
            "--json",
        ],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "LAYERLAB_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert b.returncode == 0, b.stderr
    assert json.loads(b.stdout)["oci"]["manifest"] == served == oci_manifest_digest(tmp_path / "built")
    # every store path of the closure, byte for byte, in the unpacked image
    c = closure(SRC, packages, settings=OFFLINE_CONFIG, cache=False)
    bundle = tmp_path / "bundle"
    subprocess.run(
        [umoci, "unpack", "--image", f"{tmp_path / 'pulled'}:latest", str(bundle)], check=True, capture_output=True
    )
    rootfs = bundle / "rootfs"
    assert sorted(os.listdir(rootfs / "nix" / "store")) == sorted(Path(p).name for p in c.graph.paths)
    for p in c.graph.paths:
        _same_tree(Path(p), rootfs / p.lstrip("/"))
    assert os.readlink(rootfs / "bin" / "hello") == f"{c.packages['hello']}/bin/hello"
    # the second pull is answered from the cache: still one build of this image
    r = skopeo_copy(server.host, "hello/shell:latest", tmp_path / "again")
    assert r.returncode == 0, r.stderr
    assert oci_manifest_digest(tmp_path / "again") == served
    assert sum(1 for e in server.events("build-start") if e["image"] in ("shell/hello", "hello/shell")) == 1


def test_manifest_api(server):
    api = f"{server.url}/v2"
    base = requests.get(f"{api}/")
    assert base.status_code == 200 and base.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    oci = requests.get(f"{api}/hello/manifests/latest", headers={"Accept": OCI})
    docker = requests.get(f"{api}/hello/manifests/latest", headers={"Accept": f"{DOCKER}, {OCI};q=0.5"})
    for r, media in ((oci, OCI), (docker, DOCKER)):
        assert r.status_code == 200 and r.headers["Content-Type"] == media
        assert r.headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(r.content).hexdigest()
        assert json.loads(r.content)["mediaType"] == media
        # by digest: the same bytes and type, whatever the client accepts
        again = requests.get(f"{api}/hello/manifests/{r.headers['Docker-Content-Digest']}")
        assert again.content == r.content and again.headers["Content-Type"] == media
    assert [x["digest"] for x in json.loads(oci.content)["layers"]] == [
        x["digest"] for x in json.loads(docker.content)["layers"]
    ]
    head = requests.head(f"{api}/hello/manifests/latest", headers={"Accept": OCI})
    assert (
        head.status_code == 200
        and head.content == b""
        and head.headers["Docker-Content-Digest"] == oci.headers["Docker-Content-Digest"]
    )
    assert int(head.headers["Content-Length"]) == len(oci.content)
    unknown = requests.get(f"{api}/hello/manifests/sha256:{'0' * 64}")
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    # blobs: whole, HEAD, ranges, unknown
    layer = json.loads(oci.content)["layers"][0]
    blob = requests.get(f"{api}/hello/blobs/{layer['digest']}")
    assert blob.status_code == 200 and len(blob.content) == layer["size"]
    assert (
        "sha256:" + hashlib.sha256(blob.content).hexdigest() == layer["digest"] == blob.headers["Docker-Content-Digest"]
    )
    h = requests.head(f"{api}/hello/blobs/{layer['digest']}")
    assert h.status_code == 200 and int(h.headers["Content-Length"]) == layer["size"] and h.content == b""
    part = requests.get(f"{api}/hello/blobs/{layer['digest']}", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == blob.content[100:1100]
    assert part.headers["Content-Range"] == f"bytes 100-1099/{layer['size']}"
    tail = requests.get(f"{api}/hello/blobs/{layer['digest']}", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == blob.content[-10:]
    missing = requests.get(f"{api}/hello/blobs/sha256:{'1' * 64}")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    bad = requests.get(f"{api}/hello/blobs/md5:abc")
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "DIGEST_INVALID"
    # the push side is refused
    for method, path in (
        ("POST", "hello/blobs/uploads/"),
        ("PUT", "hello/manifests/latest"),
        ("PATCH", "hello/blobs/uploads/123"),
        ("DELETE", f"hello/blobs/{layer['digest']}"),
    ):
        r = requests.request(method, f"{api}/{path}", data=b"x")
        assert r.status_code == 405 and r.json()["errors"][0]["code"] == "UNSUPPORTED", (method, path)
    # one access-log line per request, with its method, path, status, bytes and time
    lines = server.events("request")
    assert {"method", "path", "status", "bytes", "ms"} <= set(lines[-1])
    got = [e for e in lines if e["path"] == f"/v2/hello/blobs/{layer['digest']}" and e["method"] == "GET"]
    assert {(e["status"], e["bytes"]) for e in got} >= {(200, layer["size"]), (206, 1000), (206, 10)}


def test_missing_packages_are_named_together(server):
    r = requests.get(f"{server.url}/v2/hello/nosuchpkg/alsonot/manifests/latest")
    assert r.status_code == 404
    errors = r.json()["errors"]
    assert len(errors) == 1 and errors[0]["code"] == "MANIFEST_UNKNOWN"
    assert errors[0]["detail"] == {"packages": ["alsonot", "nosuchpkg"]}
    assert "alsonot" in errors[0]["message"] and "nosuchpkg" in errors[0]["message"]


def _raw_get(host: str, path: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, (json.loads(body) if body else {})


def test_traversal_and_metacharacters_are_name_invalid_and_run_nothing(server, tmp_path):
    marker = tmp_path / "touched"
    before = len(server.events("build-start"))
    paths = [
        "/v2/hello/../../etc/manifests/latest",
        "/v2/hello/%2e%2e/%2e%2e/etc/manifests/latest",
        "/v2/..%2F..%2Fetc/manifests/latest",
        f"/v2/$(touch%20{marker})/manifests/latest",
        f"/v2/hello;touch%20{marker}/manifests/latest",
        "/v2/hello%7Ccat/manifests/latest",
        "/v2/%60id%60/manifests/latest",
        "/v2/hello/manifests/latest;id",
        "/v2/Hello/manifests/latest",
        "/v2/hello%00/manifests/latest",
        f"/v2/hello&&touch%20{marker}/blobs/sha256:{'0' * 64}",
    ]
    for path in paths:
        status, body = _raw_get(server.host, path)
        assert status == 400 and body["errors"][0]["code"] == "NAME_INVALID", (path, status, body)
    assert len(server.events("build-start")) == before and not marker.exists()


def test_sixteen_concurrent_pulls_one_build(server, tmp_path):
    results: list[subprocess.CompletedProcess] = []

    def pull(n: int) -> None:
        results.append(skopeo_copy(server.host, "curl/hello:latest", tmp_path / f"p{n}"))

    threads = [threading.Thread(target=pull, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16 and all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    starts = [e for e in server.events("build-start") if e["image"] == "curl/hello"]
    assert len(starts) == 1
    digests = {oci_manifest_digest(tmp_path / f"p{n}") for n in range(16)}
    assert len(digests) == 1
    blobs = [sorted(os.listdir(tmp_path / f"p{n}" / "blobs" / "sha256")) for n in range(16)]
    assert all(b == blobs[0] for b in blobs)


def test_client_disconnect_mid_blob_does_not_disturb_others(server):
    m = requests.get(f"{server.url}/v2/hello/manifests/latest", headers={"Accept": OCI}).json()
    layer = max(m["layers"], key=lambda x: x["size"])
    assert layer["size"] > 1 << 20
    path = f"/v2/hello/blobs/{layer['digest']}"
    good: list[str] = []

    def download() -> None:
        r = requests.get(server.url + path, timeout=60)
        good.append("sha256:" + hashlib.sha256(r.content).hexdigest())

    quitters = []
    for _ in range(4):  # read the headers and a little of the body, then hang up
        s = socket.create_connection(tuple(server.host.split(":")))  # type: ignore[arg-type]
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
        s.recv(4096)
        quitters.append(s)
    threads = [threading.Thread(target=download) for _ in range(6)]
    for t in threads:
        t.start()
    for s in quitters:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset
        s.close()
    for t in threads:
        t.join()
    assert good == [layer["digest"]] * 6
    assert requests.get(f"{server.url}/v2/").status_code == 200 and server.proc.poll() is None


def test_blob_url_redirects_to_nginx(tmp_path, tuned):
    require_tool("nginx")
    store = tmp_path / "store"
    with serve(tmp_path, "--config", str(tuned), "--budget", str(BUDGET), store=store) as plain:
        r = skopeo_copy(plain.host, "hello:latest", tmp_path / "direct")
        assert r.returncode == 0, r.stderr
        direct = tmp_path / "direct"
    with nginx(tmp_path, store / "blobs") as (base, access):
        with serve(tmp_path, "--config", str(tuned), "--budget", str(BUDGET), "--blob-url", base, store=store) as s:
            m = requests.get(f"{s.url}/v2/hello/manifests/latest", headers={"Accept": OCI}).json()
            first = m["layers"][0]["digest"]
            r = requests.get(f"{s.url}/v2/hello/blobs/{first}", allow_redirects=False)
            assert r.status_code == 307 and r.headers["Location"] == f"{base}/sha256/{first[7:]}"
            assert requests.head(f"{s.url}/v2/hello/blobs/{first}", allow_redirects=False).status_code == 200
            skopeo_dir = tmp_path / "redirected"
            r = skopeo_copy(s.host, "hello:latest", skopeo_dir)
            assert r.returncode == 0, r.stderr
            assert s.events("build-start") == []  # a restarted server answers from the manifest cache on disk
        served_by_nginx = {
            line.split('"GET /sha256/')[1].split()[0]
            for line in access.read_text().splitlines()
            if '"GET /sha256/' in line and '" 200 ' in line
        }
    blobs = [d["digest"][7:] for d in m["layers"]] + [m["config"]["digest"][7:]]
    assert set(blobs) <= served_by_nginx
    assert oci_manifest_digest(skopeo_dir) == oci_manifest_digest(direct)
    for hexd in blobs:
        assert (skopeo_dir / "blobs" / "sha256" / hexd).read_bytes() == (
            direct / "blobs" / "sha256" / hexd
        ).read_bytes()


def _package_set(tmp_path: Path) -> str:
    """A package set with a package that fails to build and one that takes too long."""
    d = tmp_path / "set"
    d.mkdir()
    (d / "default.nix").write_text(
        textwrap.dedent("""
        { system ? builtins.currentSystem }:
        let stamp = builtins.toString builtins.currentTime; in {
          broken = derivation {
            name = "broken-1.0"; inherit system; builder = "/bin/sh";
            args = [ "-c" "echo compiling; echo 'error: layerlab-test-marker: missing header foo.h' >&2; exit 3" ];
          };
          slow = derivation {
            name = "slow-1.0"; inherit system; builder = "/bin/sh"; inherit stamp;
            args = [ "-c" "while :; do :; done" ];
          };
        }
    """)
    )
    return f"path!{d}"


def test_failed_build_timeout_and_build_limit(tmp_path):
    source = _package_set(tmp_path)
    with serve(
        tmp_path, "--strategy", "nixery", "--budget", "4", "--build-timeout", "4", "--max-builds", "1", source=source
    ) as s:
        answers: dict[str, requests.Response] = {}

        def get(name: str) -> None:
            answers[name] = requests.get(f"{s.url}/v2/{name}/manifests/latest", timeout=60)

        slow = threading.Thread(target=get, args=("slow",))
        slow.start()
        while not s.events("build-start"):
            time.sleep(0.02)
        broken = threading.Thread(target=get, args=("broken",))
        broken.start()
        # while the slow build runs, and the broken one waits for its turn, the server answers
        assert requests.get(f"{s.url}/v2/", timeout=5).status_code == 200
        assert requests.get(f"{s.url}/v2/x/blobs/sha256:{'0' * 64}", timeout=5).status_code == 404
        slow.join()
        broken.join()
        r = answers["broken"]
        assert r.status_code == 500
        err = r.json()["errors"][0]
        assert err["code"] == "UNKNOWN" and "layerlab-test-marker: missing header foo.h" in err["message"]
        assert any("layerlab-test-marker" in line for line in err["detail"]["nix"])
        r = answers["slow"]
        assert r.status_code == 503 and r.json()["errors"][0]["code"] == "UNAVAILABLE"
        assert "timed out after 4 s" in r.json()["errors"][0]["message"]
        assert requests.get(f"{s.url}/v2/").status_code == 200
        # one build at a time: the broken build started after the slow one ended
        builds = [(e["event"], e["image"]) for e in s.events() if e["event"].startswith("build-")]
        assert builds == [
            ("build-start", "slow"),
            ("build-end", "slow"),
            ("build-start", "broken"),
            ("build-end", "broken"),
        ]
        ends = {e["image"]: e["outcome"] for e in s.events("build-end")}
        assert ends == {"broken": "failed", "slow": "timeout"}
        assert not list((s.store / "tmp").glob("serve-*"))


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux /proc)."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                children = {int(c) for c in (task / "children").read_text().split()}
                todo += sorted(children - out)
                out |= children
    return out


def test_killed_mid_build_restart_serves_a_correct_image(tmp_path, tuned):
    store = tmp_path / "store"
    args = ("--config", str(tuned), "--budget", str(BUDGET))
    with serve(tmp_path, *args, store=store) as s:

        def pull() -> None:
            try:
                requests.get(f"{s.url}/v2/texlivefull/manifests/latest", timeout=120)
            except requests.ConnectionError:
                pass  # the server is killed while this request waits

        def writing() -> bool:  # a blob of more than 1 MiB is being written
            for f in (store / "tmp").glob("serve-*/blob-*"):
                with contextlib.suppress(FileNotFoundError):
                    if f.stat().st_size > 1 << 20:
                        return True
            return False

        client = threading.Thread(target=pull)
        client.start()
        deadline = time.time() + 120
        while not writing():
            assert time.time() < deadline, "the build never started writing blobs"
            time.sleep(0.02)
        workers = descendants(s.proc.pid)
        assert workers, "the build runs in worker processes"
        s.kill()
        client.join()
        # the workers (and the layer builders they forked) end with the server
        deadline = time.time() + 60
        while any(Path(f"/proc/{pid}").exists() for pid in workers):
            assert time.time() < deadline, "build workers outlived the server"
            time.sleep(0.1)
    assert not list((store / "manifests").glob("*.json")), "no manifest for a build that did not finish"
    with serve(tmp_path, *args, store=store) as s:
        r = skopeo_copy(s.host, "texlivefull:latest", tmp_path / "pulled")
        assert r.returncode == 0, r.stderr
        assert len(s.events("build-start")) == 1
    for f in (store / "blobs" / "sha256").iterdir():  # every blob is whole: its name is its digest
        h = hashlib.sha256()
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        assert h.hexdigest() == f.name
    m = json.loads(
        (tmp_path / "pulled" / "blobs" / "sha256" / oci_manifest_digest(tmp_path / "pulled")[7:]).read_text()
    )
    for d in m["layers"]:
        assert (store / "blobs" / "sha256" / d["digest"][7:]).stat().st_size == d["size"]
    assert not list((store / "tmp").glob("serve-*"))


def test_tag_picks_the_git_revision(tmp_path):
    git = require_tool("git")
    repo = tmp_path / "repo"
    repo.mkdir()
    genv = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
        "HOME": str(tmp_path),
    }

    def commit(version: str) -> None:
        (repo / "default.nix").write_text(
            textwrap.dedent(f"""
            {{ system ? builtins.currentSystem }}: {{
              tool = derivation {{
                name = "tool-{version}"; inherit system; builder = "/bin/sh";
                args = [ "-c" "PATH=/bin:/usr/bin; mkdir -p $out/bin; echo {version} > $out/bin/tool-version" ];
              }};
            }}
        """)
        )
        subprocess.run([git, "add", "."], cwd=repo, env=genv, check=True)
        subprocess.run([git, "commit", "-q", "-m", version], cwd=repo, env=genv, check=True)

    subprocess.run([git, "init", "-q", "-b", "main"], cwd=repo, env=genv, check=True)
    commit("1.0")
    subprocess.run([git, "branch", "-q", "stable"], cwd=repo, env=genv, check=True)
    commit("2.0")
    with serve(tmp_path, "--strategy", "nixery", "--budget", "3", source=f"git!file://{repo}!main") as s:
        seen = {}
        for tag in ("latest", "main", "stable"):
            r = requests.get(f"{s.url}/v2/tool/manifests/{tag}", headers={"Accept": OCI})
            assert r.status_code == 200, r.text
            cfg = requests.get(f"{s.url}/v2/tool/blobs/{r.json()['config']['digest']}").json()
            seen[tag] = (r.headers["Docker-Content-Digest"], cfg["history"][0]["created_by"])
            layer = r.json()["layers"][0]["digest"]
            data = requests.get(f"{s.url}/v2/tool/blobs/{layer}").content
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as t:
                names = [n for n in t.getnames() if n.endswith("/bin/tool-version")]
                seen[tag] += (t.extractfile(names[0]).read().strip().decode(),)
        assert seen["latest"] == seen["main"] and seen["main"][2] == "2.0"
        assert seen["stable"][2] == "1.0" and seen["stable"][0] != seen["main"][0]
        starts = s.events("build-start")
        assert sorted(e["source"].rsplit("!", 1)[1] for e in starts) == ["main", "stable"]  # latest is main: one build
    shutil.rmtree(repo)


def test_arm64_names_reach_nix_as_aarch64(server):
    r = requests.get(f"{server.url}/v2/arm64/hello/manifests/latest", headers={"Accept": OCI}, timeout=300)
    if r.status_code == 200:  # a machine that can build for aarch64 (emulation or a remote builder)
        cfg = requests.get(f"{server.url}/v2/arm64/hello/blobs/{r.json()['config']['digest']}").json()
        assert cfg["architecture"] == "arm64"
    else:  # this machine cannot build aarch64-linux derivations: Nix says so, and the client hears it
        err = r.json()["errors"][0]
        assert r.status_code == 500 and err["code"] == "UNKNOWN" and "aarch64-linux" in err["message"], err
    start = [e for e in server.events("build-start") if e["image"] == "arm64/hello"]
    assert len(start) == 1 and start[0]["packages"] == ["hello"]


def test_toml_settings_serve_the_same_image(server, tmp_path):
    toml = tmp_path / "serve.toml"
    toml.write_text(
        f'source = "{SRC}"\noffline = true\nstrategy = "nixery"\nbudget = {BUDGET}\n[params]\nsize_threshold = "5M"\n'
    )
    want = requests.get(f"{server.url}/v2/hello/manifests/latest", headers={"Accept": OCI})
    port = free_port()
    env = {**os.environ, "LAYERLAB_CACHE_DIR": str(tmp_path / "cache")}
    log = tmp_path / "toml.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "layerlab.cli",
            "serve",
            "--config",
            str(toml),
            "--port",
            str(port),
            "--store",
            str(tmp_path / "store"),
            "--log",
            str(log),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                got = requests.get(f"http://127.0.0.1:{port}/v2/hello/manifests/latest", headers={"Accept": OCI})
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.time() < deadline, log.read_text()
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(15)
    assert got.status_code == 200 and got.headers["Docker-Content-Digest"] == want.headers["Docker-Content-Digest"]
    assert got.content == want.content
