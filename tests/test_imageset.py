"""Image sets: loading from directories and manifests, shared path ids, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layerlab.errors import ConfigError, GraphError, InputError
from layerlab.graph import ClosureGraph
from layerlab.imageset import DEFAULT_IMAGESET_DIR, Image, ImageSet, default_imageset, load_imageset


def write_graph(path: Path, records: list[dict], roots: list[str]) -> Path:
    path.write_text(json.dumps({"exportReferencesGraph": {"graph": roots}, "graph": records}))
    return path


def rec(name: str, size: int, refs: list[str] = ()) -> dict:
    return {"path": f"/nix/store/{name}", "narSize": size, "references": [f"/nix/store/{r}" for r in refs]}


@pytest.fixture()
def small_dir(tmp_path: Path) -> Path:
    d = tmp_path / "set"
    d.mkdir()
    write_graph(
        d / "b-second.graph.json", [rec("bbb-b-1", 20, ["ccc-c-1"]), rec("ccc-c-1", 30)], ["/nix/store/bbb-b-1"]
    )
    write_graph(d / "a-first.graph.json", [rec("aaa-a-1", 10, ["ccc-c-1"]), rec("ccc-c-1", 30)], ["/nix/store/aaa-a-1"])
    (d / "popularity.json").write_text('{"c-1": 5}')
    (d / "notes.txt").write_text("not a graph")
    return d


def test_directory_in_file_name_order(small_dir: Path) -> None:
    s = load_imageset(small_dir)
    assert s.names == ("a-first", "b-second")
    assert s.name == "set"
    assert [img.bytes for img in s] == [40, 50]
    assert s.total_bytes == 90
    assert s.union_bytes == 60  # a + b + c once
    u = s.universe
    assert u.paths == ("/nix/store/aaa-a-1", "/nix/store/bbb-b-1", "/nix/store/ccc-c-1")
    assert u.ids[0].tolist() == [0, 2] and u.ids[1].tolist() == [1, 2]
    assert u.nar_size.tolist() == [10, 20, 30]


def test_bundled_default_set() -> None:
    s = default_imageset()
    assert len(s) == 30
    assert s.names == tuple(sorted(s.names))
    assert s.names[0] == "img-apache2" and s.names[-1] == "img-vim"
    assert s.popularity is not None and s.popularity.of_name("libc6-2.36-9+deb12u14") > 1000
    assert s.summary()["paths"] == sum(len(g) for g in s.graphs)
    assert load_imageset(DEFAULT_IMAGESET_DIR).digest == s.digest


def test_json_manifest_relative_paths_and_popularity(small_dir: Path, tmp_path: Path) -> None:
    m = tmp_path / "web.json"
    m.write_text(
        json.dumps(
            {
                "name": "web",
                "popularity": "set/popularity.json",
                "images": [
                    {
                        "name": "second",
                        "graph": "set/b-second.graph.json",
                        "packages": ["b"],
                        "source": "nixpkgs!nixos-24.05",
                    },
                    "set/a-first.graph.json",
                ],
            }
        )
    )
    s = load_imageset(m)
    assert s.name == "web"
    assert s.names == ("second", "a-first")
    assert s["second"].packages == ("b",) and s["second"].source == "nixpkgs!nixos-24.05"
    assert s.popularity.of_name("c-1") == 5
    assert s.position("a-first") == 1


def test_toml_manifest_inside_directory(small_dir: Path) -> None:
    (small_dir / "imageset.toml").write_text(
        'name = "t"\n[[images]]\ngraph = "b-second.graph.json"\n'
        '[[images]]\nname = "first"\ngraph = "a-first.graph.json"\n'
    )
    s = load_imageset(small_dir)
    assert s.name == "t" and s.names == ("b-second", "first")
    # The same graphs under the same names have the same digest, whatever the files.
    d2 = ImageSet.from_directory(small_dir)
    same = d2.subset(["b-second", "a-first"])
    assert same.digest != s.digest  # "first" vs "a-first"
    renamed = ImageSet("x", (Image("b-second", d2[1].graph), Image("first", d2[0].graph)))
    assert renamed.digest == s.digest


@pytest.mark.parametrize(
    "doc, message",
    [
        ("[1, 2]", "must be an object"),
        ('{"images": []}', "non-empty list"),
        ('{"images": [{"graph": "nope.json"}]}', "cannot read file"),
        ('{"images": [{"grap": "a-first.graph.json"}]}', "unknown key 'grap'"),
        ('{"images": [{"name": "x"}]}', "needs a 'graph' file or a 'packages' list"),
        ('{"images": [{"packages": ["hello"]}]}', "needs 'packages' and a 'source'"),
        ('{"images": ["a-first.graph.json", "a-first.graph.json"]}', "appears twice"),
        ('{"images": ["a-first.graph.json"], "extra": 1}', "unknown manifest key 'extra'"),
        ("{", "malformed JSON"),
    ],
)
def test_manifest_errors(small_dir: Path, doc: str, message: str) -> None:
    m = small_dir / "m.json"
    m.write_text(doc)
    with pytest.raises(InputError, match=message) as err:
        ImageSet.from_manifest(m)
    assert "m.json" in str(err.value)


def test_bad_toml(small_dir: Path) -> None:
    m = small_dir / "m.toml"
    m.write_text("images = [")
    with pytest.raises(InputError, match="malformed TOML"):
        load_imageset(m)


def test_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such directory or manifest"):
        load_imageset(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no graph files"):
        load_imageset(tmp_path / "empty")


def test_inconsistent_sizes_across_images(tmp_path: Path) -> None:
    write_graph(tmp_path / "a.json", [rec("ccc-c-1", 30)], ["/nix/store/ccc-c-1"])
    write_graph(tmp_path / "b.json", [rec("ccc-c-1", 31)], ["/nix/store/ccc-c-1"])
    s = load_imageset(tmp_path)
    with pytest.raises(GraphError, match="narSize 30 in image a and 31 in image b"):
        _ = s.universe


def test_unknown_image_names() -> None:
    s = default_imageset()
    with pytest.raises(ConfigError, match="no image named 'img-nope'"):
        s.position("img-nope")
    with pytest.raises(ConfigError, match="out of range"):
        s.position(30)
    assert s.position(-1) == 29


def test_from_graphs_and_frame() -> None:
    g = ClosureGraph.from_records([rec("aaa-a-1", 7)], name="a")
    s = ImageSet.from_graphs({"alpha": g})
    df = s.to_frame()
    assert df.to_dict("records")[0]["image"] == "alpha" and df["bytes"].tolist() == [7]


def test_nix_images_with_a_bad_source_fail_clearly(small_dir: Path) -> None:
    m = small_dir / "m.json"
    m.write_text('{"source": "nixpkgs!$(reboot)", "images": [{"packages": ["hello"]}]}')
    with pytest.raises(InputError, match=r"channel '\$\(reboot\)' may only hold"):
        load_imageset(m)


def test_manifests_and_saved_configurations_are_read_alike(tmp_path) -> None:
    from layerlab.errors import InputError
    from layerlab.imageset import load_imageset
    from layerlab.strategies import read_strategy_config

    for name, text in [("m.json", '{"images": ['), ("m.toml", "images = [")]:
        f = tmp_path / name
        f.write_text(text)
        kind = "TOML" if name.endswith(".toml") else "JSON"
        for read in (load_imageset, read_strategy_config):
            with pytest.raises(InputError, match=f"^{f}: malformed {kind}: "):
                read(f)
