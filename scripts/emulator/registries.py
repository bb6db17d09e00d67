"""The registries beside ECR: the blob storage they share, and a Docker Hub.

Storage (`Storage`): digest -> bytes, content-addressed, so ECR's layers
(`ecr`) and Docker Hub's blobs share it. It is served on the Docker Hub's
port at `/_storage/<digest>` (another origin than the registry API), and
refuses requests that carry an Authorization header, as Docker Hub's CDN and
S3 do.

Docker Hub is not AWS, but deployments of Docker Hub images read digests from
its registry: --docker-hub-port serves the part of the OCI distribution API
that Docker Hub's registry answers (a Bearer challenge, a token endpoint,
HEAD/GET manifests, GET blobs) plus manifest PUT and blob upload to push an
image. Repositories whose name contains "private" refuse anonymous pulls, as
Docker Hub does for private repositories. A blob GET is redirected to the
storage.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Storage:
    """The registries' blobs, and where they are served (`url`, once the
    Docker Hub's server is up; ECR has no download URL to give before)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.blobs: dict[str, bytes] = {}
        self.url: str | None = None

    def put(self, digest: str, data: bytes) -> None:
        with self.lock:
            self.blobs[digest] = data

    def get(self, digest: str) -> bytes | None:
        with self.lock:
            return self.blobs.get(digest)

    def has(self, digest: str) -> bool:
        with self.lock:
            return digest in self.blobs


def serve_docker_hub(port: int, storage: Storage) -> ThreadingHTTPServer:
    """A registry with Docker Hub's protocol: anonymous pulls need a Bearer
    token from /token; manifests are PUT to push a tag, blobs uploaded with a
    POST (monolithic, `?digest=`) or a POST then a PUT; a blob GET redirects
    to the storage, on another origin, which takes no Authorization."""
    manifests: dict[tuple[str, str], tuple[bytes, str]] = {}  # (repo, tag or digest) -> (body, media type)
    lock = threading.Lock()
    realm = f"http://127.0.0.1:{port}/token"
    path_re = re.compile(r"^/v2/(?P<repo>[a-z0-9._/-]+)/manifests/(?P<ref>[A-Za-z0-9._:-]+)$")
    blob_re = re.compile(r"^/v2/(?P<repo>[a-z0-9._/-]+)/blobs/(?P<digest>sha256:[a-f0-9]{64})$")
    upload_re = re.compile(r"^/v2/(?P<repo>[a-z0-9._/-]+)/blobs/uploads/(?P<id>[a-f0-9]*)$")
    storage.url = f"http://localhost:{port}"
    uploads: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def answer(self, status, body=b"", headers=None, head=False):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def error(self, status, code, message, headers=None, head=False):
            body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
            self.answer(status, body, {"Content-Type": "application/json", **(headers or {})}, head)

        def manifest(self, head):
            m = path_re.match(urlparse(self.path).path)
            if not m:
                return self.error(404, "NAME_UNKNOWN", "no such path", head=head)
            repo, ref = m["repo"], m["ref"]
            challenge = {"WWW-Authenticate": f'Bearer realm="{realm}",service="registry.docker.io",scope="repository:{repo}:pull"'}
            if not self.headers.get("Authorization", "").startswith("Bearer local-"):
                return self.error(401, "UNAUTHORIZED", "authentication required", challenge, head)
            if "private" in repo:
                return self.error(401, "UNAUTHORIZED", "pull access denied: repository does not exist or may require 'docker login'", challenge, head)
            with lock:
                found = manifests.get((repo, ref))
            if found is None:
                return self.error(404, "MANIFEST_UNKNOWN", f"manifest unknown: {repo}:{ref}", head=head)
            body, media_type = found
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            self.answer(200, body, {"Content-Type": media_type, "Docker-Content-Digest": digest}, head)

        def authorized(self, repo, head):
            challenge = {"WWW-Authenticate": f'Bearer realm="{realm}",service="registry.docker.io",scope="repository:{repo}:pull"'}
            if not self.headers.get("Authorization", "").startswith("Bearer local-") or "private" in repo:
                self.error(401, "UNAUTHORIZED", "authentication required", challenge, head)
                return False
            return True

        def blob(self, m, head):
            if not self.authorized(m["repo"], head):
                return
            known = storage.has(m["digest"])
            if not known:
                return self.error(404, "BLOB_UNKNOWN", f"blob unknown to registry: {m['digest']}", head=head)
            self.answer(307, b"", {"Location": f"{storage.url}/_storage/{m['digest']}?expires=600"}, head)

        def serve_storage(self, digest, head):
            if self.headers.get("Authorization"):
                return self.answer(400, b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>",
                                   {"Content-Type": "application/xml"}, head)
            body = storage.get(digest)
            if body is None:
                return self.answer(404, b"<Error><Code>NoSuchKey</Code></Error>", {"Content-Type": "application/xml"}, head)
            self.answer(200, body, {"Content-Type": "application/octet-stream"}, head)

        def get_or_head(self, head):
            url = urlparse(self.path)
            if url.path.startswith("/_storage/"):
                return self.serve_storage(url.path[len("/_storage/"):], head)
            m = blob_re.match(url.path)
            if m:
                return self.blob(m, head)
            if head:
                return self.manifest(head=True)
            return None

        def store_blob(self, repo, digest, body):
            if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
                return self.error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
            storage.put(digest, body)
            self.answer(201, b"", {"Docker-Content-Digest": digest, "Location": f"/v2/{repo}/blobs/{digest}"})

        def do_POST(self):
            url = urlparse(self.path)
            m = upload_re.match(url.path)
            if not m or m["id"]:
                return self.error(404, "NAME_UNKNOWN", "no such path")
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            digest = parse_qs(url.query).get("digest", [""])[0]
            if digest:
                return self.store_blob(m["repo"], digest, body)
            upload = hashlib.sha256(os.urandom(16)).hexdigest()[:32]
            with lock:
                uploads[upload] = body
            self.answer(202, b"", {"Location": f"/v2/{m['repo']}/blobs/uploads/{upload}", "Docker-Upload-UUID": upload})

        def do_HEAD(self):
            self.get_or_head(head=True)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/token":
                scope = parse_qs(url.query).get("scope", [""])[0]
                token = "local-" + hashlib.sha256(scope.encode()).hexdigest()[:16]
                body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
                return self.answer(200, body, {"Content-Type": "application/json"})
            if url.path == "/v2/":
                return self.answer(200, b"{}", {"Content-Type": "application/json"})
            if url.path.startswith("/_storage/") or blob_re.match(url.path):
                return self.get_or_head(head=False)
            self.manifest(head=False)

        def do_PUT(self):
            url = urlparse(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            up = upload_re.match(url.path)
            if up and up["id"]:
                with lock:
                    started = uploads.pop(up["id"], None)
                if started is None:
                    return self.error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
                return self.store_blob(up["repo"], parse_qs(url.query).get("digest", [""])[0], started + body)
            m = path_re.match(url.path)
            if not m:
                return self.error(404, "NAME_UNKNOWN", "no such path")
            media_type = self.headers.get("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            with lock:
                manifests[(m["repo"], m["ref"])] = (body, media_type)
                manifests[(m["repo"], digest)] = (body, media_type)
            self.answer(201, b"", {"Docker-Content-Digest": digest, "Location": f"/v2/{m['repo']}/manifests/{digest}"})

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
