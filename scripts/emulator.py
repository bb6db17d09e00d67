"""The local AWS: moto in server mode, with what moto lacks filled in.

- Step Functions run the real ASL (moto's interpreter).
- Lambda invocations (from state machines and the Lambda API) are forwarded to
  `cargo lambda watch`, so the real Rust functions run; a handler error becomes
  a function error (`X-Amz-Function-Error`), as on AWS.
- ECS runs no tasks in moto. Here a service's rollout (after CreateService or an
  UpdateService that changes its task definition) starts IN_PROGRESS with no
  tasks running and completes after --rollout-seconds with every task running,
  as on AWS. An image whose reference contains "broken" never starts: the
  rollout fails and the deployment circuit breaker rolls back to the previous
  task definition (or fails the first rollout), with a service event that says
  why, as ECS does.
- Docker Hub is not AWS, but deployments of Docker Hub images read digests
  from its registry: --docker-hub-port serves the part of the OCI
  distribution API that Docker Hub's registry answers (a Bearer challenge, a
  token endpoint, HEAD/GET manifests) plus manifest PUT to push a tag.
  Repositories whose name contains "private" refuse anonymous pulls, as
  Docker Hub does for private repositories.

- Every AWS call the emulator answers is recorded as (service, action):
  `GET /_stepdeploy/calls?since=N` lists those after the Nth, so tests can
  count what a run called (a dry run: no mutating call at all) independently
  of what the code says it did.

Run: python scripts/emulator.py --port 5050 --lambda-url http://127.0.0.1:9050 --docker-hub-port 5051
"""

import argparse
import hashlib
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from urllib.parse import parse_qs


def function_name(name_or_arn: str) -> str:
    """`arn:aws:lambda:r:a:function:NAME[:qualifier]` or `NAME` -> `NAME`."""
    if ":function:" in name_or_arn:
        return name_or_arn.split(":function:", 1)[1].split(":", 1)[0]
    return name_or_arn


def forward_lambda_invocations(lambda_url: str) -> None:
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(self, function_name_or_arn, qualifier, body, headers, response_headers):
        name = function_name(function_name_or_arn)
        data = body if isinstance(body, bytes) else (body or "{}").encode()
        req = urllib.request.Request(
            f"{lambda_url}/2015-03-31/functions/{name}/invocations",
            data=data,
            method="POST",
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=900) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as err:
            payload = err.read()
            try:
                error_type = json.loads(payload).get("errorType")
            except (ValueError, AttributeError):
                error_type = None
            if not error_type:
                payload = json.dumps(
                    {
                        "errorType": "Lambda.ServiceException",
                        "errorMessage": f"local Lambda runtime answered HTTP {err.code} for {name}: {payload[:300]!r}",
                    }
                ).encode()
            response_headers["x-amz-function-error"] = "Unhandled"
        except (urllib.error.URLError, OSError) as err:
            payload = json.dumps(
                {
                    "errorType": "Lambda.ServiceException",
                    "errorMessage": f"local Lambda runtime unreachable for {name}: {err}",
                }
            ).encode()
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["Content-Length"] = str(len(payload))
        return payload

    # With use_docker off, moto serves Lambda from its "simple" backend.
    LambdaBackend.invoke = invoke
    LambdaSimpleBackend.invoke = invoke


def fix_send_task_failure() -> None:
    """moto 5.2.5's SendTaskFailure drops the `cause`; AWS keeps it."""
    from moto.core.responses import ActionResult, EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self) -> ActionResult:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure


