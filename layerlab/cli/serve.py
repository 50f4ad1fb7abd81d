"""``layerlab serve``: argument parsing for the on-demand registry (:mod:`layerlab.serve`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve images built on demand over the registry API (Nixery-style)")
    p.add_argument("--source", help="Nix package source: nixpkgs!CHANNEL, git!URL!REV, path!DIR, flake!REF")
    p.add_argument("--offline", action="store_true", default=None, help="build without sandbox or binary cache")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="settings: the JSON strategy.to_json() writes (plus any other setting), or a .toml file",
    )
    p.add_argument("--strategy", "-s", help="strategy name (see `layerlab strategies`)")
    p.add_argument("--set", dest="params", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter")
    p.add_argument("--budget", "-b", type=int, help="layers per image, the customisation layer included (default 94)")
    p.add_argument("--popularity", "-p", metavar="FILE|source", help="popularity.json, or 'source' to compute it")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 8080)")
    p.add_argument("--store", metavar="DIR", help="blob store directory (default ~/.cache/layerlab/store)")
    p.add_argument(
        "--blob-url",
        metavar="BASE",
        help="redirect blob downloads to BASE/sha256/<hex> (a static server of STORE/blobs)",
    )
    p.add_argument("--compression", choices=("gzip", "zstd", "none"), help="layer compression (default gzip)")
    p.add_argument("--level", type=int, help="compression level")
    p.add_argument(
        "--format", choices=("oci", "docker"), help="manifest served when a client accepts both (default oci)"
    )
    p.add_argument("--max-builds", type=int, help="builds running at once (default 2)")
    p.add_argument("--build-timeout", type=float, metavar="SECONDS", help="stop a build after this long (default 1800)")
    p.add_argument(
        "--ttl",
        type=float,
        metavar="SECONDS",
        help="rebuild images of a mutable source (channel, branch, directory) after this long (default 3600)",
    )
    p.add_argument("--workers", type=int, help="layers built at once inside a build (default: CPUs)")
    p.add_argument("--log", metavar="FILE", help="append the access and build log here (default: stderr)")
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from ..serve import load_settings, run

    run(
        load_settings(
            args.config,
            set_params=args.params,
            source=args.source,
            offline=args.offline,
            strategy=args.strategy,
            budget=args.budget,
            popularity=args.popularity,
            host=args.host,
            port=args.port,
            store=args.store,
            blob_url=args.blob_url,
            compression=args.compression,
            level=args.level,
            format=args.format,
            max_builds=args.max_builds,
            build_timeout=args.build_timeout,
            ttl=args.ttl,
            workers=args.workers,
            log=args.log,
        )
    )
    return 0
