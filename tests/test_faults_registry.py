"""Registry faults: a fake registry failing at every step, credentials that must stay home, a real registry killed.

Every failure must be one :class:`RegistryError` line (status 2 from the
command line) naming the cause; a push after the fault completes; what the
registry stored hashes to its name; credentials never reach another host nor
travel over plain HTTP the user did not ask for.
"""

from __future__ import annotations

import hashlib
import random
import time
from pathlib import Path

import pytest

from layerlab.errors import RegistryError
from layerlab.image import BlobStore, build_image
from layerlab.registry import Credentials, push
from layerlab.sources.files import load_graph
from layerlab.strategies import get_strategy

from .conftest import require_tool
from .fake_registry import FakeRegistry, OtherHost
from .reliability_support import assert_clean_outcome, cli, count, demo_store, layerlab_process, wait_no_processes

STEPS = ["head", "post", "put_blob", "put_manifest"]
FAULTS = ["401", "403", "500", "timeout", "drop"]


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults-registry")
    store_dir, graph_file = demo_store(root, big=200_000)
    graph = load_graph(graph_file)
    blobs = BlobStore(root / "blobs")
    layers = get_strategy("nixery").group(graph, budget=3)
    img = build_image(graph, layers, [], store=blobs, store_dir=str(store_dir))
    return img, blobs, root, store_dir, graph_file


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    from .image_support import make_cert

    require_tool("openssl")
    return make_cert(tmp_path_factory.mktemp("faults-cert"))


def _sound(reg: FakeRegistry) -> None:
    for digest, data in reg.blobs.items():
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest


def _one_line(err: Exception) -> str:
    text = str(err)
    assert "\n" not in text and text, text
    return text


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("fault", FAULTS)
def test_fault_at_every_step_fails_cleanly_and_the_next_push_completes(image, step, fault):
    img, blobs, *_ = image
    with FakeRegistry(faults={step: fault}, hang=2.0) as reg:
        with pytest.raises(RegistryError) as info:
            push(img, blobs, reg.ref(), timeout=0.5, chunk_size=100_000 if step == "patch" else None)
        count("fault injections")
        text = _one_line(info.value)
        assert reg.host in text
        if fault == "timeout":
            assert "no answer within 0.5 s" in text
        elif fault in ("401", "403", "500"):
            assert f"answered {fault}" in text
            assert step == "head" or f"injected {fault} at {step}" in text  # HEAD answers carry no body
        reg.faults.clear()
        report = push(img, blobs, reg.ref(), timeout=5)
        _sound(reg)
        assert {d.digest for d in img.blobs()} <= set(reg.blobs)
        assert reg.manifests["team/app:v1"] == img.oci_manifest()
        assert report.manifest_digest == "sha256:" + hashlib.sha256(img.oci_manifest()).hexdigest()


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_during_chunked_upload(image, fault):
    img, blobs, *_ = image
    with FakeRegistry(faults={"patch": fault}, hang=2.0) as reg:
        with pytest.raises(RegistryError) as info:
            push(img, blobs, reg.ref(), timeout=0.5, chunk_size=50_000)
        count("fault injections")
        _one_line(info.value)
        reg.faults.clear()
        push(img, blobs, reg.ref(), timeout=5, chunk_size=50_000)
        _sound(reg)
        assert {d.digest for d in img.blobs()} <= set(reg.blobs)


@pytest.mark.parametrize("step", ["put_blob", "put_manifest"])
def test_wrong_digest_from_the_registry_is_an_error(image, step):
    img, blobs, *_ = image
    with FakeRegistry(faults={step: "wrong_digest"}) as reg:
        with pytest.raises(RegistryError, match=r"registry stored .* as sha256:0{64}, expected sha256:"):
            push(img, blobs, reg.ref(), timeout=5)
        count("fault injections")


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_credentials_never_reach_another_host(image, auth):
    img, blobs, *_ = image
    with (
        OtherHost() as other,
        FakeRegistry(auth=auth, faults={"post": "redirect_other", "head": "redirect_other"}, other=other) as reg,
    ):
        push(img, blobs, reg.ref(), credentials=Credentials("u", "p"), timeout=5)
        count("fault injections", 2)
        assert other.requests, "the redirects were followed"
        assert all("Authorization" not in r["headers"] for r in other.requests)
        assert any("Authorization" in r["headers"] for r in reg.requests)


