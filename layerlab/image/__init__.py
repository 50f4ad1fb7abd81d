"""Real container images from closures: reproducible layers, manifests, outputs.

* :mod:`.tarball`: reproducible pax layer tarballs, digested in one pass;
* :mod:`.customisation`: the requested packages joined at the image root;
* :mod:`.config`, :mod:`.manifest`: OCI config, OCI and Docker manifests;
* :mod:`.builder`: :func:`build_image` from a graph and any strategy's layers;
* :mod:`.store`: the content-addressed blob store and layer cache;
* :mod:`.layout`: OCI layout directory, Docker archive, Nixery's JSON.

Pushing to a registry is :mod:`layerlab.registry`.

Example:
    >>> from layerlab.image import BlobStore, build_image, write_oci_layout  # doctest: +SKIP
    >>> img = build_image(graph, layers, [pkg], store=BlobStore())           # doctest: +SKIP
    >>> write_oci_layout(img, store, "out/hello", tag="latest")              # doctest: +SKIP
"""

from .builder import BuiltLayer, Image, build_image, layer_identity
from .config import ImageConfig
from .customisation import Conflict, join_packages
from .layout import nixery_output, write_docker_archive, write_nixery_output, write_oci_layout
from .store import BlobStore, layer_key
from .tarball import LayerInfo, write_layer

__all__ = [
    "BlobStore",
    "BuiltLayer",
    "Conflict",
    "Image",
    "ImageConfig",
    "LayerInfo",
    "build_image",
    "join_packages",
    "layer_identity",
    "layer_key",
    "nixery_output",
    "write_docker_archive",
    "write_layer",
    "write_nixery_output",
    "write_oci_layout",
]
