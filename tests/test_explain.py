"""Explaining a grouping, diffing two layerings, saved configurations and the Nix snippets."""

from __future__ import annotations

import orjson
import pytest

from layerlab.cli import main
from layerlab.errors import ConfigError, InputError
from layerlab.graph import ClosureGraph
from layerlab.imageset import ImageSet, bundled_imagesets
from layerlab.metrics import layer_imageset
from layerlab.metrics.diff import diff_layerings
from layerlab.metrics.explain import explain, explain_path, find_paths, grouping_facts, why_chain
from layerlab.plot import CATCH_ALL_COLOUR, layer_colour
from layerlab.popularity import Popularity, load_popularity
from layerlab.sources.files import load_graph
from layerlab.strategies import Context, get_strategy, load_strategy_file, strategy_file_json
from layerlab.strategies.base import Layer
from layerlab.strategies.export import nix_snippets, nix_value
from layerlab.workbench.tree import PATHBAR_PX, TEXT_PX, icicle_figure

from .conftest import DATA

S = "/nix/store/"


@pytest.fixture()
def small() -> ClosureGraph:
    """app (10) -> gui (20) -> {libc (30), llvm (500)}; app -> tool (5) -> libc (narSize in brackets)."""
    recs = [
        {"path": S + "a-app-1", "narSize": 10, "references": [S + "g-gui-2", S + "t-tool-3"]},
        {"path": S + "g-gui-2", "narSize": 20, "references": [S + "c-libc-2.36", S + "l-llvm-15"]},
        {"path": S + "t-tool-3", "narSize": 5, "references": [S + "c-libc-2.36"]},
        {"path": S + "c-libc-2.36", "narSize": 30},
        {"path": S + "l-llvm-15", "narSize": 500},
    ]
    return ClosureGraph.from_records(recs, [S + "a-app-1"], name="small")


def test_find_paths_ranks_names(small: ClosureGraph) -> None:
    names = small.names
    assert [names[i] for i in find_paths(small, "libc")] == ["libc-2.36"]
    assert [names[i] for i in find_paths(small, "LLVM")] == ["llvm-15"]
    # Names starting with "l" first (larger closure first), then any path containing it.
    assert [names[i] for i in find_paths(small, "l")] == ["llvm-15", "libc-2.36", "tool-3"]
    assert [names[i] for i in find_paths(small, "libc-2.36")] == ["libc-2.36"]
    assert find_paths(small, "nothing") == []
    with pytest.raises(ConfigError, match="type a package name"):
        find_paths(small, "  ")


def test_why_chain_is_a_shortest_chain_from_a_root(small: ClosureGraph) -> None:
    idx = small.index
    assert why_chain(small, idx[S + "c-libc-2.36"]) == (idx[S + "a-app-1"], idx[S + "g-gui-2"], idx[S + "c-libc-2.36"])
    assert why_chain(small, idx[S + "a-app-1"]) == (idx[S + "a-app-1"],)


def test_explain_a_big_path_and_a_popular_one(small: ClosureGraph) -> None:
    # libc: popularity 2000 >= 1000 (popular); llvm: narSize 500 > 100 (big).
    ctx = Context(Popularity({"libc-2.36": 2000, "llvm-15": 3}))
    strategy = get_strategy("nixery", size_threshold=100, size_measure="nar")
    facts = grouping_facts(small, strategy, ctx, budget=5)
    llvm = explain_path(facts, S + "l-llvm-15")
    assert (llvm.layer_reason, llvm.big, llvm.popular, llvm.size, llvm.size_threshold) == ("big", True, False, 500, 100)
    assert llvm.chain == (S + "a-app-1", S + "g-gui-2", S + "l-llvm-15") and llvm.dominator is None
    assert llvm.rating == 3 * 500 and not llvm.merged
    libc = explain_path(facts, S + "c-libc-2.36")
    assert (libc.layer_reason, libc.popular, libc.popularity, libc.popularity_threshold) == (
        "popular",
        True,
        2000,
        1000,
    )
    text = "\n".join(libc.lines())
    assert "popularity 2,000 against 1,000 (2.00× the threshold)" in text
    # gui is dominated by app (its only referrer), so it joins app's layer.
    gui = explain_path(facts, S + "g-gui-2")
    assert gui.dominator == S + "a-app-1" and gui.layer_root == S + "a-app-1" and gui.kept_alive == 20


