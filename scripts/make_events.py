"""Regenerate the webhook sample events: API Gateway HTTP API (payload 2.0)
events carrying GitHub deliveries (events/webhook.*.json), signed with the
local stack's webhook secret so `cargo lambda invoke webhook` accepts them, and
a Docker Hub push (events/image-ready.dockerhub.json) on the local stack's hook
token path."""

import base64
import hashlib
import hmac
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = b"stepdeploy-local-webhook-secret"
# The local stack's Docker Hub hook token (the last segment of the hook URL).
DOCKER_HUB_TOKEN = "stepdeploy-local-docker-hub-token"
REPO = {"id": 812345678, "name": "flask-banking", "full_name": "stepdeploy-samples/flask-banking",
        "private": False, "html_url": "https://github.com/stepdeploy-samples/flask-banking",
        "default_branch": "main", "pushed_at": 1795624484,
        "owner": {"login": "stepdeploy-samples", "id": 9876543}}
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
BEFORE = "89e6c98d92887913cadf06b2adb97f26cde4849b"


def push(ref, after=SHA, deleted=False):
    return {
        "ref": ref, "before": BEFORE, "after": after, "created": False, "deleted": deleted, "forced": False,
        "base_ref": None, "compare": f"https://github.com/stepdeploy-samples/flask-banking/compare/{BEFORE[:12]}...{after[:12]}",
        "commits": [] if deleted else [{"id": after, "message": "Add /health endpoint", "timestamp": "2026-11-25T16:34:40Z",
                                         "author": {"name": "Octo Cat", "email": "octocat@example.com", "username": "octocat"}}],
        "head_commit": None if deleted else {"id": after, "message": "Add /health endpoint", "timestamp": "2026-11-25T16:34:40Z"},
        "repository": REPO, "pusher": {"name": "octocat", "email": "octocat@example.com"},
        "sender": {"login": "octocat", "id": 583231},
    }


def pull_request(action, merged=False):
    """Pull request #12 from feature/login into main, as GitHub sends it."""
    head = {"label": "stepdeploy-samples:feature/login", "ref": "feature/login", "sha": SHA, "repo": REPO}
    base = {"label": "stepdeploy-samples:main", "ref": "main", "sha": BEFORE, "repo": REPO}
    return {
        "action": action, "number": 12,
        "pull_request": {"id": 2012345678, "number": 12, "state": "closed" if action == "closed" else "open",
                         "title": "Log in with GitHub", "merged": merged, "draft": False,
                         "html_url": "https://github.com/stepdeploy-samples/flask-banking/pull/12",
                         "user": {"login": "octocat", "id": 583231}, "head": head, "base": base},
        "repository": REPO, "sender": {"login": "octocat", "id": 583231},
    }


CASES = {
    "push": ("push", push("refs/heads/main"), True),
    "push-preview": ("push", push("refs/heads/feature/login"), True),
    "ping": ("ping", {"zen": "Keep it logically awesome.", "hook_id": 481516234,
                      "hook": {"type": "Repository", "id": 481516234, "active": True, "events": ["push", "pull_request", "delete"],
                               "config": {"content_type": "json", "url": "https://example.execute-api.us-east-1.amazonaws.com/webhook"}},
                      "repository": REPO, "sender": {"login": "octocat", "id": 583231}}, True),
    "delete": ("delete", {"ref": "feature/login", "ref_type": "branch", "pusher_type": "user",
                          "repository": REPO, "sender": {"login": "octocat", "id": 583231}}, True),
    "tag-push": ("push", push("refs/tags/v1.0.0"), True),
    "pull-request": ("pull_request", pull_request("opened"), True),
    "pull-request-closed": ("pull_request", pull_request("closed", merged=True), True),
    "package": ("package", {"action": "published", "package": {
        "id": 51234567, "name": "flask-banking", "namespace": "stepdeploy-samples", "package_type": "CONTAINER",
        "owner": {"login": "stepdeploy-samples"},
        "package_version": {"id": 312345678, "version": "sha256:" + hashlib.sha256(b"layer-" + SHA.encode()).hexdigest(),
                            "container_metadata": {"tag": {"name": SHA, "digest": "sha256:" + hashlib.sha256(b"layer-" + SHA.encode()).hexdigest()}},
                            "package_url": f"ghcr.io/stepdeploy-samples/flask-banking:{SHA}"}},
        "repository": REPO, "sender": {"login": "github-actions[bot]", "id": 41898282}}, True),
    "bad-signature": ("push", push("refs/heads/main"), False),
    "malformed": ("push", None, True),
}


