"""``layerlab closure`` and ``layerlab popcount``: closures and popularity from Nix itself.

Thin wrappers over :mod:`layerlab.sources.nix`: the options map onto
:func:`~layerlab.sources.nix.closure`'s keyword arguments (``--offline`` is
:data:`~layerlab.sources.nix.OFFLINE_CONFIG`, ``--option`` adds Nix settings),
and Nix's stderr drives a tqdm bar over the derivations being built when
stderr is a terminal.  ``layerlab closure`` writes the closure document
(``exportReferencesGraph`` layout plus the ``packages`` map), which every
graph-reading command accepts, with sorted keys, so the same image gives the
same bytes.

Example:
    $ layerlab closure path!nix/testpkgs --image shell/htop --offline --out graph.json
    $ layerlab group graph.json --budget 10
"""

from __future__ import annotations

import argparse
import sys


def add_nix_options(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that runs Nix."""
    p.add_argument(
        "--method",
        choices=("path-info", "export"),
        default="path-info",
        help="how to read the closure: nix path-info (default) or an exportReferencesGraph derivation",
    )
    p.add_argument(
        "--system", help="Nix system to build for (default: Nix's own; an arm64/ image name picks aarch64-linux)"
    )
    p.add_argument(
        "--option",
        dest="nix_options",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a Nix setting passed through NIX_CONFIG (repeatable)",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="build without sandbox or binary cache (sandbox = false, substituters = empty)",
    )
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds each Nix command may run (default 1800)")
    p.add_argument("--no-cache", action="store_true", help="ignore and do not write the on-disk closure cache")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    p.add_argument("--verbose", "-v", action="store_true", help="copy Nix's log lines to stderr")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("closure", help="build packages with Nix and write their closure graph")
    p.add_argument("source", help="package source: nixpkgs!<channel>, git!<url>!<rev>, path!<dir> or flake!<ref>")
    p.add_argument(
        "packages",
        nargs="+",
        metavar="PKG",
        help="attribute paths (xorg.xev); with --image, Nixery image names (shell/git, arm64/htop)",
    )
    p.add_argument("--image", action="store_true", help="read PKG as Nixery image names (a/b/c, shell, arm64/ prefix)")
    p.add_argument("--out", "-o", help="output file (default: stdout): exportReferencesGraph JSON plus the package map")
    add_nix_options(p)
    p.set_defaults(func=run_closure)

    p = sub.add_parser("popcount", help="Nixery-style popularity of every package of a source")
    p.add_argument("source", help="package source")
    p.add_argument("--out", "-o", help="output popularity.json (default: stdout)")
    p.add_argument("--keep-ones", action="store_true", help="keep packages referenced only once")
    p.add_argument(
        "--store",
        metavar="URL",
        help="read references from this binary cache (https://cache.nixos.org) instead of building",
    )
    add_nix_options(p)
    p.set_defaults(func=run_popcount)


def nix_kwargs(args: argparse.Namespace) -> dict:
    """Keyword arguments for :func:`layerlab.sources.nix.closure` from the common options."""
    from ..sources.nix import OFFLINE_CONFIG

    settings = dict(OFFLINE_CONFIG) if args.offline else {}
    settings.update(dict(args.nix_options))
    return {
        "system": args.system,
        "timeout": args.timeout,
        "settings": settings,
        "cache": not args.no_cache,
        "progress": None if args.quiet else ProgressDisplay(verbose=args.verbose),
    }


class ProgressDisplay:
    """A tqdm bar over the derivations Nix builds, fed by Nix's stderr.

    The bar appears only when Nix announces builds and stderr is a terminal;
    with ``verbose`` every line of Nix's log is also copied to stderr.
    """

    def __init__(self, *, verbose: bool = False) -> None:
        self.verbose = verbose
        self.bar = None

    def __call__(self, event) -> None:
        if self.verbose:
            print(event.line, file=sys.stderr)
        if event.kind == "plan" and sys.stderr.isatty():
            from tqdm import tqdm

            if self.bar is not None:
                self.bar.close()
            # one redraw per derivation: few enough to show every step
            self.bar = tqdm(
                total=event.total, unit="drv", desc="nix build", file=sys.stderr, leave=False, mininterval=0, miniters=1
            )
        elif event.kind == "build" and self.bar is not None:
            self.bar.set_postfix_str(event.what[:40], refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def resolve_packages(source_text: str, names: list[str], image: bool, system: str | None):
    """(source, packages, system) from the command line."""
    from ..sources.nix import parse_image_name, parse_source, system_for_arch

    source = parse_source(source_text)
    if not image:
        return source, names, system
    packages: list[str] = []
    arch = None
    for name in names:
        pkgs, a = parse_image_name(name)
        packages.extend(pkgs)
        if arch is not None and a != arch:
            from ..errors import ConfigError

            raise ConfigError(
                f"image names ask for two architectures, {arch} and {a}", source="layerlab closure --image"
            )
        arch = a
    return source, packages, system or (system_for_arch(arch) if arch and arch != "amd64" else None)


def run_closure(args: argparse.Namespace) -> int:
    import orjson

    from ..sources.nix import closure
    from ._common import write_output

    source, packages, system = resolve_packages(args.source, args.packages, args.image, args.system)
    kw = nix_kwargs(args)
    kw["system"] = system
    progress = kw["progress"]
    try:
        result = closure(source, packages, method=args.method, **kw)
    finally:
        if progress is not None:
            progress.close()
    write_output(orjson.dumps(result.to_json(), option=orjson.OPT_SORT_KEYS) + b"\n", args.out)
    return 0


def run_popcount(args: argparse.Namespace) -> int:
    from ..sources.nix import parse_source, popularity
    from ._common import write_output

    kw = nix_kwargs(args)
    progress = kw.pop("progress")
    cache = kw.pop("cache")
    try:
        pop = popularity(
            parse_source(args.source),
            store=args.store,
            progress=progress,
            drop_ones=not args.keep_ones,
            cache=cache,
            **kw,
        )
    finally:
        if progress is not None:
            progress.close()
    write_output(pop.to_json() + b"\n", args.out)
    return 0
