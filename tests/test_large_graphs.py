"""The large-graph paths: typed decoding, edge arrays, made-on-demand references,
vectorised checks and the pruned counts give what the plain paths give."""

from __future__ import annotations

import dataclasses
import json
import pickle
import random

import orjson
import pytest

import layerlab.graph as graph_module
import layerlab.sources._typed as typed_module
import layerlab.sources.files as files_module
import layerlab.strategies.base as base_module
import layerlab.strategies.keystone as keystone_module
import layerlab.strategies.nixery as nixery_module
from layerlab.errors import LayerlabError, StrategyError
from layerlab.graph import ClosureGraph, _standard_names, store_name
from layerlab.popularity import Popularity, load_popularity
from layerlab.sources.files import load_graph, parse_graph
from layerlab.strategies import Context, Layer, get_strategy
from layerlab.strategies.base import check_layers

from .conftest import DATA, tools_required

BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"


def store_path(rng: random.Random, name: str) -> str:
    return "/nix/store/" + "".join(rng.choice(BASE32) for _ in range(32)) + "-" + name


def random_records(seed: int, n: int) -> list[dict]:
    """A closure-like graph: references point to later paths, a few small cycles, sizes and hashes."""
    rng = random.Random(seed)
    paths = [store_path(rng, f"p{i}-{i % 7}.0") for i in range(n)]
    records = []
    for i, p in enumerate(paths):
        refs = [p] + [paths[j] for j in rng.sample(range(i + 1, n), min(n - i - 1, rng.randint(0, 5)))]
        if i % 53 == 7 and i:
            refs.append(paths[i - 1])  # a cycle with the previous path
        records.append({"path": p, "narHash": f"sha256:{i}", "narSize": rng.randint(1, 10**6), "references": refs})
    rng.shuffle(records)
    return records


def graph_facts(g: ClosureGraph) -> tuple:
    return (g.paths, g.refs, g.nar_size, g.closure_size, g.nar_hash, g.roots, g.roots_given, g.edge_count)


def outcome(data: bytes, monkeypatch: pytest.MonkeyPatch, typed_from: int, scan_from: int = 10**12) -> tuple:
    """The graph facts, or the error message, of parsing ``data`` with typed decoding from ``typed_from`` bytes
    and references resolved by the compiled scanner from ``scan_from`` bytes."""
    monkeypatch.setattr(files_module, "_TYPED_FROM", typed_from)
    monkeypatch.setattr(typed_module, "_SCAN_FROM", scan_from)
    try:
        return graph_facts(parse_graph(data, source="g.json"))
    except LayerlabError as err:
        return ("error", str(err))


def _document(records: list[dict], layout: str) -> bytes:
    """The records as a graph file of one of the layouts the typed decoder takes."""
    if layout == "export":
        doc: object = {"exportReferencesGraph": {"graph": [records[0]["path"]]}, "graph": records}
    elif layout == "list":
        doc = records
    else:
        doc = {"graph": records}
    return orjson.dumps(doc)


@pytest.mark.parametrize("layout", ["export", "list", "graph-object"])
def test_typed_decoding_builds_the_graph_the_general_way_builds(layout, monkeypatch):
    records = random_records(1, 300)
    for rec in records[::9]:
        del rec["narHash"]
    records[5]["references"] = None
    del records[6]["references"]
    data = _document(records, layout)
    typed = outcome(data, monkeypatch, 0)
    assert typed[0] != "error"
    assert typed == outcome(data, monkeypatch, 10**12)


BAD = [
    ("narSize", -1),
    ("narSize", True),
    ("narSize", 1.5),
    ("narSize", 2**63),  # accepted, the general way
    ("narSize", 2**64),  # a float for orjson: rejected
    ("closureSize", "7"),
    ("references", "oops"),
    ("references", [7]),
    ("references", ["/nix/store/zzzz-missing"]),
    ("path", ""),
    ("path", None),
    ("narHash", 5),
]


@pytest.mark.parametrize("key, value", BAD)
def test_typed_decoding_falls_back_to_the_same_result(key, value, monkeypatch):
    records = random_records(2, 40)
    records[3][key] = value
    data = json.dumps({"exportReferencesGraph": {"graph": [records[0]["path"]]}, "graph": records}).encode()
    assert outcome(data, monkeypatch, 0) == outcome(data, monkeypatch, 10**12)


