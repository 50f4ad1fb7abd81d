"""Push images to an OCI distribution registry (Docker Registry HTTP API v2).

:func:`push` sends an :class:`~layerlab.image.Image` whose blobs are in a
:class:`~layerlab.image.BlobStore`:

1. ``HEAD /v2/<name>/blobs/<digest>`` for every layer and the config; blobs
   the registry already has are skipped (as nix2container does), so pushing an
   image that shares layers with an earlier one sends only the new blobs;
2. each missing blob is uploaded with ``POST /v2/<name>/blobs/uploads/`` then
   either one ``PUT <location>?digest=...`` carrying the whole blob
   (monolithic) or, with ``chunk_size``, ``PATCH`` requests with
   ``Content-Range`` followed by an empty ``PUT ?digest=``;
3. ``PUT /v2/<name>/manifests/<tag>`` with the OCI (default) or Docker
   schema 2 manifest; the digest the registry answers is checked.

The :class:`PushReport` says which blobs were sent, which skipped, and how many
bytes went over the wire.

Authentication follows the registry's ``WWW-Authenticate`` challenge: for
``Basic`` the credentials are sent as they are; for ``Bearer`` a token is
fetched from the challenge's ``realm`` (with ``service`` and the
``repository:<name>:pull,push`` scope, authenticated with the credentials
when given) and sent as ``Authorization: Bearer``.  TLS certificates are
verified by default; ``verify`` may name a CA bundle, or be ``False``.
``http://`` in front of a reference (or ``plain_http=True``) talks plain HTTP,
for a registry on the local machine.

**Credential scope.**  The ``Authorization`` header (Basic credentials or a
Bearer token) is sent only to the registry's own origin: the scheme, host and
port of the reference.  Redirects are followed by this module, not by
``requests``, one hop at a time (at most five): a hop to another origin, and
an upload ``Location`` on another host (a storage back end, say), is sent
without credentials.  Nothing goes over plain HTTP unless the user asked for
plain HTTP: a redirect, a ``Location`` or a token realm that would downgrade
an HTTPS registry to HTTP is refused.  The credentials themselves go only to
the registry (Basic) or to the realm its challenge names (token request, as
the token protocol wants), never in a URL.

**Timeouts and errors.**  Every request has a timeout (``timeout`` seconds to
connect and between bytes, 60 by default), so a registry that never answers
fails the push instead of hanging it.  Errors name the URL and the cause,
whole words only: a plain-HTTP registry reached over TLS is reported as that
(with the ``--plain-http`` hint), not as a certificate problem.

Example:
    >>> Reference.parse("127.0.0.1:5000/team/app:v1")
    Reference(registry='127.0.0.1:5000', repository='team/app', tag='v1', digest=None, scheme='https')
    >>> Reference.parse("http://localhost:5000/app").tag
    'latest'
    >>> parse_challenge('Bearer realm="https://auth/token",service="reg",scope="repository:a:pull"')
    ('bearer', {'realm': 'https://auth/token', 'service': 'reg', 'scope': 'repository:a:pull'})
    >>> same_origin("https://reg.example:443/v2/x", "https", "reg.example")
    True
    >>> same_origin("http://reg.example/v2/x", "https", "reg.example")
    False
"""

from __future__ import annotations

import functools
import math
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from .errors import ConfigError, RegistryError
from .image.manifest import check_repository, check_tag

if TYPE_CHECKING:  # pragma: no cover
    import requests

    from .image import BlobStore, Image

__all__ = [
    "Reference",
    "Credentials",
    "PushReport",
    "RegistryClient",
    "push",
    "parse_challenge",
    "same_origin",
    "check_push_options",
    "DEFAULT_TIMEOUT",
]

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# host[:port]: DNS labels (not starting with '-'), an IPv4 address, or [IPv6]
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")
#: Seconds a registry may take to connect or to send the next bytes.
DEFAULT_TIMEOUT = 60.0
_MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