def test_tls_registry_cannot_send_an_upload_to_plain_http(image, cert):
    img, blobs, *_ = image
    with (
        OtherHost() as other,
        FakeRegistry(auth="basic", faults={"post": "redirect_other"}, other=other, tls=cert) as reg,
    ):
        with pytest.raises(RegistryError, match="sent layerlab to plain HTTP; refused"):
            push(img, blobs, reg.ref(), credentials=Credentials("u", "p"), verify=str(cert[0]), timeout=5)
        count("fault injections")
        assert other.requests == []


def test_token_realm_over_plain_http_gets_no_credentials(image, cert):
    img, blobs, *_ = image
    with OtherHost() as other:
        realm = f"http://{other.host}/token"
        with FakeRegistry(auth="bearer", tls=cert, realm=realm) as reg:
            with pytest.raises(RegistryError, match="token realm is not HTTPS"):
                push(img, blobs, reg.ref(), credentials=Credentials("u", "p"), verify=str(cert[0]), timeout=5)
            count("fault injections")
        assert other.requests == []


def test_plain_http_registry_reached_over_tls_is_reported_as_such(image):
    img, blobs, *_ = image
    with FakeRegistry() as reg:
        with pytest.raises(RegistryError) as info:
            push(img, blobs, f"{reg.host}/team/app:v1", timeout=5)  # no http://, no --plain-http
        count("fault injections")
        text = _one_line(info.value)
        assert "does not speak TLS" in text and "--plain-http" in text and "certificate" not in text