def test_explain_a_merged_path_names_the_rating_that_lost(small: ClosureGraph) -> None:
    ctx = Context(Popularity({"libc-2.36": 2000, "llvm-15": 3}))
    # Three initial layers (app 35 bytes x 1, libc 30 x 2000, llvm 500 x 3); budget 2 merges the two lowest.
    facts = grouping_facts(small, get_strategy("nixery", size_threshold=100, size_measure="nar"), ctx, budget=2)
    e = explain_path(facts, S + "l-llvm-15")
    assert e.merged and e.layer_reason == "merged" and e.rating == 1500
    assert e.lowest_kept_rating == 60_000 and e.initial_layers == 3 and e.budget == 2
    assert (
        "merged: rating 1,500 lost; the lowest rating that kept its own layer was 60,000; budget 2 for 3 initial layers"
        in e.lines()
    )
    assert e.to_json()["big"] is True


def test_explain_other_strategies_use_the_plain_dominator_tree(small: ClosureGraph) -> None:
    facts = grouping_facts(small, get_strategy("auto-layer"), None, budget=2)
    e = explain_path(facts, S + "l-llvm-15")
    assert e.dominator == S + "g-gui-2" and e.big is None and e.rating is None
    assert not any(line.startswith("big") for line in e.lines())
    with pytest.raises(ConfigError, match="no path /nix/store/x-y"):
        explain_path(facts, "/nix/store/x-y")
    with pytest.raises(ConfigError, match="no path matches 'zzz'"):
        explain(small, get_strategy("auto-layer"), None, 2, "zzz")


def test_explain_libllvm15_in_kde_full() -> None:
    s = bundled_imagesets()["kde-full"]()
    e = explain(s.graphs[0], get_strategy("nixery-2022"), Context(s.popularity), 30, "libllvm15")[0]
    assert e.name.startswith("libllvm15") and e.big and not e.popular and e.merged
    assert e.chain[0] in {s.graphs[0].paths[r] for r in s.graphs[0].roots} and e.chain[-1] == e.path
    assert e.lowest_kept_rating > e.rating and e.initial_layers > 30


def test_diff_by_hand() -> None:
    a = ClosureGraph.from_records(
        [
            {"path": S + "a-app-1", "narSize": 10, "references": [S + "l-lib-1"]},
            {"path": S + "l-lib-1", "narSize": 100},
        ],
        [S + "a-app-1"],
        name="a",
    )
    s = ImageSet.from_graphs([a], name="one")
    one = layer_imageset(get_strategy("single-layer"), s, 5)
    per = layer_imageset(get_strategy("per-path"), s, 5)
    d = diff_layerings(one, per)
    assert {m.path for m in d.moved} == {S + "a-app-1", S + "l-lib-1"}
    assert (len(d.only_a), len(d.only_b), len(d.common)) == (1, 2, 0)
    # Holding {app, lib} as one layer, a client downloads both new layers: 110 bytes under either rule.
    assert d.download == {"any": 110, "chain": 110} and d.download_image("a") == 110
    same = diff_layerings(per, layer_imageset(get_strategy("per-path"), s, 5))
    assert same.moved == () and same.download == {"any": 0, "chain": 0}
    # Same layers in another order: any digest downloads nothing, ChainID everything above the first change.
    rev = layer_imageset(get_strategy("per-path"), s, 5)
    rev = type(rev)(rev.imageset, (tuple(reversed(rev.layers[0])),), label="reversed")
    d2 = diff_layerings(per, rev)
    assert d2.moved == () and d2.download == {"any": 0, "chain": 110}


def test_diff_rejects_other_image_sets() -> None:
    s = bundled_imagesets()["bash-coreutils"]()
    t = bundled_imagesets()["git-curl-python3"]()
    with pytest.raises(ConfigError, match="different image sets"):
        diff_layerings(layer_imageset(get_strategy("nixery"), s, 5), layer_imageset(get_strategy("nixery"), t, 5))


def test_layer_colour_follows_identity_not_rank() -> None:
    a = Layer((S + "a-x",), 5, reason="big", root=S + "a-x")
    bigger = Layer((S + "a-x", S + "b-y"), 5000, reason="big", root=S + "a-x")
    other = Layer((S + "c-z",), 5, reason="big", root=S + "c-z")
    assert layer_colour(a) == layer_colour(bigger) != layer_colour(other)
    for reason in ("merged", "rest", "unreachable"):
        assert layer_colour(Layer((S + "a-x",), 1, reason=reason)) == CATCH_ALL_COLOUR
    # Identity colours are saturated: none is a grey like the catch-all.
    for k in range(200):
        c = layer_colour(Layer((f"{S}{k}-p",), 1, root=f"{S}{k}-p"))
        r, g, b = (int(c[i : i + 2], 16) for i in (1, 3, 5))
        assert max(r, g, b) - min(r, g, b) > 60, c


