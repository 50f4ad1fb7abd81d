"""Pushing to a real docker-registry: skip present blobs, pull back with skopeo, auth, TLS."""

from __future__ import annotations

import json
import re
import subprocess
from urllib.parse import unquote

import pytest

from layerlab.cli import main
from layerlab.errors import ConfigError, RegistryError
from layerlab.image import BlobStore, ImageConfig, build_image
from layerlab.local_registry import local_registry
from layerlab.registry import Credentials, Reference, parse_challenge, push
from layerlab.sources.files import load_graph
from layerlab.strategies import get_strategy

from .conftest import require_tool
from .image_support import TokenServer, htpasswd_line, make_cert, nix_closure_file

pytestmark = [pytest.mark.tools]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root, info, gfile = nix_closure_file(tmp_path_factory, "reg-nix")
    tmp = gfile.parent
    graph = load_graph(gfile)
    store = BlobStore(tmp / "blobs")
    layers = get_strategy("nixery").group(graph, budget=3)
    dep = next(p for p in graph.paths if p.endswith("-layerlab-dep-1.0"))
    first = build_image(graph, layers, [root], store=store)
    # shares every store layer, differs in the customisation layer and the config
    second = build_image(graph, layers, [dep], store=store, config=ImageConfig(cmd=("/lib/tool",)))
    return store, first, second, gfile


@pytest.fixture
def registry(tmp_path):
    require_tool("docker-registry")
    with local_registry(tmp_path) as reg:
        yield reg


def _uploaded(reg, repo: str) -> list[str]:
    """Digests the registry's access log shows completed uploads (PUT ...?digest=) for."""
    out = []
    for m in re.finditer(rf'"PUT /v2/{repo}/blobs/uploads/[^"]*?digest=([^&" ]+)', reg.log_text()):
        out.append(unquote(m.group(1)))
    return out


def test_push_then_pull_back_preserves_digests(built, registry, tmp_path):
    skopeo = require_tool("skopeo")
    store, first, _, _ = built
    report = push(first, store, f"http://{registry.host}/team/app:v1")
    blobs = [d.digest for d in first.blobs()]
    assert [d for d, _ in report.sent] == blobs and report.skipped == []
    assert report.bytes_sent == sum(d.size for d in first.blobs()) + len(first.oci_manifest())
    assert sorted(_uploaded(registry, "team/app")) == sorted(blobs)
    out = tmp_path / "pulled"
    subprocess.run(
        [skopeo, "copy", "--src-tls-verify=false", f"docker://{registry.host}/team/app:v1", f"oci:{out}:v1"],
        check=True,
        capture_output=True,
    )
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == report.manifest_digest
    pulled = (out / "blobs" / "sha256" / report.manifest_digest[7:]).read_bytes()
    assert pulled == first.oci_manifest()
    for d in first.blobs():
        assert (out / "blobs" / "sha256" / d.digest[7:]).read_bytes() == store.read_bytes(d.digest)


def test_second_push_sends_only_new_blobs(built, registry):
    store, first, second, _ = built
    push(first, store, f"http://{registry.host}/app:one")
    report = push(second, store, f"http://{registry.host}/app:two")
    shared = [layer.info.digest for layer in first.layers if layer.kind == "store"]
    new = [second.layers[-1].info.digest, second.config_digest]
    assert [d for d, _ in report.sent] == new
    assert report.skipped == shared
    assert report.bytes_sent == sum(s for _, s in report.sent) + len(second.oci_manifest())
    log = _uploaded(registry, "app")
    assert sorted(log) == sorted({d.digest for d in first.blobs()} | set(new))
    # pushing the same image again uploads nothing
    again = push(second, store, f"http://{registry.host}/app:two")
    assert again.sent == [] and again.manifest_digest == report.manifest_digest
    assert len(_uploaded(registry, "app")) == len(log)


