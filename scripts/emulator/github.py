"""A fake GitHub for the local stack: the REST endpoints stepdeploy's GitHub
App uses, with GitHub's shapes and status codes, checking credentials the way
GitHub does, and recording every call.

Identity:
- `Authorization: Bearer <JWT>`: the App's JWT, RS256, signed with the App's
  private key (the fake holds its public key), `iss` the App id, `iat` in the
  past and `exp` at most 10 minutes after it. Only the App endpoints take it.
- `Authorization: token <t>` (or `Bearer <t>`): an installation token minted
  by `POST /app/installations/{id}/access_tokens`; it expires after
  `token_seconds` (3600, as on GitHub; `POST /_config` changes it). An
  expired or unknown token is `401 Bad credentials`.

Endpoints (every repository has the App installed):
- `GET /repos/{owner}/{repo}/installation` (JWT)
- `POST /app/installations/{id}/access_tokens` (JWT)
- `GET|POST /repos/{owner}/{repo}/deployments` (`?sha=&environment=` filters)
- `GET|POST /repos/{owner}/{repo}/deployments/{id}/statuses`
- `POST /repos/{owner}/{repo}/statuses/{sha}`, `GET /repos/{o}/{r}/commits/{sha}/statuses`
- `GET /repos/{owner}/{repo}/contents/{path}?ref=<sha>`
- `GET|POST /repos/{owner}/{repo}/issues/{n}/comments`, `PATCH /repos/{o}/{r}/issues/comments/{id}`

For checks (not GitHub's):
- `PUT /_files` `{"repository", "ref", "path", "content"}` stores a file at a commit;
- `GET /_calls` every call received, in order: `[{"method", "path", "body"}]`
  (the path with its query; token values never appear);
- `POST /_faults` `{"status": 500 | 403, "count": N}` answers the next N
  calls (any but `/_…`) with a server error, or with a secondary rate limit
  (403, `retry-after: 1`); `DELETE /_faults` clears;
- `POST /_config` `{"token_seconds": N, "revoke": true}` (revoke: every token
  minted so far is refused from now on); `GET /_tokens` the tokens minted,
  so a test can look for them where they must never be (logs);
- `GET /_comments?repository=owner/name` the repository's comments as they
  stand (`[{"id", "issue", "body", ...}]`).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

INSTALLATION_ID = 4242


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_jwt(token: str, public_key, app_id: str) -> str | None:
    """Why GitHub would refuse this App JWT, or None when it is good."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
        claims = json.loads(b64url_decode(claims_b64))
        signature = b64url_decode(signature_b64)
    except (ValueError, json.JSONDecodeError):
        return "A JSON web token could not be decoded"
    if header.get("alg") != "RS256":
        return "'Expiration time' claim ('exp') must be a numeric value"
    try:
        public_key.verify(signature, f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return "A JSON web token could not be decoded"
    now = time.time()
    if str(claims.get("iss")) != str(app_id):
        return "Integration not found"
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
    if iat > now + 60:
        return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
    if exp < now:
        return "'Expiration time' claim ('exp') is too far in the future"  # GitHub's wording for a bad exp
    if exp - iat > 600:
        return "'Expiration time' claim ('exp') is too far in the future"
    return None


class FakeGitHub:
    def __init__(self, app_id: str, public_key_pem: bytes):
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        self.app_id = app_id
        self.public_key = load_pem_public_key(public_key_pem)
        self.lock = threading.Lock()
        self.calls: list[dict] = []
        self.faults: dict = {"status": 0, "count": 0}
        self.token_seconds = 3600
        self.tokens: dict[str, float] = {}  # token -> expires at
        self.files: dict[tuple[str, str, str], str] = {}
        self.deployments: dict[str, list[dict]] = {}  # repo -> deployments
        self.deployment_statuses: dict[int, list[dict]] = {}
        self.commit_statuses: dict[tuple[str, str], list[dict]] = {}
        self.comments: dict[str, list[dict]] = {}  # repo -> comments
        self.next_id = 1000

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


def now_iso(at: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at if at is not None else time.time()))


