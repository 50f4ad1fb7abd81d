"""Popularity tables: loading, computing, look-up rules, thresholds."""

from __future__ import annotations

import orjson
import pytest

from layerlab.errors import InputError, PopularityError
from layerlab.graph import ClosureGraph
from layerlab.popularity import NIXERY_2022_FORCED, Popularity, compute_popularity, load_popularity, parse_popularity
from layerlab.sources.files import load_graph

from .conftest import DATA

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
