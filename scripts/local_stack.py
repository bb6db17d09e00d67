"""The local stack as code: start and stop it (the AWS emulator, the Rust
Lambdas under cargo lambda watch, the control plane), and talk to it as a
user would (push webhooks, images, follow executions). The CLI
(scripts/stack.py), the tests (tests/) and the benchmarks use it.

The control plane is created exactly as template.yaml describes it: the same
table, secret and state machines with the same DefinitionSubstitutions, only
with shorter waits.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "stepdeploy"
SECRET_NAME = "stepdeploy/webhook-secret"
# The local stack's webhook secret; the sample events are signed with it.
LOCAL_WEBHOOK_SECRET = "stepdeploy-local-webhook-secret"
# The local stack's Docker Hub hook token: hooks post to .../dockerhub/<token>.
DOCKER_HUB_TOKEN_NAME = "stepdeploy/docker-hub-hook-token"
LOCAL_DOCKER_HUB_TOKEN = "stepdeploy-local-docker-hub-token"
# The local GitHub App: its id, and where its private key is kept (the key
# itself is made by `up`, in the stack's directory).
GITHUB_APP_ID = "424242"
GITHUB_APP_KEY_NAME = "stepdeploy/github-app-key"
# The preview schedules' group and the role Scheduler starts a teardown as
# (template.yaml: PreviewSchedules, PreviewExpiryRole).
PREVIEW_SCHEDULE_GROUP = "stepdeploy-previews"
PREVIEW_EXPIRY_ROLE = "stepdeploy-preview-expiry"
DEFAULT_PORT = 5050
# cargo lambda's own default: plain `cargo lambda invoke <function>` reaches `make up`'s stack.
DEFAULT_LAMBDA_PORT = 9000

# Every ${X} of statemachine/*.asl.json, with the value template.yaml gives it
# on AWS and the local one. tests/e2e/test_definitions.py checks the three agree.
FUNCTIONS = {
    "RecordDeploymentFunctionArn": "record-deployment",
    "ImageReadyFunctionArn": "image-ready",
    "PreflightFunctionArn": "preflight",
    "GitHubFunctionArn": "github",
    "ProvisionNetworkFunctionArn": "provision-network",
    "ProvisionDatabaseFunctionArn": "provision-database",
    "ProvisionLoadBalancerFunctionArn": "provision-load-balancer",
    "ProvisionServiceFunctionArn": "provision-service",
    "TeardownFunctionArn": "teardown",
}


def substitutions(poll_seconds: int) -> dict[str, str]:
    subs = {k: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{v}" for k, v in FUNCTIONS.items()}
    subs["PollIntervalSeconds"] = str(poll_seconds)
    return subs


def render_definition(path: Path, subs: dict[str, str]) -> str:
    text = path.read_text()
    for key, value in subs.items():
        text = text.replace("${" + key + "}", value)
    if "${" in text:
        raise SystemExit(f"{path.name}: a ${{...}} placeholder has no substitution")
    json.loads(text)
    return text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def read_env(path: Path) -> dict[str, str]:
    env = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                env[k] = v
    return env


def say(msg: str) -> None:
    print(f"stepdeploy: {msg}", flush=True)


class Stack:
    def __init__(self, state_dir: Path):
        self.dir = state_dir
        self.env_file = state_dir / "env"

    # --- processes ---

    def pid(self, name: str) -> int | None:
        f = self.dir / f"{name}.pid"
        if f.exists():
            try:
                pid = int(f.read_text().strip())
            except ValueError:
                return None
            return pid if alive(pid) else None
        return None

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> int:
        log = open(self.dir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        (self.dir / f"{name}.pid").write_text(str(proc.pid))
        return proc.pid

    def wait_port(self, name: str, port: int, seconds: float) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            if port_open(port):
                return
            if self.pid(name) is None:
                raise SystemExit(f"{name} exited; see {self.dir / (name + '.log')}")
            time.sleep(0.2)
        raise SystemExit(f"{name} did not listen on {port} within {seconds:.0f}s; see {self.dir / (name + '.log')}")

    def down(self) -> None:
        for name in ("lambdas", "emulator"):
            pid = self.pid(name)
            if pid is None:
                (self.dir / f"{name}.pid").unlink(missing_ok=True)
                continue
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                pass
            for _ in range(50):
                if not alive(pid):
                    break
                time.sleep(0.1)
            else:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
            (self.dir / f"{name}.pid").unlink(missing_ok=True)
            say(f"stopped {name} (pid {pid})")

    # --- up ---

    def up(self, port: int | None, lambda_port: int | None, poll_seconds: int, build: bool = True,
           lambda_address: str = "127.0.0.1", reload: bool = True) -> dict[str, str]:
        """Start (or reuse) the stack. `lambda_address` "::" serves the Lambdas
        on IPv6 and IPv4 alike, where `cargo lambda invoke` looks by default.
        `reload` rebuilds and restarts a function after an edit of the
        workspace (for `make up`); tests turn it off, so an edit made while
        they run cannot restart a function in the middle of an invocation."""
        self.dir.mkdir(parents=True, exist_ok=True)
        env = read_env(self.env_file)
        if self.pid("emulator") and self.pid("lambdas") and env:
            say(f"already up: emulator {env['AWS_ENDPOINT_URL']}, webhook {env['STEPDEPLOY_WEBHOOK_URL']}")
            self.control_plane(env, poll_seconds)
            return env
        self.down()
        if build:
            say("building the Lambdas (cargo build; the first build takes a few minutes)")
            subprocess.run(["cargo", "build", "--workspace", "--bins", "--quiet"], cwd=ROOT, check=True)
        port = port or free_port()
        lambda_port = lambda_port or free_port()
        hub_port, github_port = free_port(), free_port()
        endpoint = f"http://127.0.0.1:{port}"
        app_key = self.github_app_key()
        base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        base["PATH"] = f"{VENV_BIN}:{base.get('PATH', '')}"
        aws = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        self.spawn("emulator", [sys.executable, str(ROOT / "scripts" / "emulator"), "--port", str(port),
                                "--lambda-url", f"http://127.0.0.1:{lambda_port}",
                                "--docker-hub-port", str(hub_port), "--github-port", str(github_port),
                                "--github-app-id", GITHUB_APP_ID, "--github-app-key", str(app_key)], {**base, **aws})
        self.wait_port("emulator", port, 30)
        say(f"emulator up at {endpoint}")
        env = {
            **aws,
            "STEPDEPLOY_TABLE": TABLE,
            "STEPDEPLOY_WEBHOOK_SECRET_ID": SECRET_NAME,
            "STEPDEPLOY_WEBHOOK_SECRET": LOCAL_WEBHOOK_SECRET,
            "STEPDEPLOY_WEBHOOK_URL": f"http://127.0.0.1:{lambda_port}/lambda-url/webhook/",
            "STEPDEPLOY_LAMBDA_URL": f"http://127.0.0.1:{lambda_port}",
            "STEPDEPLOY_DOCKER_HUB_TOKEN_SECRET_ID": DOCKER_HUB_TOKEN_NAME,
            "STEPDEPLOY_DOCKER_HUB_HOOK_URL": f"http://127.0.0.1:{lambda_port}/lambda-url/image-ready/dockerhub/{LOCAL_DOCKER_HUB_TOKEN}",
            "STEPDEPLOY_DOCKER_HUB_URL": f"http://127.0.0.1:{hub_port}",
            "STEPDEPLOY_TASK_EXECUTION_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/stepdeploy-task-execution",
            "STEPDEPLOY_GITHUB_API_URL": f"http://127.0.0.1:{github_port}",
            "STEPDEPLOY_GITHUB_APP_ID": GITHUB_APP_ID,
            "STEPDEPLOY_GITHUB_APP_KEY": GITHUB_APP_KEY_NAME,
            # As template.yaml sets them with a GitHub App and its default limits.
            "STEPDEPLOY_REPOSITORY_FILES": "true",
            "STEPDEPLOY_MAX_DESIRED_COUNT": "10",
            "STEPDEPLOY_MAX_CPU": "4096",
            "STEPDEPLOY_MAX_MEMORY": "30720",
            "STEPDEPLOY_DATABASE_INSTANCE_CLASSES": "db.t3.micro,db.t3.small,db.t3.medium,db.t4g.micro,db.t4g.small,db.t4g.medium",
            "RUST_LOG": "info",
        }
        env.update(self.control_plane(env, poll_seconds))
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        self.spawn("lambdas", ["cargo", "lambda", "watch", "--invoke-address", lambda_address,
                               "--invoke-port", str(lambda_port), "--env-file", str(self.env_file),
                               "--concurrency", "4", "--quiet", *([] if reload else ["--ignore-changes"])],
                   {**base, **aws})
        self.wait_port("lambdas", lambda_port, 60)
        say(f"Lambdas served by cargo lambda watch at http://127.0.0.1:{lambda_port}")
        say(f"wrote {self.env_file}")
        return env

    def github_app_key(self) -> Path:
        """The local GitHub App's private key (PKCS#1 PEM, as GitHub hands
        out), made once per stack directory."""
        path = self.dir / "github-app.pem"
        if not path.exists():
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa

            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                               serialization.NoEncryption()))
            path.chmod(0o600)
        return path

    def control_plane(self, env: dict[str, str], poll_seconds: int) -> dict[str, str]:
        """Create what template.yaml creates, idempotently."""
        import boto3

        kw = dict(endpoint_url=env["AWS_ENDPOINT_URL"], region_name=REGION,
                  aws_access_key_id="testing", aws_secret_access_key="testing")
        ddb = boto3.client("dynamodb", **kw)
        if TABLE not in ddb.list_tables()["TableNames"]:
            ddb.create_table(
                TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            )
            ddb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
        sm = boto3.client("secretsmanager", **kw)
        try:
            sm.describe_secret(SecretId=SECRET_NAME)
        except sm.exceptions.ResourceNotFoundException:
            sm.create_secret(Name=SECRET_NAME, SecretString=LOCAL_WEBHOOK_SECRET)
        try:
            sm.describe_secret(SecretId=DOCKER_HUB_TOKEN_NAME)
        except sm.exceptions.ResourceNotFoundException:
            sm.create_secret(Name=DOCKER_HUB_TOKEN_NAME, SecretString=LOCAL_DOCKER_HUB_TOKEN)
        try:
            sm.describe_secret(SecretId=GITHUB_APP_KEY_NAME)
        except sm.exceptions.ResourceNotFoundException:
            sm.create_secret(Name=GITHUB_APP_KEY_NAME, SecretString=self.github_app_key().read_text())
        ecr = boto3.client("ecr", **kw)
        try:
            ecr.create_repository(repositoryName="bank", imageTagMutability="IMMUTABLE")
        except ecr.exceptions.RepositoryAlreadyExistsException:
            pass
        sfn = boto3.client("stepfunctions", **kw)
        subs = substitutions(poll_seconds)
        existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
        arns = {}
        for name in ("deploy", "teardown"):
            definition = render_definition(ROOT / "statemachine" / f"{name}.asl.json", subs)
            full = f"stepdeploy-{name}"
            if full in existing:
                sfn.update_state_machine(stateMachineArn=existing[full], definition=definition)
                arns[name] = existing[full]
            else:
                arns[name] = sfn.create_state_machine(
                    name=full, definition=definition,
                    roleArn=f"arn:aws:iam::{ACCOUNT}:role/stepdeploy-state-machine",
                )["stateMachineArn"]
        # Preview expiry: the stack's schedule group, and the role Scheduler
        # starts the teardown as (the emulator fires due schedules).
        scheduler = boto3.client("scheduler", **kw)
        try:
            scheduler.get_schedule_group(Name=PREVIEW_SCHEDULE_GROUP)
        except scheduler.exceptions.ResourceNotFoundException:
            scheduler.create_schedule_group(Name=PREVIEW_SCHEDULE_GROUP)
        iam = boto3.client("iam", **kw)
        try:
            role_arn = iam.get_role(RoleName=PREVIEW_EXPIRY_ROLE)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                             "Principal": {"Service": "scheduler.amazonaws.com"}}]}
            role_arn = iam.create_role(RoleName=PREVIEW_EXPIRY_ROLE,
                                       AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        register_app(ddb, ROOT / "apps" / "bank.json")
        return {
            "STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN": arns["deploy"],
            "STEPDEPLOY_TEARDOWN_STATE_MACHINE_ARN": arns["teardown"],
            "STEPDEPLOY_PREVIEW_SCHEDULE_GROUP": PREVIEW_SCHEDULE_GROUP,
            "STEPDEPLOY_PREVIEW_EXPIRY_ROLE_ARN": role_arn,
        }


def register_app(ddb, path: Path, table: str = TABLE) -> None:
    """Store an app spec in the ledger (the `APPS` partition)."""
    register_spec(ddb, json.loads(path.read_text()), table)


def register_spec(ddb, spec: dict, table: str = TABLE) -> None:
    ddb.put_item(TableName=table, Item={
        "pk": {"S": "APPS"}, "sk": {"S": f"APP#{spec['name']}"}, "app": {"S": spec["name"]},
        "spec": {"S": json.dumps(spec)}, "updated_at": {"S": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    })


# --- talking to the stack ---

def clients(env: dict[str, str]):
    import boto3

    kw = dict(endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
              aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    return lambda service: boto3.client(service, **kw)


def image_config(name: str, exposed: tuple[int, ...] | None) -> bytes:
    """An image config as `docker build` writes it: a Flask app under
    gunicorn, declaring `exposed` (EXPOSE; None: no EXPOSE at all). `name`
    keeps each image's config its own."""
    config = {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "PYTHONUNBUFFERED=1"],
              "Cmd": ["gunicorn", "--bind", f"0.0.0.0:{(exposed or (8000,))[0]}", "app:app"],
              "WorkingDir": "/app", "Labels": {"org.opencontainers.image.title": name}}
    if exposed is not None:
        config["ExposedPorts"] = {f"{p}/tcp": {} for p in exposed}
    return json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                       "rootfs": {"type": "layers", "diff_ids": []}}, sort_keys=True).encode()