def test_chunked_upload_and_docker_manifest(built, registry):
    skopeo = require_tool("skopeo")
    store, first, _, _ = built
    chunk = 256 << 10
    report = push(first, store, f"http://{registry.host}/chunky:v1", chunk_size=chunk, fmt="docker")
    big = [s for _, s in report.sent if s > chunk]
    assert big and max(big) > 3 * chunk, "the test needs a blob of several chunks"
    patches = re.findall(r'"PATCH /v2/chunky/blobs/uploads/', registry.log_text())
    assert len(patches) == sum(-(-s // chunk) for s in big)
    raw = subprocess.run(
        [skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/chunky:v1"],
        check=True,
        capture_output=True,
    ).stdout
    assert raw == first.docker_manifest()


def test_basic_auth(built, tmp_path):
    require_tool("docker-registry")
    store, first, _, _ = built
    pw = tmp_path / "htpasswd"
    pw.write_text(htpasswd_line("alice", "s3cret") + "\n")
    with local_registry(tmp_path, htpasswd=pw) as reg:
        with pytest.raises(RegistryError, match="asks for a user name and password"):
            push(first, store, f"http://{reg.host}/app:v1")
        with pytest.raises(RegistryError, match="401"):
            push(first, store, f"http://{reg.host}/app:v1", credentials=Credentials("alice", "wrong"))
        report = push(first, store, f"http://{reg.host}/app:v1", credentials=Credentials("alice", "s3cret"))
        assert len(report.sent) == len(first.blobs())


def test_bearer_token_auth(built, tmp_path):
    require_tool("docker-registry")
    require_tool("openssl")
    store, first, _, _ = built
    with (
        TokenServer(tmp_path, "bob", "hunter2") as tokens,
        local_registry(tmp_path / "reg", auth=tokens.auth()) as reg,
    ):
        with pytest.raises(RegistryError, match="token request answered 401"):
            push(first, store, f"http://{reg.host}/app:v1")
        report = push(first, store, f"http://{reg.host}/app:v1", credentials=Credentials("bob", "hunter2"))
        assert len(report.sent) == len(first.blobs())
        assert tokens.requests[-1] == {
            "query": {"scope": "repository:app:pull,push", "service": "layerlab-test"},
            "authorized": True,
        }


def test_tls_verification(built, tmp_path):
    require_tool("docker-registry")
    require_tool("openssl")
    store, first, _, _ = built
    cert, key = make_cert(tmp_path)
    with local_registry(tmp_path / "reg", tls=(cert, key)) as reg:
        with pytest.raises(RegistryError, match="TLS verification failed"):
            push(first, store, f"{reg.host}/app:v1")
        report = push(first, store, f"{reg.host}/app:v1", verify=str(cert))
        assert len(report.sent) == len(first.blobs())
        again = push(first, store, f"{reg.host}/app:v2", verify=False)
        assert again.sent == [] and again.manifest_digest == report.manifest_digest


def test_cli_push(built, registry, capsys):
    store, first, _, gfile = built
    code = main(
        [
            "build",
            "--graph",
            str(gfile),
            "--strategy",
            "nixery",
            "--budget",
            "3",
            "--blob-store",
            str(store.root),
            "--push",
            f"{registry.host}/cli:v1",
            "--plain-http",
            "--json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["push"]["reference"] == f"{registry.host}/cli:v1"
    assert len(summary["push"]["sent"]) == len(summary["layers"]) + 1


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("localhost:5000/a/b:v1", ("localhost:5000", "a/b", "v1", None, "https")),
        ("http://127.0.0.1:5000/app", ("127.0.0.1:5000", "app", "latest", None, "http")),
        ("reg.example.com/x@sha256:" + "a" * 64, ("reg.example.com", "x", None, "sha256:" + "a" * 64, "https")),
        ("reg.example.com:443/team/x-y_z.w:1.0-rc", ("reg.example.com:443", "team/x-y_z.w", "1.0-rc", None, "https")),
    ],
)
def test_reference_parse(ref, expected):
    r = Reference.parse(ref)
    assert (r.registry, r.repository, r.tag, r.digest, r.scheme) == expected


@pytest.mark.parametrize(
    "ref, message",
    [
        ("app:v1", "must start with the registry host"),
        ("localhost:5000/App", "invalid repository name"),
        ("localhost:5000/app:bad/tag", "invalid repository name"),
        ("localhost:5000/app@sha256:xyz", "invalid digest"),
    ],
)
def test_reference_errors(ref, message):
    with pytest.raises(ConfigError, match=message):
        Reference.parse(ref)


def test_challenge_parsing():
    assert parse_challenge('Basic realm="Registry Realm"') == ("basic", {"realm": "Registry Realm"})
    scheme, params = parse_challenge('Bearer realm="https://a/token",service="s",scope="repository:x/y:pull,push"')
    assert scheme == "bearer" and params["scope"] == "repository:x/y:pull,push"


def test_unreachable_registry(built):
    store, first, _, _ = built
    with pytest.raises(RegistryError, match="HEAD failed"):
        push(first, store, "http://127.0.0.1:9/app:v1")


def test_offline_package_set_push_pull_and_shared_layers(registry, tmp_path):
    """Two images of the offline package set sharing layers: the second push sends only the new blobs."""
    skopeo = require_tool("skopeo")
    from layerlab.sources.nix import OFFLINE_CONFIG, closure, popularity
    from layerlab.strategies import Context

    from .test_image_tools import TESTPKGS

    store = BlobStore(tmp_path / "blobs")
    strategy = get_strategy("nixery-2022")
    context = Context(popularity=popularity(f"path!{TESTPKGS}", settings=OFFLINE_CONFIG))
    images = []
    for names in (["curl", "hello"], ["git", "hello"]):
        c = closure(f"path!{TESTPKGS}", names, settings=OFFLINE_CONFIG)
        layers = strategy.group(c.graph, context, budget=20)
        images.append(build_image(c.graph, layers, [c.packages[n] for n in names], store=store))
    a, b = images
    first = push(a, store, f"http://{registry.host}/tp:curl-hello")
    second = push(b, store, f"http://{registry.host}/tp:git-hello")
    a_blobs = {d.digest for d in a.blobs()}
    b_blobs = [d.digest for d in b.blobs()]
    shared = [d for d in b_blobs if d in a_blobs]
    assert shared, "the two images should share store layers"
    assert second.skipped == shared
    assert [d for d, _ in second.sent] == [d for d in b_blobs if d not in a_blobs]
    assert sorted(_uploaded(registry, "tp")) == sorted(a_blobs | set(b_blobs))
    out = tmp_path / "pulled"
    subprocess.run(
        [skopeo, "copy", "--src-tls-verify=false", f"docker://{registry.host}/tp:git-hello", f"oci:{out}:x"],
        check=True,
        capture_output=True,
    )
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == second.manifest_digest
    for d in b.blobs():
        assert (out / "blobs" / "sha256" / d.digest[7:]).read_bytes() == store.read_bytes(d.digest)
    assert first.manifest_digest != second.manifest_digest


def test_local_registry_answers_then_stops_with_its_process_group(tmp_path):
    import os

    import requests

    from layerlab.procs import descendants

    require_tool("docker-registry")
    with local_registry() as reg:
        work = reg.log.parent
        assert requests.get(f"{reg.url}/v2/", timeout=10).status_code == 200
        assert '"GET /v2/ HTTP/1.1" 200' in reg.log_text()
        assert os.getpgid(reg.proc.pid) == reg.proc.pid != os.getpgid(0)  # a process group of its own
        assert reg.proc.pid in descendants(os.getpid())
    assert reg.proc.poll() is not None and reg.proc.pid not in descendants(os.getpid())
    assert not work.exists()  # the temporary directory went with it
    reg.stop()  # again: nothing left to do
    # a registry that cannot start says why, in one line, and leaves no process behind
    before = set(descendants(os.getpid()))
    with pytest.raises(RegistryError, match="local registry: docker-registry exited with status 1: .*nope.pem") as info:
        local_registry(tmp_path / "bad", tls=(tmp_path / "nope.pem", tmp_path / "nope.key"))
    assert "\n" not in str(info.value) and set(descendants(os.getpid())) <= before
    assert (tmp_path / "bad" / "registry.log").exists()


def test_local_registry_without_the_program_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RegistryError, match="local registry: docker-registry is not installed"):
        local_registry(tmp_path / "reg")
    assert not (tmp_path / "reg").exists()
