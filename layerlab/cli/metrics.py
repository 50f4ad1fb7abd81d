"""``layerlab pull``, ``layerlab sweep`` and ``layerlab tune``: cache-hit analysis of an image set.

IMAGESET is a directory of graph files (pulled in file-name order), a directory
holding ``imageset.toml``/``imageset.json``, or such a manifest file; without
it the bundled Debian 30-image set (with its popularity table) is used.
``--popularity`` overrides the set's own table.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from typing import Any

from ._common import (
    add_strategy_list_options,
    add_strategy_options,
    configured_strategies,
    configured_strategy,
    int_list,
    share_settings,
    warn_without_popularity,
)

_RANGE = re.compile(r"^([^:,]+):([^:,]+):(\d+)$")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pull", help="bytes a client pulls for an image set, against the ideal (one layer per path)")
    _imageset_arg(p)
    add_strategy_options(p)
    p.add_argument(
        "--rule", choices=("any", "chain"), default="any", help="cache rule: any digest (default) or ChainID prefix"
    )
    p.add_argument(
        "--held", action="append", default=[], metavar="IMAGE", help="an image the client already holds (repeatable)"
    )
    p.add_argument("--per-image", action="store_true", help="also print one line per image")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_pull)

    p = sub.add_parser("sweep", help="evaluate strategies x parameters x budgets over an image set (CSV/Parquet)")
    _imageset_arg(p)
    add_strategy_list_options(p, spread=True)
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2|KEY=LO:HI:N",
        help="values of a parameter (repeatable); LO:HI:N is a range, log-spaced for sizes and counts",
    )
    p.add_argument(
        "--random", type=int, metavar="N", help="sample N random points within the --grid ranges instead of the grid"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--budgets", default="94", metavar="N,N,...", help="layer budgets (default 94)")
    p.add_argument("--rule", action="append", choices=("any", "chain"), help="cache rule (repeatable; default any)")
    p.add_argument("--out", "-o", help="output file: .parquet or .csv (default: CSV on stdout)")
    _figure_options(p)
    p.add_argument("--figures", action="store_true", help="add the scorecard's four figures (pull/update, any/chain)")
    _run_options(p)
    p.set_defaults(func=run_sweep)

    p = sub.add_parser("tune", help="search strategy parameters for the lowest pull cost, with sensitivity")
    _imageset_arg(p)
    add_strategy_options(p)
    p.add_argument(
        "--space",
        action="append",
        default=[],
        metavar="KEY=V1,V2|KEY=LO:HI:N",
        help="values to search (default: numeric parameters)",
    )
    p.add_argument(
        "--method", choices=("grid", "random", "coordinate"), default="grid", help="search method (default grid)"
    )
    p.add_argument("--steps", type=int, default=10, help="values per parameter in the default space (default 10)")
    p.add_argument("--samples", type=int, default=50, help="random points (default 50)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--objective",
        default="pulled_bytes",
        help="what to minimise: a column (pulled_bytes, the default; ratio, storage_bytes...), a figure (pull-any, "
        "pull-chain, update-any, update-chain), a weighted sum (0.5*pull-chain+0.5*update-chain) or lex:FIG,FIG",
    )
    p.add_argument("--rule", choices=("any", "chain"), default="any", help="cache rule (default any)")
    p.add_argument("--evaluate-on", metavar="IMAGESET", help="a second image set to report the tuned figures on")
    p.add_argument("--out", "-o", help="write every evaluated point (.parquet or .csv)")
    p.add_argument("--sensitivity", metavar="FILE", help="write the sensitivity table (.parquet or .csv)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _figure_options(p)
    _run_options(p)
    p.set_defaults(func=run_tune)


def _figure_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pairs", type=int, metavar="N", help="update figures on N sampled (image, path) pairs (default: all)"
    )
    p.add_argument(
        "--front", metavar="FILE", help="write the Pareto front of pull against update cost (.parquet or .csv)"
    )


def _imageset_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "imageset", nargs="?", metavar="IMAGESET", help="directory or manifest (default: the bundled Debian set)"
    )


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", "-j", type=int, metavar="N", help="worker processes (default: CPU count)")
    p.add_argument("--serial", action="store_true", help="run in this process")
    p.add_argument(
        "--executor",
        metavar="SPEC",
        help="where to run: process (default), thread, serial, or dask://HOST:PORT (a Dask scheduler)",
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the sweep cache")
    p.add_argument("--cache-dir", metavar="DIR", help="sweep cache directory")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _load_set(path: str | None, popularity: str | None):
    from ..imageset import default_imageset, load_imageset
    from ..popularity import load_popularity

    pop = load_popularity(popularity) if popularity else None
    if path is None:
        s = default_imageset()
        return s.with_popularity(pop) if pop is not None else s
    return load_imageset(path, popularity=pop)


def _parse_space(strategy: Any, specs: list[str], where: str) -> dict[str, list]:
    from ..errors import ConfigError
    from ..metrics.sweep import log_range

    space: dict[str, list] = {}
    for spec in specs:
        key, sep, text = spec.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not text.strip():
            raise ConfigError(f"expected KEY=V1,V2 or KEY=LO:HI:N, got {spec!r}", source=where)
        p = type(strategy).param(key)
        m = _RANGE.match(text.strip())
        if m and p.kind in ("int", "bytes", "float"):
            lo, hi, n = p.coerce(m.group(1), where=where), p.coerce(m.group(2), where=where), int(m.group(3))
            if n < 1 or hi < lo:
                raise ConfigError(f"{key}: a range needs LO <= HI and N >= 1, got {text!r}", source=where)
            integer = p.kind != "float"
            if (p.log or p.kind == "bytes") and lo > 0:
                values = log_range(lo, hi, n, integer=integer)
            else:
                step = (hi - lo) / (n - 1) if n > 1 else 0
                values = [lo + step * k for k in range(n)]
                values = sorted({int(round(v)) for v in values}) if integer else values
        else:
            values = [p.coerce(v.strip(), where=where) for v in text.split(",")]
        space[key] = values
    return space


def _executor(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "executor": args.executor or ("serial" if args.serial else None),
        "workers": args.jobs,
        "cache": not args.no_cache,
        "cache_dir": args.cache_dir,
        "progress": False if args.quiet else None,
    }


def run_pull(args: argparse.Namespace) -> int:
    import orjson

    from ..metrics import layer_imageset, pull_cost
    from ..strategies import Context

    imageset = _load_set(args.imageset, args.popularity)
    strategy = configured_strategy(args.strategy, args.params)
    for name in args.held:
        imageset.position(name)
    lay = layer_imageset(strategy, imageset, args.budget, Context(popularity=imageset.popularity))
    warn_without_popularity(strategy, imageset.popularity)
    frame, sm = pull_cost(lay, args.rule, held=args.held)
    if args.json:
        doc = {"imageset": imageset.name, **sm}
        if args.per_image:
            doc["per_image"] = frame.to_dict("records")
        print(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode())
        return 0
    print(f"images    {sm['images']} ({imageset.name})" + (f", holding {', '.join(sm['held'])}" if sm["held"] else ""))
    print(f"strategy  {strategy.name}, budget {args.budget}, rule {args.rule}")
    print(f"pulled    {sm['pulled_bytes']} bytes in {sm['pulled_layers']} layers")
    print(f"ideal     {sm['ideal_bytes']} bytes (one layer per path)")
    print(f"ratio     {sm['ratio']:.4f}")
    print(f"worst     {sm['worst_bytes']} bytes (one layer per image, ratio {sm['worst_ratio']:.4f})")
    print(f"total     {sm['total_bytes']} bytes (sum of image sizes)")
    if args.per_image:
        print()
        print(f"{'image':<32} {'layers':>6} {'image bytes':>14} {'pulled bytes':>14} {'hit':>6}")
        for r in frame.itertuples():
            print(f"{r.image:<32} {r.layers:>6} {r.image_bytes:>14} {r.pulled_bytes:>14} {r.hit_ratio:>6.1%}")
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..metrics.sweep import grid, sample, sweep, write_frame

    imageset = _load_set(args.imageset, args.popularity)
    budgets = int_list(args.budgets, "--budgets", "budget")
    points = []
    # With several strategies, --set and --grid apply to those that declare the parameter.
    bases = configured_strategies(args, spread=True)
    grids = share_settings(list(args.strategy) or [None], args.grid, "--grid")
    for base, specs in zip(bases, grids):
        warn_without_popularity(base, imageset.popularity)
        space = _parse_space(base, specs, "--grid")
        if args.random is not None:
            ranges = {
                k: (min(v), max(v)) if type(base).param(k).kind in ("int", "bytes", "float") and len(v) > 1 else v
                for k, v in space.items()
            }
            if not ranges:
                raise ConfigError("--random needs --grid ranges to sample from", source="--random")
            points.extend(sample(base, args.random, ranges, seed=args.seed))
        else:
            points.extend(grid(base, space) if space else [base])
    t0 = time.perf_counter()
    if args.pairs is not None and args.pairs < 1:
        raise ConfigError(f"--pairs must be at least 1, not {args.pairs}", source="--pairs")
    figures = args.figures or args.front is not None
    frame = sweep(
        imageset,
        points,
        budgets,
        rules=args.rule or ["any"],
        figures=figures,
        pairs=args.pairs,
        pairs_seed=args.seed,
        **_executor(args),
    )
    if args.front:
        from ..metrics.objective import pareto_front

        rule = (args.rule or ["any"])[0]
        write_frame(pareto_front(frame[frame["rule"] == rule], f"pull_{rule}", f"update_{rule}"), args.front)
    elapsed = time.perf_counter() - t0
    if args.out and args.out != "-":
        write_frame(frame, args.out)
    else:
        sys.stdout.write(frame.to_csv(index=False, lineterminator="\n"))
    if not args.quiet:
        best = frame.loc[frame["pulled_bytes"].idxmin()]
        print(
            f"layerlab: {len(points)} configurations x {len(budgets)} budgets over {len(imageset)} images "
            f"in {elapsed:.2f} s; "
            f"lowest pull {int(best.pulled_bytes)} bytes (ratio {best.ratio:.4f}, budget {int(best.budget)})",
            file=sys.stderr,
        )
    return 0


def run_tune(args: argparse.Namespace) -> int:
    import orjson

    from ..errors import ConfigError
    from ..metrics.objective import parse_objective
    from ..metrics.sweep import write_frame
    from ..metrics.tune import tune

    if args.front and not parse_objective(args.objective).needs_figures:
        raise ConfigError("a Pareto front needs a scorecard objective (pull-any, update-chain, ...)", source="--front")
    if args.pairs is not None and args.pairs < 1:
        raise ConfigError(f"--pairs must be at least 1, not {args.pairs}", source="--pairs")
    imageset = _load_set(args.imageset, args.popularity)
    strategy = configured_strategy(args.strategy, args.params)
    warn_without_popularity(strategy, imageset.popularity)
    space = _parse_space(strategy, args.space, "--space") or None
    other = _load_set(args.evaluate_on, args.popularity) if args.evaluate_on else None
    result = tune(
        strategy,
        imageset,
        args.objective,
        args.budget,
        space=space,
        method=args.method,
        steps=args.steps,
        samples=args.samples,
        seed=args.seed,
        rule=args.rule,
        evaluate_on=other,
        pairs=args.pairs,
        **_executor(args),
    )
    if args.front and result.front is not None:
        write_frame(result.front, args.front)
    if args.out:
        write_frame(result.points, args.out)
    if args.sensitivity:
        sens = result.sensitivity.copy()
        sens["value"] = sens["value"].map(str)
        write_frame(sens, args.sensitivity)
    sm = result.summary()
    if args.json:
        front = None if result.front is None else result.front.to_dict("records")
        doc = {**sm, "sensitivity": result.sensitivity.to_dict("records"), "front": front}
        print(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode())
        return 0
    changed = {k: v for k, v in result.strategy.values.items() if v != result.start.values[k]}
    print(
        f"strategy   {result.strategy.name}, budget {result.budget}, rule {result.rule}, "
        f"{args.method} search over {sm['points']} points"
    )
    print("best       " + (", ".join(f"{k}={v}" for k, v in changed.items()) or "the starting configuration"))
    print(
        f"{result.objective:<10} {_num(result.value)} on {result.train_set} "
        f"(start {_num(result.baseline)}, {sm['improvement']:+.1%} better)"
    )
    if result.test_set is not None:
        print(
            f"{'':<10} {_num(result.test_value)} on {result.test_set} (start {_num(result.test_baseline)}, "
            f"{sm['test_improvement']:+.1%} better)"
        )
    if result.front is not None:
        print()
        x, y = f"pull_{result.rule}", f"update_{result.rule}"
        print(f"Pareto front ({len(result.front)} of {len(result.points)} points): {x} against {y}")
        for r in result.front.itertuples():
            changed = {k: v for k, v in orjson.loads(r.spec)["params"].items() if v != result.start.values.get(k)}
            label = ", ".join(f"{k}={v}" for k, v in changed.items()) or "the starting configuration"
            print(f"  {getattr(r, x):.4f}  {getattr(r, y):.4f}  {label}")
    print()
    print(f"{'sensitivity':<24} {'value':>16} {'step':>5} {result.objective:>16} {'change':>8}")
    for r in result.sensitivity.itertuples():
        print(f"{r.param:<24} {str(r.value):>16} {r.offset:>+5d} {_num(r.objective):>16} {r.change:>+8.2%}")
    return 0


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    return str(int(v)) if float(v).is_integer() else f"{v:.4f}"