def simulate_ecs_rollouts(rollout_seconds: float) -> None:
    import datetime
    import uuid as _uuid

    from moto.ecs.models import EC2ContainerServiceBackend

    original_create = EC2ContainerServiceBackend.create_service
    original_update = EC2ContainerServiceBackend.update_service

    def deployment(service, task_definition, state, running, reason):
        now = datetime.datetime.now(datetime.timezone.utc)
        return {
            "id": f"ecs-svc/{_uuid.uuid4().int % 10**19}", "status": "PRIMARY", "taskDefinition": task_definition,
            "desiredCount": service.desired_count, "pendingCount": service.desired_count - running,
            "runningCount": running, "failedTasks": 0, "createdAt": now, "updatedAt": now,
            "launchType": "FARGATE", "rolloutState": state, "rolloutStateReason": reason,
        }

    def event(service, message):
        service.events.insert(0, {
            "id": str(_uuid.uuid4()), "createdAt": datetime.datetime.now(datetime.timezone.utc),
            "message": f"(service {service.name}) {message}",
        })

    def roll(backend, service, previous):
        target = service.task_definition
        service.running_count, service.pending_count = 0, service.desired_count
        service.deployments = [deployment(service, target, "IN_PROGRESS", 0, "ECS deployment in progress.")]
        image = backend.describe_task_definition(target).container_definitions[0].get("image", "")

        def finish():
            if service.task_definition != target:
                return  # a newer rollout took over
            if "broken" in image:
                reason = "ECS deployment circuit breaker: tasks failed to start."
                event(service, f"task stopped: CannotPullContainerError: pull image manifest has been retried 5 time(s): {image}: not found")
                if previous:
                    service.task_definition = previous
                    service.deployments = [deployment(service, previous, "COMPLETED", service.desired_count, reason)]
                    service.running_count, service.pending_count = service.desired_count, 0
                    event(service, f"rolling back to {previous}: {reason}")
                else:
                    service.deployments = [deployment(service, target, "FAILED", 0, reason)]
                return
            service.deployments = [deployment(service, target, "COMPLETED", service.desired_count, "ECS deployment completed.")]
            service.running_count, service.pending_count = service.desired_count, 0
            event(service, "has reached a steady state.")

        timer = threading.Timer(rollout_seconds, finish)
        timer.daemon = True
        timer.start()

    def create_service(self, *args, **kwargs):
        service = original_create(self, *args, **kwargs)
        roll(self, service, None)
        return service

    def update_service(self, service_properties):
        cluster = service_properties.get("cluster", "default")
        name = service_properties.get("service", "").split("/")[-1]
        before = self._get_service(cluster, name).task_definition
        service = original_update(self, service_properties)
        if service.task_definition != before or service_properties.get("force_new_deployment"):
            roll(self, service, before)
        return service

    EC2ContainerServiceBackend.create_service = create_service
    EC2ContainerServiceBackend.update_service = update_service


def serve_docker_hub(port: int):
    """A registry with Docker Hub's protocol: anonymous pulls need a Bearer
    token from /token; manifests are PUT to push a tag."""
    import re
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    manifests: dict[tuple[str, str], tuple[bytes, str]] = {}  # (repo, tag or digest) -> (body, media type)
    lock = threading.Lock()
    realm = f"http://127.0.0.1:{port}/token"
    path_re = re.compile(r"^/v2/(?P<repo>[a-z0-9._/-]+)/manifests/(?P<ref>[A-Za-z0-9._:-]+)$")

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

        def do_HEAD(self):
            self.manifest(head=True)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/token":
                scope = parse_qs(url.query).get("scope", [""])[0]
                token = "local-" + hashlib.sha256(scope.encode()).hexdigest()[:16]
                body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
                return self.answer(200, body, {"Content-Type": "application/json"})
            if url.path == "/v2/":
                return self.answer(200, b"{}", {"Content-Type": "application/json"})
            self.manifest(head=False)

        def do_PUT(self):
            m = path_re.match(urlparse(self.path).path)
            if not m:
                return self.error(404, "NAME_UNKNOWN", "no such path")
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
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


CALLS: list[dict] = []
CALLS_LOCK = threading.Lock()


def aws_call(environ: dict, body: bytes) -> dict:
    """(service, action) of an AWS request, whatever its protocol: the
    service from the SigV4 credential scope, the action from `X-Amz-Target`
    (JSON protocols) or `Action=` (query protocols)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    service = ""
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        service = scope[3] if len(scope) > 3 else ""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        action = target.rsplit(".", 1)[-1]
    else:
        query = environ.get("QUERY_STRING", "") + "&" + body.decode("utf-8", "replace")
        action = parse_qs(query).get("Action", [""])[0]
    if not action:
        action = f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
    return {"service": service, "action": action}


def record_calls() -> None:
    """Record every call, and serve `/_stepdeploy/calls` beside moto's API."""
    import io

    from moto.server import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def call(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_stepdeploy/calls":
            since = int(parse_qs(environ.get("QUERY_STRING", "")).get("since", ["0"])[0] or 0)
            with CALLS_LOCK:
                body = json.dumps({"count": len(CALLS), "calls": CALLS[since:]}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        entry = aws_call(environ, body)
        with CALLS_LOCK:
            CALLS.append(entry)
        return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = call


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lambda-url", required=True)
    parser.add_argument("--rollout-seconds", type=float, default=1.0)
    parser.add_argument("--docker-hub-port", type=int, help="also serve a Docker Hub registry on this port")
    args = parser.parse_args()

    # moto's Step Functions interpreter calls back into this server on MOTO_PORT.
    os.environ["MOTO_PORT"] = str(args.port)

    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    default_user_config.setdefault("lambda", {})["use_docker"] = False
    forward_lambda_invocations(args.lambda_url.rstrip("/"))
    fix_send_task_failure()
    simulate_ecs_rollouts(args.rollout_seconds)
    record_calls()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    print(f"emulator listening on http://127.0.0.1:{args.port}", flush=True)
    if args.docker_hub_port:
        serve_docker_hub(args.docker_hub_port)
        print(f"Docker Hub registry listening on http://127.0.0.1:{args.docker_hub_port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