def event(name, kind, payload, good_signature):
    body = "{\"ref\": \"refs/heads/main\", \"after\": " if payload is None else json.dumps(payload, indent=None)
    sig = "sha256=" + hmac.new(SECRET if good_signature else b"not-the-secret", body.encode(), hashlib.sha256).hexdigest()
    delivery = f"72d3162e-cc78-11e3-81ab-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return {
        "version": "2.0",
        "routeKey": "POST /webhook",
        "rawPath": "/webhook",
        "rawQueryString": "",
        "headers": {
            "accept": "*/*",
            "content-type": "application/json",
            "user-agent": "GitHub-Hookshot/7c0ba2e",
            "x-github-delivery": delivery,
            "x-github-event": kind,
            "x-github-hook-id": "481516234",
            "x-hub-signature-256": sig,
        },
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "localhost", "domainPrefix": "localhost",
            "http": {"method": "POST", "path": "/webhook", "protocol": "HTTP/1.1", "sourceIp": "140.82.115.10",
                     "userAgent": "GitHub-Hookshot/7c0ba2e"},
            "requestId": f"req-{name}", "routeKey": "POST /webhook", "stage": "$default",
            "time": "25/Nov/2026:16:34:44 +0000", "timeEpoch": 1795624484000,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def docker_hub_event():
    """What Docker Hub posts after `docker push stepdeploy-samples/flask-banking:<sha>`."""
    repo = "stepdeploy-samples/flask-banking"
    payload = {
        "callback_url": f"https://registry.hub.docker.com/u/{repo}/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/",
        "push_data": {"pushed_at": 1795624484, "pusher": "stepdeploy-ci", "tag": SHA, "images": [], "media_type": "application/vnd.oci.image.index.v1+json"},
        "repository": {"comment_count": 0, "date_created": 1795000000, "description": "", "is_official": False,
                       "is_private": False, "is_trusted": False, "name": "flask-banking", "namespace": "stepdeploy-samples",
                       "owner": "stepdeploy-samples", "repo_name": repo, "repo_url": f"https://hub.docker.com/r/{repo}",
                       "star_count": 0, "status": "Active"},
    }
    path = f"/dockerhub/{DOCKER_HUB_TOKEN}"
    route = "POST /dockerhub/{token}"
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"accept": "*/*", "content-type": "application/json", "user-agent": "Go-http-client/2.0"},
        "pathParameters": {"token": DOCKER_HUB_TOKEN},
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "localhost", "domainPrefix": "localhost",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "34.202.14.25",
                     "userAgent": "Go-http-client/2.0"},
            "requestId": "req-dockerhub", "routeKey": route, "stage": "$default",
            "time": "25/Nov/2026:16:34:44 +0000", "timeEpoch": 1795624484000,
        },
        "body": json.dumps(payload),
        "isBase64Encoded": False,
    }


if __name__ == "__main__":
    path = ROOT / "events" / "image-ready.dockerhub.json"
    path.write_text(json.dumps(docker_hub_event(), indent=2) + "\n")
    print(path.relative_to(ROOT))
    for name, (kind, payload, good) in CASES.items():
        path = ROOT / "events" / f"webhook.{name}.json"
        path.write_text(json.dumps(event(name, kind, payload, good), indent=2) + "\n")
        print(path.relative_to(ROOT))
