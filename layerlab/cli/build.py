"""``layerlab build``: build a real image and write it out or push it.

Two ways to say what goes in:

* ``layerlab build SOURCE PKG... --strategy NAME --budget N``: resolve the
  packages in a Nix package source (:mod:`layerlab.sources.nix`), realise the
  closure, group it with the strategy;
  ``--popularity source`` computes Nixery's popularity over the whole
  source (:func:`layerlab.sources.nix.popularity`, cached);
* ``layerlab build --graph GRAPH --layers layers.json [--package PATH...]``:
  a saved closure graph and a saved layering (Nixery's ``layers.json``, as
  ``layerlab group`` writes) whose store paths are on disk.  Without
  ``--layers`` the strategy options group the graph.

Outputs (any number of them, at least one): ``--oci DIR`` (OCI image layout,
tag ``--tag``), ``--archive FILE`` (``docker load`` archive), ``--push REF``
(registry), ``--nixery-json FILE`` (the seed's manifest + layerLocations).
A JSON summary of the layers (and the push report) goes to stdout with
``--json``.

Every option and input is checked before anything is written (the blob store
included): tag and reference grammar, output targets (an existing ``--oci``
directory must be an OCI layout, which then gains the tag), TLS options,
``--chunk-size``, ``--level``, ``--timeout``, the layers against the graph and
every store path on disk.
"""

from __future__ import annotations

import argparse
import sys

from ._common import add_strategy_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="build an image (OCI layout, docker archive, registry push)")
    p.add_argument("source", nargs="?", help="Nix package source (see layerlab.sources.nix); omit with --graph")
    p.add_argument("packages", nargs="*", metavar="PKG", help="package attribute names")
    add_strategy_options(p)
    p.add_argument(
        "--offline", action="store_true", help="with a package source: build without sandbox or binary cache"
    )
    g = p.add_argument_group("saved input")
    g.add_argument("--graph", metavar="FILE", help="closure graph file whose store paths are on disk")
    g.add_argument("--layers", metavar="FILE", help="layers.json (Nixery format) for --graph")
    g.add_argument(
        "--package",
        dest="package_paths",
        action="append",
        default=[],
        metavar="PATH",
        help="store path joined into the customisation layer (repeatable; default: the graph's roots)",
    )
    g.add_argument("--no-customisation", action="store_true", help="no customisation layer")
    o = p.add_argument_group("outputs")
    o.add_argument("--oci", metavar="DIR", help="write an OCI image layout directory")
    o.add_argument("--tag", default="latest", help="tag in the OCI layout / archive (default latest)")
    o.add_argument("--archive", metavar="FILE", help="write a docker-load archive")
    o.add_argument("--push", metavar="REF", help="push to a registry (host[:port]/name[:tag])")
    o.add_argument("--nixery-json", metavar="FILE", help="write Nixery's {manifest, layerLocations} JSON")
    o.add_argument("--json", action="store_true", help="print a JSON summary to stdout")
    b = p.add_argument_group("image")
    b.add_argument(
        "--compression", choices=("gzip", "zstd", "none"), default="gzip", help="layer compression (default gzip)"
    )
    b.add_argument("--level", type=int, help="compression level")
    b.add_argument("--blob-store", metavar="DIR", help="blob store directory (default ~/.cache/layerlab/store)")
    b.add_argument("--store-dir", default="/nix/store", help="Nix store directory (default /nix/store)")
    b.add_argument("--arch", default="amd64", help="image architecture (default amd64)")
    b.add_argument("--os", default="linux", help="image os (default linux)")
    b.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="environment entry (repeatable)")
    b.add_argument("--cmd", action="append", metavar="ARG", help="Cmd argument (repeatable)")
    b.add_argument("--entrypoint", action="append", metavar="ARG", help="Entrypoint argument (repeatable)")
    b.add_argument("--workdir", help="WorkingDir")
    b.add_argument("--user", help="User")
    b.add_argument("--workers", type=int, help="layers built at once (default: CPUs)")
    b.add_argument(
        "--parallel",
        choices=("processes", "threads"),
        default="processes",
        help="build layers in processes (default) or threads",
    )
    r = p.add_argument_group("registry")
    r.add_argument("--format", choices=("oci", "docker"), default="oci", help="manifest format to push (default oci)")
    r.add_argument("--username", help="registry user name")
    r.add_argument("--password-stdin", action="store_true", help="read the registry password from stdin")
    r.add_argument("--ca-cert", metavar="FILE", help="CA bundle to verify the registry's certificate")
    r.add_argument("--insecure-tls", action="store_true", help="do not verify the registry's certificate")
    r.add_argument("--plain-http", action="store_true", help="talk plain HTTP to the registry")
    r.add_argument("--chunk-size", type=int, metavar="BYTES", help="upload blobs in chunks of this size")
    r.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds a registry may take to connect or to send the next bytes (default 60)",
    )
    p.set_defaults(func=run_build)


