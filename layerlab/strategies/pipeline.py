"""nixpkgs' ``layeringPipeline`` language (``flatten-references-graph``).

Transcribed from nixpkgs' ``pkgs/build-support/flatten-references-graph``
(commit ``a50ab67c6163a0f98e212189f114a4bcab19026a``).

A pipeline is a JSON list of steps, each ``[name, *arguments]``, applied in
turn to a value that starts as the closure graph and becomes graphs, lists and
dicts of graphs.  At the end the value is flattened into a list of graphs and
each non-empty graph becomes a layer.  The JSON a nixpkgs user writes for
``streamLayeredImage { layeringPipeline = ...; }`` is accepted as is.

Steps (``G`` a graph, ``xs`` a list of graphs):

``["popularity_contest"]``  G -> xs
    one single-path graph per path, most popular first (see
    :mod:`.popularity_contest`; computed on this graph's own edges).
``["subcomponent_out", [paths]]`` / ``["subcomponent_in", [paths]]``  G -> {main, rest}
    ``main``: the named paths and everything they reach (``out``) or everything
    that reaches them (``in``); ``rest``: the other paths.
``["split_paths", [specs]]``  G -> {main, common, rest}
    a spec is a path or ``{"children_of": path or [paths]}`` (the paths those
    reference).  Edges into the split paths are cut; ``main`` is the split
    paths and their dependencies nothing else reaches, ``common`` the
    dependencies also reached from the roots, ``rest`` the remainder.  Empty
    parts are left out; when no spec matches the result is ``{rest: G}``, and
    when the graph's only root is a split path it is ``{main: G}``.
``["over", key, step]``  dict -> dict: apply ``step`` to one entry.
``["map", step]``  xs -> xs: apply ``step`` to every element.
``["pipe", [steps]]``  run a nested pipeline.
``["flatten"]``  nested lists and dicts -> xs (dict values in key order).
``["split_every", n]``  G -> xs: consecutive chunks of ``n`` paths.
``["remove_paths", path or [paths]]``  G -> G without those paths.
``["reverse"]``  xs -> xs reversed.
``["limit_layers", n]``  xs -> at most ``n``: the first ``n - 1`` kept, the rest merged.

Vertex order, which ``split_every`` and the order of paths inside layers follow,
is nixpkgs': ascending ``narSize`` (ties by path), kept by every step.

``exclude_paths`` removes paths (and references to them) before the pipeline
runs, as nixpkgs does.  nixpkgs then leaves them out of every layer (they end
up in the customisation layer); a layerlab strategy must place every path, so
they form one last layer of reason ``excluded``.

**Budget.**  When the pipeline yields more layers than the budget allows (one
slot less when there are excluded paths), the first ``slots - 1`` are kept and
the tail is merged, as ``limit_layers`` would.

**Where nixpkgs fails, layerlab defines:** cycles (nixpkgs' popularity contest
recurses forever; here a cycle counts as one node, see
:mod:`.popularity_contest`; ``split_paths`` treats every cycle nothing outside
references as a root, so no path is lost); ``over`` on a missing key (nixpkgs:
``KeyError``; here the value is left unchanged, so a pipeline written for
images whose ``split_paths`` has a ``common`` part still runs on images where
it has none); ``map`` over a dict maps its values.  Malformed steps raise
:class:`~layerlab.errors.ConfigError` when the strategy is configured.

Example:
    >>> from layerlab.graph import ClosureGraph
    >>> recs = [{"path": "A", "narSize": 2, "references": ["C"]}, {"path": "B", "narSize": 4, "references": ["C", "D"]},
    ...         {"path": "C", "narSize": 6}, {"path": "D", "narSize": 8}]
    >>> flatten_references_graph(recs, [["split_paths", ["B"]]])
    [['B', 'D'], ['C'], ['A']]
    >>> g = ClosureGraph.from_records(recs)
    >>> [l.paths for l in Pipeline(pipeline=[["split_paths", ["B"]]]).group(g, budget=2)]
    [('B', 'D'), ('A', 'C')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import ConfigError, StrategyError
from ..graph import ClosureGraph, condensation
from .base import Context, Layer, Strategy, make_layer, param
from .popularity_contest import contest_order

__all__ = ["Pipeline", "PGraph", "run_pipeline", "flatten_references_graph", "parse_pipeline", "STEPS"]


@dataclass(frozen=True)
class PGraph:
    """A graph inside a pipeline: vertices (indices of the base graph) in
    order, and the references among them."""

    vs: tuple[int, ...]
    succ: Mapping[int, tuple[int, ...]]

    def induced(self, keep: Iterable[int]) -> PGraph:
        """The subgraph on ``keep``, vertex order kept.

        Example:
            >>> PGraph((0, 1, 2), {0: (1, 2), 1: (2,), 2: ()}).induced([2, 0]).succ
            {0: (2,), 2: ()}
        """
        k = set(keep)
        vs = tuple(v for v in self.vs if v in k)
        return PGraph(vs, {v: tuple(w for w in self.succ[v] if w in k) for v in vs})

    def without(self, drop: Iterable[int]) -> PGraph:
        """The subgraph without the vertices ``drop``, vertex order kept.

        Example:
            >>> PGraph((0, 1, 2), {0: (1,), 1: (2,), 2: ()}).without([1]).vs
            (0, 2)
        """
        d = set(drop)
        return self.induced(v for v in self.vs if v not in d)

    def reach(self, starts: Iterable[int], *, backwards: bool = False) -> set[int]:
        """The vertices reachable from ``starts`` (included), along references (``backwards``: against them).

        Example:
            >>> g = PGraph((0, 1, 2), {0: (1,), 1: (), 2: (1,)})
            >>> sorted(g.reach([0])), sorted(g.reach([1], backwards=True))
            ([0, 1], [0, 1, 2])
        """
        step = self.pred if backwards else self.succ
        seen = set(starts)
        stack = list(seen)
        while stack:
            v = stack.pop()
            for w in step[v]:
                if w not in seen:
                    seen.add(w)
                    stack.append(w)
        return seen

    @property
    def pred(self) -> dict[int, list[int]]:
        back: dict[int, list[int]] = {v: [] for v in self.vs}
        for v in self.vs:
            for w in self.succ[v]:
                back[w].append(v)
        return back


Value = PGraph | list | dict


def _merge(graphs: Sequence[PGraph]) -> PGraph:
    vs: list[int] = []
    succ: dict[int, tuple[int, ...]] = {}
    for g in graphs:
        vs.extend(g.vs)
        succ.update(g.succ)
    return PGraph(tuple(vs), succ)


# ----------------------------------------------------------------- steps
class _Run:
    """Evaluates steps over one base graph."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = paths
        self.index = {p: i for i, p in enumerate(paths)}

    def _find(self, g: PGraph, names: Iterable[str]) -> list[int]:
        present = set(g.vs)
        out = []
        for name in names:
            i = self.index.get(name)
            if i is not None and i in present:
                out.append(i)
        return out

    def run(self, pipeline: Sequence[Any], value: Value) -> Value:
        for n, step in enumerate(pipeline):
            value = self.step(step, value, n)
        return value

    def step(self, step: Sequence[Any], value: Value, n: int) -> Value:
        name, *args = step
        return getattr(self, "op_" + name)(value, *args, where=f"pipeline step {n + 1} ({name})")

    @staticmethod
    def _graph(value: Value, where: str) -> PGraph:
        if not isinstance(value, PGraph):
            raise StrategyError(f"{where} expects a graph, got a {type(value).__name__}")
        return value

    @staticmethod
    def _list(value: Value, where: str) -> list:
        if isinstance(value, dict):
            return list(value.values())
        if not isinstance(value, list):
            raise StrategyError(f"{where} expects a list of graphs, got a graph")
        return value

    def op_popularity_contest(self, value: Value, *, where: str) -> list[PGraph]:
        g = self._graph(value, where)
        local = {v: k for k, v in enumerate(g.vs)}
        refs = [[local[w] for w in g.succ[v]] for v in g.vs]
        ranked = contest_order([self.paths[v] for v in g.vs], refs)
        return [PGraph((g.vs[k],), {g.vs[k]: ()}) for k, _ in ranked]

    def _subcomponent(self, value: Value, paths: Sequence[str], backwards: bool, where: str) -> dict[str, PGraph]:
        g = self._graph(value, where)
        main = g.reach(self._find(g, paths), backwards=backwards)
        return {"main": g.induced(main), "rest": g.without(main)}

    def op_subcomponent_out(self, value: Value, paths: Sequence[str], *, where: str) -> dict[str, PGraph]:
        return self._subcomponent(value, paths, False, where)

    def op_subcomponent_in(self, value: Value, paths: Sequence[str], *, where: str) -> dict[str, PGraph]:
        return self._subcomponent(value, paths, True, where)

    def op_split_paths(self, value: Value, specs: Sequence[Any], *, where: str) -> dict[str, PGraph]:
        g = self._graph(value, where)
        split: list[int] = []
        for spec in specs:
            if isinstance(spec, Mapping):
                parents = spec["children_of"]
                for v in self._find(g, [parents] if isinstance(parents, str) else parents):
                    split.extend(g.succ[v])
            else:
                split.extend(self._find(g, [spec]))
        if not split:
            return {"rest": g}
        split_set = set(split)
        # Roots: the vertices of every component nothing outside it references.
        local = {v: k for k, v in enumerate(g.vs)}
        refs = [[local[w] for w in g.succ[v]] for v in g.vs]
        cond = condensation(len(g.vs), refs)
        root_vs = [g.vs[k] for c, comp in enumerate(cond.comps) if not cond.pred[c] for k in comp]
        if len(root_vs) == 1 and root_vs[0] in split_set:
            return {"main": g}
        split_off = g.reach(split_set)
        cut = PGraph(g.vs, {v: tuple(w for w in g.succ[v] if w not in split_set) for v in g.vs})
        rest_with_common = cut.reach(v for v in root_vs if v not in split_set)
        common = split_off & rest_with_common
        parts = {
            "main": cut.induced(split_off - common),
            "common": cut.induced(common),
            "rest": cut.induced(rest_with_common - common),
        }
        return {k: v for k, v in parts.items() if v.vs}

    def op_over(self, value: Value, key: str, step: Sequence[Any], *, where: str) -> dict:
        if not isinstance(value, dict):
            raise StrategyError(f"{where} expects a dict, got a {type(value).__name__}")
        if key not in value:
            return value
        return {**value, key: self.step(step, value[key], 0)}

    def op_map(self, value: Value, step: Sequence[Any], *, where: str) -> Value:
        if isinstance(value, dict):
            return {k: self.step(step, v, 0) for k, v in value.items()}
        return [self.step(step, v, 0) for v in self._list(value, where)]

    def op_pipe(self, value: Value, pipeline: Sequence[Any], *, where: str) -> Value:
        return self.run(pipeline, value)

    def op_flatten(self, value: Value, *, where: str) -> list[PGraph]:
        return _flatten(value)

    def op_split_every(self, value: Value, count: int, *, where: str) -> list[PGraph]:
        g = self._graph(value, where)
        return [g.induced(g.vs[k : k + count]) for k in range(0, len(g.vs), count)]

    def op_remove_paths(self, value: Value, paths: str | Sequence[str], *, where: str) -> PGraph:
        g = self._graph(value, where)
        return g.without(self._find(g, [paths] if isinstance(paths, str) else paths))

    def op_reverse(self, value: Value, *, where: str) -> list:
        return list(reversed(self._list(value, where)))

    def op_limit_layers(self, value: Value, count: int, *, where: str) -> list[PGraph]:
        xs = self._list(value, where)
        for x in xs:
            self._graph(x, where)
        return [*xs[: count - 1], _merge(xs[count - 1 :])]


