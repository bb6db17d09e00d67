"""The local AWS: moto in server mode, with what moto lacks filled in.

- Step Functions run the real ASL (moto's interpreter).
- Lambda invocations (from state machines and the Lambda API) are forwarded to
  `cargo lambda watch`, so the real Rust functions run; a handler error becomes
  a function error (`X-Amz-Function-Error`), as on AWS.
- ECS runs no tasks in moto. Here a service's rollout (after CreateService or an
  UpdateService that changes its task definition) starts IN_PROGRESS with no
  tasks running and completes after --rollout-seconds with every task running,
  as on AWS, as real tasks (`emulated_tasks`: ListTasks/DescribeTasks, target
  health, log streams). A task that cannot run (an image whose reference
  contains "broken", "exits-on-start", "out-of-memory" or "unhealthy", or a
  secret Secrets Manager cannot return) stops with ECS's reason; the rollout
  fails and the deployment circuit breaker rolls back to the previous task
  definition (or fails the first rollout), with a service event that says why,
  as ECS does. RunTask runs a one-off Fargate task (a release command) for
  --rollout-seconds; it exits 0, or 1 when its command contains "fail", or
  runs until StopTask when it contains "hang".
- Docker Hub is not AWS, but deployments of Docker Hub images read digests
  from its registry: --docker-hub-port serves the part of the OCI
  distribution API that Docker Hub's registry answers (a Bearer challenge, a
  token endpoint, HEAD/GET manifests, GET blobs) plus manifest PUT and blob
  upload to push an image. Repositories whose name contains "private" refuse
  anonymous pulls, as Docker Hub does for private repositories. A blob GET
  is redirected to the registries' storage on another origin
  (`http://localhost:<port>/_storage/<digest>`), which refuses requests that
  carry an Authorization header, as Docker Hub's CDN and S3 do.
- ECR keeps the bytes of uploaded layers (moto keeps their sizes only), and
  GetDownloadUrlForLayer, which moto lacks, answers a presigned-looking URL
  into the same storage (so with --docker-hub-port only), as ECR answers an
  S3 URL. A config blob is uploaded as a layer, so preflight can read the
  ports an image declares from either registry.

- EventBridge Scheduler fires: a one-time schedule (`at(...)`) starts its
  state machine when due, by a clock that `POST /_stepdeploy/clock` can move
  forward (see `fire_schedules`).

- Every AWS call the emulator answers is recorded as (service, action):
  `GET /_stepdeploy/calls?since=N` lists those after the Nth, so tests can
  count what a run called (a dry run: no mutating call at all) independently
  of what the code says it did.
- Faults, off unless asked: `POST /_stepdeploy/faults` with
  `{"faults": [{"kind": K, "service": S, "action": A, "count": N}, ...]}`
  arms them (service and action optional: any), `GET` lists what is armed and
  what fired, `DELETE` clears them. Kinds (see `FAULT_KINDS`): `throttle` and
  `server_error` answer the next N matching calls with the service's own
  throttling or internal error, in its protocol; `not_found_after_create`
  lets a matching EC2 create succeed, then answers the next N calls that name
  the new id with EC2's not-found code for it; `rollout_seconds` (`value`)
  sets how long a simulated ECS rollout takes; `elastic_ip_limit` (`value`)
  sets the Elastic IP limit EC2 reports (1000 by default: moto enforces none,
  and the test stacks hold many); `stuck` keeps a resource short
  of ready (rds, elasticloadbalancing, ec2 NAT gateways, ecs rollouts);
  `crash_after` lets the
  `count`th matching mutating call made by a Lambda invocation succeed, then
  kills that invocation: Step Functions sees `Sandbox.Timedout`;
  `attribute_calls` (`value` true) names in the call log the function behind
  each call (always on while a crash is armed).

Run: python scripts/emulator.py --port 5050 --lambda-url http://127.0.0.1:9050 --docker-hub-port 5051
"""

import argparse
import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import parse_qs

import emulated_tasks as tasks


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
        invocation = INVOCATIONS.start(name)
        try:
            payload = call_function(name, data, response_headers)
        finally:
            INVOCATIONS.end(invocation)
        if invocation.crashed:
            # What Step Functions sees of a Lambda that died mid-invocation
            # (killed at its timeout, out of memory, a panic with
            # `panic = "abort"`): no answer from the handler, the runtime's error.
            payload = json.dumps({
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {invocation.number} Error: Task timed out "
                                f"(emulator: crashed after {invocation.crashed})",
            }).encode()
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["Content-Length"] = str(len(payload))
        return payload

    def call_function(name, data, response_headers) -> bytes:
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


def fix_automated_backups() -> None:
    """moto 5.2.5 names an instance's automated snapshot by the minute
    (`rds:<id>-YYYY-MM-DD-HH-MM`) and keeps it when a teardown deletes the
    instance without its automated backups; re-creating the instance in the
    same minute then fails CreateDBInstance with DBSnapshotAlreadyExists. AWS
    never fails a create over its own automated snapshot: skip the copy."""
    from moto.rds.exceptions import DBSnapshotAlreadyExistsError
    from moto.rds.models import DBInstance

    save = DBInstance.save_automated_backup

    def save_automated_backup(self) -> None:
        try:
            save(self)
        except DBSnapshotAlreadyExistsError:
            pass

    DBInstance.save_automated_backup = save_automated_backup


# Settings the faults endpoint can change at run time (`rollout_seconds`);
# DELETE /_stepdeploy/faults puts back the values the launcher started with.
SETTINGS: dict[str, float] = {}
STARTUP_SETTINGS: dict[str, float] = {}


# moto reports the default Elastic IP limit (5) but enforces none, and the
# test stacks create dozens of environments' NAT gateway addresses: the local
# account reports a raised limit, which the faults endpoint can lower
# (`elastic_ip_limit`, `value`) to show a refusal.
LOCAL_ELASTIC_IP_LIMIT = 1000