@pytest.mark.parametrize(
    "doc",
    [
        {"exportReferencesGraph": None, "graph": []},
        {"exportReferencesGraph": {"graph": []}},
        {"exportReferencesGraph": {"one": [], "two": []}, "one": [], "two": []},
        {"exportReferencesGraph": {"graph": "/nix/store/aaaa-a"}, "graph": [{"path": "/nix/store/aaaa-a"}]},
        {"graph": None},
        {"/nix/store/aaaa-a": {"narSize": 1}},
        {},
        [],
        5,
    ],
)
def test_typed_decoding_leaves_other_documents_to_the_general_way(doc, monkeypatch):
    data = orjson.dumps(doc)
    assert outcome(data, monkeypatch, 0) == outcome(data, monkeypatch, 10**12)


def test_duplicate_listings_and_bad_paths_keep_their_messages(monkeypatch):
    records = random_records(3, 30)
    twin = dict(records[4], narSize=records[4]["narSize"] + 1)
    data = orjson.dumps(records + [twin])
    assert "listed twice with different data" in outcome(data, monkeypatch, 0)[1]
    records[2]["path"] += "\n"
    data = orjson.dumps(records)
    assert "NUL or line-break" in outcome(data, monkeypatch, 0)[1]
    assert outcome(data, monkeypatch, 0) == outcome(data, monkeypatch, 10**12)


