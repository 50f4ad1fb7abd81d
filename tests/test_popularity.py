"""Popularity tables: loading, computing, look-up rules, thresholds."""

from __future__ import annotations

import pickle
import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerlab import popularity as popularity_module
from layerlab.errors import InputError, PopularityError
from layerlab.graph import ClosureGraph
from layerlab.popularity import NIXERY_2022_FORCED, Popularity, compute_popularity, load_popularity, parse_popularity
from layerlab.sources.files import load_graph

from .conftest import DATA, tools_required

S = "/nix/store/"


def test_lookup_by_name_version_as_nixery():
    pop = Popularity({"openssl-1.1.1c": 1200})
    assert pop.of(S + "0c7c96gikmzv87i7lv3vq5s1cmfjd6zf-openssl-1.1.1c") == 1200
    assert pop.of(S + "0c7c96gikmzv87i7lv3vq5s1cmfjd6zf-openssl-1.1.1d") == 1
    assert pop.of_name("unknown") == 1


def test_lookup_by_name_takes_the_best_version():
    pop = Popularity({"openssl-1.1.1c": 1200, "openssl-3.0.1": 7, "openssl-tool-1": 5}, by_name=True)
    assert pop.of_name("openssl-1.1.1d") == 1200
    assert pop.of_name("openssl-tool-2") == 5
    assert pop.of_name("zlib-1") == 1


def test_forced_patterns_win():
    pop = Popularity({"iana-etc-20190820": 3}, forced=NIXERY_2022_FORCED)
    assert pop.of_name("iana-etc-20190820") == 500_000
    assert pop.of_name("nss-cacert-3.49.2") == 500_000
    assert pop.of_name("nss-3.49") == 1


def test_for_graph_fast_and_slow_paths_agree():
    g = load_graph(DATA / "debian" / "git-curl-python3.graph.json")
    table = load_popularity(DATA / "debian" / "popularity.json")
    fast = table.for_graph(g)
    slow = tuple(table.of(p) for p in g.paths)
    assert fast == slow
    assert max(fast) > 1000  # libc6 is in there


def test_percentile_threshold():
    pop = Popularity({f"p{i}-1": i for i in range(1, 101)})
    assert pop.threshold_at_percentile(99) == 100
    assert pop.threshold_at_percentile(50) == 51
    assert pop.threshold_at_percentile(100) == 101
    assert Popularity({}).threshold_at_percentile(99) == 2
    with pytest.raises(PopularityError, match="outside 0..100"):
        pop.threshold_at_percentile(101)


def test_debian_threshold_1000_is_about_the_top_percent():
    pop = load_popularity(DATA / "debian" / "popularity.json")
    share = sum(1 for v in pop.counts.values() if v >= 1000) / len(pop)
    assert 0.0005 < share < 0.01


def test_compute_popularity_counts_direct_references():
    a, b, c, d = (S + x for x in ("aaaa-app-1", "bbbb-tool-1", "cccc-libc-2", "dddd-zlib-1"))
    g = ClosureGraph.from_records(
        [
            {"path": a, "references": [a, c, d]},
            {"path": b, "references": [c]},
            {"path": c, "references": [c]},
            {"path": d, "references": [c]},
        ]
    )
    assert dict(compute_popularity(g).counts) == {"libc-2": 3, "zlib-1": 1}
    assert dict(compute_popularity(g, drop_ones=True).counts) == {"libc-2": 3}


def test_compute_popularity_reproduces_the_debian_table():
    # popularity.json counts referrers over all Debian packages; the universe graph
    # holds nearly all of them, so nearly every entry must agree exactly.
    g = load_graph(DATA / "debian" / "universe.graph.json.xz")
    computed = compute_popularity(g).counts
    recorded = load_popularity(DATA / "debian" / "popularity.json").counts
    agree = sum(1 for k, v in recorded.items() if computed.get(k) == v)
    assert agree / len(recorded) > 0.997
    # The ten packages missing from the universe account for the rest: never more.
    assert all(computed.get(k, 0) <= v for k, v in recorded.items())
    assert 0 < recorded["libc6-2.36-9+deb12u14"] - computed["libc6-2.36-9+deb12u14"] <= 10


