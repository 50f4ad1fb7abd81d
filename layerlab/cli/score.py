"""``layerlab score``: the four-figure scorecard of strategies over an image set.

IMAGESET is a directory of graph files, a directory holding
``imageset.toml``/``imageset.json``, or such a manifest; without it the bundled
Debian 30-image set is used.  The work is :func:`layerlab.metrics.scorecard.scorecard`.
"""

from __future__ import annotations

import argparse
import sys

from ._common import add_strategy_list_options, configured_strategies, int_list


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="the scorecard: pull and update cost, any digest and ChainID, per budget")
    p.add_argument(
        "imageset", nargs="?", metavar="IMAGESET", help="directory or manifest (default: the bundled Debian set)"
    )
    add_strategy_list_options(p, spread=False)
    p.add_argument("--budgets", "-b", default="94,30,10", metavar="N,N,...", help="layer budgets (default 94,30,10)")
    p.add_argument(
        "--sample", type=int, metavar="N", help="measure updates on N random (image, path) pairs (default: all)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of --sample (default 0)")
    p.add_argument(
        "--jobs", "-j", type=int, metavar="N", help="worker processes for the update pairs (default: in-process)"
    )
    p.add_argument(
        "--executor",
        metavar="SPEC",
        help="where the update pairs run: serial (default), process, thread, or dask://HOST:PORT (a Dask scheduler)",
    )
    p.add_argument("--json", action="store_true", help="print JSON: one object per (strategy, budget, figure)")
    p.add_argument("--out", "-o", metavar="FILE", help="also write the frame (.parquet or .csv)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run_score)


def run_score(args: argparse.Namespace) -> int:
    import orjson

    from ..errors import ConfigError
    from ..metrics.scorecard import scorecard, scorecard_table
    from ..metrics.sweep import write_frame
    from .metrics import _load_set

    imageset = _load_set(args.imageset, args.popularity)
    budgets = int_list(args.budgets, "--budgets", "budget")
    strategies = configured_strategies(args, spread=False)
    if args.sample is not None and args.sample < 1:
        raise ConfigError(f"--sample must be at least 1, not {args.sample}", source="--sample")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, not {args.jobs}", source="--jobs")
    executor = args.executor or ("process" if args.jobs and args.jobs > 1 else "serial")
    frame = scorecard(
        imageset,
        strategies,
        budgets,
        sample=args.sample,
        seed=args.seed,
        executor=executor,
        workers=args.jobs,
        progress=False if args.quiet else None,
    )
    if args.out:
        write_frame(frame, args.out)
    if args.json:
        import pandas as pd

        records = [
            {k: (None if pd.isna(v) else v) for k, v in r.items()} for r in frame.astype(object).to_dict("records")
        ]
        doc = {
            "imageset": imageset.name,
            "images": len(imageset),
            "sample": args.sample,
            "seed": args.seed,
            "rows": records,
        }
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    pairs = int(frame["all_pairs"].iloc[0])
    measured = int(frame["pairs"].dropna().iloc[0])
    ideal = int(frame["ideal_bytes"].dropna().iloc[0])
    print(f"images    {len(imageset)} ({imageset.name}), ideal {ideal} bytes")
    how = f"{measured} sampled pairs (seed {args.seed})" if measured < pairs else "every pair"
    print(f"updates   {how} of {pairs} (image, store path) pairs")
    print()
    wide = scorecard_table(frame)
    renamed = scorecard_table(frame, "bound_bytes")["update-any"]
    width = max(8, *(len(s) for s, _ in wide.index))
    header = f"{'budget':>6} {'pull-any':>9} {'pull-chain':>10} {'update-any':>10} {'update-chain':>12}"
    print(f"{'strategy':<{width}} {header}")
    for (name, budget), row in wide.iterrows():
        print(
            f"{name:<{width}} {budget:>6} {row['pull-any']:>9.3f} {row['pull-chain']:>10.3f} "
            f"{row['update-any']:>10.3f} {row['update-chain']:>12.3f}"
        )
    print()
    print(f"pull: pulled bytes / ideal; update: re-pulled bytes / renamed bytes ({int(renamed.iloc[0])} renamed)")
    return 0