def put_sample_image(env: dict[str, str], repository: str, tag: str, exposed: tuple[int, ...] | None = (8000,)) -> str:
    """Push an image into the emulator's ECR as `docker push` does: its config
    blob (declaring `exposed`) as a layer upload, then its manifest; returns
    its digest. Each tag gets its own layer, so each gets its own digest."""
    ecr = clients(env)("ecr")
    layer = "sha256:" + hashlib.sha256(f"layer-{tag}".encode()).hexdigest()
    config = image_config(f"{repository}:{tag}", exposed)
    upload = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
    ecr.upload_layer_part(repositoryName=repository, uploadId=upload, partFirstByte=0,
                          partLastByte=len(config) - 1, layerPartBlob=config)
    config_digest = ecr.complete_layer_upload(repositoryName=repository, uploadId=upload,
                                              layerDigests=["sha256:" + hashlib.sha256(config).hexdigest()])["layerDigest"]
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                   "digest": config_digest},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654, "digest": layer}],
    })
    try:
        out = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)
        return out["image"]["imageId"]["imageDigest"]
    except ecr.exceptions.ImageAlreadyExistsException:
        imgs = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
        return imgs["imageDetails"][0]["imageDigest"]


def push_docker_hub_image(env: dict[str, str], repository: str, tag: str, exposed: tuple[int, ...] | None = (8000,)) -> str:
    """`docker push` of `repository:tag` to the local Docker Hub registry: its
    config blob (declaring `exposed`), then its manifest (each tag its own);
    returns its digest."""
    hub = env["STEPDEPLOY_DOCKER_HUB_URL"]
    config = image_config(f"{repository}:{tag}", exposed)
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    req = urllib.request.Request(f"{hub}/v2/{repository}/blobs/uploads/?digest={config_digest}", data=config,
                                 method="POST", headers={"content-type": "application/octet-stream"})
    urllib.request.urlopen(req, timeout=10).close()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                   "digest": config_digest},
        "layers": [],
    }).encode()
    req = urllib.request.Request(f"{hub}/v2/{repository}/manifests/{tag}", data=manifest,
                                 method="PUT", headers={"content-type": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers["Docker-Content-Digest"]


def docker_hub_hook(repository: str, tag: str) -> dict:
    """The body Docker Hub posts to a repository's webhooks after a push: the
    sample's (events/image-ready.dockerhub.json) for another repository and tag."""
    event = json.loads((ROOT / "events" / "image-ready.dockerhub.json").read_text())
    body = json.loads(event["body"])
    namespace, name = repository.split("/", 1)
    body["push_data"].update({"pushed_at": int(time.time()), "tag": tag})
    body["repository"].update({"name": name, "namespace": namespace, "owner": namespace, "repo_name": repository,
                               "repo_url": f"https://hub.docker.com/r/{repository}"})
    return body


def sample_push(delivery: str | None = None) -> tuple[dict[str, str], bytes]:
    """The headers and raw body of events/webhook.push.json."""
    event = json.loads((ROOT / "events" / "webhook.push.json").read_text())
    headers = {k: v for k, v in event["headers"].items() if k.lower().startswith("x-github") or k.lower() == "content-type"}
    headers["X-GitHub-Delivery"] = delivery or str(uuid.uuid4())
    return headers, event["body"].encode()


def post_webhook(env: dict[str, str], headers: dict[str, str], body: bytes, secret: str | None = None) -> tuple[int, dict]:
    """POST a delivery signed with the stack's secret, as GitHub does."""
    secret = env["STEPDEPLOY_WEBHOOK_SECRET"] if secret is None else secret
    headers = dict(headers)
    headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers.setdefault("content-type", "application/json")
    headers.setdefault("User-Agent", "GitHub-Hookshot/stepdeploy-local")
    return post_json(env["STEPDEPLOY_WEBHOOK_URL"], body, headers)


def post_json(url: str, body: bytes, headers: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, dict]:
    """POST and read a JSON answer, whatever its status: (status, body)."""
    headers = {"content-type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw or b"{}")
    except ValueError:
        return status, {"raw": raw.decode(errors="replace")}


def github(env: dict[str, str], method: str, path: str, body: dict | None = None):
    """Talk to the local stack's fake GitHub (`/_calls`, `/_files`, `/_faults`, ...)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{env['STEPDEPLOY_GITHUB_API_URL']}{path}", data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def scheduler_clock(env: dict[str, str], method: str = "GET", advance_seconds: float | None = None) -> dict:
    """The emulator's EventBridge Scheduler clock (`/_stepdeploy/clock`): GET
    reads it (`now`, epoch seconds), POST moves it on, DELETE puts it back."""
    data = json.dumps({"advance_seconds": advance_seconds}).encode() if method == "POST" else None
    req = urllib.request.Request(f"{env['AWS_ENDPOINT_URL']}/_stepdeploy/clock", data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def put_repository_file(env: dict[str, str], repository: str, commit: str, content: str,
                        path: str = ".stepdeploy.toml") -> None:
    """Keep `content` as `path` in `repository` at `commit` in the fake GitHub."""
    github(env, "PUT", "/_files", {"repository": repository, "ref": commit, "path": path, "content": content})


def github_reports(env: dict[str, str], repository: str, since: int = 0) -> list[tuple[str, str, str]]:
    """What the fake GitHub was told about `repository` after its `since`th
    call, in order: ("deployment", environment, ref), ("deployment status",
    state, description) and ("commit status", state, context)."""
    out = []
    for call in github(env, "GET", "/_calls")[since:]:
        path, body = call["path"].split("?")[0], call["body"] or {}
        if call["method"] != "POST" or not path.startswith(f"/repos/{repository}/"):
            continue
        if path.endswith("/deployments"):
            out.append(("deployment", body.get("environment", ""), body.get("ref", "")))
        elif path.endswith("/statuses") and "/deployments/" in path:
            out.append(("deployment status", body.get("state", ""), body.get("description", "")))
        elif "/statuses/" in path:
            out.append(("commit status", body.get("state", ""), body.get("context", "")))
    return out


def get_json(url: str, timeout: float = 30) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read() or b"{}")


def follow(env: dict[str, str], execution_arn: str, timeout: float = 600, echo: bool = True) -> dict:
    """Print each state as it is entered, with elapsed time, until the execution ends."""
    sfn = clients(env)("stepfunctions")
    start = time.time()
    seen = 0
    while True:
        if echo:  # the whole history is the emulator's costliest answer: only to print it
            events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
            for ev in events[seen:]:
                if ev["type"].endswith("StateEntered"):
                    print(f"  {time.time() - start:6.1f}s  {ev['stateEnteredEventDetails']['name']}", flush=True)
            seen = len(events)
        desc = sfn.describe_execution(executionArn=execution_arn)
        if desc["status"] != "RUNNING":
            return desc
        if time.time() - start > timeout:
            raise SystemExit(f"execution still running after {timeout:.0f}s: {execution_arn}")
        time.sleep(0.3)


def inventory(env: dict[str, str], app: str, environment: str) -> list[tuple[str, str, str]]:
    """What exists in the emulator carrying this environment's tags, service by service."""
    c = clients(env)
    owner = [{"Name": "tag:stepdeploy:app", "Values": [app]}, {"Name": "tag:stepdeploy:environment", "Values": [environment]}]
    role = lambda tags: next((t["Value"] for t in tags or [] if t["Key"] == "stepdeploy:role"), "")  # noqa: E731
    ec2 = c("ec2")
    rows = [("vpc", v["VpcId"], v["CidrBlock"]) for v in ec2.describe_vpcs(Filters=owner)["Vpcs"]]
    rows += [(f"subnet", s["SubnetId"], f"{role(s.get('Tags'))} {s['CidrBlock']} {s['AvailabilityZone']}")
             for s in sorted(ec2.describe_subnets(Filters=owner)["Subnets"], key=lambda s: role(s.get("Tags")))]
    rows += [("internet gw", g["InternetGatewayId"], "attached") for g in ec2.describe_internet_gateways(Filters=owner)["InternetGateways"]]
    rows += [("elastic ip", a["AllocationId"], a.get("PublicIp", "")) for a in ec2.describe_addresses(Filters=owner)["Addresses"]]
    rows += [("nat gateway", n["NatGatewayId"], n["State"]) for n in ec2.describe_nat_gateways(Filters=owner)["NatGateways"]]
    rows += [("route table", r["RouteTableId"], role(r.get("Tags"))) for r in ec2.describe_route_tables(Filters=owner)["RouteTables"]]
    for g in ec2.describe_security_groups(Filters=owner)["SecurityGroups"]:
        rules = ", ".join(f"{p.get('FromPort')} from " + ",".join([r["CidrIp"] for r in p["IpRanges"]] + [x["GroupId"] for x in p["UserIdGroupPairs"]])
                          for p in g["IpPermissions"])
        rows.append(("sec. group", g["GroupId"], f"{role(g.get('Tags'))}: {rules}"))
    base = f"{app}-{environment}"
    elb = c("elbv2")
    try:
        for lb in elb.describe_load_balancers(Names=[base])["LoadBalancers"]:
            rows.append(("load bal.", lb["LoadBalancerName"], f"{lb['State']['Code']} http://{lb['DNSName']}"))
        for tg in elb.describe_target_groups(Names=[f"{base}-tg"])["TargetGroups"]:
            rows.append(("target grp", tg["TargetGroupName"], f"{tg['TargetType']}:{tg['Port']} {tg['HealthCheckPath']}"))
    except Exception:  # noqa: BLE001 - not created yet
        pass
    try:
        for db in c("rds").describe_db_instances(DBInstanceIdentifier=f"{base}-db")["DBInstances"]:
            rows.append(("database", db["DBInstanceIdentifier"], f"{db['DBInstanceStatus']} {db['Engine']} {db['DBInstanceClass']}"))
    except Exception:  # noqa: BLE001 - not created yet
        pass
    ecs = c("ecs")
    for svc in ecs.describe_services(cluster=base, services=[base]).get("services", []):
        rows.append(("service", svc["serviceName"], f"{svc['runningCount']}/{svc['desiredCount']} running {svc['taskDefinition'].split('/')[-1]}"))
    return rows