@pytest.mark.parametrize(
    "doc, message",
    [
        (b"[1, 2]", "expected an object"),
        (b'{"a": "3"}', "popularity of 'a' is '3', expected an integer"),
        (b'{"a": true}', "popularity of 'a' is True"),
        (b'{"a": -2}', "negative"),
        (b'{"a": 2.0}', "expected an integer"),
    ],
)
def test_bad_tables(doc, message):
    with pytest.raises(PopularityError, match=message) as info:
        parse_popularity(doc, source="pop.json")
    assert str(info.value).startswith("pop.json: ")


def test_malformed_json(tmp_path):
    f = tmp_path / "pop.json"
    f.write_text("{")
    with pytest.raises(InputError, match="malformed JSON") as info:
        load_popularity(f)
    assert str(f) in str(info.value)


def test_round_trip(tmp_path):
    pop = Popularity({"b-1": 2, "a-1": 3})
    assert orjson.loads(pop.to_json()) == {"a-1": 3, "b-1": 2}
    assert pop.to_json() == b'{"a-1":3,"b-1":2}'


# --- tables looked up in their bytes (the compiled helper _popindex) --------


@pytest.fixture
def popindex():
    """The compiled helper; a failure under CI when it was not built."""
    if popularity_module._popindex is None:
        if tools_required():
            pytest.fail("layerlab._popindex was not built (a C compiler is needed)")
        pytest.skip("layerlab._popindex was not built")
    return popularity_module._popindex


def outcome(doc: bytes, monkeypatch: pytest.MonkeyPatch, helper) -> tuple:
    """What parse_popularity makes of ``doc``: the table as a dict and its size, or the error's text."""
    monkeypatch.setattr(popularity_module, "_popindex", helper)
    try:
        pop = parse_popularity(doc, source="p.json")
    except InputError as err:
        return ("error", str(err))
    return ("table", dict(pop.counts), len(pop.counts))


def test_the_bundled_table_is_looked_up_without_decoding_and_agrees_with_the_decoded_one(popindex, monkeypatch):
    data = (DATA / "debian" / "popularity.json").read_bytes()
    table = load_popularity(DATA / "debian" / "popularity.json")
    assert type(table.counts).__name__ == "_IndexedCounts" and table.counts._decoded is None
    decoded = orjson.loads(data)
    g = load_graph(DATA / "debian" / "kde-full.graph.json")
    universe = load_graph(DATA / "debian" / "universe.graph.json.xz")
    monkeypatch.setattr(popularity_module, "_popindex", None)
    general = parse_popularity(data)
    assert type(general.counts) is dict
    assert table.for_graph(g) == general.for_graph(g)
    assert table.counts._decoded is None  # a closure's look-ups decode nothing
    # More names than entries are looked up in the decoded table.
    assert table.for_graph(universe) == general.for_graph(universe)
    assert table.counts._decoded == decoded
    names = sorted(decoded)
    sample = random.Random(5).sample(names, 500) + ["absent-1", "", "libc6"]
    assert [table.counts.get(k) for k in sample] == [decoded.get(k) for k in sample]
    assert all(k in table.counts for k in names[:200]) and "absent-1" not in table.counts and 3 not in table.counts
    with pytest.raises(KeyError):
        table.counts["absent-1"]
    assert len(table) == len(decoded)
    assert table.counts == decoded and dict(table.counts) == decoded
    assert list(table.counts) == list(decoded) and list(table.counts.items()) == list(decoded.items())
    copy = pickle.loads(pickle.dumps(table))
    assert dict(copy.counts) == decoded and copy.for_graph(g) == general.for_graph(g)


@pytest.mark.parametrize(
    "doc",
    [
        b'{"a-1": 3, "b-2": 0}',
        b' \t\r\n{ "a-1" : 3 ,\n"b-2":4294967295 } \n',
        b"{}",
        b" { } ",
        b'{"a-1": 3, "a-1": 5, "b": 1}',  # written twice: the last count, counted once
        b'{"": 2}',
        b'{"x\x7f": 2}',
    ],
)
def test_simple_documents_are_indexed(doc, popindex, monkeypatch):
    assert popindex.index(doc) is not None
    assert outcome(doc, monkeypatch, popindex) == outcome(doc, monkeypatch, None)


