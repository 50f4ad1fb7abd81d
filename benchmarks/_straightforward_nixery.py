"""A straightforward transcription of Nixery's 2019 grouping, used as the benchmarks' baseline.

Standard-library JSON, networkx's pure-Python dominators, dictionaries keyed by
path: what one writes first, with the merge loop as cheap as the Go program's
(constant time a merge, see :func:`merge`).  It computes the same layer sets as
``layerlab.strategies.nixery`` on graphs where every path is reachable (the
benchmarks and ``tests/test_benchmark_baselines.py`` check it).

Transcribed from Nixery's ``tools/nixery/build-image/group-layers.go``
(commit ``6d718bf2713a7e2209197247976390b878f51313``).

Usable as a program: ``python _straightforward_nixery.py GRAPH POPULARITY BUDGET OUT``.
"""

from __future__ import annotations

import json
import re
import sys

import networkx as nx

_PREFIX = re.compile(r"^/nix/store/[a-z0-9]+-")


def group(doc: dict, pop: dict, budget: int) -> list[list[str]]:
    g = nx.DiGraph()
    root = "image_root"
    g.add_node(root)
    size = {}
    popularity = {}
    for entry in doc["graph"]:
        p = entry["path"]
        size[p] = entry["closureSize"]
        popularity[p] = pop.get(_PREFIX.sub("", p), 1)
        g.add_node(p)
    for p in doc["exportReferencesGraph"]["graph"]:
        g.add_edge(root, p)
    for entry in doc["graph"]:
        p = entry["path"]
        if size[p] > 100_000_000 or popularity[p] >= 1000:
            g.add_edge(root, p)
        for r in entry["references"]:
            if r != p:
                g.add_edge(p, r)
    idom = nx.immediate_dominators(g, root)
    children: dict[str, list[str]] = {}
    for node, d in idom.items():
        if node != root:
            children.setdefault(d, []).append(node)
    layers = []
    for head in sorted(children.get(root, [])):
        contents = [head]
        i = 0
        while i < len(contents):
            contents.extend(children.get(contents[i], []))
            i += 1
        rating = popularity[head] * sum(size[p] for p in contents)
        layers.append((rating, head, contents))
    layers.sort(key=lambda t: (t[0], t[1]))
    return [sorted(contents) for _, _, contents in merge(layers, budget)]


def merge(layers: list[tuple[int, str, list[str]]], budget: int) -> list[tuple[int, str, list[str]]]:
    """Nixery's merge loop in constant time per merge, as the Go program runs it.

    Go's ``layers = layers[1:]`` moves a slice's start (no copy) and
    ``append`` grows the first layer's contents in place; here an index
    plays the slice's start and ``list.extend`` the append.  (Copying the list
    and concatenating contents at every merge would make the loop quadratic in
    the number of initial layers, which the Go program is not.)
    """
    first = 0  # layers[first:] are the live layers
    while len(layers) - first > budget:
        rating, head, contents = layers[first]
        next_rating, _, next_contents = layers[first + 1]
        contents.extend(next_contents)
        layers[first + 1] = (rating + next_rating, head, contents)
        first += 1
    return layers[first:]


def main(argv: list[str]) -> int:
    graph_file, pop_file, budget, out = argv
    with open(graph_file) as fh:
        doc = json.load(fh)
    with open(pop_file) as fh:
        pop = json.load(fh)
    layers = group(doc, pop, int(budget))
    with open(out, "w") as fh:
        json.dump([{"contents": lay} for lay in layers], fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
