"""Image sets built by a real Nix from the offline test package set (nix/testpkgs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerlab.errors import NotFoundError
from layerlab.imageset import ImageSet, load_imageset
from layerlab.metrics import layer_imageset, pull_cost
from layerlab.strategies import get_strategy

from .conftest import ROOT, require_tool

pytestmark = pytest.mark.nix


@pytest.fixture()
def offline():
    require_tool("nix-build")
    from layerlab.sources.nix import OFFLINE_CONFIG

    return {"settings": OFFLINE_CONFIG, "cache": False}


def test_manifest_with_packages_builds_with_nix(tmp_path: Path, offline) -> None:
    (tmp_path / "imageset.toml").write_text(
        f'name = "tp"\nsource = "path!{ROOT / "nix" / "testpkgs"}"\n'
        '[[images]]\nname = "hello"\npackages = ["hello"]\n'
        '[[images]]\npackages = ["zlib", "openssl"]\n'
    )
    s = load_imageset(tmp_path, **offline)
    assert s.name == "tp" and s.names == ("hello", "zlib+openssl")
    assert s["zlib+openssl"].packages == ("zlib", "openssl")
    assert s["hello"].source.startswith("path!") and s["hello"].source.endswith("nix/testpkgs")
    hello = s["hello"].graph
    assert [hello.paths[r].split("-", 1)[1] for r in hello.roots] == ["hello-2.12.1"]
    names = {p.split("-", 1)[1] for p in s["zlib+openssl"].graph.paths}
    assert {"zlib-1.3.1", "openssl-3.0.13", "glibc-2.39-52"} <= names
    # glibc is one store path shared by both images: the ideal counts it once.
    glibc = [p for p in s.universe.paths if p.endswith("-glibc-2.39-52")]
    assert len(glibc) == 1
    assert s.union_bytes == s.total_bytes - int(s.universe.nar_size[s.universe.index[glibc[0]]])
    per_path = layer_imageset(get_strategy("per-path"), s, 94)
    assert pull_cost(per_path).summary["pulled_bytes"] == s.union_bytes


def test_relative_path_source_is_relative_to_the_manifest(tmp_path: Path, offline) -> None:
    link = tmp_path / "pkgs"
    link.symlink_to(ROOT / "nix" / "testpkgs")
    (tmp_path / "m.json").write_text('{"source": "path!pkgs", "images": [{"packages": ["hello"]}]}')
    s = ImageSet.from_manifest(tmp_path / "m.json", **offline)
    assert s.names == ("hello",)


def test_from_nix_reports_missing_packages(offline) -> None:
    src = f"path!{ROOT / 'nix' / 'testpkgs'}"
    with pytest.raises(NotFoundError, match="nope"):
        ImageSet.from_nix({"x": ["hello", "nope"]}, src, **offline)
    s = ImageSet.from_nix({"a": ["hello"], "b": ["zlib"]}, src, name="pair", **offline)
    assert s.names == ("a", "b") and s.name == "pair"


def test_real_tarball_digests_agree_with_content_identity(offline) -> None:
    """Layers written as real tarballs, image by image: equal path sets give equal digests, and back."""
    import io

    from layerlab.image import write_layer
    from layerlab.metrics import Layering

    src = f"path!{ROOT / 'nix' / 'testpkgs'}"
    s = ImageSet.from_nix({"hello": ["hello"], "web": ["zlib", "openssl"], "both": ["hello", "zlib"]}, src, **offline)
    lay = layer_imageset(
        get_strategy("nixery", popularity_threshold=0), s, 3
    )  # every path popular: small shared layers
    digests = [[write_layer(layer.paths, io.BytesIO()).digest for layer in layers] for layers in lay.layers]
    real = Layering.from_paths(s, [[layer.paths for layer in layers] for layers in lay.layers], digests=digests)
    table = real.table  # checks: one path set, one digest, and the other way round
    by_digest = {d: lid for ids, ds in zip(table.image_layers, digests) for lid, d in zip(ids, ds)}
    assert len(by_digest) == len(table.layer_size)
    shared = [lid for lid in range(len(table.layer_size)) if sum(lid in ids for ids in table.image_layers) > 1]
    assert shared, "glibc's layer is in every image"
    assert pull_cost(real).summary == {
        **pull_cost(lay).summary,
        "layering": "layering",
        "strategy": None,
        "budget": None,
    }