def report_elastic_ip_limit() -> None:
    from moto.ec2.responses.account_attributes import AccountAttributes

    original = AccountAttributes.describe_account_attributes
    SETTINGS["elastic_ip_limit"] = STARTUP_SETTINGS["elastic_ip_limit"] = LOCAL_ELASTIC_IP_LIMIT

    def describe_account_attributes(self):
        result = original(self)
        for attribute in result.result["AccountAttributes"]:
            if attribute["AttributeName"] in ("vpc-max-elastic-ips", "max-elastic-ips"):
                attribute["AttributeValues"] = [{"AttributeValue": str(SETTINGS["elastic_ip_limit"])}]
        return result

    AccountAttributes.describe_account_attributes = describe_account_attributes


def simulate_ecs_rollouts(rollout_seconds: float) -> None:
    import datetime
    import uuid as _uuid

    from moto.ecs.models import EC2ContainerServiceBackend

    SETTINGS["rollout_seconds"] = STARTUP_SETTINGS["rollout_seconds"] = rollout_seconds
    SETTINGS["attribute_calls"] = STARTUP_SETTINGS["attribute_calls"] = False
    original_create = EC2ContainerServiceBackend.create_service
    original_update = EC2ContainerServiceBackend.update_service
    original_delete = EC2ContainerServiceBackend.delete_service
    original_run_task = EC2ContainerServiceBackend.run_task
    original_stop_task = EC2ContainerServiceBackend.stop_task
    tasks.fix_moto()

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
        rollout = service.deployments[0]["id"]
        service._rollout_id = rollout

        def finish():
            if service.task_definition != target:
                return  # a newer rollout took over
            definition = backend.describe_task_definition(target)
            if FAULTS.stuck_rollout(service.name):
                # Tasks start, fail the load balancer's health checks, are
                # stopped and replaced; ECS keeps trying (the circuit
                # breaker counts slowly); the rollout stays IN_PROGRESS.
                event(service, tasks.fail(backend, service, definition, "unhealthy", 1))
                task = service.events[0]["message"].split("(task ")[-1].split(")")[0]
                event(service, f"has stopped 1 running tasks: (task {task}).")
                service.running_count, service.pending_count = 0, service.desired_count
                again = threading.Timer(SETTINGS["rollout_seconds"], finish)
                again.daemon = True
                again.start()
                return
            kind = tasks.outcome(backend.account_id, service.region_name, definition)
            if kind != "ok":
                # The circuit breaker trips after enough tasks failed.
                reason = "ECS deployment circuit breaker: tasks failed to start."
                event(service, tasks.fail(backend, service, definition, kind, min(max(service.desired_count, 1), 3)))
                if previous:
                    service.task_definition = previous
                    service.deployments = [deployment(service, previous, "COMPLETED", service.desired_count, reason)]
                    service.running_count, service.pending_count = service.desired_count, 0
                    event(service, f"rolling back to {previous}: {reason}")
                else:
                    service.deployments = [deployment(service, target, "FAILED", 0, reason)]
                return
            tasks.replace(backend, service, definition, rollout)
            service.deployments = [deployment(service, target, "COMPLETED", service.desired_count, "ECS deployment completed.")]
            service.running_count, service.pending_count = service.desired_count, 0
            event(service, "has reached a steady state.")

        timer = threading.Timer(SETTINGS["rollout_seconds"], finish)
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
        if service.desired_count == 0:
            tasks.stop_all(self, service, "Scaling activity initiated by (service scaled to 0)")
        elif service.task_definition != before or service_properties.get("force_new_deployment"):
            roll(self, service, before)
        return service

    def run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags, launch_type,
                 networking_configuration=None, group=None, platform_version=None, capacity_provider_strategy=None):
        if launch_type != "FARGATE":
            return original_run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags,
                                     launch_type, networking_configuration, group, platform_version,
                                     capacity_provider_strategy)
        definition = self.describe_task_definition(task_definition_str)
        cluster = self._get_cluster(cluster_str)
        return [tasks.run_task(self, cluster.name, definition, started_by or "", networking_configuration, overrides,
                               SETTINGS["rollout_seconds"]) for _ in range(count)]

    def stop_task(self, cluster_str, task_str, reason):
        task = original_stop_task(self, cluster_str, task_str, reason)
        tasks.stop_task(self, task, reason)
        return task

    def delete_service(self, cluster_name, service_name, force):
        service = original_delete(self, cluster_name, service_name, force)
        tasks.stop_all(self, service, "Service deleted")
        return service

    EC2ContainerServiceBackend.create_service = create_service
    EC2ContainerServiceBackend.update_service = update_service
    EC2ContainerServiceBackend.delete_service = delete_service
    EC2ContainerServiceBackend.run_task = run_task
    EC2ContainerServiceBackend.stop_task = stop_task


# The registries' blob storage: digest -> bytes (content-addressed, so ECR's
# layers and Docker Hub's blobs share it). Served by serve_docker_hub's server.
BLOBS: dict[str, bytes] = {}
BLOBS_LOCK = threading.Lock()
STORAGE: dict[str, str] = {}  # "url": where the storage is served