def serve(port: int, app_id: str, public_key_pem: bytes, api_url: str | None = None) -> ThreadingHTTPServer:
    gh = FakeGitHub(app_id, public_key_pem)
    base = api_url or f"http://127.0.0.1:{port}"

    repo_re = r"/repos/(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+)"
    routes = [
        ("GET", re.compile(f"^{repo_re}/installation$"), "installation"),
        ("POST", re.compile(r"^/app/installations/(?P<id>\d+)/access_tokens$"), "access_token"),
        ("GET", re.compile(f"^{repo_re}/deployments$"), "list_deployments"),
        ("POST", re.compile(f"^{repo_re}/deployments$"), "create_deployment"),
        ("GET", re.compile(f"^{repo_re}/deployments/(?P<id>\\d+)/statuses$"), "list_deployment_statuses"),
        ("POST", re.compile(f"^{repo_re}/deployments/(?P<id>\\d+)/statuses$"), "create_deployment_status"),
        ("POST", re.compile(f"^{repo_re}/statuses/(?P<sha>[0-9a-f]{{40}})$"), "create_commit_status"),
        ("GET", re.compile(f"^{repo_re}/commits/(?P<sha>[0-9a-f]{{40}})/statuses$"), "list_commit_statuses"),
        ("GET", re.compile(f"^{repo_re}/contents/(?P<path>.+)$"), "contents"),
        ("GET", re.compile(f"^{repo_re}/issues/(?P<number>\\d+)/comments$"), "list_comments"),
        ("POST", re.compile(f"^{repo_re}/issues/(?P<number>\\d+)/comments$"), "create_comment"),
        ("PATCH", re.compile(f"^{repo_re}/issues/comments/(?P<id>\\d+)$"), "update_comment"),
    ]
    app_routes = {"installation", "access_token"}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def reply(self, status: int, body=None, headers: dict | None = None):
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
            for k, v in (headers or {}).items():
                self.send_header(k, str(v))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def message(self, status: int, text: str, headers: dict | None = None):
            self.reply(status, {"message": text, "documentation_url": "https://docs.github.com/rest"}, headers)

        def body(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            if not raw:
                return None
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                return ValueError("Problems parsing JSON")

        def handle_any(self, method: str):
            url = urlparse(self.path)
            body = self.body()
            if url.path.startswith("/_"):
                return self.control(method, url, body)
            with gh.lock:
                gh.calls.append({"method": method, "path": self.path, "body": body if not isinstance(body, ValueError) else None})
                fault = gh.faults["count"] > 0
                if fault:
                    gh.faults["count"] -= 1
                    status = gh.faults["status"]
            if fault:
                if status == 403:
                    return self.message(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                                        {"retry-after": 1, "x-ratelimit-remaining": 4999})
                return self.message(status, "Server Error")
            if isinstance(body, ValueError):
                return self.message(400, str(body))
            for m, pattern, name in routes:
                match = pattern.match(url.path)
                if m == method and match:
                    who = self.authenticate(name in app_routes)
                    if isinstance(who, tuple):
                        return self.message(*who)
                    with gh.lock:
                        return getattr(self, name)(match.groupdict(), parse_qs(url.query), body or {})
            return self.message(404, "Not Found")

        def authenticate(self, app: bool):
            auth = self.headers.get("Authorization", "")
            scheme, _, credential = auth.partition(" ")
            if not credential:
                return (401, "Requires authentication")
            if app:
                if scheme.lower() != "bearer":
                    return (401, "A JSON web token could not be decoded")
                why = verify_jwt(credential, gh.public_key, gh.app_id)
                return (401, why) if why else "app"
            with gh.lock:
                expires = gh.tokens.get(credential)
            if expires is None or expires < time.time():
                return (401, "Bad credentials")
            return "installation"

        # --- the App ---
        def installation(self, p, q, b):
            self.reply(200, {"id": INSTALLATION_ID, "app_id": int(gh.app_id), "account": {"login": p["owner"]},
                             "permissions": {"contents": "read", "deployments": "write", "statuses": "write",
                                             "pull_requests": "write", "metadata": "read"}})

        def access_token(self, p, q, b):
            if int(p["id"]) != INSTALLATION_ID:
                return self.message(404, "Not Found")
            token = "ghs_" + secrets.token_urlsafe(27)[:36]
            expires = time.time() + gh.token_seconds
            gh.tokens[token] = expires
            self.reply(201, {"token": token, "expires_at": now_iso(expires),
                             "permissions": {"deployments": "write", "statuses": "write"}})

        # --- deployments ---
        def list_deployments(self, p, q, b):
            found = gh.deployments.get(f"{p['owner']}/{p['repo']}", [])
            for key in ("sha", "environment", "ref"):
                if key in q:
                    found = [d for d in found if d[key] == q[key][0]]
            self.reply(200, list(reversed(found)))

        def create_deployment(self, p, q, b):
            ref = b.get("ref")
            if not ref:
                return self.message(422, "Invalid request.\n\n\"ref\" wasn't supplied.")
            repo = f"{p['owner']}/{p['repo']}"
            d = {"id": gh.new_id(), "url": f"{base}/repos/{repo}/deployments/{gh.next_id}", "sha": ref, "ref": ref,
                 "task": b.get("task", "deploy"), "payload": b.get("payload", {}),
                 "environment": b.get("environment", "production"), "description": b.get("description"),
                 "transient_environment": bool(b.get("transient_environment", False)),
                 "production_environment": bool(b.get("production_environment", b.get("environment", "production") == "production")),
                 "created_at": now_iso(), "updated_at": now_iso()}
            gh.deployments.setdefault(repo, []).append(d)
            gh.deployment_statuses[d["id"]] = []
            self.reply(201, d)

        def list_deployment_statuses(self, p, q, b):
            if int(p["id"]) not in gh.deployment_statuses:
                return self.message(404, "Not Found")
            self.reply(200, list(reversed(gh.deployment_statuses[int(p["id"])])))

        def create_deployment_status(self, p, q, b):
            states = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
            if int(p["id"]) not in gh.deployment_statuses:
                return self.message(404, "Not Found")
            if b.get("state") not in states:
                return self.message(422, "Validation Failed")
            if len(b.get("description") or "") > 140:
                return self.message(422, "Validation Failed: description is too long (maximum is 140 characters)")
            s = {"id": gh.new_id(), "state": b["state"], "description": b.get("description", ""),
                 "environment_url": b.get("environment_url", ""), "log_url": b.get("log_url", ""),
                 "created_at": now_iso()}
            gh.deployment_statuses[int(p["id"])].append(s)
            self.reply(201, s)

        def create_commit_status(self, p, q, b):
            if b.get("state") not in {"error", "failure", "pending", "success"}:
                return self.message(422, "Validation Failed")
            if len(b.get("description") or "") > 140:
                return self.message(422, "Validation Failed: description is too long (maximum is 140 characters)")
            s = {"id": gh.new_id(), "state": b["state"], "context": b.get("context", "default"),
                 "description": b.get("description"), "target_url": b.get("target_url"), "created_at": now_iso()}
            gh.commit_statuses.setdefault((f"{p['owner']}/{p['repo']}", p["sha"]), []).append(s)
            self.reply(201, s)

        def list_commit_statuses(self, p, q, b):
            self.reply(200, list(reversed(gh.commit_statuses.get((f"{p['owner']}/{p['repo']}", p["sha"]), []))))

        # --- files ---
        def contents(self, p, q, b):
            ref = q.get("ref", ["main"])[0]
            text = gh.files.get((f"{p['owner']}/{p['repo']}", ref, p["path"]))
            if text is None:
                return self.message(404, "Not Found")
            raw = text.encode()
            self.reply(200, {"type": "file", "encoding": "base64", "size": len(raw), "name": p["path"].rsplit("/", 1)[-1],
                             "path": p["path"], "content": base64.encodebytes(raw).decode()})

        # --- pull request comments ---
        def list_comments(self, p, q, b):
            repo = f"{p['owner']}/{p['repo']}"
            self.reply(200, [c for c in gh.comments.get(repo, []) if c["issue"] == int(p["number"])])

        def create_comment(self, p, q, b):
            repo = f"{p['owner']}/{p['repo']}"
            c = {"id": gh.new_id(), "issue": int(p["number"]), "body": b.get("body", ""),
                 "user": {"login": "stepdeploy[bot]", "type": "Bot"}, "created_at": now_iso(), "updated_at": now_iso()}
            gh.comments.setdefault(repo, []).append(c)
            self.reply(201, c)

        def update_comment(self, p, q, b):
            repo = f"{p['owner']}/{p['repo']}"
            for c in gh.comments.get(repo, []):
                if c["id"] == int(p["id"]):
                    c["body"], c["updated_at"] = b.get("body", c["body"]), now_iso()
                    return self.reply(200, c)
            self.message(404, "Not Found")

        # --- control, for checks ---
        def control(self, method, url, body):
            body = body if isinstance(body, dict) else {}
            with gh.lock:
                if url.path == "/_calls" and method == "GET":
                    return self.reply(200, list(gh.calls))
                if url.path == "/_files" and method == "PUT":
                    gh.files[(body["repository"], body["ref"], body["path"])] = body["content"]
                    return self.reply(204)
                if url.path == "/_faults" and method == "POST":
                    gh.faults = {"status": int(body.get("status", 500)), "count": int(body.get("count", 1))}
                    return self.reply(200, gh.faults)
                if url.path == "/_faults" and method == "DELETE":
                    gh.faults = {"status": 0, "count": 0}
                    return self.reply(204)
                if url.path == "/_config" and method == "POST":
                    gh.token_seconds = float(body.get("token_seconds", gh.token_seconds))
                    if body.get("revoke"):  # every token minted so far stops working
                        gh.tokens = {t: 0.0 for t in gh.tokens}
                    return self.reply(200, {"token_seconds": gh.token_seconds})
                if url.path == "/_comments" and method == "GET":
                    repo = parse_qs(url.query).get("repository", [""])[0]
                    return self.reply(200, list(gh.comments.get(repo, [])))
                if url.path == "/_tokens" and method == "GET":
                    return self.reply(200, list(gh.tokens))
            self.message(404, "Not Found")

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_PATCH(self):
            self.handle_any("PATCH")

        def do_PUT(self):
            self.handle_any("PUT")

        def do_DELETE(self):
            self.handle_any("DELETE")

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
