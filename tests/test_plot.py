"""Figures: content checks (boxes, bars, cells, labels), worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_hex

from layerlab import plot
from layerlab.errors import ConfigError
from layerlab.graph import ClosureGraph
from layerlab.popularity import load_popularity
from layerlab.sources.files import load_graph
from layerlab.strategies import Context, get_strategy
from layerlab.strategies.base import Layer
from layerlab.strategies.nixery import dominator_split

S = "/nix/store/"


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


# ----------------------------------------------------------------- helpers
def test_format_bytes() -> None:
    assert plot.format_bytes(0) == "0 B"
    assert plot.format_bytes(999) == "999 B"
    assert plot.format_bytes(1000) == "1 kB"
    assert plot.format_bytes(100_000_000) == "100 MB"
    assert plot.format_bytes(3_067_510_784) == "3.07 GB"
    assert plot.format_bytes(-2500) == "-2.5 kB"


def test_layer_colours_grey_for_catch_all_and_palette_by_size() -> None:
    layers = [Layer(("a",), 5), Layer(("b",), 50, reason="merged"), Layer(("c",), 9)]
    c = plot.layer_colours(layers)
    assert c[1] == "#c9c9c9"
    # c (9) is larger than a (5): it gets the first palette colour.
    assert c[2] == "#4e79a7" and c[0] == "#f28e2b"


# -------------------------------------------------------------- icicle layout
def test_icicle_boxes_by_hand() -> None:
    # Paths 0..4 = r(5 bytes), a(7), b(3), c(1), d(2); index 5 is the artificial root.
    # Tree: 5 -> r -> {a -> b, c, d}.
    idom = [5, 0, 1, 0, 0]
    nar = [5, 7, 3, 1, 2]
    boxes = plot.icicle_boxes(idom, nar, min_share=0)
    got = [(b.depth, b.start, b.size, b.node, b.count) for b in boxes]
    # subtree sizes: b=3, a=10, c=1, d=2, root=18.
    assert got == [
        (0, 0, 18, 5, 5),
        (1, 0, 18, 0, 5),
        (2, 5, 10, 1, 2),  # a starts after root's own 5 bytes
        (2, 15, 2, 4, 1),
        (2, 17, 1, 3, 1),
        (3, 12, 3, 2, 1),  # b starts after a's own 7 bytes
    ]


def test_icicle_pools_small_siblings_per_group() -> None:
    idom = [5, 0, 1, 0, 0]
    nar = [5, 7, 3, 1, 2]
    # c and d are below 20% of 18 bytes; they fall in different groups.
    boxes = plot.icicle_boxes(idom, nar, min_share=0.2, group_of=[0, 0, 0, 1, 2])
    pools = [(b.depth, b.size, b.count, b.group) for b in boxes if b.node == -1]
    assert pools == [(2, 2, 1, 2), (2, 1, 1, 1)]
    # One pool when no groups are given.
    boxes = plot.icicle_boxes(idom, nar, min_share=0.2)
    assert [(b.size, b.count) for b in boxes if b.node == -1] == [(3, 2)]
    # a (10 bytes) keeps b (3 bytes, below 20%) inside it: collapsed.
    a = next(b for b in boxes if b.node == 1)
    assert a.collapsed and a.count == 2


def test_icicle_max_depth_and_unreachable() -> None:
    # chain 0 -> 1 -> 2 -> 3; path 4 unreachable (-1).
    boxes = plot.icicle_boxes([5, 0, 1, 2, -1], [1, 1, 1, 1, 100], min_share=0, max_depth=2)
    assert max(b.depth for b in boxes) == 2
    assert boxes[0].size == 4  # the unreachable path is left out
    deepest = [b for b in boxes if b.depth == 2]
    assert len(deepest) == 1 and deepest[0].collapsed and deepest[0].count == 3


# ----------------------------------------------------------- dominator tree
@pytest.fixture(scope="module")
def small() -> ClosureGraph:
    recs = [
        {"path": S + "a-app-1", "narSize": 50, "references": [S + "b-libfoo-1", S + "c-glibc-2"]},
        {"path": S + "b-libfoo-1", "narSize": 30, "references": [S + "c-glibc-2"]},
        {"path": S + "c-glibc-2", "narSize": 20, "references": []},
    ]
    return ClosureGraph.from_records(recs, [S + "a-app-1"], name="small")


def test_dominator_tree_small_by_hand(small: ClosureGraph) -> None:
    # glibc flagged as popular: it hangs from the root and gets its own layer.
    split = dominator_split(small, [2])
    layers = [
        Layer((S + "a-app-1", S + "b-libfoo-1"), 80, reason="dominator", root=S + "a-app-1"),
        Layer((S + "c-glibc-2",), 20, reason="popular", root=S + "c-glibc-2"),
    ]
    fig = plot.dominator_tree(small, layers, idom=split.idom, popular=[2], min_share=0)
    ax = fig.axes[0]
    boxes = ax.patches
    # depth 1: app (80 bytes) and glibc (20); depth 2: libfoo under app.
    assert len(boxes) == 3
    heights = sorted(round(p.get_height()) for p in boxes)
    assert heights == [20, 30, 80]
    hatched = [p for p in boxes if p.get_hatch()]
    assert len(hatched) == 1 and round(hatched[0].get_height()) == 20 and hatched[0].get_hatch() == "...."
    # app and libfoo share layer 0's colour, glibc has layer 1's.
    by_height = {round(p.get_height()): to_hex(p.get_facecolor()) for p in boxes}
    assert by_height[80] == by_height[30] != by_height[20]
    assert ax.get_title() == "Dominator tree of small: 3 paths, 100 B, 2 layers"
    labels = texts(ax)
    assert "app-1 · 80 B" in labels and "glibc-2 · 20 B" in labels and "libfoo-1 · 30 B" in labels
    assert ax.get_ylabel() == "bytes of the dominated subtree (narSize)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "popular path" in legend and "layer 0: app-1 · 80 B" in legend


def test_dominator_tree_default_tree_without_flags(small: ClosureGraph) -> None:
    # Without flags a dominates everything: one chain of boxes at depth 1 holding all 100 bytes.
    fig = plot.dominator_tree(small, [Layer(tuple(small.paths), 100)], min_share=0)
    depth1 = [p for p in fig.axes[0].patches if p.get_x() < 0.5]
    assert len(depth1) == 1 and round(depth1[0].get_height()) == 100


def test_dominator_tree_rejects_wrong_idom(small: ClosureGraph) -> None:
    with pytest.raises(ConfigError, match="idom has 2 entries for a graph of 3 paths"):
        plot.dominator_tree(small, [], idom=[3, 3])


@pytest.fixture(scope="module")
def kde(data_dir):
    g = load_graph(data_dir / "debian" / "kde-full.graph.json")
    pop = load_popularity(data_dir / "debian" / "popularity.json")
    return g, Context(pop)


def test_dominator_tree_kde_full_is_readable(kde) -> None:
    g, ctx = kde
    s = get_strategy("nixery")
    layers = s.group(g, ctx, 30)
    table = s.popularity_table(ctx)
    pops, sizes, thr = table.for_graph(g), s.sizes(g), s.threshold(table)
    flagged = s.flagged(g, sizes, pops, thr)
    split = dominator_split(g, flagged)
    big = [i for i in flagged if sizes[i] > s.size_threshold]
    fig = plot.dominator_tree(g, layers, idom=split.idom, big=big, label_top=40)
    ax = fig.axes[0]
    # 1,189 paths collapse to a few hundred boxes at most.
    assert 20 < len(ax.patches) < 600
    # Depth-1 boxes tile the whole image: their heights add up to its bytes.
    depth1 = [p for p in ax.patches if p.get_x() < 0.5]
    assert round(sum(p.get_height() for p in depth1)) == sum(g.nar_size)
    labels = list(texts(ax))
    assert 0 < len(labels) <= 40
    # The largest layer head (libllvm15, 141 MB subtree) is labelled.
    assert any(t.startswith("libllvm15") and t.endswith("141 MB") for t in labels)
    assert ax.get_title() == "Dominator tree of kde-full: 1,189 paths, 3.07 GB, 30 layers"
    assert any(p.get_hatch() == "////" for p in ax.patches)


# ------------------------------------------------------------- layer sizes
def test_layer_sizes_bars_match_layers() -> None:
    layers = [
        Layer(("a",), 10_000_000, reason="merged"),
        Layer(("b",), 2_000, reason="popular"),
        Layer(("c",), 500_000, reason="big"),
    ]
    fig = plot.layer_sizes(layers)
    ax = fig.axes[0]
    assert [round(p.get_height()) for p in ax.patches] == [10_000_000, 2_000, 500_000]
    assert ax.get_title() == "3 layers, 10.5 MB, largest 95%"
    assert ax.get_xlabel() == "layer (manifest order)" and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["merged", "popular", "big"]


def test_layer_stack_segments_and_rows() -> None:
    fig = plot.layer_stack(
        {"nixery b3": [Layer(("a",), 1), Layer(("b",), 6), Layer(("c",), 3)], "one layer": [Layer(("a", "b", "c"), 10)]}
    )
    ax = fig.axes[0]
    assert len(ax.patches) == 4
    first = [p for p in ax.patches if round(p.get_y() + p.get_height() / 2) == 0]
    # largest first: widths 6, 3, 1 starting at 0, 6, 9
    assert [(p.get_x(), p.get_width()) for p in first] == [(0, 6), (6, 3), (9, 1)]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["nixery b3", "one layer"]
    assert "  3 layers" in texts(ax) and "  1 layers" in texts(ax)


# ------------------------------------------------------------------ overlap
def test_overlap_heatmap_cells_and_names() -> None:
    m = np.array([[1.0, 0.25, 0.0], [0.5, 1.0, 0.1], [0.0, 0.2, 1.0]])
    fig = plot.overlap_heatmap(m, ["nginx", "curl", "git"], title="overlap")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["nginx", "curl", "git"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["nginx", "curl", "git"]
    assert np.array_equal(ax.images[0].get_array(), m)
    assert len(ax.texts) == 9 and "0.25" in texts(ax)
    assert ax.get_title() == "overlap"
    assert fig.axes[1].get_ylabel() == "share of the row image's bytes"  # the colour bar


def test_overlap_heatmap_from_dataframe_and_bytes() -> None:
    import pandas as pd

    df = pd.DataFrame([[2e9, 1e6], [1e6, 3e9]], index=["a", "b"], columns=["a", "b"])
    fig = plot.overlap_heatmap(df, as_bytes=True, value_label="shared bytes")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b"]
    # The diagonal (an image with itself) is marked apart from the pairs: hatched grey and labelled "self".
    assert texts(fig.axes[0]) == ["self", "1 MB", "1 MB", "self"]
    diagonal = [p for p in fig.axes[0].patches if p.get_hatch() == "////"]
    assert sorted(p.get_xy() for p in diagonal) == [(-0.5, -0.5), (0.5, 0.5)]


def test_overlap_heatmap_orders_rows_and_shows_bytes() -> None:
    # a and c share much, b little: clustering puts a and c together; "size" puts the best-sharing image first.
    m = np.array([[1.0, 0.1, 0.9], [0.1, 1.0, 0.2], [0.9, 0.2, 1.0]])
    b = np.array([[5e9, 1e6, 2e9], [1e6, 3e9, 4e6], [2e9, 4e6, 4e9]])
    fig = plot.overlap_heatmap(m, ["a", "b", "c"], bytes_matrix=b)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "c", "b"]
    assert "0.90\n2 GB" in texts(fig.axes[0]) and "0.20\n4 MB" in texts(fig.axes[0])
    fig = plot.overlap_heatmap(m, ["a", "b", "c"], order="size")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["c", "a", "b"]
    # Large sets still fit a screen.
    fig = plot.overlap_heatmap(np.eye(40), [f"img-{i}" for i in range(40)])
    assert max(fig.get_size_inches()) <= 10
    with pytest.raises(ConfigError, match="order must be cluster, size or given"):
        plot.overlap_heatmap(m, ["a", "b", "c"], order="name")


def test_overlap_heatmap_rejects_bad_shapes() -> None:
    with pytest.raises(ConfigError, match="must be square"):
        plot.overlap_heatmap([[1, 2, 3], [4, 5, 6]], ["a", "b"])
    with pytest.raises(ConfigError, match="3 names for a 2x2 matrix"):
        plot.overlap_heatmap([[1, 2], [3, 4]], ["a", "b", "c"])


def test_overlap_heatmap_large_sets_are_not_annotated() -> None:
    k = 30
    fig = plot.overlap_heatmap(np.eye(k), [f"img-{i}" for i in range(k)])
    assert len(fig.axes[0].texts) == 0 and len(fig.axes[0].get_xticklabels()) == k


# --------------------------------------------------------------------- pull
def test_pull_vs_budget_lines_and_ideal() -> None:
    curves = {"nixery": {94: 5.1e9, 30: 5.1e9, 10: 5.2e9}, "auto-layer": {94: 3.0e9, 30: 3.9e9, 10: 4.5e9}}
    fig = plot.pull_vs_budget(curves, 2.89e9, marks={"tuned": (30, 3.5e9)})
    ax = fig.axes[0]
    lines = {lay.get_label(): lay for lay in ax.get_lines()}
    assert list(lines) == ["nixery", "auto-layer", "ideal (one layer per path)", "tuned"]
    assert list(lines["nixery"].get_xdata()) == [10, 30, 94]
    assert list(lines["auto-layer"].get_ydata()) == [4.5e9, 3.9e9, 3.0e9]
    assert set(lines["ideal (one layer per path)"].get_ydata()) == {2.89e9}
    assert ax.get_xlabel() == "layer budget (maximum layers per image)"
    assert ax.get_xscale() == "linear"  # 94 / 10 < 20
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "tuned"
    # Lines differ in style and marker, not only colour, and markers are hollow.
    a, b = lines["nixery"], lines["auto-layer"]
    assert a.get_linestyle() != b.get_linestyle() and a.get_marker() != b.get_marker()
    assert a.get_markerfacecolor() == "none"


def test_pull_vs_budget_log_axis_for_wide_ranges() -> None:
    fig = plot.pull_vs_budget({"s": {1: 3.0, 10: 2.0, 100: 1.0}}, 0.5)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "10", "100"]


# -------------------------------------------------------------------- sweep
def test_sweep_heatmap_grid_ticks_and_best() -> None:
    values = [[5e9, 4e9, 3e9], [4.5e9, 3.5e9, 3.2e9]]
    fig = plot.sweep_heatmap(
        values,
        [10**6, 10**7, 10**8],
        [100, 1000],
        x_label="size threshold",
        y_label="popularity threshold",
        best=(10**8, 100),
        x_bytes=True,
        title="sweep",
    )
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (2, 3)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1 MB", "10 MB", "100 MB"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["100", "1000"]
    box = [p for p in ax.patches if p.get_gid() == "tuned"]
    assert len(box) == 1 and (box[0].get_x(), box[0].get_y()) == (1.5, -0.5)
    assert ax.get_title() == "sweep\nred box: the tuned point"
    assert len(ax.texts) == 6 and "3 GB" in texts(ax)
    assert fig.axes[1].get_ylabel() == "bytes pulled"


def test_sweep_heatmap_errors() -> None:
    with pytest.raises(ConfigError, match=r"shape \(1, 2\), expected \(2, 2\)"):
        plot.sweep_heatmap([[1, 2]], [1, 2], [1, 2], x_label="x", y_label="y")
    with pytest.raises(ConfigError, match="not on the grid"):
        plot.sweep_heatmap([[1, 2]], [1, 2], [1], x_label="x", y_label="y", best=(3, 1))


# ------------------------------------------------------------------- output
def test_png_is_deterministic_and_written_atomically(tmp_path) -> None:
    layers = [Layer(("a",), 10, reason="big"), Layer(("b",), 3, reason="merged")]
    a = plot.to_png(plot.layer_sizes(layers))
    b = plot.to_png(plot.layer_sizes(layers))
    assert a[:8] == b"\x89PNG\r\n\x1a\n" and a == b
    out = tmp_path / "x.png"
    plot.save_png(plot.layer_sizes(layers), str(out))
    assert out.read_bytes() == a
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