def _origin(scheme: str, netloc: str) -> tuple[str, str, int]:
    parts = urlsplit(f"{scheme}://{netloc}")
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def same_origin(url: str, scheme: str, registry: str) -> bool:
    """Whether ``url`` has the scheme, host and port of ``scheme://registry`` (default ports filled in).

    Example:
        >>> same_origin("https://127.0.0.2:5000/upload", "https", "127.0.0.1:5000")
        False
    """
    parts = urlsplit(url)
    return _origin(parts.scheme.lower(), parts.netloc) == _origin(scheme, registry)


@dataclass(frozen=True)
class Reference:
    """An image reference: ``[scheme://]registry/repository[:tag][@digest]``.

    Attributes:
        registry: ``host[:port]``.
        repository: the image name inside the registry.
        tag: the tag (``latest`` when neither tag nor digest is given).
        digest: ``sha256:...`` when the reference pins one.
        scheme: ``https`` (default) or ``http``.
    """

    registry: str
    repository: str
    tag: str | None
    digest: str | None
    scheme: str = "https"

    @classmethod
    def parse(cls, ref: str, *, plain_http: bool = False) -> Reference:
        """Parse ``ref``; the first component is the registry (it must contain ``.`` or ``:`` or be ``localhost``).

        Raises:
            ConfigError: no registry host, an invalid name, tag or digest.

        Example:
            >>> r = Reference.parse("localhost:5000/tools/hello:v1", plain_http=True)
            >>> r.registry, r.repository, r.tag, r.scheme
            ('localhost:5000', 'tools/hello', 'v1', 'http')
        """
        scheme = "http" if plain_http else "https"
        rest = ref
        for prefix in ("http://", "https://"):
            if rest.startswith(prefix):
                scheme, rest = prefix[:-3], rest[len(prefix) :]
        if not isinstance(ref, str) or not ref.isprintable() or len(ref) > 1024:
            raise ConfigError("a reference is one line of printable characters", source="--push")
        digest = None
        if "@" in rest:
            rest, digest = rest.split("@", 1)
            if not _DIGEST.fullmatch(digest):
                raise ConfigError(f"invalid digest {digest!r:.80}", source=ref)
        host, sep, path = rest.partition("/")
        if not sep or not (("." in host) or (":" in host) or host == "localhost"):
            raise ConfigError(
                "a reference must start with the registry host (e.g. localhost:5000/name:tag)", source=ref
            )
        if not _HOST.fullmatch(host):
            raise ConfigError(f"invalid registry host {host!r:.80}", source=ref)
        tag = None
        last = path.rsplit("/", 1)[-1]
        if ":" in last:
            path, tag = path.rsplit(":", 1)
            check_tag(tag, source=ref)
        check_repository(path, host=host, source=ref)
        if tag is None and digest is None:
            tag = "latest"
        return cls(host, path, tag, digest, scheme)

    def __str__(self) -> str:
        s = f"{self.registry}/{self.repository}"
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.registry}/v2/{self.repository}"


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or token) for Basic auth and token requests."""

    username: str
    password: str = field(repr=False)


@dataclass
class PushReport:
    """What a push did.

    Attributes:
        reference: where the image went.
        manifest_digest: the digest of the manifest the registry stored.
        sent: ``(digest, size)`` of every uploaded blob, in upload order.
        skipped: digests the registry already had.
        bytes_sent: bytes of blobs and manifest uploaded.
    """

    reference: str
    manifest_digest: str = ""
    sent: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_sent: int = 0

    def to_json(self) -> dict[str, Any]:
        """The report as JSON (``layerlab push --json``).

        Example:
            >>> report = PushReport("localhost:5000/x:1", "sha256:" + "a" * 64, [("sha256:" + "b" * 64, 10)])
            >>> report.to_json()["bytes_sent"]
            0
        """
        return {
            "reference": self.reference,
            "manifest_digest": self.manifest_digest,
            "sent": [{"digest": d, "size": s} for d, s in self.sent],
            "skipped": list(self.skipped),
            "bytes_sent": self.bytes_sent,
        }


_CHALLENGE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split a ``WWW-Authenticate`` header into its scheme (lower case) and parameters.

    Example:
        >>> parse_challenge('Bearer realm="https://auth.example/token",service="registry"')
        ('bearer', {'realm': 'https://auth.example/token', 'service': 'registry'})
    """
    scheme, _, params = header.strip().partition(" ")
    return scheme.lower(), {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _CHALLENGE.finditer(params)
    }