@pytest.mark.parametrize(
    "doc",
    [
        b'{"a\\u0041": 3}',  # escapes
        '{"caf\u00e9-1": 3}'.encode(),  # beyond ASCII
        b'{"a\tb": 3}',  # a control character (invalid JSON)
        b'{"a": -2}',
        b'{"a": 2.0}',
        b'{"a": 2e3}',
        b'{"a": 02}',
        b'{"a": 4294967296}',
        b'{"a": 123456789012345678901234567890}',
        b'{"a": "3"}',
        b'{"a": true}',
        b'{"a": null}',
        b'{"a": [1]}',
        b'{"a": 1,}',
        b'{"a": 1 "b": 2}',
        b'{"a" 1}',
        b'{"a": 1} x',
        b'{"a": 1',
        b'{"a',
        b"[1, 2]",
        b"",
        b"   ",
        b"\xef\xbb\xbf{}",
    ],
)
def test_anything_else_is_decoded_the_general_way(doc, popindex, monkeypatch):
    assert popindex.index(doc) is None
    assert outcome(doc, monkeypatch, popindex) == outcome(doc, monkeypatch, None)


_KEY_CHARS = st.sampled_from(list('ab-1.+ "\\:,{}') + ["\u00e9", "\t"])
_SPACE = st.sampled_from(["", " ", "\n", "\t ", "\r\n"])


@st.composite
def _documents(draw) -> bytes:
    """Popularity documents, most of them in the simple form, some a byte away from it."""
    keys = draw(st.lists(st.text(_KEY_CHARS, max_size=6), max_size=8))
    values = st.one_of(st.integers(0, 2**33), st.sampled_from(["-1", "1.5", "07", "true", '"2"', "1e2"]))
    parts = []
    for key in keys:
        value = draw(values)
        parts.append(draw(_SPACE) + orjson.dumps(key).decode() + draw(_SPACE) + ":" + draw(_SPACE) + str(value))
    doc = draw(_SPACE) + "{" + ",".join(parts) + draw(_SPACE) + "}" + draw(_SPACE)
    if draw(st.booleans()) and doc.strip():
        cut = draw(st.integers(0, len(doc) - 1))
        doc = doc[:cut] + draw(st.sampled_from(["", ",", '"', "}", " "])) + doc[cut + 1 :]
    return doc.encode()


@settings(max_examples=400, deadline=None)
@given(_documents())
def test_indexed_and_decoded_tables_agree_on_any_document(doc):
    helper = popularity_module._popindex
    if helper is None:
        pytest.skip("layerlab._popindex was not built")
    with pytest.MonkeyPatch.context() as mp:
        indexed = outcome(doc, mp, helper)
        general = outcome(doc, mp, None)
    assert indexed == general
    if indexed[0] == "table":
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(popularity_module, "_popindex", helper)
            pop = parse_popularity(doc)
        keys = list(indexed[1]) + ["zz", ""]
        assert pop.counts.get("zz", -1) == indexed[1].get("zz", -1)
        assert [pop.counts.get(k) for k in keys] == [indexed[1].get(k) for k in keys]


def test_the_helper_refuses_what_it_cannot_use(popindex):
    doc = b'{"a-1": 3}'
    _, table = popindex.index(doc)
    assert popindex.lookup(doc, table, ["a-1", "b"], None) == (3, None)
    with pytest.raises(TypeError, match="names must be str"):
        popindex.lookup(doc, table, ["a-1", 3], None)
    with pytest.raises(ValueError, match="not a table"):
        popindex.lookup(doc, table[:-1], ["a-1"], None)
    with pytest.raises(TypeError):
        popindex.index("{}")
    # A table that does not belong to the document never reads outside it.
    other = b'{"' + b"k" * 200 + b'": 1}'
    _, big = popindex.index(other)
    assert popindex.lookup(doc, big, ["k" * 200, "a-1"], None) == (None, None)