def test_icicle_figure_on_kde_full() -> None:
    s = bundled_imagesets()["kde-full"]()
    g = s.graphs[0]
    facts = grouping_facts(g, get_strategy("nixery-2022"), Context(s.popularity), 30)
    small = find_paths(g, "libxcb-xinput0")[0]  # keeps a few kB alive: pooled unless searched for
    fig = icicle_figure(facts, max_boxes=200)  # the default is 100
    t = fig["data"][0]
    assert t["values"][0] == sum(g.nar_size) and f"p{small}" not in t["ids"]
    # 200 boxes, handed out largest first from the image down, at most 40 under any box; the rest pooled.
    shown = {int(i[1:]) for i in t["ids"] if i.startswith("p")}
    heads = {g.index[x.root] for x in facts.layers if x.root and x.reason != "merged"}
    assert heads <= shown  # every layer shows its colour
    assert len(shown) <= 200 + len(heads) and max(t["parents"].count(p) for p in set(t["parents"])) <= 41 + len(heads)
    assert all(p in t["ids"] for p in t["parents"][1:])
    biggest = max(range(len(g)), key=lambda i: (facts.kept_alive[i], -i))
    assert f"p{biggest}" in t["ids"] and t["values"][1] == facts.kept_alive[biggest]  # largest first
    pooled = [i for i in t["ids"] if i.startswith("more:")]
    assert pooled and all(t["labels"][t["ids"].index(p)].startswith("+") for p in pooled)
    # The image shows 40 boxes and a pool; the pool opens on the next 40 and a further pool.
    assert t["parents"].count("image") == 41 and t["parents"][t["ids"].index("more:image:40")] == "image"
    assert t["parents"].count("more:image:40") == 41
    # Branch values add up: each box is exactly the sum of its children plus its own bytes.
    kids: dict[str, int] = {}
    for pid, v in zip(t["parents"], t["values"]):
        kids[pid] = kids.get(pid, 0) + v
    value = dict(zip(t["ids"], t["values"]))
    assert kids["image"] == value["image"]
    for box, below in kids.items():
        if box.startswith("p"):
            assert value[box] == below + g.nar_size[int(box[1:])]
    colours = set(t["marker"]["colors"][1:])
    assert CATCH_ALL_COLOUR in colours and len(colours) > 10
    # Labels only on boxes that can hold one (12 px) when their parent fills the plot; thinner ones get no text.
    inner = fig["layout"]["height"] - fig["layout"]["margin"]["t"] - fig["layout"]["margin"]["b"] - PATHBAR_PX
    texts = t["texttemplate"]
    assert texts[0] == texts[1] == "%{label} %{customdata[2]}" and 0 < texts.count("") < len(texts)
    for k in range(1, len(texts)):
        assert (texts[k] == "") == (t["values"][k] * inner < value[t["parents"][k]] * TEXT_PX), t["ids"][k]
    # Searching a path gives it (and the boxes above it) a box, outlined, and opens the view at its parent.
    fig = icicle_figure(facts, highlight=small)
    t = fig["data"][0]
    k = t["ids"].index(f"p{small}")
    assert t["marker"]["line"]["width"][k] == 4 and t["level"] == t["parents"][k]
    assert t["customdata"][k][0].startswith("libxcb-xinput0") and t["customdata"][k][3].startswith("layer ")
    assert "://" not in orjson.dumps(fig).decode()  # no URL: nothing is fetched from a network


def test_strategy_files_round_trip_and_errors(tmp_path) -> None:
    f = tmp_path / "c.json"
    s = get_strategy("nixery", size_threshold=20_000_000)
    f.write_bytes(strategy_file_json(s, 12))
    assert load_strategy_file(f) == (s, 12)
    assert strategy_file_json(s, 12) == strategy_file_json(load_strategy_file(f)[0], 12)  # same bytes
    f.write_text("{not json")
    with pytest.raises(InputError, match="c.json: malformed JSON"):
        load_strategy_file(f)
    f.write_text('{"strategy": "nope"}')
    with pytest.raises(ConfigError, match="c.json: unknown strategy 'nope'"):
        load_strategy_file(f)
    f.write_text('{"strategy": "nixery", "budget": 0}')
    with pytest.raises(ConfigError, match="c.json: budget must be a positive integer, not 0"):
        load_strategy_file(f)


