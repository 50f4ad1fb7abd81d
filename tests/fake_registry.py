"""A small OCI distribution registry for fault tests: every step can fail on demand.

It holds no tests.  :class:`FakeRegistry` speaks enough of the distribution
API for :func:`layerlab.registry.push` (HEAD blob, POST/PATCH/PUT upload, PUT
manifest, a Bearer token endpoint) and records every request with its
headers.  ``faults`` maps a step (``head``, ``post``, ``patch``, ``put_blob``,
``put_manifest``, ``token``) to what goes wrong there:

``401``/``403``/``500``
    that status;
``timeout``
    no answer for ``hang`` seconds;
``drop``
    the connection is closed mid-request (half the body read);
``wrong_digest``
    success, but a ``Docker-Content-Digest`` that is not the one sent;
``redirect_other``
    the answer points to :class:`OtherHost` on 127.0.0.2 (``Location`` of an
    upload, or a 307 redirect).

An :class:`OtherHost` records whatever reaches it, so a test can check that
no credentials did.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class OtherHost:
    """Another host (127.0.0.2 by default) that accepts anything and records requests."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        self.requests: list[dict] = []
        rec = self.requests

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                rec.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "bytes": len(body)}
                )
                self.send_response(201 if self.command in ("PUT", "POST", "PATCH") else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = _any

        self.httpd = _Server((host, 0), Handler)
        self.host = f"{host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> OtherHost:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeRegistry:
    """See the module doc.

    Args:
        auth: ``None``, ``basic`` or ``bearer``.
        faults: step -> fault.
        other: where ``redirect_other`` points.
        tls: (certificate, key) to serve HTTPS.
        hang: seconds a ``timeout`` fault keeps the client waiting.
        realm: the Bearer challenge's realm (default: this registry's ``/token``).
    """

    def __init__(
        self,
        *,
        auth: str | None = None,
        user: str = "u",
        password: str = "p",
        faults: dict | None = None,
        other: OtherHost | None = None,
        tls: tuple[Path, Path] | None = None,
        hang: float = 3.0,
        realm: str | None = None,
    ) -> None:
        self.auth, self.user, self.password = auth, user, password
        self.faults = dict(faults or {})
        self.other, self.hang, self.realm = other, hang, realm
        self.requests: list[dict] = []
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, bytes] = {}
        self.uploads: dict[str, bytearray] = {}
        self.token = "tok-" + uuid.uuid4().hex
        reg = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _reply(self, status: int, headers: dict | None = None, body: bytes = b"") -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body and self.command != "HEAD":
                    self.wfile.write(body)

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _authorized(self) -> bool:
                got = self.headers.get("Authorization")
                basic = "Basic " + base64.b64encode(f"{reg.user}:{reg.password}".encode()).decode()
                if reg.auth == "basic":
                    if got == basic:
                        return True
                    self._reply(401, {"WWW-Authenticate": 'Basic realm="fake"'})
                    return False
                if reg.auth == "bearer":
                    if got == f"Bearer {reg.token}":
                        return True
                    realm = reg.realm or f"{reg.scheme}://{reg.host}/token"
                    self._reply(401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="fake"'})
                    return False
                return True

            def _fault(self, step: str) -> bool:
                """Apply the fault of ``step``; True when the request was answered by it."""
                fault = reg.faults.get(step)
                if fault is None or fault in ("wrong_digest", "redirect_other"):
                    return False
                if fault in ("401", "403", "500"):
                    self._body()
                    msg = {
                        "errors": [
                            {
                                "code": "DENIED" if fault != "500" else "UNKNOWN",
                                "message": f"injected {fault} at {step}",
                            }
                        ]
                    }
                    self._reply(int(fault), {"Content-Type": "application/json"}, json.dumps(msg).encode())
                    return True
                if fault == "timeout":
                    time.sleep(reg.hang)
                    self.close_connection = True
                    return True
                if fault == "drop":
                    n = int(self.headers.get("Content-Length") or 0)
                    self.rfile.read(n // 2)
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return True
                raise AssertionError(f"unknown fault {fault}")

            def _step(self) -> tuple[str, re.Match | None]:
                path = urlsplit(self.path).path
                for step, method, pattern in (
                    ("token", "GET", r"/token"),
                    ("ping", "GET", r"/v2/"),
                    ("head", "HEAD", r"/v2/(.+)/blobs/(sha256:[0-9a-f]{64})"),
                    ("post", "POST", r"/v2/(.+)/blobs/uploads/"),
                    ("patch", "PATCH", r"/v2/(.+)/blobs/uploads/([0-9a-f]+)"),
                    ("put_blob", "PUT", r"/v2/(.+)/blobs/uploads/([0-9a-f]+)"),
                    ("put_manifest", "PUT", r"/v2/(.+)/manifests/([^/]+)"),
                    ("get_manifest", "GET", r"/v2/(.+)/manifests/([^/]+)"),
                ):
                    m = re.fullmatch(pattern, path)
                    if m and method == self.command:
                        return step, m
                return "unknown", None

            def _handle(self) -> None:
                step, m = self._step()
                reg.requests.append(
                    {"method": self.command, "path": self.path, "step": step, "headers": dict(self.headers)}
                )
                if step == "token":
                    if self._fault("token"):
                        return
                    basic = "Basic " + base64.b64encode(f"{reg.user}:{reg.password}".encode()).decode()
                    if self.headers.get("Authorization") != basic:
                        self._reply(401)
                        return
                    self._reply(200, {"Content-Type": "application/json"}, json.dumps({"token": reg.token}).encode())
                    return
                if not self._authorized() or self._fault(step):
                    return
                if m is None and step != "ping":
                    self._reply(404)
                    return
                fault = reg.faults.get(step)
                if step == "ping":
                    self._reply(200)
                elif step == "head":
                    if fault == "redirect_other" and reg.other is not None:
                        self._reply(307, {"Location": f"http://{reg.other.host}/blob/{m.group(2)}"})
                        return
                    self._reply(200 if m.group(2) in reg.blobs else 404)
                elif step == "post":
                    self._body()
                    uid = uuid.uuid4().hex
                    reg.uploads[uid] = bytearray()
                    where = (
                        f"http://{reg.other.host}/upload/{uid}"
                        if fault == "redirect_other" and reg.other
                        else f"/v2/{m.group(1)}/blobs/uploads/{uid}"
                    )
                    self._reply(202, {"Location": where, "Docker-Upload-UUID": uid})
                elif step == "patch":
                    reg.uploads.setdefault(m.group(2), bytearray()).extend(self._body())
                    self._reply(202, {"Location": f"/v2/{m.group(1)}/blobs/uploads/{m.group(2)}"})
                elif step == "put_blob":
                    data = bytes(reg.uploads.pop(m.group(2), bytearray())) + self._body()
                    digest = parse_qs(urlsplit(self.path).query).get("digest", [""])[0]
                    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
                        self._reply(
                            400,
                            {"Content-Type": "application/json"},
                            b'{"errors":[{"code":"DIGEST_INVALID","message":"digest mismatch"}]}',
                        )
                        return
                    reg.blobs[digest] = data
                    shown = "sha256:" + "0" * 64 if fault == "wrong_digest" else digest
                    self._reply(201, {"Docker-Content-Digest": shown, "Location": f"/v2/{m.group(1)}/blobs/{digest}"})
                elif step == "put_manifest":
                    data = self._body()
                    reg.manifests[f"{m.group(1)}:{m.group(2)}"] = data
                    digest = "sha256:" + hashlib.sha256(data).hexdigest()
                    shown = "sha256:" + "0" * 64 if fault == "wrong_digest" else digest
                    self._reply(201, {"Docker-Content-Digest": shown})
                elif step == "get_manifest":
                    data = reg.manifests.get(f"{m.group(1)}:{m.group(2)}")
                    self._reply(200 if data else 404, {}, data or b"")

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = _handle

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def ref(self, name: str = "team/app", tag: str = "v1") -> str:
        return f"{'http://' if self.scheme == 'http' else ''}{self.host}/{name}:{tag}"

    def steps(self) -> list[str]:
        return [r["step"] for r in self.requests]

    def __enter__(self) -> FakeRegistry:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
