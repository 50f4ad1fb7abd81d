"""Helpers for the image and registry tests: Nix-built closures, certificates, a token server.

It holds no tests; ``tests/test_image*.py`` and ``tests/test_registry*.py``
import it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import tempfile
import textwrap
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from layerlab.sources.nix_run import OFFLINE_CONFIG, nix_environment

# Two store paths built with /bin/sh only: "dep" holds odd contents (a name
# with a space and UTF-8, a symlink loop, an absolute symlink, a file larger
# than the stream buffer, an executable); "app" references it and has a bin/.
TEST_NIX = textwrap.dedent(
    r"""
    let
      sh = "/bin/sh";
      dep = builtins.derivation {
        name = "layerlab-dep-1.0"; system = builtins.currentSystem; builder = sh;
        args = [ "-c" ''
          set -e
          PATH=/bin:/usr/bin
          mkdir -p $out/lib $out/share/doc "$out/share/with space" $out/share/caf$(printf '\303\251')
          echo lib > $out/lib/libdep.so.1
          ln -s libdep.so.1 $out/lib/libdep.so
          ln -s loop-b $out/lib/loop-a
          ln -s loop-a $out/lib/loop-b
          ln -s /etc/passwd $out/share/abs-link
          echo "spaced" > "$out/share/with space/a file.txt"
          echo "accent" > $out/share/caf$(printf '\303\251')/menu
          seq 1 1200000 > $out/share/doc/numbers.txt
          printf '#!/bin/sh\necho dep\n' > $out/lib/tool
          chmod +x $out/lib/tool
        '' ];
      };
    in builtins.derivation {
      name = "layerlab-app-2.0"; system = builtins.currentSystem; builder = sh;
      args = [ "-c" ''
        set -e
        PATH=/bin:/usr/bin
        mkdir -p $out/bin $out/share
        printf '#!/bin/sh\nexec ${dep}/lib/tool\n' > $out/bin/app
        chmod +x $out/bin/app
        ln -s ${dep}/lib $out/lib
        echo app > $out/share/app.txt
      '' ];
    }
    """
)


def nix_closure_file(tmp_path_factory, name: str) -> tuple[str, list[dict], Path]:
    """Build the test derivation in a fresh directory; also write its graph to ``graph.json``."""
    from .conftest import require_tool

    require_tool("nix-build")
    tmp = tmp_path_factory.mktemp(name)
    root, info = nix_closure(tmp)
    graph = tmp / "graph.json"
    graph.write_text(json.dumps(info))
    return root, info, graph


def nix_closure(tmp: Path) -> tuple[str, list[dict]]:
    """Build the test derivation; return its store path and ``nix path-info --json -r``."""
    env = nix_environment(OFFLINE_CONFIG)
    f = tmp / "test.nix"
    f.write_text(TEST_NIX)
    out = subprocess.run(["nix-build", str(f), "--no-out-link"], env=env, capture_output=True, text=True, check=True)
    path = out.stdout.strip().splitlines()[-1]
    info = subprocess.run(
        ["nix", "path-info", "--json", "-r", path], env=env, capture_output=True, text=True, check=True
    )
    return path, json.loads(info.stdout)


def htpasswd_line(user: str, password: str) -> str:

    # bcrypt cost 4: the registry checks the hash on every request
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # removed in Python 3.13

        return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))}"
    except ImportError:
        import bcrypt  # the test extra's fallback on newer Pythons

        return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()}"


def make_cert(workdir: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (RSA 2048) made with the openssl tool."""
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A real token endpoint for docker-registry's ``auth: token``.

    It checks Basic credentials and answers ``{"token": JWT}``, the JWT signed
    RS256 with the openssl tool, carrying the certificate in ``x5c`` (the
    registry trusts that certificate through ``rootcertbundle``).
    """

    def __init__(self, workdir: Path, user: str, password: str) -> None:
        certdir = workdir / "token-cert"
        certdir.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = make_cert(certdir)
        der = subprocess.run(
            ["openssl", "x509", "-in", str(self.cert), "-outform", "DER"], check=True, capture_output=True
        ).stdout
        self.x5c = base64.b64encode(der).decode()
        self.user, self.password = user, password
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                from urllib.parse import parse_qs, urlsplit

                q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                expected = "Basic " + base64.b64encode(f"{server.user}:{server.password}".encode()).decode()
                ok = self.headers.get("Authorization") == expected
                server.requests.append({"query": q, "authorized": ok})
                if not ok:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": server.token(q.get("service", ""), q.get("scope", ""))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def token(self, service: str, scope: str) -> str:
        access = []
        if scope:
            typ, name, actions = scope.split(":")
            access.append({"type": typ, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "x5c": [self.x5c]}
        claims = {
            "iss": "layerlab-test-issuer",
            "sub": self.user,
            "aud": service,
            "exp": now + 600,
            "nbf": now - 10,
            "iat": now,
            "jti": hashlib.sha256(os.urandom(8)).hexdigest(),
            "access": access,
        }
        signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        with tempfile.NamedTemporaryFile() as f:
            f.write(signing.encode())
            f.flush()
            sig = subprocess.run(
                ["openssl", "dgst", "-sha256", "-sign", str(self.key), f.name], check=True, capture_output=True
            ).stdout
        return f"{signing}.{_b64url(sig)}"

    def auth(self) -> dict:
        """The registry configuration's ``auth`` section that trusts this server's tokens."""
        return {
            "token": {
                "realm": self.url,
                "service": "layerlab-test",
                "issuer": "layerlab-test-issuer",
                "rootcertbundle": str(self.cert),
            }
        }

    def __enter__(self) -> TokenServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