def keep_ecr_layers() -> None:
    """CompleteLayerUpload keeps the layer's bytes; GetDownloadUrlForLayer
    answers where to download one, or ECR's LayersNotFoundException."""
    from moto.core.exceptions import ServiceException
    from moto.ecr.models import ECRBackend
    from moto.ecr.responses import ECRResponse

    class LayersNotFoundException(ServiceException):
        code = "LayersNotFoundException"

    complete = ECRBackend.complete_layer_upload

    def complete_layer_upload(self, repository_name, upload_id, layer_digests, registry_id=None):
        repository = self._get_repository(repository_name, registry_id)
        upload = repository.uploads.get(upload_id)
        data = bytes(upload.layer_parts) if upload is not None else b""
        result = complete(self, repository_name, upload_id, layer_digests, registry_id=registry_id)
        with BLOBS_LOCK:
            BLOBS[result["layerDigest"]] = data
        return result

    def get_download_url_for_layer(self):
        from moto.core.responses import ActionResult

        repository_name = self._get_param("repositoryName")
        registry_id = self._get_param("registryId")
        digest = self._get_param("layerDigest")
        repository = self.ecr_backend._get_repository(repository_name, registry_id)
        with BLOBS_LOCK:
            known = digest in BLOBS and digest in repository.layers
        if not known or "url" not in STORAGE:
            raise LayersNotFoundException(
                f"The layer with digest '{digest}' could not be found in the repository with name '{repository_name}' in the registry with id '{repository.registry_id}'")
        return ActionResult({"downloadUrl": f"{STORAGE['url']}/_storage/{digest}?X-Amz-Expires=3600&X-Amz-Signature=local",
                             "layerDigest": digest})

    ECRBackend.complete_layer_upload = complete_layer_upload
    ECRResponse.get_download_url_for_layer = get_download_url_for_layer


def serve_docker_hub(port: int):
    """A registry with Docker Hub's protocol: anonymous pulls need a Bearer
    token from /token; manifests are PUT to push a tag, blobs uploaded with a
    POST (monolithic, `?digest=`) or a POST then a PUT; a blob GET redirects
    to the storage, on another origin, which takes no Authorization."""
    import re
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    manifests: dict[tuple[str, str], tuple[bytes, str]] = {}  # (repo, tag or digest) -> (body, media type)
    lock = threading.Lock()
    realm = f"http://127.0.0.1:{port}/token"
    path_re = re.compile(r"^/v2/(?P<repo>[a-z0-9._/-]+)/manifests/(?P<ref>[A-Za-z0-9._:-]+)$")
    blob_re = re.compile(r"^/v2/(?P<repo>[a-z0-9._/-]+)/blobs/(?P<digest>sha256:[a-f0-9]{64})$")
    upload_re = re.compile(r"^/v2/(?P<repo>[a-z0-9._/-]+)/blobs/uploads/(?P<id>[a-f0-9]*)$")
    STORAGE["url"] = f"http://localhost:{port}"
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
            with BLOBS_LOCK:
                known = m["digest"] in BLOBS
            if not known:
                return self.error(404, "BLOB_UNKNOWN", f"blob unknown to registry: {m['digest']}", head=head)
            self.answer(307, b"", {"Location": f"{STORAGE['url']}/_storage/{m['digest']}?expires=600"}, head)

        def storage(self, digest, head):
            if self.headers.get("Authorization"):
                return self.answer(400, b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>",
                                   {"Content-Type": "application/xml"}, head)
            with BLOBS_LOCK:
                body = BLOBS.get(digest)
            if body is None:
                return self.answer(404, b"<Error><Code>NoSuchKey</Code></Error>", {"Content-Type": "application/xml"}, head)
            self.answer(200, body, {"Content-Type": "application/octet-stream"}, head)

        def get_or_head(self, head):
            url = urlparse(self.path)
            if url.path.startswith("/_storage/"):
                return self.storage(url.path[len("/_storage/"):], head)
            m = blob_re.match(url.path)
            if m:
                return self.blob(m, head)
            if head:
                return self.manifest(head=True)
            return None

        def store_blob(self, repo, digest, body):
            if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
                return self.error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
            with BLOBS_LOCK:
                BLOBS[digest] = body
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


# The account moto answers as (its default, and what the local stack uses).
ACCOUNT_ID = "123456789012"

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


# --- EventBridge Scheduler ----------------------------------------------------
# moto stores schedules and never fires them. Here a one-time schedule
# (`at(yyyy-mm-ddThh:mm:ss)`, UTC) whose time has come starts its target, a
# Step Functions state machine, with the target's input, once; with
# `ActionAfterCompletion` DELETE it is then deleted, as Scheduler does. The
# clock it goes by is real time plus what `POST /_stepdeploy/clock`
# (`{"advance_seconds": N}`) added, so a test sees hours pass in a moment;
# `DELETE` puts it back. Not modelled: rate/cron expressions, other targets,
# flexible windows, retries, and the role (Scheduler assumes it; IAM is not
# enforced here).

CLOCK = {"offset": 0.0}
CLOCK_LOCK = threading.Lock()
AT = re.compile(r"at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)")


def scheduler_now() -> float:
    with CLOCK_LOCK:
        return time.time() + CLOCK["offset"]


def clock_endpoint(environ: dict) -> tuple[int, dict]:
    method = environ.get("REQUEST_METHOD", "GET")
    if method == "POST":
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            advance = float(json.loads(environ["wsgi.input"].read(length) or b"{}")["advance_seconds"])
        except (ValueError, TypeError, KeyError) as err:
            return 400, {"error": f"expected {{\"advance_seconds\": N}}: {err}"}
        with CLOCK_LOCK:
            CLOCK["offset"] += advance
    elif method == "DELETE":
        with CLOCK_LOCK:
            CLOCK["offset"] = 0.0
    elif method != "GET":
        return 405, {"error": f"{method} not allowed: GET, POST or DELETE"}
    with CLOCK_LOCK:
        offset = CLOCK["offset"]
    return 200, {"offset_seconds": offset, "now": time.time() + offset}


