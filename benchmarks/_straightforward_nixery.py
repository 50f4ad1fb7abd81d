"""A straightforward transcription of Nixery's 2019 grouping, used as the benchmarks' baseline.

Standard-library JSON, networkx's pure-Python dominators, dictionaries keyed by
path: what one writes first.  It computes the same layer sets as
``layerlab.strategies.nixery`` on graphs where every path is reachable.

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
    while len(layers) > budget:
        a, b = layers[0], layers[1]
        layers[1] = (a[0] + b[0], a[1], a[2] + b[2])
        layers = layers[1:]
    return [sorted(l[2]) for l in layers]


def main(argv: list[str]) -> int:
    graph_file, pop_file, budget, out = argv
    with open(graph_file) as fh:
        doc = json.load(fh)
    with open(pop_file) as fh:
        pop = json.load(fh)
    layers = group(doc, pop, int(budget))
    with open(out, "w") as fh:
        json.dump([{"contents": l} for l in layers], fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
