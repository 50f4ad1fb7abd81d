"""``layerlab serve`` without external tools: names, errors, negotiation, settings files, the CLI's errors."""

from __future__ import annotations

import json
import os
import pickle

import pytest

from layerlab.cli import main
from layerlab.errors import ConfigError
from layerlab.image import BlobStore
from layerlab.serve.builds import clean_stale_tmp
from layerlab.serve.names import image_request
from layerlab.serve.protocol import ApiError, check_name, choose_format
from layerlab.serve.settings import SETTINGS_KEYS, ServeSettings, load_settings
from layerlab.sources.nix import PackageSource, parse_source
from layerlab.strategies import DEFAULT_STRATEGY, get_strategy

from .serve_support import SRC

OCI = "application/vnd.oci.image.manifest.v1+json"
DOCKER = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.mark.parametrize(
    "name",
    [
        "../etc",
        "hello/../../etc",
        "hello/..",
        "/hello",
        "hello/",
        "Hello",
        "a b",
        "hello;id",
        "$(id)",
        "`id`",
        "hello|cat",
        "hello&&id",
        "x" * 256,
        "hello//git",
        "hello\nid",
        "hello%2f..",
    ],
)
def test_bad_names_are_name_invalid(name):
    with pytest.raises(ApiError) as info:
        image_request(name, "latest", parse_source(SRC))
    assert info.value.code == "NAME_INVALID" and info.value.status == 400
    assert json.loads(info.value.body())["errors"][0]["code"] == "NAME_INVALID"


def test_nixery_names():
    src = parse_source(SRC)
    r = image_request("shell/hello", "latest", src)
    assert r.packages == ("bashInteractive", "coreutils", "hello", "moreutils", "nano") and r.arch == "amd64"
    assert image_request("arm64/git/hello", "v1", src).arch == "arm64"
    assert image_request("hello/git", "latest", src).packages == image_request("git/hello", "x", src).packages
    assert image_request("xorg.xev", "latest", src).packages == ("xorg.xev",)
    assert image_request("python3packages.requests", "latest", src).packages == ("python3packages.requests",)
    with pytest.raises(ApiError, match="NAME_INVALID: image name 'arm64' names an architecture but no packages"):
        image_request("arm64", "latest", src)
    for tag in ("latest;id", "-x", "a" * 129):
        with pytest.raises(ApiError, match="NAME_INVALID"):
            image_request("hello", tag, src)


def test_the_tag_picks_the_revision():
    git = PackageSource("git", "https://example.org/pkgs.git", "main")
    assert image_request("hello", "latest", git).source.rev == "main"
    assert image_request("hello", "release-24.05", git).source.spec == "git!https://example.org/pkgs.git!release-24.05"
    chan = PackageSource("nixpkgs", "nixos-24.05")
    assert image_request("hello", "nixos-unstable", chan).source.spec == "nixpkgs!nixos-unstable"
    local = parse_source(SRC)
    assert image_request("hello", "v7", local).source == local  # one revision: any tag
    with pytest.raises(ApiError, match="names no revision"):
        image_request("hello", "a..b", git)


def test_accept_negotiation():
    assert choose_format(None, "oci") == "oci" and choose_format("", "docker") == "docker"
    assert choose_format(DOCKER, "oci") == "docker" and choose_format(OCI, "docker") == "oci"
    assert choose_format(f"{DOCKER}, {OCI}", "oci") == "oci"
    assert choose_format(f"{DOCKER}, {OCI}", "docker") == "docker"
    assert choose_format(f"{OCI};q=0.4, {DOCKER};q=0.8", "oci") == "docker"
    assert choose_format("*/*", "docker") == "docker"
    assert choose_format("application/vnd.docker.distribution.manifest.list.v2+json", "oci") is None
    assert choose_format(f"{OCI};q=0", "oci", allowed=("oci",)) is None
    assert choose_format(DOCKER, "oci", allowed=("oci",)) is None  # a zstd image has no Docker manifest
    assert choose_format("*/*", "docker", allowed=("oci",)) == "oci"


def test_error_bodies_follow_the_spec():
    err = ApiError.of("MANIFEST_UNKNOWN", "packages not found: a, b", {"packages": ["a", "b"]})
    assert err.status == 404
    assert json.loads(err.body()) == {
        "errors": [
            {"code": "MANIFEST_UNKNOWN", "message": "packages not found: a, b", "detail": {"packages": ["a", "b"]}}
        ]
    }
    assert ApiError.of("UNSUPPORTED", "x").status == 405 and check_name("a/b.c_d") == "a/b.c_d"


def test_settings_from_strategy_json_and_toml(tmp_path):
    strategy = get_strategy("nixery", size_threshold=5_000_000, merge_mode="resort")
    tuned = tmp_path / "tuned.json"
    tuned.write_text(json.dumps(strategy.to_json()))  # what the workbench saves
    a = load_settings(str(tuned), source=SRC, budget=8)
    assert a.make_strategy() == strategy and a.budget == 8
    toml = tmp_path / "serve.toml"
    toml.write_text(
        f'source = "{SRC}"\noffline = true\nstrategy = "nixery"\nbudget = 8\n'
        '[params]\nsize_threshold = "5M"\nmerge_mode = "resort"\n'
    )
    b = load_settings(str(toml))
    assert b.make_strategy() == strategy and b.offline and b.configuration() == a.configuration() | {"offline": True}
    # flags win; --set adds to the file's parameters
    c = load_settings(str(toml), set_params=["merge_mode=seed"], budget=12)
    assert c.make_strategy() == strategy.replace(merge_mode="seed") and c.budget == 12
    # a wider JSON file: the strategy nested as to_json writes it, plus other settings
    wide = tmp_path / "wide.json"
    wide.write_text(json.dumps({"strategy": strategy.to_json(), "budget": 8, "source": SRC}))
    assert load_settings(str(wide)).configuration() == a.configuration()