def fire_schedules(port: int, every: float = 0.5) -> None:
    """Fire due one-time schedules (see above), from a thread of its own."""
    import calendar

    import boto3
    from moto.scheduler.models import scheduler_backends

    clients: dict[str, object] = {}

    def start(target: dict, region: str) -> str:
        if region not in clients:
            clients[region] = boto3.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{port}", region_name=region,
                                           aws_access_key_id="testing", aws_secret_access_key="testing")
        arn = target.get("Arn", "")
        if ":states:" not in arn:
            return f"target {arn} is not a state machine (not modelled)"
        # AWS names an execution started without a name; moto's interpreter
        # leaves it null, so the emulator names it, as a UUID.
        out = clients[region].start_execution(stateMachineArn=arn, name=str(uuid.uuid4()),
                                              input=target.get("Input") or "{}")
        return out["executionArn"]

    def tick() -> None:
        now = scheduler_now()
        for account_backends in list(scheduler_backends.values()):
            for region, backend in list(account_backends.items()):
                for group in list(backend.schedule_groups.values()):
                    for schedule in list(group.schedules.values()):
                        m = AT.fullmatch(schedule.schedule_expression or "")
                        if not m or schedule.state != "ENABLED" or getattr(schedule, "fired", None) == schedule.last_modified_date:
                            continue
                        if calendar.timegm(tuple(int(x) for x in m.groups()) + (0, 0, 0)) > now:
                            continue
                        schedule.fired = schedule.last_modified_date
                        try:
                            started = start(schedule.target, region)
                        except Exception as err:  # Scheduler drops a target that fails after its retries
                            started = f"failed: {err}"
                        print(f"schedule {group.name}/{schedule.name} fired: {started}", flush=True)
                        if schedule.action_after_completion == "DELETE":
                            group.schedules.pop(schedule.name, None)

    def loop() -> None:
        while True:
            time.sleep(every)
            try:
                tick()
            except Exception as err:  # a schedule changed under us: next tick
                print(f"schedule tick: {err}", flush=True)

    threading.Thread(target=loop, daemon=True).start()


# --- Lambda invocations in flight --------------------------------------------
# A crash kills one Lambda invocation, so the faults must know which
# invocation made a call. `cargo lambda watch` runs each function in
# processes of its own (the binary is named after the function), each running
# one invocation at a time, so the process at the other end of a call's TCP
# connection names the function, and when one invocation of it is in flight
# (as in a deployment: its steps run one after another, the two side by side
# being different functions) that invocation made the call. The process is found as `ss -p` would: the
# client socket's inode in /proc/net/tcp*, then the process holding it
# (Linux only; elsewhere no call is attributed and `crash_after` never fires).
# Were several invocations of one function in flight (concurrent
# deployments), the call's X-Ray trace id (which the AWS SDK sends from the
# Lambda runtime's `_X_AMZN_TRACE_ID`, new for each invocation) goes to the
# earliest of them that has none yet: exact only if they start calling in the
# order they were invoked.


class Invocation:
    def __init__(self, number: int, function: str):
        self.number = number
        self.function = function
        self.trace: str | None = None
        self.crashed = ""  # what the invocation crashed after ("ec2 CreateVpc"), once it has


class Invocations:
    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight: list[Invocation] = []
        self.numbers = 0
        self.functions: set[str] = set()  # the functions ever invoked through the emulator
        self.sockets: dict[str, str] = {}  # socket inode -> the function whose process holds it

    def start(self, function: str) -> Invocation:
        with self.lock:
            self.numbers += 1
            invocation = Invocation(self.numbers, function)
            self.in_flight.append(invocation)
            self.functions.add(function)
            return invocation

    def end(self, invocation: Invocation) -> None:
        with self.lock:
            self.in_flight.remove(invocation)

    def function_at(self, client_port: int, server_port: int) -> str | None:
        """The function whose process holds the client end of a connection to us."""
        inode = socket_inode(client_port, server_port)
        if inode is None:
            return None
        with self.lock:
            if inode in self.sockets:
                return self.sockets[inode]
            functions = set(self.functions)
        function = process_holding(inode, functions)
        if function:
            with self.lock:
                self.sockets[inode] = function
        return function

    def of(self, function: str, trace: str) -> Invocation | None:
        """The function's invocation in flight that made a call carrying this trace id."""
        with self.lock:
            mine = [i for i in self.in_flight if i.function == function]
            for invocation in mine:
                if trace and invocation.trace == trace:
                    return invocation
            for invocation in mine:  # the one cargo lambda runs: the first it was given
                if invocation.trace is None:
                    invocation.trace = trace or None
                    return invocation
        return mine[0] if len(mine) == 1 else None


def socket_inode(client_port: int, server_port: int) -> str | None:
    """The inode of the local socket from `client_port` to `server_port`.
    The tables hold every socket, TIME_WAIT ones too (thousands in a test
    run), so the line is found by one search, not by parsing them all."""
    line = re.compile(rf"^\s*\d+: [0-9A-F]+:{client_port:04X} [0-9A-F]+:{server_port:04X} .*$", re.MULTILINE)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                found = line.search(f.read())
        except OSError:
            continue
        if found:
            return found.group(0).split()[9]
    return None


def process_holding(inode: str, functions: set[str]) -> str | None:
    """Which of these functions' processes holds the socket."""
    target = f"socket:[{inode}]"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            name = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
            if name not in functions:
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return name
        except OSError:
            continue
    return None


INVOCATIONS = Invocations()


# --- Faults -----------------------------------------------------------------
# Real AWS throttles, fails and is eventually consistent; moto is none of
# these. Faults make the emulator so on demand, over HTTP beside moto's API:
# POST /_stepdeploy/faults arms, GET lists, DELETE clears. Each call the
# emulator answers is offered to every armed fault, in the order they were
# armed: a fault's `before` may answer in moto's place (the call then never
# reaches moto: it took no effect), and its `after` sees moto's answer. A new
# kind is a `Fault` subclass with its own hooks, named in `FAULT_KINDS`;
# kinds that act on a whole Lambda invocation (a crash after a call) or on a
# resource's life (a resource stuck short of ready) fit the same two hooks,
# the second with the backends' models at hand as `simulate_ecs_rollouts` has.

