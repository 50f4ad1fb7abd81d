"""The closure graph model and its loaders."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import orjson
import pytest

from layerlab.errors import GraphError, InputError, LayerlabError
from layerlab.graph import ClosureGraph, GraphMemo, parse_name, store_name
from layerlab.sources.files import detect_format, load_graph, parse_graph

from .conftest import DATA, TESTDATA

S = "/nix/store/"
A, B, C, D = (S + h for h in ("aaaa-a-1", "bbbb-b-1", "cccc-c-1", "dddd-d-1"))


def rec(path, nar=None, refs=(), closure=None, **extra):
    r = {"path": path, "references": [path, *refs], **extra}
    if nar is not None:
        r["narSize"] = nar
    if closure is not None:
        r["closureSize"] = closure
    return r


def test_paths_sorted_self_refs_dropped_and_indices():
    g = ClosureGraph.from_records([rec(C, 4), rec(A, 1, [B, C, C]), rec(B, 2, [C])], [A])
    assert g.paths == (A, B, C)
    assert g.refs == ((1, 2), (2,), ())
    assert g.roots == (0,)
    assert g.nar_size == (1, 2, 4)
    assert g.referrers == ((), (0,), (0, 1))
    assert g.edge_count == 3


def test_closure_size_computed_with_cycles_each_path_once():
    # A -> B, B <-> C (a cycle), C -> D; D is shared: counted once.
    g = ClosureGraph.from_records([rec(A, 1, [B, D]), rec(B, 2, [C]), rec(C, 4, [B, D]), rec(D, 8)])
    assert g.closure_size == (15, 14, 14, 8)
    assert g.cycles == ((1, 2),)
    assert g.roots == (0,)


def test_closure_size_matches_recorded_values_on_real_data():
    g = load_graph(DATA / "debian" / "kde-full.graph.json")
    recomputed = ClosureGraph.from_records(
        [{k: v for k, v in r.items() if k != "closureSize"} for r in g.to_records()], [g.paths[r] for r in g.roots]
    )
    assert recomputed.closure_size == g.closure_size
    assert len(g.cycles) == 2


def test_closure_bits_and_reachability():
    g = ClosureGraph.from_records([rec(A, 1, [B]), rec(B, 1, [C]), rec(C, 1, [B]), rec(D, 1)], [A])
    bits = g.closure_bits
    assert bits[0] == 0b0111 and bits[1] == bits[2] == 0b0110 and bits[3] == 0b1000
    assert g.reachable == (0, 1, 2)
    assert g.unreachable == (3,)
    assert g.closure_of([1]) == [1, 2]


def test_derived_roots_include_a_pure_cycle():
    g = ClosureGraph.from_records([rec(A, 1, [B]), rec(B, 1), rec(C, 1, [D]), rec(D, 1, [C])])
    assert g.roots == (0, 2)  # A, and the smaller path of the C <-> D cycle
    assert not g.roots_given
    assert g.unreachable == ()


def test_missing_sizes():
    g = ClosureGraph.from_records([{"path": A, "references": []}])
    assert g.nar_size is None and g.closure_size is None
    with pytest.raises(GraphError, match="needs narSize"):
        g.require_nar_size("auto-layer")
    with pytest.raises(GraphError, match="needs closureSize or narSize"):
        g.require_closure_size("nixery")


def test_identical_duplicates_accepted_different_rejected():
    g = ClosureGraph.from_records([rec(A, 1), rec(A, 1)])
    assert g.paths == (A,)
    with pytest.raises(GraphError, match="listed twice with different data"):
        ClosureGraph.from_records([rec(A, 1), rec(A, 2)], source="x.json")


@pytest.mark.parametrize(
    "records, roots, message",
    [
        ([rec(A, 1, [B])], None, f"{A} references {B}, which is not in the graph"),
        ([rec(A, 1)], [B], f"root {B} is not in the graph"),
        ([rec(A, -1)], None, "narSize of .* is -1"),
        ([rec(A, 1.5)], None, "narSize of .* is 1.5"),
        ([rec(A, True)], None, "narSize of .* is True"),
        ([rec(A, closure="7")], None, "closureSize of .* is '7'"),
        ([{"narSize": 1}], None, "has no 'path'"),
        (["just a string"], None, "is not an object"),
        ([{"path": A, "references": "oops"}], None, "must be a list"),
        ([{"path": A, "references": [7]}], None, "contain 7"),
    ],
)
def test_bad_records_raise_one_clear_error(records, roots, message):
    with pytest.raises(GraphError, match=message) as info:
        ClosureGraph.from_records(records, roots, source="bad.json")
    assert str(info.value).startswith("bad.json: ")


def test_store_name_and_parse_name():
    assert store_name("/nix/store/0c7c96gikmzv87i7lv3vq5s1cmfjd6zf-openssl-1.1.1c") == "openssl-1.1.1c"
    assert store_name("A") == "A"
    assert store_name("/nix/store/aaaa-A") == "A"
    assert parse_name("python3.8-six-1.15.0") == ("python3.8-six", "1.15.0")
    assert parse_name("hello") == ("hello", "")
    g = load_graph(DATA / "debian" / "bash-coreutils.graph.json")
    assert g.names == tuple(store_name(p) for p in g.paths)


def test_to_networkx_and_records_round_trip():
    g = ClosureGraph.from_records([rec(A, 1, [B]), rec(B, 2)], [A], name="x")
    nxg = g.to_networkx()
    assert set(nxg.edges) == {(A, B)}
    assert nxg.nodes[A]["closureSize"] == 3 and nxg.nodes[A]["root"]
    again = parse_graph(orjson.dumps(g.to_export_json()))
    assert again.paths == g.paths and again.refs == g.refs and again.roots == g.roots
    assert again.nar_size == g.nar_size and again.closure_size == g.closure_size


def test_subgraph():
    g = ClosureGraph.from_records([rec(A, 1, [B]), rec(B, 2, [C]), rec(C, 4)], [A])
    sub = g.subgraph([1, 2])
    assert sub.paths == (B, C) and sub.roots == (0,) and sub.closure_size == (6, 4)


# ------------------------------------------------------------------ loaders
def test_export_layout_with_roots(tmp_path):
    g = load_graph(DATA / "debian" / "bash-coreutils.graph.json")
    assert detect_format((DATA / "debian" / "bash-coreutils.graph.json").read_bytes()) == "export"
    assert g.roots_given
    assert [store_name(g.paths[r]) for r in g.roots] == ["bash-5.2.15-2+b13", "coreutils-9.1-1"]
    assert g.name == "bash-coreutils"


def test_export_layout_with_several_keys():
    doc = {
        "exportReferencesGraph": {"one": [A], "two": [C]},
        "one": [rec(A, 1, [B]), rec(B, 2)],
        "two": [rec(C, 4), rec(B, 2)],
    }
    g = parse_graph(orjson.dumps(doc))
    assert g.paths == (A, B, C) and g.roots == (0, 2)


def test_export_layout_key_missing():
    with pytest.raises(GraphError, match="exportReferencesGraph names 'graph'"):
        parse_graph(b'{"exportReferencesGraph": {"graph": []}}', source="f.json")


def test_list_layout_roots_derived():
    g = load_graph(TESTDATA / "nixpkgs" / "real-references-graph.json")
    assert not g.roots_given
    assert len(g.roots) == 1 and g.paths[g.roots[0]].endswith("-closure")
    assert len(g) == 334


def test_path_info_old_list_form():
    doc = [
        {
            "path": A,
            "narHash": "sha256:x",
            "narSize": 10,
            "references": [B],
            "closureSize": 30,
            "valid": True,
            "deriver": "/nix/store/x.drv",
        },
        {"path": B, "narHash": "sha256:y", "narSize": 20, "references": [], "closureSize": 20},
    ]
    g = parse_graph(orjson.dumps(doc))
    assert g.closure_size == (30, 20) and g.roots == (0,)


@pytest.mark.parametrize("with_path_key", [True, False])
def test_path_info_object_form(with_path_key):
    info = {
        A: {"narSize": 10, "references": [A, B], "closureSize": 30},
        B: {"narSize": 20, "references": [], "closureSize": 20},
    }
    if with_path_key:
        for p, v in info.items():
            v["path"] = p
    data = orjson.dumps(info)
    assert detect_format(data) == "path-info"
    g = parse_graph(data)
    assert g.paths == (A, B) and g.refs == ((1,), ()) and g.nar_size == (10, 20)


def test_path_info_object_form_with_base_name_references():
    info = {A: {"narSize": 1, "references": ["bbbb-b-1"]}, B: {"narSize": 2, "references": []}}
    g = parse_graph(orjson.dumps(info))
    assert g.refs == ((1,), ())


def test_path_info_invalid_path():
    with pytest.raises(GraphError, match="not a valid store path"):
        parse_graph(orjson.dumps({A: None}), source="p.json")


def test_text_layout():
    text = f"{A}\n\n2\n{A}\n{B}\n{B}\n/nix/store/zzzz-b.drv\n0\n"
    g = parse_graph(text)
    assert detect_format(text.encode()) == "text"
    assert g.paths == (A, B) and g.refs == ((1,), ()) and g.nar_size is None


def test_text_layout_truncated():
    with pytest.raises(InputError, match="announces 3 references"):
        parse_graph(f"{A}\n\n3\n{B}\n", source="t.txt")


@pytest.mark.parametrize("suffix, compress", [(".xz", lzma.compress), (".gz", gzip.compress)])
def test_compressed_files(tmp_path, suffix, compress):
    raw = (DATA / "debian" / "bash-coreutils.graph.json").read_bytes()
    f = tmp_path / f"bc.graph.json{suffix}"
    f.write_bytes(compress(raw))
    g = load_graph(f)
    assert g.name == "bc" and len(g) == len(load_graph(DATA / "debian" / "bash-coreutils.graph.json"))


def test_zstd_file(tmp_path):
    zstandard = pytest.importorskip("zstandard")
    f = tmp_path / "g.json.zst"
    f.write_bytes(zstandard.ZstdCompressor().compress(orjson.dumps([rec(A, 1)])))
    assert load_graph(f).paths == (A,)


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"graph": [', "malformed JSON"),
        (b"", "file is empty"),
        (b"   \n", "file is empty"),
        (b"not a store path\n", "expected a store path"),
    ],
)
def test_malformed_files_name_the_file(tmp_path, content, message):
    f = tmp_path / "broken.json"
    f.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        load_graph(f)
    assert str(f) in str(info.value)


def test_missing_file():
    with pytest.raises(InputError, match="cannot read file") as info:
        load_graph("/nonexistent/graph.json")
    assert "/nonexistent/graph.json" in str(info.value)


def test_bad_xz(tmp_path):
    f = tmp_path / "g.json.xz"
    f.write_bytes(b"not xz")
    with pytest.raises(InputError, match="cannot decompress"):
        load_graph(f)


# ------------------------------------------------------ the edge/ inputs
EDGE = TESTDATA / "edge"


@pytest.mark.parametrize(
    "name, message",
    [
        ("dup.json", "path /nix/store/bbbb-B is listed twice with different data"),
        ("missingref.json", "/nix/store/aaaa-A references /nix/store/zzzz-Z, which is not in the graph"),
        ("missingroot.json", "root /nix/store/yyyy-Y is not in the graph"),
    ],
)
def test_edge_graphs_rejected(name, message):
    with pytest.raises(GraphError) as info:
        load_graph(EDGE / name)
    assert str(info.value) == f"{EDGE / name}: {message}"
    assert isinstance(info.value, LayerlabError)


def test_edge_empty_graph():
    g = load_graph(EDGE / "empty.json")
    assert len(g) == 0 and g.roots == () and g.summary()["paths"] == 0


def test_edge_unreachable_graph():
    g = load_graph(EDGE / "unreach.json")
    assert [g.paths[i] for i in g.unreachable] == ["/nix/store/bbbb-B"]


def test_summary_on_real_graph():
    s = load_graph(DATA / "debian" / "kde-full.graph.json").summary()
    assert (s["paths"], s["edges"], s["roots"], s["cycles"]) == (1189, 9646, 1, 2)
    assert s["bytes"] == 3067510784


def test_loaded_files_are_not_modified(tmp_path):
    f = tmp_path / "g.json"
    f.write_bytes(orjson.dumps([rec(A, 1)]))
    before = f.read_bytes()
    load_graph(f)
    assert Path(f).read_bytes() == before


def test_vectorised_and_plain_reference_resolution_agree(monkeypatch):
    import layerlab.graph as graph_module

    doc = orjson.loads((DATA / "debian" / "kde-full.graph.json").read_bytes())
    records = doc["graph"] + [{"path": A, "narSize": 1, "references": [A, B, B, "bbbb-b-1"]}, {"path": B, "narSize": 2}]
    plain = ClosureGraph.from_records(records, store_dir="/nix/store")
    monkeypatch.setattr(graph_module, "_VECTORISE_FROM", 0)
    vectorised = ClosureGraph.from_records(records, store_dir="/nix/store")
    assert vectorised.refs == plain.refs and vectorised.paths == plain.paths
    assert plain.refs[plain.index[A]] == (plain.index[B],)
    with pytest.raises(GraphError, match="references /nix/store/zzzz"):
        ClosureGraph.from_records(records + [{"path": C, "references": ["/nix/store/zzzz-z"]}], store_dir="/nix/store")


def test_graph_memo_is_bounded_per_name_and_not_shared_by_a_changed_copy():
    import dataclasses
    import pickle

    g = ClosureGraph.from_records([{"path": "/s/a", "narSize": 1}])
    g.memo.cache("facts")[1] = "one"
    copy = dataclasses.replace(g, name="other")
    assert copy.memo is not g.memo and copy.memo.names() == []  # a changed graph starts empty
    assert pickle.loads(pickle.dumps(g)).memo.names() == []  # a pickled graph travels without its memo
    small = GraphMemo(maxsize=2)
    for k in range(5):
        small.cache("x")[k] = k
    assert small.cache("x").keys() == [3, 4]
    calls = []
    assert small.value("v", lambda: calls.append(1) or 7) == 7 == small.value("v", lambda: calls.append(1) or 8)
    assert calls == [1]