def test_group_reads_a_saved_configuration(tmp_path, capsysbinary) -> None:
    cfg = tmp_path / "tuned.json"
    cfg.write_bytes(strategy_file_json(get_strategy("nixery-2022", size_threshold=50_000_000), 7))
    graph = str(DATA / "debian" / "kde-full.graph.json")
    pop = str(DATA / "debian" / "popularity.json")
    assert main(["group", graph, "-p", pop, "--config", str(cfg)]) == 0
    got = orjson.loads(capsysbinary.readouterr().out)
    want = get_strategy("nixery-2022", size_threshold=50_000_000).group(
        load_graph(graph), Context(load_popularity(pop)), 7
    )
    assert [layer["contents"] for layer in got] == [list(layer.paths) for layer in want]
    assert main(["group", graph, "-p", pop, "--config", str(cfg), "--budget", "3"]) == 0
    assert len(orjson.loads(capsysbinary.readouterr().out)) == 3
    assert main(["group", graph, "--config", str(cfg), "--strategy", "nixery"]) == 2
    assert (
        capsysbinary.readouterr().err.decode().strip()
        == "layerlab: error: layerlab group: give --config or --strategy, not both"
    )
    assert main(["group", graph, "--config", str(tmp_path / "none.json")]) == 2
    assert "none.json: cannot read file" in capsysbinary.readouterr().err.decode()
    # a misspelt key is an error, not a silently ignored setting; a server's settings file is accepted
    typo = tmp_path / "typo.json"
    typo.write_text('{"strategy": "nixery", "budgte": 5}')
    assert main(["group", graph, "--config", str(typo)]) == 2
    err = capsysbinary.readouterr().err.decode()
    assert "typo.json: unknown key budgte (known: " in err and " budget," in err and " port," in err
    serve = tmp_path / "serve.toml"
    serve.write_text('source = "path!nix/testpkgs"\nport = 9000\nstrategy = "nixery"\nbudget = 4\n')
    assert main(["group", graph, "--config", str(serve)]) == 0
    assert len(orjson.loads(capsysbinary.readouterr().out)) == 4


def test_nix_snippets() -> None:
    assert nix_value({"a-b": [1, True, None, "x${y}"]}) == '{ "a-b" = [ 1 true null "x\\${y}" ]; }'
    pc = nix_snippets(get_strategy("popularity-contest"), 20)["nixpkgs"]
    assert "maxLayers = 21;" in pc and 'layeringPipeline = [ [ "popularity_contest" ] [ "limit_layers" 20 ] ];' in pc
    assert nix_snippets(get_strategy("popularity-contest", score="appearances"), 20) == {}
    pipe = get_strategy("pipeline", pipeline='[["split_paths", ["/nix/store/x"]], ["flatten"]]')
    assert (
        'layeringPipeline = [ [ "split_paths" [ "/nix/store/x" ] ] [ "flatten" ] ];' in nix_snippets(pipe, 9)["nixpkgs"]
    )
    assert set(nix_snippets(get_strategy("nix2container"), 9)) == {"nix2container"}
    assert nix_snippets(get_strategy("keystone"), 9) == {}


def test_overlap_figure_hover_order_and_diagonal() -> None:
    from layerlab.imageset import default_imageset
    from layerlab.metrics.overlap import overlap, overlap_matrix
    from layerlab.workbench.charts import overlap_figure, pull_budget_figure

    lay = layer_imageset(get_strategy("nixery"), default_imageset(), 30)
    f = overlap_figure(lay)
    t = f.figure["data"][0]
    names = t["y"]
    assert sorted(names) == sorted(lay.imageset.names) and names != sorted(names)  # clustered, not by name
    assert all(t["z"][i][i] is None for i in range(len(names)))  # the diagonal is left out
    share = overlap_matrix(overlap(lay).frame, "layer_share")
    i, j = names.index("img-curl"), names.index("img-git")
    assert t["z"][i][j] == round(float(share.loc["img-curl", "img-git"]), 4)
    assert t["customdata"][i][j][1] == plot_bytes(
        overlap_matrix(overlap(lay).frame, "shared_path_bytes").loc["img-curl", "img-git"]
    )
    assert f.figure["layout"]["height"] <= 720
    p = pull_budget_figure({"a": {5: 3.0, 10: 2.0}, "b": {5: 3.0, 10: 2.0}}, 1.0)
    a, b = p.figure["data"][:2]
    assert (a["line"]["dash"], a["marker"]["symbol"]) != (b["line"]["dash"], b["marker"]["symbol"])


def plot_bytes(n) -> str:
    from layerlab.units import format_bytes

    return format_bytes(n)


def test_core_objects_display_as_compact_html(small: ClosureGraph) -> None:
    card = small._repr_html_()
    assert card.startswith('<div class="ll-graph"') and "5 paths" in card and "roots: app-1" in card
    assert "largest closures: app-1 (565 B), gui-2 (550 B)" in card
    s = bundled_imagesets()["bash-coreutils"]()
    lay = layer_imageset(get_strategy("nixery"), s, 5)
    table = lay._repr_html_()
    assert "<b>nixery <small>(" in table and ", budget 5: 1 images" in table and table.count("<tr>") == 2
    assert "size_threshold=100000000" in table