# Each service's throttling and internal-error codes, as AWS answers them;
# others default by protocol (`DEFAULT_CODES`).
THROTTLE_CODES = {
    "ec2": ("RequestLimitExceeded", 503),
    "lambda": ("TooManyRequestsException", 429),
    "s3": ("SlowDown", 503),
}
SERVER_ERROR_CODES = {
    "ec2": "InternalError",
    "rds": "InternalFailure",
    "elasticloadbalancing": "ServiceUnavailable",
    "ecs": "ServerException",
    "ecr": "ServerException",
    "logs": "ServiceUnavailableException",
    "dynamodb": "InternalServerError",
    "secretsmanager": "InternalServiceError",
    "lambda": "ServiceException",
    "s3": "InternalError",
}
DEFAULT_CODES = {  # protocol -> (throttling code, its HTTP status, internal error code)
    "ec2": ("RequestLimitExceeded", 503, "InternalError"),
    "query": ("Throttling", 400, "InternalFailure"),
    "json": ("ThrottlingException", 400, "InternalFailure"),
    "rest-json": ("ThrottlingException", 429, "InternalFailure"),
    "rest-xml": ("SlowDown", 503, "InternalError"),
}

# EC2 creates whose new id `not_found_after_create` hides: the element of the
# create's answer holding the id, and the code EC2 answers for an unknown one.
EC2_CREATES = {
    "CreateVpc": ("vpcId", "InvalidVpcID.NotFound", "The vpc ID '{id}' does not exist"),
    "CreateSubnet": ("subnetId", "InvalidSubnetID.NotFound", "The subnet ID '{id}' does not exist"),
    "CreateInternetGateway": ("internetGatewayId", "InvalidInternetGatewayID.NotFound",
                              "The internetGateway ID '{id}' does not exist"),
    "CreateSecurityGroup": ("groupId", "InvalidGroup.NotFound", "The security group '{id}' does not exist"),
    "AllocateAddress": ("allocationId", "InvalidAllocationID.NotFound", "The allocation ID '{id}' does not exist"),
    "CreateRouteTable": ("routeTableId", "InvalidRouteTableID.NotFound", "The routeTable ID '{id}' does not exist"),
    "CreateNatGateway": ("natGatewayId", "InvalidNatGatewayID.NotFound", "The natGateway ID '{id}' does not exist"),
}


# Actions that only read: every other call changes something.
READ_PREFIXES = ("Describe", "List", "Get", "BatchGet", "Query", "Scan", "Head", "GET ", "HEAD ")


class Request:
    """An AWS call as the faults see it: who it is for and what it says."""

    def __init__(self, environ: dict, body: bytes, call: dict, invocation: "Invocation | None" = None):
        self.environ = environ
        self.body = body
        self.service = call["service"]
        self.action = call["action"]
        self.invocation = invocation  # the Lambda invocation that made the call, if one did
        if environ.get("HTTP_X_AMZ_TARGET"):
            self.protocol = "json"
        elif self.service == "ec2":
            self.protocol = "ec2"
        elif self.service == "s3":
            self.protocol = "rest-xml"
        elif " " not in self.action:  # an `Action=` parameter: the query protocol
            self.protocol = "query"
        else:
            self.protocol = "rest-json"

    def says(self, text: str) -> bool:
        """Whether the request (its query string or body) contains this text."""
        return text in self.environ.get("QUERY_STRING", "") or text.encode() in self.body

    def params(self) -> dict[str, list[str]]:
        """A query-protocol request's parameters (URL and form body)."""
        return parse_qs(self.environ.get("QUERY_STRING", "") + "&" + self.body.decode("utf-8", "replace"))

    @property
    def mutating(self) -> bool:
        """Whether the call changes something (by its action's name, as AWS names them)."""
        return not self.action.startswith(READ_PREFIXES)

    def names(self, resource_id: str) -> bool:
        """Whether the request names this id as a parameter (not inside a
        `Filter`: AWS answers a filter on an unknown id with nothing)."""
        return any(resource_id in values for key, values in self.params().items() if not key.startswith("Filter."))