def _flatten(value: Value) -> list[PGraph]:
    if isinstance(value, PGraph):
        return [value]
    items = value.values() if isinstance(value, dict) else value
    out: list[PGraph] = []
    for x in items:
        out.extend(_flatten(x))
    return out


# ------------------------------------------------------------ validation
#: Step name -> the kinds of its arguments.
STEPS: Mapping[str, tuple[str, ...]] = {
    "popularity_contest": (),
    "subcomponent_out": ("paths",),
    "subcomponent_in": ("paths",),
    "split_paths": ("specs",),
    "over": ("key", "step"),
    "map": ("step",),
    "pipe": ("pipeline",),
    "flatten": (),
    "split_every": ("count",),
    "remove_paths": ("path_or_paths",),
    "reverse": (),
    "limit_layers": ("count",),
}


def _is_paths(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(p, str) for p in x)


def _check_step(step: Any, where: str) -> None:
    if not isinstance(step, list) or not step or not isinstance(step[0], str):
        raise ConfigError(f"{where}: a step is a list [name, arguments...], not {orjson.dumps(step).decode()[:60]}")
    name, *args = step
    kinds = STEPS.get(name)
    if kinds is None:
        raise ConfigError(f"{where}: unknown step {name!r} (known: {', '.join(STEPS)})")
    if len(args) != len(kinds):
        raise ConfigError(f"{where}: {name} takes {len(kinds)} argument(s), got {len(args)}")
    for kind, arg in zip(kinds, args):
        ok = True
        if kind == "paths":
            ok = _is_paths(arg)
        elif kind == "path_or_paths":
            ok = isinstance(arg, str) or _is_paths(arg)
        elif kind == "specs":
            ok = isinstance(arg, list) and all(
                isinstance(s, str)
                or (
                    isinstance(s, dict)
                    and set(s) == {"children_of"}
                    and (isinstance(s["children_of"], str) or _is_paths(s["children_of"]))
                )
                for s in arg
            )
        elif kind == "key":
            ok = isinstance(arg, str)
        elif kind == "count":
            ok = isinstance(arg, int) and not isinstance(arg, bool) and arg >= 1
        elif kind == "step":
            _check_step(arg, f"{where} > {name}")
        elif kind == "pipeline":
            ok = isinstance(arg, list)
            if ok:
                for k, sub in enumerate(arg):
                    _check_step(sub, f"{where} > pipe step {k + 1}")
        if not ok:
            raise ConfigError(f"{where}: bad {kind} argument for {name}: {orjson.dumps(arg).decode()[:60]}")