def test_long_registry_messages_are_cut_between_words(image):
    img, blobs, *_ = image
    words = " ".join(f"word{i:03d}" for i in range(120))
    with FakeRegistry(faults={"post": "500"}) as reg:
        # a non-JSON body: the text itself is the cause
        reg.faults = {}
        orig = reg.httpd.RequestHandlerClass._handle

        def long_error(self):
            if self.command == "POST":
                body = words.encode()
                self.send_response(500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            return orig(self)

        reg.httpd.RequestHandlerClass.do_POST = long_error
        with pytest.raises(RegistryError) as info:
            push(img, blobs, reg.ref(), timeout=5)
        count("fault injections")
    text = _one_line(info.value)
    shown = text.split("answered 500: ", 1)[1]
    assert shown.endswith(" …")
    assert words.startswith(shown[:-2]) and words[len(shown) - 2] == " "


def test_cli_push_options_are_checked_before_anything_is_written(image, tmp_path):
    _, _, root, store_dir, graph_file = image
    blob_store = tmp_path / "blobs"
    base = [
        "build",
        "--graph",
        graph_file,
        "--store-dir",
        store_dir,
        "--blob-store",
        blob_store,
        "--budget",
        "3",
        "--oci",
        tmp_path / "oci",
    ]
    cases = [
        (["--push", "http://127.0.0.1:9/x", "--insecure-tls", "--ca-cert", graph_file], "give one"),
        (["--push", "127.0.0.1:9/x", "--ca-cert", tmp_path / "missing.pem"], "CA bundle is not a readable file"),
        (["--push", "http://127.0.0.1:9/x", "--chunk-size", "-5"], "at least 1"),
        (["--push", "http://127.0.0.1:9/x", "--chunk-size", "0"], "at least 1"),
        (["--push", "http://127.0.0.1:9/x", "--timeout", "0"], "positive number of seconds"),
        (["--push", "http://127.0.0.1:9/x", "--timeout", "nan"], "positive number of seconds"),
        (["--push", "http://127.0.0.1:9/UPPER"], "invalid repository name"),
        (["--push", "http://-oProxy:9/x"], "invalid registry host"),
        (["--level", "99"], "gzip takes a level from 0 to 9"),
        (["--compression", "zstd", "--level", "0"], "zstd takes a level from 1 to 22"),
        (["--compression", "none", "--level", "3"], "take no level"),
        (["--tag", "a b"], "invalid tag"),
        (["--tag", ".."], "invalid tag"),
        (["--tag", "v1\n"], "invalid tag"),
    ]
    for extra, message in cases:
        rc, _, err = cli(base + extra)
        count("fault injections")
        assert assert_clean_outcome(rc, err), err
        assert message in err, (extra, err)
        assert not blob_store.exists() and not (tmp_path / "oci").exists()


def test_cli_push_to_fake_registry_with_a_timeout(image, tmp_path):
    _, _, root, store_dir, graph_file = image
    with FakeRegistry(faults={"put_manifest": "timeout"}, hang=2.0) as reg:
        rc, _, err = cli(
            [
                "build",
                "--graph",
                graph_file,
                "--store-dir",
                store_dir,
                "--blob-store",
                tmp_path / "b",
                "--budget",
                "3",
                "--push",
                reg.ref(),
                "--timeout",
                "0.5",
            ]
        )
        count("fault injections")
    assert assert_clean_outcome(rc, err)
    assert "no answer within 0.5 s (--timeout)" in err


# ------------------------------------------------------------------ the real docker-registry
def _registry_blobs_sound(storage: Path) -> None:
    root = storage / "docker" / "registry" / "v2" / "blobs" / "sha256"
    n = 0
    for data in root.glob("*/*/data") if root.exists() else []:
        assert hashlib.sha256(data.read_bytes()).hexdigest() == data.parent.name
        n += 1
    return n


@pytest.mark.tools
def test_real_registry_killed_mid_push_then_restarted(tmp_path):
    from layerlab.local_registry import local_registry

    require_tool("docker-registry")
    store_dir, graph_file = demo_store(tmp_path, big=40_000_000)
    work = tmp_path / "reg"
    work.mkdir()
    argv = [
        "build",
        "--graph",
        graph_file,
        "--store-dir",
        store_dir,
        "--blob-store",
        tmp_path / "b",
        "--budget",
        "3",
        "--compression",
        "none",
        "--workers",
        "1",
    ]
    assert cli(argv + ["--oci", tmp_path / "oci"])[0] == 0  # blobs built first: the push is what gets cut
    rng = random.Random()
    with local_registry(work) as reg:
        tag = f"kill-{rng.randrange(1 << 30)}"
        proc = layerlab_process(argv + ["--push", f"http://{reg.host}/big/app:v1", "--chunk-size", "1000000"], tag)
        time.sleep(rng.uniform(0.2, 1.0))
        reg.proc.kill()
        count("fault injections")
        out, err = proc.communicate(timeout=120)
        assert wait_no_processes(tag) == []
    err_text = err.decode()
    assert "Traceback" not in err_text
    if proc.returncode != 0:  # the registry died before the push ended
        assert proc.returncode == 2 and err_text.count("layerlab: error:") == 1, err_text
    _registry_blobs_sound(work / "registry-storage")
    with local_registry(work) as reg:  # same storage, restarted
        rc, _, err = cli(argv + ["--push", f"http://{reg.host}/big/app:v1"])
        assert rc == 0, err
        assert _registry_blobs_sound(work / "registry-storage") >= 4
        skopeo = require_tool("skopeo")
        import subprocess

        subprocess.run(
            [skopeo, "inspect", "--tls-verify=false", f"docker://{reg.host}/big/app:v1"],
            check=True,
            capture_output=True,
        )