def error_answer(req: Request, code: str, message: str, status: int) -> tuple[int, list, bytes]:
    """An AWS error in the protocol the service speaks, as its SDKs parse it:
    EC2's `<Response><Errors><Error><Code>`, the query protocol's
    `<ErrorResponse><Error><Code>`, the JSON protocols' `__type` (and the
    `x-amzn-ErrorType` header REST-JSON services read)."""
    from html import escape
    from uuid import uuid4

    request_id = str(uuid4())
    if req.protocol == "ec2":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>"
                f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
        headers = [("Content-Type", "text/xml;charset=UTF-8")]
    elif req.protocol in ("query", "rest-xml"):
        fault = "Receiver" if status >= 500 else "Sender"
        error = f"<Error><Type>{fault}</Type><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
        body = (f"<ErrorResponse>{error}<RequestId>{request_id}</RequestId></ErrorResponse>" if req.protocol == "query"
                else f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{error}")
        headers = [("Content-Type", "text/xml")]
    else:
        content_type = req.environ.get("CONTENT_TYPE", "")
        if not content_type.startswith("application/x-amz-json"):
            content_type = "application/x-amz-json-1.1" if req.protocol == "json" else "application/json"
        body = json.dumps({"__type": code, "message": message})
        headers = [("Content-Type", content_type), ("x-amzn-ErrorType", code)]
    data = body.encode()
    return status, headers + [("x-amzn-RequestId", request_id), ("Content-Length", str(len(data)))], data


class Fault:
    """An armed fault: `{"kind", "service", "action", "count"}` (service and
    action optional: any), and optionally `contains` (only requests whose
    query or body contain this text, e.g. an app's name in a create's tags),
    `code` and `status` (answer these instead of the service's own)."""

    kind = ""
    needs_answer = False  # whether `after` wants moto's answer

    def __init__(self, number: int, spec: dict):
        self.number = number
        self.service = spec.get("service") or None
        self.action = spec.get("action") or None
        self.count = spec.get("count", 1)
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 1:
            raise ValueError(f"{self.kind}: count must be a whole number of calls, at least 1, not {self.count!r}")
        self.remaining = self.count
        self.code = spec.get("code")
        self.status = spec.get("status")
        self.contains = spec.get("contains") or None

    def matches(self, req: Request) -> bool:
        return (self.service in (None, req.service) and self.action in (None, req.action)
                and (self.contains is None or req.says(self.contains)))

    def before(self, req: Request) -> tuple[int, list, bytes, dict] | None:
        """An answer in moto's place (with what to record as fired), or None."""
        return None

    def after(self, req: Request, status: int, body: bytes) -> dict | None:
        """Moto answered `req` (only called while `waiting`): None if the
        fault let it be, else what it did, to record as fired, with the
        answer's new `body` if it rewrote it."""
        return None

    @property
    def waiting(self) -> bool:
        return False

    def describe(self) -> dict:
        return {"id": self.number, "kind": self.kind, "service": self.service, "action": self.action,
                "contains": self.contains, "count": self.count, "remaining": self.remaining}


class Throttle(Fault):
    """The next `count` matching calls answer the service's throttling error."""

    kind = "throttle"

    def before(self, req):
        if self.remaining <= 0 or not self.matches(req):
            return None
        self.remaining -= 1
        code, status = THROTTLE_CODES.get(req.service, DEFAULT_CODES[req.protocol][:2])
        code, status = self.code or code, self.status or status
        answer = error_answer(req, code, f"Rate exceeded (emulator fault {self.number})", status)
        return (*answer, {"code": code, "status": status})


class ServerError(Fault):
    """The next `count` matching calls answer HTTP 500 with the service's internal error."""

    kind = "server_error"

    def before(self, req):
        if self.remaining <= 0 or not self.matches(req):
            return None
        self.remaining -= 1
        code = self.code or SERVER_ERROR_CODES.get(req.service, DEFAULT_CODES[req.protocol][2])
        status = self.status or 500
        message = f"We encountered an internal error. Please try again. (emulator fault {self.number})"
        return (*error_answer(req, code, message, status), {"code": code, "status": status})


class NotFoundAfterCreate(Fault):
    """The first matching EC2 create succeeds; then the next `count` calls
    that name its new id answer EC2's not-found code for it, as EC2 does for
    a few seconds after a create (eventual consistency)."""

    kind = "not_found_after_create"
    needs_answer = True

    def __init__(self, number, spec):
        super().__init__(number, spec)
        if self.service not in (None, "ec2"):
            raise ValueError(f"not_found_after_create: EC2 creates only, not service {self.service!r}")
        if self.action is not None and self.action not in EC2_CREATES:
            raise ValueError(f"not_found_after_create: action must be one of {sorted(EC2_CREATES)}, not {self.action!r}")
        self.created: str | None = None  # the new id, once a matching create succeeded
        self.created_by = ""

    @property
    def waiting(self):
        return self.created is None

    def after(self, req, status, body):
        if req.service != "ec2" or req.action not in EC2_CREATES or not self.matches(req) or status != 200:
            return
        import re

        element = EC2_CREATES[req.action][0]
        found = re.search(rf"<{element}>([^<]+)</{element}>".encode(), body)
        if found:
            self.created = found.group(1).decode()
            self.created_by = req.action

    def before(self, req):
        if self.created is None or self.remaining <= 0 or req.service != "ec2" or not req.names(self.created):
            return None
        self.remaining -= 1
        _, code, message = EC2_CREATES[self.created_by]
        status = self.status or 400
        return (*error_answer(req, code, message.format(id=self.created), status),
                {"code": code, "status": status, "resource": self.created})

    def describe(self):
        return {**super().describe(), "created": self.created}


class Stuck(Fault):
    """A resource that never gets ready (matching `contains`, e.g. the app's
    name). Armed until cleared.
    - `rds`: every describe of the DB instance says `stopped` (or `state`);
    - `elasticloadbalancing`: the load balancer is `failed`;
    - `ec2`: the NAT gateway is `failed`, with AWS's failure code and message
      (each new one the code creates fails too);
    - `ecs`: the service's rollouts never complete: its tasks start, fail the
      target group's health checks and are stopped, again and again, as ECS
      reports in the service's events (see `simulate_ecs_rollouts`)."""

    kind = "stuck"
    needs_answer = True
    NAT_FAILURE = ("<failureCode>InsufficientFreeAddressesInSubnet</failureCode><failureMessage>Subnet has "
                   "insufficient free addresses to create this NAT gateway (emulator fault)</failureMessage>")
    STATES = {
        "rds": ("DescribeDBInstances", rb"<DBInstanceStatus>[^<]*</DBInstanceStatus>", "<DBInstanceStatus>{}</DBInstanceStatus>", "stopped"),
        "elasticloadbalancing": ("DescribeLoadBalancers", rb"<Code>(?:active|provisioning|active_impaired)</Code>", "<Code>{}</Code>", "failed"),
        "ec2": ("DescribeNatGateways", rb"<state>(?:pending|available)</state>", "<state>{}</state>", "failed"),
        "ecs": None,
    }

    def __init__(self, number: int, spec: dict):
        super().__init__(number, spec)
        if self.service not in self.STATES:
            raise ValueError(f"stuck: service must be one of {sorted(self.STATES)}, not {self.service!r}")
        self.rewrites: dict[str, tuple[bytes, bytes]] = {}  # action -> (pattern, replacement)
        if self.service == "ecs":
            self.needs_answer = False  # the rollout simulation asks `stuck_rollout` instead
            return
        action, pattern, template, default = self.STATES[self.service]
        state = spec.get("state") or default
        replacement = template.format(state).encode()
        if self.service == "ec2" and state == "failed":
            replacement += self.NAT_FAILURE.encode()
            # moto answers a new NAT gateway `available`; AWS says `pending`
            # (and the code polls it, to see it fail).
            self.rewrites["CreateNatGateway"] = (rb"<state>[^<]*</state>", b"<state>pending</state>")
        self.rewrites[action] = (pattern, replacement)

    @staticmethod
    def fail_nat_gateway(req: Request, body: bytes) -> None:
        """Fail the NAT gateway a create just made, in moto, as AWS fails one:
        `failed`, with a reason, its Elastic IP let go (so the next attempt
        can use it)."""
        from moto.ec2.models import ec2_backends

        found = re.search(rb"<natGatewayId>([^<]+)</natGatewayId>", body)
        scope = req.environ.get("HTTP_AUTHORIZATION", "").split("Credential=", 1)[-1].split("/")
        if not found or len(scope) < 3:
            return
        backend = ec2_backends[ACCOUNT_ID][scope[2]]
        nat = backend.nat_gateways.get(found.group(1).decode())
        if nat is None:
            return
        nat.state = "failed"
        nat.failure_code = "InsufficientFreeAddressesInSubnet"
        nat.failure_message = "Subnet has insufficient free addresses to create this NAT gateway (emulator fault)"
        for address in nat.address_set:
            association = address.get("associationId") or address.get("association_id")
            if association:
                backend.disassociate_address(association_id=association)

    @property
    def waiting(self) -> bool:
        return True

    def matches(self, req: Request) -> bool:
        return (req.service == self.service and req.action in self.rewrites
                and (self.contains is None or req.says(self.contains)))

    def after(self, req, status, body):
        if status != 200 or not self.matches(req):
            return None
        pattern, replacement = self.rewrites[req.action]
        if req.action == "CreateNatGateway":
            self.fail_nat_gateway(req, body)
        rewritten = re.sub(pattern, replacement, body)
        return {"body": rewritten} if rewritten != body else None


class CrashAfter(Fault):
    """The Lambda invocation that makes the `count`th matching mutating call
    dies right after that call succeeds: the call took effect, its answer is
    lost. The invocation's later calls fail (a dead process makes none that
    land), and Step Functions gets `Sandbox.Timedout`, as from a Lambda killed
    at its timeout. Only calls made by a Lambda invocation count."""

    kind = "crash_after"
    needs_answer = True

    def __init__(self, number, spec):
        super().__init__(number, spec)
        self.seen = 0

    @property
    def waiting(self):
        return self.remaining > 0

    def after(self, req, status, body):
        if status != 200 or not req.mutating or req.invocation is None or not self.matches(req):
            return None
        self.seen += 1
        if self.seen < self.count:
            return None
        self.remaining = 0
        req.invocation.crashed = f"{req.service} {req.action}"
        return {"function": req.invocation.function, "invocation": req.invocation.number}

    def describe(self):
        return {**super().describe(), "remaining": 1 if self.remaining else 0, "seen": self.seen}


FAULT_KINDS: dict[str, type[Fault]] = {k.kind: k for k in (Throttle, ServerError, NotFoundAfterCreate, Stuck, CrashAfter)}


class Faults:
    """What is armed, what fired, and the run-time settings."""

    def __init__(self):
        self.lock = threading.Lock()
        self.armed: list[Fault] = []
        self.fired: list[dict] = []
        self.numbers = 0

    def add(self, specs: list) -> list[dict]:
        if not isinstance(specs, list):
            raise ValueError('expected {"faults": [{"kind": ..., ...}, ...]}')
        new, settings = [], {}
        for spec in specs:
            kind = spec.get("kind") if isinstance(spec, dict) else None
            if kind == "attribute_calls":
                if not isinstance(spec.get("value"), bool):
                    raise ValueError(f"attribute_calls: value must be true or false, not {spec.get('value')!r}")
                settings["attribute_calls"] = spec["value"]
            elif kind == "elastic_ip_limit":
                value = spec.get("value")
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"elastic_ip_limit: value must be a whole number, not {value!r}")
                settings["elastic_ip_limit"] = value
            elif kind == "rollout_seconds":
                value = spec.get("value")
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"rollout_seconds: value must be a number of seconds, not {value!r}")
                settings["rollout_seconds"] = float(value)
            elif kind in FAULT_KINDS:
                new.append(spec)
            else:
                raise ValueError(f"unknown fault kind {kind!r}: one of {sorted([*FAULT_KINDS, *STARTUP_SETTINGS])}")
        with self.lock:  # all or nothing: validate every fault before arming any
            faults = [FAULT_KINDS[spec["kind"]](self.numbers + i + 1, spec) for i, spec in enumerate(new)]
            self.numbers += len(faults)
            self.armed += faults
            SETTINGS.update(settings)
            return [f.describe() for f in faults]

    def clear(self) -> None:
        with self.lock:
            self.armed, self.fired = [], []
            SETTINGS.update(STARTUP_SETTINGS)

    def listing(self) -> dict:
        with self.lock:
            return {"armed": [f.describe() for f in self.armed], "fired": list(self.fired), "settings": dict(SETTINGS)}

    def before(self, req: Request):
        with self.lock:
            for fault in self.armed:
                answer = fault.before(req)
                if answer:
                    status, headers, body, what = answer
                    self.fired.append({"fault": fault.number, "kind": fault.kind, "service": req.service,
                                       "action": req.action, **what})
                    return status, headers, body, fault.number
        return None

    def stuck_rollout(self, service_name: str) -> int | None:
        """The `stuck` ecs fault (its number) armed for this ECS service, if any."""
        with self.lock:
            for fault in self.armed:
                if (fault.kind == "stuck" and fault.service == "ecs"
                        and (fault.contains is None or fault.contains in service_name)):
                    self.fired.append({"fault": fault.number, "kind": fault.kind, "service": "ecs",
                                       "action": "rollout", "resource": service_name})
                    return fault.number
        return None

    def attributing(self) -> bool:
        """Whether calls are traced to the Lambda invocation that made them:
        while a crash is armed, or when asked (`attribute_calls`). Finding a
        call's process reads the kernel's socket table, milliseconds a call,
        so it is off otherwise."""
        with self.lock:
            return bool(SETTINGS.get("attribute_calls")) or any(
                f.kind == "crash_after" and f.waiting for f in self.armed)

    def want_answer(self) -> bool:
        with self.lock:
            return any(f.needs_answer and f.waiting for f in self.armed)

    def after(self, req: Request, status: int, body: bytes) -> bytes:
        """Moto's answer, as the faults that wanted to see it leave it (a
        `stuck` fault rewrites the state a describe reports)."""
        with self.lock:
            for fault in self.armed:
                if fault.needs_answer and fault.waiting:
                    did = fault.after(req, status, body)
                    if did is not None:
                        body = did.pop("body", body)
                        self.fired.append({"fault": fault.number, "kind": fault.kind, "service": req.service,
                                           "action": req.action, **did})
        return body