def parse_pipeline(value: str | Sequence[Any]) -> list[Any]:
    """Validate a pipeline given as JSON text or a list.

    Raises:
        ConfigError: malformed JSON, unknown step, wrong arguments.

    Example:
        >>> parse_pipeline('[["popularity_contest"], ["limit_layers", 3]]')
        [['popularity_contest'], ['limit_layers', 3]]
        >>> parse_pipeline('[["limit_layers", 0]]')
        Traceback (most recent call last):
        ...
        layerlab.errors.ConfigError: pipeline step 1: bad count argument for limit_layers: 0
    """
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as err:
            raise ConfigError(f"pipeline is not valid JSON: {err}") from None
    if not isinstance(value, list):
        raise ConfigError("pipeline must be a JSON list of steps")
    for n, step in enumerate(value):
        _check_step(step, f"pipeline step {n + 1}")
    return list(value)


def _parse_paths(value: str | Sequence[str]) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError as err:
                raise ConfigError(f"exclude_paths is not valid JSON: {err}") from None
        else:
            return [p.strip() for p in text.replace("\n", ",").split(",") if p.strip()]
    if not _is_paths(list(value)):
        raise ConfigError("exclude_paths must be a list of store paths")
    return list(value)


# ------------------------------------------------------------------ runs
def run_pipeline(
    graph: ClosureGraph, pipeline: str | Sequence[Any], exclude_paths: Iterable[str] = ()
) -> list[list[int]]:
    """Run ``pipeline`` on ``graph``; the layers as lists of path indices, in
    nixpkgs' vertex order, excluded paths left out.

    Example:
        >>> g = ClosureGraph.from_records([{"path": "A", "narSize": 1, "references": ["B"]},
        ...                                {"path": "B", "narSize": 2}])
        >>> run_pipeline(g, [["popularity_contest"], ["reverse"]])
        [[0], [1]]
    """
    steps = parse_pipeline(pipeline)
    excluded = {graph.index[p] for p in exclude_paths if p in graph.index}
    nar = graph.nar_size
    keep = [i for i in range(len(graph.paths)) if i not in excluded]
    if nar is not None:
        keep.sort(key=lambda i: nar[i])  # stable: ties stay in path order
    start = PGraph(tuple(keep), {i: tuple(j for j in graph.refs[i] if j not in excluded) for i in keep})
    result = _Run(graph.paths).run(steps, start)
    return [list(g.vs) for g in _flatten(result) if g.vs]


