"""``layerlab group``, ``layerlab info`` and ``layerlab strategies``."""

from __future__ import annotations

import argparse

from ._common import add_strategy_options, popularity_context, strategy_from_args, warn_without_popularity, write_output


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("group", help="group a closure graph into layers (writes Nixery's layers.json)")
    p.add_argument(
        "graph", nargs="?", help="closure graph file (any supported layout, .xz/.gz/.zst ok; - reads standard input)"
    )
    add_strategy_options(p)
    p.add_argument(
        "--config", metavar="FILE", help="strategy and budget saved by the workbench (strategy JSON); --set overrides"
    )
    p.set_defaults(budget=None)
    p.add_argument("--out", "-o", help="output file (default: stdout)")
    p.add_argument("--explain", action="store_true", help="print a table of layers (size, rating, reason) to stderr")
    p.add_argument("--source", help="build the graph with Nix from this package source instead of reading a file")
    p.add_argument("--packages", help="with --source: comma-separated attribute paths (git,curl,xorg.xev)")
    p.add_argument("--offline", action="store_true", help="with --source: build without sandbox or binary cache")
    p.set_defaults(func=run_group)

    p = sub.add_parser("info", help="summarise a closure graph: paths, edges, roots, bytes, cycles")
    p.add_argument("graph", help="closure graph file (- reads standard input)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_info)

    p = sub.add_parser("strategies", help="list the strategies and their parameters")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_strategies)


def load_graph_arg(args: argparse.Namespace):
    from ..errors import ConfigError
    from ..sources.files import load_graph

    source = getattr(args, "source", None)
    if source:
        from ..sources.nix import OFFLINE_CONFIG, closure

        if args.graph:
            raise ConfigError("give a graph file or --source, not both", source="layerlab group")
        names = [n.strip() for n in (args.packages or "").split(",") if n.strip()]
        if not names:
            raise ConfigError("--source needs --packages a,b,c", source="layerlab group")
        return closure(source, names, settings=OFFLINE_CONFIG if args.offline else None).graph
    if not args.graph:
        raise ConfigError("a graph file (or --source and --packages) is required", source="layerlab group")
    return load_graph(args.graph)


def run_group(args: argparse.Namespace) -> int:
    from ..strategies import layers_to_json

    budget = args.budget
    if args.config:
        from ..errors import ConfigError
        from ..strategies import load_strategy_file, params_from_strings

        if args.strategy:
            raise ConfigError("give --config or --strategy, not both", source="layerlab group")
        from ..serve.settings import SETTINGS_KEYS

        # a settings file of `layerlab serve` configures the strategy here too
        strategy, saved_budget = load_strategy_file(args.config, other_keys=SETTINGS_KEYS)
        if args.params:
            strategy = strategy.replace(**params_from_strings(type(strategy), args.params))
        if budget is None:
            budget = saved_budget
        context = popularity_context(args)  # --set belongs to the saved strategy, not the default one
    else:
        strategy, context = strategy_from_args(args)
    graph = load_graph_arg(args)
    layers = strategy.group(graph, context, 94 if budget is None else budget)
    warn_without_popularity(strategy, context.popularity)
    if args.explain:
        import sys

        for n, layer in enumerate(layers):
            line = f"{n:3d} {layer.size or 0:>14,d} {layer.rating:>20,} {len(layer.paths):5d} {layer.reason:<12}"
            print(f"{line} {layer.root or ''}", file=sys.stderr)
    write_output(layers_to_json(layers) + b"\n", args.out)
    return 0


def run_info(args: argparse.Namespace) -> int:
    import orjson

    from ..sources.files import load_graph

    graph = load_graph(args.graph)
    summary = graph.summary()
    if args.json:
        print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"graph   {'<stdin>' if args.graph == '-' else args.graph}")
    print(f"paths   {summary['paths']:,}")
    print(f"edges   {summary['edges']:,}")
    print(f"roots   {summary['roots']:,}" + ("" if summary["roots_given"] else " (derived: unreferenced paths)"))
    print("bytes   " + ("unknown (no narSize)" if summary["bytes"] is None else f"{summary['bytes']:,}"))
    print(f"cycles  {summary['cycles']:,} ({summary['paths_in_cycles']:,} paths)")
    if summary["unreachable"]:
        print(f"unreachable  {summary['unreachable']:,} paths no root reaches")
    return 0


def run_strategies(args: argparse.Namespace) -> int:
    import orjson

    from ..strategies import DEFAULT_STRATEGY, available

    table = available()
    if args.json:
        doc = {
            name: {
                "family": cls.name,
                "summary": cls.summary,
                "default": name == DEFAULT_STRATEGY,
                "preset": dict(preset),
                "params": [p.to_json() for p in cls.params],
            }
            for name, (cls, preset) in table.items()
        }
        print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        return 0
    for name, (cls, preset) in table.items():
        mark = " (default)" if name == DEFAULT_STRATEGY else ""
        print(f"{name}{mark}: {cls.summary}")
        if preset:
            print("  preset of " + cls.name + ": " + ", ".join(f"{k}={v}" for k, v in preset.items()))
        for p in cls.params:
            rng = ""
            if p.choices:
                rng = " {" + ",".join(map(str, p.choices)) + "}"
            elif p.minimum is not None or p.maximum is not None:
                rng = f" [{p.minimum if p.minimum is not None else ''}..{p.maximum if p.maximum is not None else ''}]"
            print(f"  {p.name} ({p.kind}{rng}, default {p.default!r}): {p.help}")
    print(f"\nWithout --strategy, commands use {DEFAULT_STRATEGY}; --set KEY=VALUE without --strategy configures it.")
    return 0