@pytest.mark.parametrize(
    "content, suffix, message",
    [
        ("{not json", ".json", "malformed JSON"),
        ("budget = ", ".toml", "malformed TOML"),
        ('{"strategy": "nixery", "params": {"size_threshold": -1}}', ".json", "size_threshold=-1 is below the minimum"),
        ('{"strategy": "nosuch"}', ".json", "unknown strategy 'nosuch'"),
        ('{"strategy": "nixery", "colour": "blue"}', ".json", "unknown setting colour"),
        ('{"budget": 1}', ".json", "budget must be an integer of at least 2"),
        ("[1, 2]", ".json", "expected a JSON object"),
    ],
)
def test_bad_settings_files(tmp_path, content, suffix, message):
    f = tmp_path / f"bad{suffix}"
    f.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_settings(str(f), source=SRC)
    assert str(info.value).startswith(str(f) + ": ") and message in str(info.value)


def test_settings_checks():
    with pytest.raises(ConfigError, match="zstd layers have no docker manifest"):
        ServeSettings(source=SRC, compression="zstd", format="docker")
    with pytest.raises(ConfigError, match="blob_url must start with http"):
        ServeSettings(source=SRC, blob_url="ftp://x")
    with pytest.raises(ConfigError, match="name a package source"):
        load_settings(None)


def test_cli_errors_are_one_line(tmp_path, capsys):
    f = tmp_path / "bad.json"
    f.write_text('{"strategy": "nixery", "params": {"merge_mode": "sideways"}}')
    assert main(["serve", "--source", SRC, "--config", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"layerlab: error: {f}: ") and "merge_mode must be one of" in err and "\n" not in err
    assert main(["serve", "--source", "nixpkgs!$(reboot)"]) == 2
    assert "channel '$(reboot)'" in capsys.readouterr().err
    assert main(["serve", "--source", SRC, "--budget", "1"]) == 2
    assert "budget must be an integer of at least 2" in capsys.readouterr().err


def test_stale_worker_directories_are_removed(tmp_path):
    store = BlobStore(tmp_path / "s")
    dead = store.root / "tmp" / "serve-999999999"
    alive = store.root / "tmp" / f"serve-{os.getpid()}"
    for d in (dead, alive):
        d.mkdir()
        (d / "blob-x").write_bytes(b"half")
    assert clean_stale_tmp(store) == ["serve-999999999"]
    assert not dead.exists() and alive.exists()


def test_settings_and_saved_configurations_share_one_reader(tmp_path):
    from layerlab.strategies import load_strategy_file, read_strategy_config

    toml = tmp_path / "serve.toml"
    toml.write_text(f'source = "{SRC}"\nstrategy = "nixery-2022"\nbudget = 7\n[params]\nsize_threshold = "5M"\n')
    want = get_strategy("nixery-2022", size_threshold=5_000_000)
    # the server's settings, the group command's loader and the reader itself see the same strategy and budget
    settings = load_settings(str(toml))
    assert settings.make_strategy() == want and settings.budget == 7
    assert pickle.loads(pickle.dumps(settings)) == settings  # as the build workers receive them
    assert load_strategy_file(toml, other_keys=SETTINGS_KEYS) == (want, 7)
    with pytest.raises(ConfigError, match=r"serve.toml: unknown key source \(known: budget, params, strategy\)"):
        load_strategy_file(toml)  # a saved configuration holds no server settings
    config = read_strategy_config(toml)
    assert (config.name, config.strategy, config.budget, dict(config.other)) == (
        "nixery-2022",
        want,
        7,
        {"source": SRC},
    )
    # a file naming no strategy configures the default one for the server; a saved configuration must name one
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"source": SRC, "params": {}}))
    assert load_settings(str(bare)).make_strategy() == get_strategy(DEFAULT_STRATEGY)
    with pytest.raises(ConfigError, match=r"bare.json: expected \{\"strategy\": NAME"):
        load_strategy_file(bare)
    bare.write_text(json.dumps({"source": SRC, "params": {"nope": 1}}))
    with pytest.raises(ConfigError, match=f"bare.json: strategy {DEFAULT_STRATEGY}: unknown parameter nope"):
        load_settings(str(bare))
    # another strategy on the command line drops the file's parameters, also under parameters given beside it
    other = load_settings(str(toml), strategy="keystone", params={"alpha": 0.5})
    assert other.make_strategy() == get_strategy("keystone", alpha=0.5)
    # every problem names the file, as a ConfigError of the settings
    for content, message in [
        ('{"strategy": {"strategy": "nixery"}, "params": {}}', "give 'params' inside the strategy object"),
        ('{"strategy": "nixery", "budget": "many"}', "budget must be a positive integer, not 'many'"),
        ('{"strategy": 5}', "a strategy name must be a string, not 5"),
    ]:
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        for load in (load_strategy_file, lambda f: load_settings(str(f), source=SRC)):
            with pytest.raises(ConfigError) as info:
                load(bad)
            assert str(info.value).startswith(f"{bad}: ") and message in str(info.value)
    with pytest.raises(ConfigError, match="none.json: cannot read"):
        load_settings(str(tmp_path / "none.json"), source=SRC)