def flatten_references_graph(
    records: Sequence[Mapping[str, Any]], pipeline: str | Sequence[Any], exclude_paths: Iterable[str] | None = None
) -> list[list[str]]:
    """nixpkgs' ``flatten_references_graph``: Nix graph records and a pipeline
    in, layers as lists of paths out.

    Raises:
        GraphError: malformed records.
        ConfigError: malformed pipeline.

    Example:
        >>> records = [{"path": "/s/a", "narSize": 5, "references": ["/s/b"]}, {"path": "/s/b", "narSize": 9}]
        >>> flatten_references_graph(records, [["popularity_contest"]])
        [['/s/b'], ['/s/a']]
    """
    graph = ClosureGraph.from_records(records)
    return [[graph.paths[i] for i in layer] for layer in run_pipeline(graph, pipeline, exclude_paths or ())]


def _canonical(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return orjson.dumps(list(value)).decode()
    return value


@dataclass(frozen=True, eq=False)
class Pipeline(Strategy):
    """nixpkgs' ``layeringPipeline`` (see the module documentation)."""

    name = "pipeline"
    summary = "nixpkgs layeringPipeline: a JSON pipeline of steps (popularity_contest, split_paths, limit_layers, ...)"
    pipeline: str = param("str", '[["popularity_contest"]]', "the pipeline, JSON as nixpkgs' layeringPipeline")
    exclude_paths: str = param(
        "str", "", "paths kept out of the pipeline (JSON list or comma-separated); they get a last layer"
    )

    def __post_init__(self) -> None:
        # A pipeline or path list given as a Python list is kept as its JSON text.
        for name in ("pipeline", "exclude_paths"):
            object.__setattr__(self, name, _canonical(getattr(self, name)))
        super().__post_init__()

    def _validate(self) -> None:
        parse_pipeline(self.pipeline)
        _parse_paths(self.exclude_paths)

    def _group(self, graph: ClosureGraph, context: Context, budget: int) -> list[Layer]:
        excluded = sorted({graph.index[p] for p in _parse_paths(self.exclude_paths) if p in graph.index})
        groups = run_pipeline(graph, self.pipeline, (graph.paths[i] for i in excluded))
        slots = budget - (1 if excluded else 0)
        if slots < 1:
            return [make_layer(graph, range(len(graph.paths)), reason="merged")]
        layers = [make_layer(graph, g, reason="pipeline") for g in groups[: slots - 1]]
        tail = groups[slots - 1 :]
        if len(tail) == 1:
            layers.append(make_layer(graph, tail[0], reason="pipeline"))
        elif tail:
            layers.append(make_layer(graph, [i for g in tail for i in g], reason="merged"))
        if excluded:
            layers.append(make_layer(graph, excluded, reason="excluded"))
        return layers