def _load_layers(path: str, graph):
    import orjson

    from ..errors import InputError
    from ..sources.files import read_bytes
    from ..strategies import make_layer

    try:
        doc = orjson.loads(read_bytes(path))
    except orjson.JSONDecodeError as err:
        raise InputError(f"not JSON: {err}", source=path) from None
    if not isinstance(doc, list):
        raise InputError("expected a list of {contents, mergeRating} objects", source=path)
    layers = []
    index = graph.index
    for n, item in enumerate(doc):
        if not isinstance(item, dict) or not isinstance(item.get("contents"), list):
            raise InputError(f"layer {n} has no 'contents' list", source=path)
        idx = []
        for p in item["contents"]:
            i = index.get(p) if isinstance(p, str) else None
            if i is None:
                raise InputError(f"layer {n} holds {p!r}, which is not in the graph", source=path)
            idx.append(i)
        rating = item.get("mergeRating", 0)
        if isinstance(rating, bool) or not isinstance(rating, (int, float)):
            raise InputError(f"layer {n} has a non-numeric mergeRating", source=path)
        layers.append(make_layer(graph, idx, rating=rating, reason="layers.json"))
    return layers


def _from_source(args: argparse.Namespace, strategy, context):
    from ..image.from_source import plan_from_source
    from ..sources.nix import OFFLINE_CONFIG

    plan = plan_from_source(
        args.source,
        args.packages,
        strategy,
        context,
        args.budget,
        customisation=not args.no_customisation,
        settings=OFFLINE_CONFIG if args.offline else None,
    )
    return plan.closure.graph, list(plan.layers), list(plan.packages)


def _check_args(args: argparse.Namespace):
    """Every check on the options alone; returns the parsed push reference (or None) and the TLS setting."""
    from ..errors import ConfigError
    from ..image.layout import check_file_target, check_oci_target
    from ..image.manifest import check_tag
    from ..image.tarball import check_compression
    from ..registry import DEFAULT_TIMEOUT, Reference, check_push_options

    if not (args.oci or args.archive or args.push or args.nixery_json):
        raise ConfigError(
            "name an output: --oci DIR, --archive FILE, --push REF or --nixery-json FILE", source="layerlab build"
        )
    check_tag(args.tag)
    check_compression(args.compression, args.level)
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"must be at least 1, not {args.workers}", source="--workers")
    if args.budget < 1:
        raise ConfigError(f"must be at least 1, not {args.budget}", source="--budget")
    if args.oci:
        check_oci_target(args.oci)
    for target in (args.archive, args.nixery_json):
        if target:
            check_file_target(target)
    if args.insecure_tls and args.ca_cert:
        raise ConfigError(
            "--insecure-tls turns verification off, --ca-cert sets how to verify: give one", source="--insecure-tls"
        )
    verify: bool | str = False if args.insecure_tls else (args.ca_cert or True)
    timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    check_push_options(verify=verify, chunk_size=args.chunk_size, timeout=timeout, fmt=args.format)
    if args.password_stdin and not args.username:
        raise ConfigError("--password-stdin needs --username", source="--password-stdin")
    ref = Reference.parse(args.push, plain_http=args.plain_http) if args.push else None
    return ref, verify, timeout