class RegistryClient:
    """A small client for one repository of a registry; see the module doc.

    Args:
        ref: the repository (and tag) to talk to.
        credentials: for Basic auth or to obtain a Bearer token.
        verify: ``True`` (system CAs), ``False``, or a CA bundle file.
        timeout: seconds per request (connect and read).
        session: a ``requests.Session`` to reuse.
    """

    def __init__(
        self,
        ref: Reference,
        *,
        credentials: Credentials | None = None,
        verify: bool | str = True,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        import requests

        self.ref = ref
        self.credentials = credentials
        self.session = session or requests.Session()
        self.verify = verify
        self.timeout = timeout
        self._auth: str | None = None

    def _check_url(self, url: str) -> None:
        """Refuse a URL that is not HTTP(S), or plain HTTP the user did not ask for."""
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise RegistryError(f"the registry sent layerlab to a {scheme or 'relative'} URL; refused", source=url)
        if scheme == "http" and self.ref.scheme == "https":
            raise RegistryError(
                "the registry sent layerlab to plain HTTP; refused (pass --plain-http to allow HTTP)", source=url
            )

    def _request(
        self, method: str, url: str, body: Callable[[], Any] | None, headers: dict | None
    ) -> requests.Response:
        """One request, following redirects hop by hop with the credential scope of the module doc."""
        import requests

        for _ in range(_MAX_REDIRECTS + 1):
            self._check_url(url)
            h = dict(headers or {})
            if self._auth and same_origin(url, self.ref.scheme, self.ref.registry):
                h["Authorization"] = self._auth
            try:
                with warnings.catch_warnings():
                    if self.verify is False:  # asked for: no warning per request
                        warnings.simplefilter("ignore")
                    # verify passed per request: a session-level value loses to REQUESTS_CA_BUNDLE
                    r = self.session.request(
                        method,
                        url,
                        data=body() if body else None,
                        headers=h,
                        timeout=self.timeout,
                        verify=self.verify,
                        allow_redirects=False,
                    )
            except requests.exceptions.RequestException as err:
                raise RegistryError(f"{method} failed: {describe_error(err, self.timeout)}", source=url) from None
            if r.status_code in _REDIRECTS and r.headers.get("Location"):
                url = urljoin(r.url, r.headers["Location"])
                if r.status_code == 303:
                    method, body = ("HEAD" if method == "HEAD" else "GET"), None
                r.close()
                continue
            return r
        raise RegistryError(f"{method}: more than {_MAX_REDIRECTS} redirects", source=url)

    # ---------------------------------------------------------------- http
    def _send(
        self,
        method: str,
        url: str,
        *,
        body: Callable[[], Any] | None = None,
        headers: dict | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> requests.Response:
        for attempt in range(2):
            r = self._request(method, url, body, headers)
            if r.status_code == 401 and attempt == 0 and "WWW-Authenticate" in r.headers:
                if not same_origin(r.url, self.ref.scheme, self.ref.registry):
                    raise RegistryError("a host other than the registry asks for credentials; refused", source=r.url)
                self._authenticate(r.headers["WWW-Authenticate"], url)
                continue
            if r.status_code not in ok:
                raise RegistryError(f"{method} answered {r.status_code}: {_error_text(r)}", source=url)
            return r
        raise RegistryError(f"{method} answered 401: authentication refused", source=url)

    def _authenticate(self, header: str, url: str) -> None:
        import requests

        scheme, params = parse_challenge(header)
        if scheme == "basic":
            if self.credentials is None:
                raise RegistryError("the registry asks for a user name and password", source=url)
            self._auth = requests.auth._basic_auth_str(self.credentials.username, self.credentials.password)
            return
        if scheme != "bearer" or "realm" not in params:
            raise RegistryError(f"unsupported authentication challenge {header!r}", source=url)
        realm = params["realm"]
        realm_scheme = urlsplit(realm).scheme.lower()
        if realm_scheme not in ("http", "https") or (realm_scheme == "http" and self.ref.scheme == "https"):
            raise RegistryError(
                "the token realm is not HTTPS; refused to send credentials there (pass --plain-http to allow HTTP)",
                source=realm,
            )
        query = {"scope": f"repository:{self.ref.repository}:pull,push"}
        if params.get("service"):
            query["service"] = params["service"]
        auth = (self.credentials.username, self.credentials.password) if self.credentials else None
        try:
            with warnings.catch_warnings():
                if self.verify is False:
                    warnings.simplefilter("ignore")
                r = self.session.get(
                    realm, params=query, auth=auth, timeout=self.timeout, verify=self.verify, allow_redirects=False
                )
        except requests.exceptions.RequestException as err:
            raise RegistryError(f"token request failed: {describe_error(err, self.timeout)}", source=realm) from None
        if r.status_code != 200:
            raise RegistryError(f"token request answered {r.status_code}: {_error_text(r)}", source=params["realm"])
        try:
            doc = r.json()
            token = doc.get("token") or doc.get("access_token")
        except ValueError:
            token = None
        if not token:
            raise RegistryError("token response holds no token", source=params["realm"])
        self._auth = f"Bearer {token}"

    # ---------------------------------------------------------------- API
    def has_blob(self, digest: str) -> bool:
        """Whether the repository holds ``digest`` (``HEAD``).

        Example:
            >>> client = RegistryClient(Reference.parse("localhost:5000/hello:v1", plain_http=True))  # doctest: +SKIP
            >>> client.has_blob("sha256:" + "0" * 64)  # doctest: +SKIP
            False
        """
        r = self._send("HEAD", f"{self.ref.base}/blobs/{digest}", ok=(200, 404))
        return r.status_code == 200

    def upload_blob(
        self, digest: str, size: int, opener: Callable[[], BinaryIO], *, chunk_size: int | None = None
    ) -> None:
        """Upload one blob, monolithically or in ``chunk_size`` chunks.

        Example:
            >>> import io, hashlib
            >>> client = RegistryClient(Reference.parse("localhost:5000/hello:v1", plain_http=True))  # doctest: +SKIP
            >>> data = b"layer bytes"; digest = "sha256:" + hashlib.sha256(data).hexdigest()
            >>> client.upload_blob(digest, len(data), lambda: io.BytesIO(data))  # doctest: +SKIP
            >>> client.has_blob(digest)  # doctest: +SKIP
            True
        """
        r = self._send("POST", f"{self.ref.base}/blobs/uploads/", ok=(202,), headers={"Content-Length": "0"})
        location = self._location(r)
        octet = {"Content-Type": "application/octet-stream"}
        if chunk_size is None or size <= chunk_size:
            r = self._send(
                "PUT",
                _with_query(location, digest=digest),
                body=lambda: _Reader(opener(), size),
                headers={**octet, "Content-Length": str(size)},
                ok=(201,),
            )
        else:
            start = 0
            with opener() as fh:
                while start < size:
                    data = fh.read(min(chunk_size, size - start))
                    if not data:
                        raise RegistryError(f"blob {digest} is shorter than {size} bytes")
                    end = start + len(data) - 1
                    r = self._send(
                        "PATCH",
                        location,
                        body=_constant(data),
                        headers={**octet, "Content-Length": str(len(data)), "Content-Range": f"{start}-{end}"},
                        ok=(202,),
                    )
                    location = self._location(r)
                    start = end + 1
            r = self._send("PUT", _with_query(location, digest=digest), headers={"Content-Length": "0"}, ok=(201,))
        got = r.headers.get("Docker-Content-Digest")
        if got and got != digest:
            raise RegistryError(f"registry stored blob as {got}, expected {digest}", source=self.ref.base)

    def put_manifest(self, data: bytes, media_type: str, reference: str) -> str:
        """``PUT`` a manifest under a tag or digest; return its digest.

        Example:
            >>> client = RegistryClient(Reference.parse("localhost:5000/hello:v1", plain_http=True))  # doctest: +SKIP
            >>> data, media_type = image.manifest("oci")  # doctest: +SKIP
            >>> client.put_manifest(data, media_type, "v1")  # doctest: +SKIP
            'sha256:...'
        """
        import hashlib

        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        r = self._send(
            "PUT",
            f"{self.ref.base}/manifests/{reference}",
            body=lambda: data,
            headers={"Content-Type": media_type},
            ok=(201, 200),
        )
        got = r.headers.get("Docker-Content-Digest")
        if got and got != digest:
            raise RegistryError(f"registry stored the manifest as {got}, expected {digest}", source=self.ref.base)
        return digest

    def get_manifest(self, reference: str, media_types: tuple[str, ...]) -> tuple[bytes, str]:
        """The manifest bytes and media type stored under ``reference``.

        Example:
            >>> client = RegistryClient(Reference.parse("localhost:5000/hello:v1", plain_http=True))  # doctest: +SKIP
            >>> oci = "application/vnd.oci.image.manifest.v1+json"
            >>> data, media_type = client.get_manifest("v1", (oci,))  # doctest: +SKIP
            >>> media_type  # doctest: +SKIP
            'application/vnd.oci.image.manifest.v1+json'
        """
        r = self._send("GET", f"{self.ref.base}/manifests/{reference}", headers={"Accept": ", ".join(media_types)})
        return r.content, r.headers.get("Content-Type", "")

    def _location(self, r: requests.Response) -> str:
        loc = r.headers.get("Location")
        if not loc:
            raise RegistryError("upload response has no Location header", source=r.url)
        return urljoin(r.url, loc)


class _Reader:
    """A file wrapper with a known length, so requests streams it with Content-Length."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh, self.len = fh, size

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        if not data:
            self.fh.close()
        return data

    def __len__(self) -> int:
        return self.len


def _constant(data: bytes) -> Callable[[], bytes]:
    """A request body that is ``data`` on every attempt: ``_constant(b"x")() == b"x"``."""
    return lambda: data


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    q = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(q)))


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut at a word boundary (never mid-word) when longer than ``limit``.

    Example:
        >>> one_line("connection refused\\nby peer")
        'connection refused by peer'
        >>> one_line("alpha beta gamma", 12)
        'alpha beta …'
    """
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit + 1].rsplit(" ", 1)[0] if " " in flat[: limit + 1] else flat[:limit]
    return cut.rstrip() + " …"


_TLS_ON_PLAIN = (
    "wrong version number",
    "wrong_version_number",
    "record layer failure",
    "http request",
    "packet length too long",
    "unexpected eof while reading",
)


def _root_cause(err: BaseException) -> BaseException:
    seen: set[int] = set()
    e = err
    while id(e) not in seen:
        seen.add(id(e))
        reason = getattr(e, "reason", None)
        inner = next((a for a in getattr(e, "args", ()) if isinstance(a, BaseException)), None)
        nxt = reason if isinstance(reason, BaseException) else inner or e.__cause__
        if nxt is None:
            break
        e = nxt
    return e


def describe_error(err: BaseException, timeout: float | None = None) -> str:
    """The cause of a failed request, in words: refused, timed out, TLS, plain HTTP spoken to TLS...

    Example:
        >>> describe_error(ConnectionRefusedError(111, "Connection refused"))
        'connection refused'
    """
    import requests

    if isinstance(err, (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout, TimeoutError)):
        limit = f" within {timeout:g} s (--timeout)" if timeout else ""
        return f"no answer{limit}"
    root = _root_cause(err)
    text = str(root) or type(root).__name__
    text = re.sub(r"^<[^>]*object at 0x[0-9a-f]+>:\s*", "", text)
    low = (str(err) + " " + text).lower()
    if isinstance(err, requests.exceptions.SSLError) or "ssl" in type(root).__name__.lower():
        if any(k in low for k in _TLS_ON_PLAIN):
            return "the registry does not speak TLS here (plain HTTP?); pass --plain-http if it has no TLS"
        return one_line(f"TLS verification failed ({text}); pass --ca-cert FILE, or --insecure-tls to turn it off")
    if isinstance(root, ConnectionRefusedError) or "connection refused" in low:
        return "connection refused"
    dropped = "connection reset" in low or "connection aborted" in low
    if isinstance(root, (ConnectionResetError, BrokenPipeError)) or dropped:
        return one_line(f"the connection was dropped ({text})")
    if "timed out" in low:
        return "no answer" + (f" within {timeout:g} s (--timeout)" if timeout else "")
    return one_line(text)


def _error_text(r: requests.Response) -> str:
    try:
        errors = r.json().get("errors") or []
        if errors:
            return one_line("; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors))
    except (ValueError, AttributeError):
        pass
    text = (r.text or "").strip() or (r.reason or "")
    return one_line(text) if text else "no details"


def check_push_options(
    *,
    verify: bool | str = True,
    chunk_size: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    fmt: str = "oci",
) -> None:
    """Validate push options before anything is built or sent.

    Raises:
        ConfigError: a CA bundle that is not a readable file, a chunk size
            below 1, a timeout that is not a positive number, an unknown format.

    Example:
        >>> check_push_options(chunk_size=0)
        Traceback (most recent call last):
        ...
        layerlab.errors.ConfigError: --chunk-size: must be a whole number of bytes of at least 1, not 0
    """
    if isinstance(verify, str):
        if not os.path.isfile(verify) or not os.access(verify, os.R_OK):
            raise ConfigError("CA bundle is not a readable file", source=verify)
    elif not isinstance(verify, bool):
        raise ConfigError(f"verify must be True, False or a CA bundle file, not {verify!r:.60}", source="verify")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ConfigError(
            f"must be a whole number of bytes of at least 1, not {chunk_size!r:.40}", source="--chunk-size"
        )
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise ConfigError(f"must be a positive number of seconds, not {timeout!r:.40}", source="--timeout")
    if fmt not in ("oci", "docker"):
        raise ConfigError(f"manifest format must be oci or docker, not {fmt!r:.40}", source="--format")


def push(
    image: Image,
    store: BlobStore,
    ref: str | Reference,
    *,
    fmt: str = "oci",
    credentials: Credentials | None = None,
    verify: bool | str = True,
    plain_http: bool = False,
    chunk_size: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    client: RegistryClient | None = None,
) -> PushReport:
    """Push ``image`` to ``ref``; return what was sent and skipped.

    Args:
        fmt: ``oci`` or ``docker`` (schema 2) manifest.
        credentials: user name and password for Basic auth or token requests.
        verify: TLS verification: ``True``, ``False`` or a CA bundle path.
        plain_http: talk HTTP instead of HTTPS (also ``http://`` in ``ref``).
        chunk_size: upload blobs larger than this in chunks (``PATCH``).
        timeout: seconds to connect, and between bytes of an answer.

    Raises:
        ConfigError: an invalid reference or option (:func:`check_push_options`).
        RegistryError: the registry refused a request or could not be reached.

    Example:
        >>> report = push(image, store, "localhost:5000/hello:v1", plain_http=True)  # doctest: +SKIP
        >>> report.manifest_digest, len(report.skipped)  # doctest: +SKIP
        ('sha256:...', 0)
    """
    check_push_options(verify=verify, chunk_size=chunk_size, timeout=timeout, fmt=fmt)
    reference = ref if isinstance(ref, Reference) else Reference.parse(ref, plain_http=plain_http)
    manifest, media_type = image.manifest(fmt)
    c = client or RegistryClient(reference, credentials=credentials, verify=verify, timeout=timeout)
    report = PushReport(str(reference))
    seen: set[str] = set()
    for desc in image.blobs():
        if desc.digest in seen:
            continue
        seen.add(desc.digest)
        if c.has_blob(desc.digest):
            report.skipped.append(desc.digest)
            continue
        c.upload_blob(desc.digest, desc.size, functools.partial(store.open, desc.digest), chunk_size=chunk_size)
        report.sent.append((desc.digest, desc.size))
        report.bytes_sent += desc.size
    report.manifest_digest = c.put_manifest(manifest, media_type, reference.tag or reference.digest or "latest")
    if reference.digest and reference.digest != report.manifest_digest:
        raise RegistryError(
            f"the image's manifest is {report.manifest_digest}, not the digest in the reference", source=str(reference)
        )
    report.bytes_sent += len(manifest)
    return report