@pytest.fixture
def scanner(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled reference scanner, used from the smallest graph on (vectorised look-ups too)."""
    if typed_module._refscan is None:
        if tools_required():
            pytest.fail("layerlab.sources._refscan was not built (a C compiler is needed)")
        pytest.skip("layerlab.sources._refscan was not built")
    monkeypatch.setattr(graph_module, "_VECTORISE_FROM", 2)


@pytest.mark.parametrize("layout", ["export", "list", "graph-object"])
@pytest.mark.parametrize("size", [1, 3, 300])
def test_scanned_references_build_the_graph_the_general_way_builds(layout, size, scanner, monkeypatch):
    records = random_records(4, size)
    for rec in records[::9]:
        del rec["narHash"]
    if size > 10:
        records[5]["references"] = None
        records[7]["references"] = []
        del records[6]["references"]
    data = _document(records, layout)
    columns = typed_module.typed_columns(data, scan=True)
    assert columns is not None and isinstance(columns[1], graph_module.ReferenceIndices)  # resolved in C
    scanned = outcome(data, monkeypatch, 0, 0)
    assert scanned[0] != "error"
    assert scanned == outcome(data, monkeypatch, 0) == outcome(data, monkeypatch, 10**12)


def _unusual(records: list[dict], kind: str) -> bytes:
    """A document whose references the scanner leaves to the general way."""
    a, b = records[1]["path"], records[2]["path"]
    if kind == "pretty":
        return json.dumps(records, indent=1).encode()
    if kind == "escaped-slash":
        return orjson.dumps(records).replace(b'"' + a.encode(), b'"' + a.replace("/", "\\/").encode())
    if kind == "unicode-escape":
        return orjson.dumps(records).replace(a.encode() + b'"', a[:-1].encode() + b"\\u00" + b"%x" % ord(a[-1]) + b'"')
    if kind == "non-ascii":
        records[3]["path"] += "\u00e9"
        records[4]["references"].append(records[3]["path"])
    elif kind == "backslash":  # a path with a backslash, written escaped
        records[3]["path"] += "\\b"
        records[4]["references"].append(records[3]["path"])
    elif kind == "unknown":
        records[3]["references"].append("/nix/store/" + "z" * 32 + "-missing")
    elif kind == "prefix":
        records[3]["references"].append(a[:-1])
    elif kind == "longer":
        records[3]["references"].append(a + "x")
    elif kind == "base-name":
        records[3]["references"].append(b.rsplit("/", 1)[1])
    elif kind == "twice":
        records.append(dict(records[1]))
    elif kind == "number":
        records[3]["references"].append(7)
    elif kind == "nested":
        records[3]["references"].append([a])
    elif kind == "object":
        records[3]["references"] = {"x": a}
    elif kind == "string":
        records[3]["references"] = a
    elif kind == "short":
        records[3]["path"] = "/s/x"
        records[4]["references"].append("/s/x")
    elif kind == "other-dir":
        records[3]["path"] = "/gnu/store/" + records[3]["path"].rsplit("/", 1)[1]
        records[4]["references"].append(records[3]["path"])
    return orjson.dumps(records)


UNUSUAL = (
    "pretty escaped-slash unicode-escape non-ascii backslash unknown prefix longer base-name twice number nested"
    " object string short other-dir"
).split()


@pytest.mark.parametrize("kind", UNUSUAL)
def test_unusual_references_give_the_same_graph_or_error(kind, scanner, monkeypatch):
    data = _unusual(random_records(5, 60), kind)
    scanned = outcome(data, monkeypatch, 0, 0)
    assert scanned == outcome(data, monkeypatch, 0) == outcome(data, monkeypatch, 10**12)
    if kind in ("unknown", "prefix", "longer"):
        assert scanned[0] == "error" and "which is not in the graph" in scanned[1]


def test_scanner_declines_what_it_cannot_match_exactly(scanner):
    records = random_records(6, 20)
    paths = [r["path"] for r in records]
    texts = [orjson.dumps(r["references"]) for r in records]
    found = typed_module._refscan.resolve(paths, texts)
    assert found is not None
    counts, targets = (list(memoryview(b).cast("q")) for b in found)
    position = {p: k for k, p in enumerate(paths)}
    assert counts == [len(r["references"]) for r in records]
    assert targets == [position[x] for r in records for x in r["references"]]
    for text in (b'["' + paths[0].encode() + b'" ]', b"[1]", b'{"a":1}', b'"x"', b"true", b"[[]]", b'["a"]', b"[,]"):
        assert typed_module._refscan.resolve(paths, [text, *texts[1:]]) is None, text
    assert typed_module._refscan.resolve(paths, texts[1:]) is None  # columns of different lengths


def test_large_graph_makes_its_reference_tuples_on_demand(monkeypatch):
    records = random_records(4, 400)
    for rec in records:
        rec["closureSize"] = 1  # given: nothing computes closures
    plain = ClosureGraph.from_records(records)
    monkeypatch.setattr(graph_module, "_VECTORISE_FROM", 0)
    g = ClosureGraph.from_records(records)
    assert "_refs" not in g.__dict__ and g.edge_count == plain.edge_count
    assert g.cycles == plain.cycles and g.roots == plain.roots and g.reachable == plain.reachable
    copy = pickle.loads(pickle.dumps(g))
    assert copy.refs == plain.refs and "_refs" in copy.__dict__
    assert g.refs == plain.refs and dataclasses.replace(g, name="x").refs == plain.refs
    assert [a.tolist() for a in g.edge_arrays] == [a.tolist() for a in plain.edge_arrays]


def test_standard_names_are_store_names():
    rng = random.Random(5)
    paths = sorted(store_path(rng, f"pkg-{i}.{i % 3}") for i in range(200))
    assert _standard_names(paths) == tuple(map(store_name, paths))
    odd = [
        paths[:3] + ["/nix/store/" + "A" * 32 + "-upper"],
        paths[:3] + ["/nix/store/" + "a" * 32 + "-with/slash"],
        paths[:3] + ["/nix/store/short-x"],
        paths[:3] + ["/other/store/" + "a" * 32 + "-x"],
        ["/s/a-x", "/s/b-y"],
    ]
    for group in odd:
        group = sorted(group)
        assert _standard_names(group) is None
        assert ClosureGraph.from_records([{"path": p} for p in group]).names == tuple(map(store_name, group))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda ls: ls[:-1], "left"),
        (lambda ls: ls + [Layer((ls[0].paths[0],), 0)], "in two layers"),
        (lambda ls: [Layer(tuple(reversed(ls[0].paths)), 0), *ls[1:]], "not sorted"),
        (lambda ls: [Layer((), 0), *ls], "empty layer"),
        (lambda ls: [Layer(tuple(sorted(("/elsewhere", *ls[0].paths[1:]))), 0), *ls[1:]], "not in the graph"),
    ],
)
def test_vectorised_layer_check_finds_what_the_plain_one_finds(change, message, monkeypatch):
    g = load_graph(DATA / "debian" / "kde-full.graph.json")
    layers = get_strategy("nixery").group(g, Context(load_popularity(DATA / "debian" / "popularity.json")), 30)
    bad = change(layers)
    found = []
    for threshold in (10**9, 0):
        monkeypatch.setattr(base_module, "_VECTORISE_FROM", threshold)
        check_layers(g, layers, 30)
        with pytest.raises(StrategyError) as info:
            check_layers(g, bad)
        found.append(str(info.value))
    assert found[0] == found[1] and message in found[0]


@pytest.fixture(scope="module")
def kde() -> tuple[ClosureGraph, Popularity]:
    return load_graph(DATA / "debian" / "kde-full.graph.json"), load_popularity(DATA / "debian" / "popularity.json")


def test_dominators_without_edges_into_starts_are_the_full_ones(kde):
    g, pop = kde
    analysis = get_strategy("nixery").analyse(g, Context(pop))
    starts = sorted(set(g.roots) | set(analysis.flagged))
    n = len(g.paths)
    assert len(analysis.flagged) > 10
    assert nixery_module._dominators_large(n, g.refs, starts, None).tolist() == nixery_module._dominators_small(
        n, g.refs, starts
    )


@pytest.mark.parametrize("budget", [1, 2, 10, 30, 94, 5000])
@pytest.mark.parametrize(
    "params", [{}, {"beta": 2.0}, {"beta": 0.0}, {"alpha": 0.0}, {"min_layer_size": 10**6}, {"attach_popularity": 0}]
)
def test_keystone_counts_only_the_users_that_matter(kde, budget, params, monkeypatch):
    g, pop = kde
    context = Context(pop)
    plain = get_strategy("keystone", **params).group(g, context, budget)
    monkeypatch.setattr(keystone_module, "_VECTORISE_FROM", 0)
    pruned = get_strategy("keystone", **params).group(g, context, budget)
    monkeypatch.setattr(graph_module, "_VECTORISE_FROM", 0)
    fresh = load_graph(DATA / "debian" / "kde-full.graph.json")
    vectorised = get_strategy("keystone", **params).group(fresh, context, budget)
    expected = [(layer.paths, layer.rating, layer.reason, layer.root) for layer in plain]
    assert [(layer.paths, layer.rating, layer.reason, layer.root) for layer in pruned] == expected
    assert [(layer.paths, layer.rating, layer.reason, layer.root) for layer in vectorised] == expected


def test_keystone_units_vectorised_equal_plain(kde, monkeypatch):
    g, pop = kde
    pops = pop.for_graph(g)
    for attach in (0, 1, 2, 50):
        plain = keystone_module.keystone_units(g, pops, attach)
        monkeypatch.setattr(keystone_module, "_VECTORISE_FROM", 0)
        vectorised = keystone_module.keystone_units(g, pops, attach)
        monkeypatch.setattr(keystone_module, "_VECTORISE_FROM", 10**9)
        assert list(vectorised.items()) == list(plain.items())


def test_ancestor_count_bounds_hold_and_agree(monkeypatch):
    records = random_records(6, 500)
    plain = ClosureGraph.from_records(records)
    counts = plain.ancestor_counts(range(len(plain.paths)))
    bounds = plain.ancestor_count_bounds()
    assert all(c <= b <= len(plain.paths) for c, b in zip(counts, bounds))
    assert sum(b == c for c, b in zip(counts, bounds)) > len(counts) // 2  # tight where routes do not join
    monkeypatch.setattr(graph_module, "_VECTORISE_FROM", 0)
    vectorised = ClosureGraph.from_records(records)
    assert vectorised.ancestor_count_bounds() == bounds
    assert vectorised.ancestor_counts(range(0, len(plain.paths), 7)) == counts[::7]


def test_path_order_is_the_string_order(monkeypatch):
    monkeypatch.setattr(graph_module, "_VECTORISE_FROM", 0)
    rng = random.Random(7)
    hashed = [store_path(rng, f"x{i}") for i in range(300)]
    tied8 = ["/nix/store/" + "a" * 8 + h[19:] for h in hashed]  # the first 8 hash characters shared
    tied16 = ["/nix/store/" + "b" * 16 + h[27:] for h in hashed]  # all 16 shared: the strings decide
    mixed = hashed[:100] + ["/other/" + h[11:] for h in hashed[100:]]
    long_dirs = [
        d + h[11:] for d, h in zip(["/store-aaaaaaaa-one-bbbbbbbb/", "/store-aaaaaaaa-two-bbbbbbbb/"] * 150, hashed)
    ]
    short = hashed[:50] + ["/nix/store/abc-x"]
    accents = hashed[:50] + ["/nix/store/" + "é" * 20]
    pair = ["/a" + "x" * 30, "/b" + "x" * 30]
    for paths in (hashed, tied8, tied16, mixed, long_dirs, short, accents, hashed[:1], pair):
        paths = list(dict.fromkeys(paths))
        rng.shuffle(paths)
        assert graph_module._path_order(paths) == sorted(range(len(paths)), key=paths.__getitem__)


@pytest.mark.parametrize("broken", [False, True])
def test_mapped_files_load_as_read_ones(broken, tmp_path, monkeypatch):
    import gzip

    records = random_records(8, 200)
    if broken:
        records[7]["references"].append("/nix/store/not-listed")
    files = {"plain": tmp_path / "g.json", "gzip": tmp_path / "g.json.gz", "suffixless": tmp_path / "g"}
    data = orjson.dumps(records)
    files["plain"].write_bytes(b" \n" + data)
    files["gzip"].write_bytes(gzip.compress(data))
    files["suffixless"].write_bytes(gzip.compress(data))

    def facts(path, typed_from):
        monkeypatch.setattr(files_module, "_TYPED_FROM", typed_from)
        try:
            return graph_facts(load_graph(path))
        except LayerlabError as err:
            return ("error", str(err).replace(str(path), "FILE"))

    for path in files.values():
        assert facts(path, 0) == facts(path, 10**12)
        assert (facts(path, 0)[0] == "error") == broken
    if not broken:
        assert files_module._load_mapped(files["plain"], name="g", store_dir="/nix/store") is not None
    assert files_module._load_mapped(files["gzip"], name="g", store_dir="/nix/store") is None
    assert files_module._load_mapped(tmp_path / "missing.json", name="g", store_dir="/nix/store") is None


def test_unit_sizes_same_with_and_without_numpy(monkeypatch):
    import random

    import layerlab.strategies.keystone as keystone_module

    rng = random.Random(8)
    n, m = 300, 40
    nar = [rng.randrange(10**10) for _ in range(n)]
    unit_of = [rng.randrange(m) for _ in range(n)]
    members = [[i for i in range(n) if unit_of[i] == u] for u in range(m)]
    monkeypatch.setattr(keystone_module, "_VECTORISE_FROM", 10**9)
    plain = keystone_module.unit_sizes(members, nar)
    monkeypatch.setattr(keystone_module, "_VECTORISE_FROM", 0)
    assert keystone_module.unit_sizes(members, nar) == plain
    assert sum(plain) == sum(nar) and all(type(s) is int for s in plain)


def test_make_layer_sorts_a_large_index_list_like_a_small_one():
    import random

    from layerlab.graph import ClosureGraph
    from layerlab.strategies.base import _VECTORISE_FROM, make_layer

    n = _VECTORISE_FROM + 500
    g = ClosureGraph.from_records([{"path": f"/nix/store/{i:06d}-p", "narSize": i} for i in range(n)])
    idx = list(range(n))
    random.Random(2).shuffle(idx)
    big, small = make_layer(g, iter(idx)), make_layer(g, idx[:100])
    assert big.paths == g.paths and big.size == sum(range(n))
    assert small.paths == tuple(g.paths[i] for i in sorted(idx[:100]))
    assert idx != sorted(idx)  # the caller's list is left as it was
    huge = ClosureGraph.from_records([{"path": f"/nix/store/{i:06d}-p", "narSize": 2**62} for i in range(n)])
    assert huge.nar_bytes is None and make_layer(huge, idx).size == n * 2**62  # beyond 64 bits: summed exactly
    sizeless = ClosureGraph.from_records([{"path": f"/nix/store/{i:06d}-p"} for i in range(n)])
    assert sizeless.nar_bytes is None and make_layer(sizeless, idx).size is None