def run_build(args: argparse.Namespace) -> int:
    import orjson

    from ..errors import ConfigError
    from ..image import BlobStore, ImageConfig, build_image, write_docker_archive, write_nixery_output, write_oci_layout
    from ..image.builder import check_build_inputs
    from ..sources.files import load_graph
    from ._common import strategy_from_args, warn_without_popularity

    ref, verify, timeout = _check_args(args)
    config = ImageConfig(
        architecture=args.arch,
        os=args.os,
        env=tuple(args.env),
        cmd=tuple(args.cmd) if args.cmd else None,
        entrypoint=tuple(args.entrypoint) if args.entrypoint else None,
        working_dir=args.workdir,
        user=args.user,
    )
    credentials = None
    if args.push and args.username:
        from ..registry import Credentials

        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else ""
        credentials = Credentials(args.username, password)
    if args.graph:
        if args.source:
            raise ConfigError("give either a package source or --graph, not both", source="layerlab build")
        graph = load_graph(args.graph)
        if args.layers:
            layers = _load_layers(args.layers, graph)
        else:
            strategy, context = strategy_from_args(args)
            warn_without_popularity(strategy, context.popularity)
            layers = strategy.group(graph, context, max(1, args.budget - (0 if args.no_customisation else 1)))
        packages = [] if args.no_customisation else (args.package_paths or [graph.paths[i] for i in graph.roots])
    elif args.source:
        from_source = args.popularity == "source"
        if from_source:  # Nixery's popcount over the whole package source
            args.popularity = None
        strategy, context = strategy_from_args(args)
        if from_source:
            from ..sources.nix import OFFLINE_CONFIG, popularity
            from ..strategies import Context

            context = Context(popularity=popularity(args.source, settings=OFFLINE_CONFIG if args.offline else None))
        warn_without_popularity(strategy, context.popularity)
        graph, layers, packages = _from_source(args, strategy, context)
    else:
        raise ConfigError("give a package source and packages, or --graph FILE", source="layerlab build")
    check_build_inputs(
        graph,
        layers,
        packages,
        store_dir=args.store_dir,
        compression=args.compression,
        level=args.level,
        parallel=args.parallel,
        workers=args.workers,
    )

    store = BlobStore(args.blob_store)  # the first write
    image = build_image(
        graph,
        layers,
        packages,
        store=store,
        store_dir=args.store_dir,
        compression=args.compression,
        level=args.level,
        config=config,
        md5=bool(args.nixery_json),
        workers=args.workers,
        parallel=args.parallel,
    )
    summary = image.summary()
    for c in image.conflicts:
        print(f"layerlab: warning: /{c.name} from {c.dropped} left out: {c.kept} provides it", file=sys.stderr)
    if args.oci:
        summary["oci"] = {
            "dir": args.oci,
            "tag": args.tag,
            "manifest": write_oci_layout(image, store, args.oci, tag=args.tag),
        }
    if args.archive:
        write_docker_archive(image, store, args.archive, repo_tag=f"{_image_name(args, graph)}:{args.tag}")
        summary["archive"] = args.archive
    if args.nixery_json:
        write_nixery_output(image, store, args.nixery_json)
        summary["nixery_json"] = args.nixery_json
    if ref is not None:
        from ..registry import push

        report = push(
            image,
            store,
            ref,
            fmt=args.format,
            credentials=credentials,
            verify=verify,
            chunk_size=args.chunk_size,
            timeout=timeout,
        )
        summary["push"] = report.to_json()
        print(
            f"pushed {report.reference}@{report.manifest_digest}: {len(report.sent)} blobs sent "
            f"({report.bytes_sent:,} bytes), {len(report.skipped)} already present",
            file=sys.stderr,
        )
    if args.json:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        built = sum(1 for layer in image.layers if not layer.cached)
        print(
            f"image {image.config_digest}: {len(image.layers)} layers ({built} built, "
            f"{len(image.layers) - built} from cache), {image.compression}",
            file=sys.stderr,
        )
    return 0


def _image_name(args: argparse.Namespace, graph) -> str:
    import re

    name = "-".join(args.packages) if args.source else (graph.name or "image")
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or "image"