FAULTS = Faults()


def faults_endpoint(environ: dict) -> tuple[int, dict]:
    method = environ.get("REQUEST_METHOD", "GET")
    if method == "GET":
        return 200, FAULTS.listing()
    if method == "DELETE":
        FAULTS.clear()
        return 200, FAULTS.listing()
    if method == "POST":
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            spec = json.loads(environ["wsgi.input"].read(length) or b"{}")
            armed = FAULTS.add(spec.get("faults") if isinstance(spec, dict) else None)
        except (ValueError, TypeError, AttributeError) as err:
            return 400, {"error": str(err)}
        return 200, {"armed": armed, **FAULTS.listing()}
    return 405, {"error": f"{method} not allowed: GET, POST or DELETE"}


def record_calls() -> None:
    """Record every call, serve `/_stepdeploy/calls` and `/_stepdeploy/faults`
    beside moto's API, and let the armed faults answer in moto's place."""
    import io
    from http import HTTPStatus

    from moto.server import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def reply(start_response, status: int, headers: list, body: bytes):
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        start_response(f"{status} {phrase}", headers)
        return [body]

    def json_reply(start_response, status: int, doc: dict):
        body = json.dumps(doc).encode()
        return reply(start_response, status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body)

    def call(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_stepdeploy/calls":
            since = int(parse_qs(environ.get("QUERY_STRING", "")).get("since", ["0"])[0] or 0)
            with CALLS_LOCK:
                doc = {"count": len(CALLS), "calls": CALLS[since:]}
            return json_reply(start_response, 200, doc)
        if path == "/_stepdeploy/faults":
            return json_reply(start_response, *faults_endpoint(environ))
        if path == "/_stepdeploy/clock":
            return json_reply(start_response, *clock_endpoint(environ))
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        entry = aws_call(environ, body)
        invocation = None
        if entry["service"] and environ.get("REMOTE_PORT") and INVOCATIONS.in_flight and FAULTS.attributing():
            function = INVOCATIONS.function_at(int(environ["REMOTE_PORT"]), int(environ.get("SERVER_PORT") or 0))
            if function:
                entry["function"] = function
                invocation = INVOCATIONS.of(function, environ.get("HTTP_X_AMZN_TRACE_ID", ""))
        with CALLS_LOCK:
            CALLS.append(entry)
        if not entry["service"] or path.startswith("/moto-api"):
            return original(self, environ, start_response)  # not an AWS call: no faults
        req = Request(environ, body, entry, invocation)
        if invocation and invocation.crashed:
            # A dead invocation's calls never land.
            with CALLS_LOCK:
                entry["crashed"] = True
            message = f"the Lambda invocation making this call crashed after {invocation.crashed} (emulator fault)"
            return reply(start_response, *error_answer(req, "InvocationCrashed", message, 400))
        injected = FAULTS.before(req)
        if injected:
            status, headers, answer, number = injected
            with CALLS_LOCK:
                entry["fault"] = number
            return reply(start_response, status, headers, answer)
        if not FAULTS.want_answer():
            return original(self, environ, start_response)
        seen: dict = {"written": []}

        def capture(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, headers
            return seen["written"].append

        result = original(self, environ, capture)
        try:
            answer = b"".join([*seen["written"], *result])
        finally:
            getattr(result, "close", lambda: None)()
        answer = FAULTS.after(req, int(seen["status"].split(" ", 1)[0]), answer)
        headers = [(k, str(len(answer)) if k.lower() == "content-length" else v) for k, v in seen["headers"]]
        start_response(seen["status"], headers)
        return [answer]

    DomainDispatcherApplication.__call__ = call


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lambda-url", required=True)
    parser.add_argument("--rollout-seconds", type=float, default=1.0)
    parser.add_argument("--docker-hub-port", type=int, help="also serve a Docker Hub registry on this port")
    parser.add_argument("--github-port", type=int, help="also serve a fake GitHub (scripts/fake_github.py) on this port")
    parser.add_argument("--github-app-id", default="1", help="the GitHub App id the fake GitHub knows")
    parser.add_argument("--github-app-key", help="the GitHub App's private key (PEM file); the fake checks JWTs with its public key")
    args = parser.parse_args()

    # moto's Step Functions interpreter calls back into this server on MOTO_PORT.
    os.environ["MOTO_PORT"] = str(args.port)

    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    default_user_config.setdefault("lambda", {})["use_docker"] = False
    forward_lambda_invocations(args.lambda_url.rstrip("/"))
    fix_send_task_failure()
    fix_automated_backups()
    simulate_ecs_rollouts(args.rollout_seconds)
    report_elastic_ip_limit()
    keep_ecr_layers()
    record_calls()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    fire_schedules(args.port)
    print(f"emulator listening on http://127.0.0.1:{args.port}", flush=True)
    if args.docker_hub_port:
        serve_docker_hub(args.docker_hub_port)
        print(f"Docker Hub registry listening on http://127.0.0.1:{args.docker_hub_port}", flush=True)
    if args.github_port:
        from cryptography.hazmat.primitives import serialization

        import fake_github

        key = serialization.load_pem_private_key(open(args.github_app_key, "rb").read(), password=None)
        public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        fake_github.serve(args.github_port, args.github_app_id, public)
        print(f"fake GitHub listening on http://127.0.0.1:{args.github_port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
