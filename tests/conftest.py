"""End-to-end fixtures: one local stack (emulator + the real Lambdas + the
real state machines) per test run, on free ports, stopped at the end."""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import local_stack as stk  # noqa: E402

# An app whose images are awaited briefly, for timeouts and webhook storms.
QUICK = {
    "name": "quick",
    "repository": "acme/quick",
    "image": {"repository": "quick", "wait_timeout_seconds": 4},
    "environments": [{"name": "production", "branch": "main"}, {"name": "staging", "branch": "develop"},
                     {"name": "qa", "branch": "qa"}, {"name": "uat", "branch": "uat"}],
    "network": {"cidr": "10.40.0.0/16"},
}


# An app whose images are built into GHCR and announced by GitHub package events.
GHCR_APP = {
    "name": "ghapp",
    "repository": "acme/ghapp",
    "image": {"repository": "ghcr.io/acme/ghapp", "wait_timeout_seconds": 60},
    "network": {"cidr": "10.50.0.0/16"},
}


# Apps whose images are pushed to Docker Hub and announced by its webhook; the
# second one's repository is private (the local registry refuses anonymous pulls).
HUB_APP = {
    "name": "hubapp",
    "repository": "acme/hubapp",
    "image": {"repository": "acme/hubapp", "wait_timeout_seconds": 60},
    "network": {"cidr": "10.70.0.0/16"},
}
HUB_PRIVATE_APP = {
    "name": "hubprivate",
    "repository": "acme/hubprivate",
    "image": {"repository": "docker.io/acme/private-ledger", "wait_timeout_seconds": 60},
    "network": {"cidr": "10.80.0.0/16"},
}


# An app with a NAT gateway in each availability zone.
AZ_APP = {
    "name": "azapp",
    "repository": "acme/azapp",
    "network": {"cidr": "10.60.0.0/16", "nat_gateways": "per_az"},
    "service": {"health_check_path": "/healthz", "health_check_interval_seconds": 30, "healthy_threshold": 3},
}


def new_commit() -> str:
    return secrets.token_hex(20)


class Local:
    """The running stack, as a test talks to it: over HTTP, like a user."""

    def __init__(self, env: dict[str, str], dir: Path | None = None):
        self.env = env
        self.dir = dir  # the stack's directory (its logs)
        self.client = stk.clients(env)

    def c(self, service: str):
        return self.client(service)

    def push_payload(self, commit: str, branch: str = "main", repository: str = "stepdeploy-samples/flask-banking") -> dict:
        _, body = stk.sample_push()
        payload = json.loads(body)
        payload["after"] = commit
        payload["ref"] = f"refs/heads/{branch}"
        payload["repository"]["full_name"] = repository
        payload["repository"]["pushed_at"] = int(time.time())
        return payload

    def post(self, event: str, payload: dict | bytes, delivery: str | None = None, secret: str | None = None,
             headers: dict | None = None) -> tuple[int, dict]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        h = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()), "content-type": "application/json"}
        h.update(headers or {})
        return stk.post_webhook(self.env, h, body, secret)

    def push(self, commit: str, **kw) -> tuple[int, dict]:
        delivery = kw.pop("delivery", None)
        return self.post("push", self.push_payload(commit, **kw), delivery=delivery)

    def put_image(self, repository: str, tag: str, exposed: tuple[int, ...] | None = (8000,)) -> str:
        """Push an image to the local ECR, declaring `exposed` (None: no EXPOSE)."""
        return stk.put_sample_image(self.env, repository, tag, exposed)

    def push_docker_hub(self, repository: str, tag: str, exposed: tuple[int, ...] | None = (8000,)) -> str:
        return stk.push_docker_hub_image(self.env, repository, tag, exposed)

    def docker_hub_hook(self, body: dict | bytes, token: str | None = None) -> tuple[int, dict]:
        """POST a Docker Hub webhook to image-ready's hook URL (or one with another token)."""
        url = self.env["STEPDEPLOY_DOCKER_HUB_HOOK_URL"]
        if token is not None:
            url = url.rsplit("/", 1)[0] + "/" + token
        return stk.post_json(url, body if isinstance(body, bytes) else json.dumps(body).encode(), timeout=60)

    def invoke(self, function: str, payload: dict) -> tuple[int, dict]:
        """Invoke a Lambda the way `cargo lambda invoke` does."""
        return stk.post_json(f"{self.env['STEPDEPLOY_LAMBDA_URL']}/2015-03-31/functions/{function}/invocations",
                             json.dumps(payload).encode())

    def follow(self, execution_arn: str, timeout: float = 180) -> dict:
        return stk.follow(self.env, execution_arn, timeout=timeout, echo=False)

    def wait_state(self, execution_arn: str, state: str, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if state in self.states(execution_arn):
                return
            time.sleep(0.2)
        raise AssertionError(f"{execution_arn} never entered {state}: {self.states(execution_arn)}")

    def history(self, execution_arn: str) -> list[dict]:
        return self.c("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]

    def states(self, execution_arn: str) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history(execution_arn) if e["type"].endswith("StateEntered")]

    def item(self, pk: str, sk: str) -> dict | None:
        out = self.c("dynamodb").get_item(TableName=stk.TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
        it = out.get("Item")
        return {k: list(v.values())[0] for k, v in it.items()} if it else None

    def deployment(self, app: str, environment: str, deployment_id: str) -> dict | None:
        return self.item(f"ENV#{app}#{environment}", f"DEPLOY#{deployment_id}")

    def arm_faults(self, *faults: dict) -> list[dict]:
        """Arm emulator faults (`{"kind", "service", "action", "count"}`); their listings."""
        status, reply = stk.post_json(f"{self.env['AWS_ENDPOINT_URL']}/_stepdeploy/faults",
                                      json.dumps({"faults": list(faults)}).encode())
        assert status == 200, reply
        return reply["armed"]

    def faults(self) -> dict:
        """What is armed (with what remains of each) and what fired."""
        return stk.get_json(f"{self.env['AWS_ENDPOINT_URL']}/_stepdeploy/faults")

    def clear_faults(self) -> None:
        req = urllib.request.Request(f"{self.env['AWS_ENDPOINT_URL']}/_stepdeploy/faults", method="DELETE")
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200

    def executions(self, name_part: str = "") -> list[dict]:
        sfn = self.c("stepfunctions")
        out = sfn.list_executions(stateMachineArn=self.env["STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN"], maxResults=1000)
        return [e for e in out["executions"] if name_part in e["name"]]


@pytest.fixture(scope="session")
def local(tmp_path_factory) -> Local:
    state_dir = tmp_path_factory.mktemp("stack")
    stack = stk.Stack(state_dir)
    try:
        env = stack.up(port=None, lambda_port=None, poll_seconds=0, build=False, reload=False)
        stk.register_spec(stk.clients(env)("dynamodb"), QUICK)
        stk.register_spec(stk.clients(env)("dynamodb"), GHCR_APP)
        stk.register_spec(stk.clients(env)("dynamodb"), AZ_APP)
        stk.register_spec(stk.clients(env)("dynamodb"), HUB_APP)
        stk.register_spec(stk.clients(env)("dynamodb"), HUB_PRIVATE_APP)
        for repo in ("quick", "azapp"):
            try:
                stk.clients(env)("ecr").create_repository(repositoryName=repo)
            except Exception:  # noqa: BLE001 - already there
                pass
        yield Local(env, state_dir)
    finally:
        stack.down()
        for name in ("emulator", "lambdas"):
            log = state_dir / f"{name}.log"
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print(f"--- last lines of {name}.log ---", *tail, sep="\n")


def digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# --- Fault suites: fresh apps deployed into a hostile emulator ----------------

@pytest.fixture
def faults(local):
    """The session's stack, with no fault armed before or after the test."""
    local.clear_faults()
    try:
        yield local
    finally:
        local.clear_faults()


def new_app(local: Local, name: str, cidr: str, deadlines: dict | None = None) -> str:
    """A default app of its own (own environment, own address range), so
    counting by ownership tags sees only what its deploys made."""
    spec = {"name": name, "repository": f"acme/{name}", "network": {"cidr": cidr}}
    if deadlines:
        spec["deadlines"] = deadlines
    stk.register_spec(local.c("dynamodb"), spec)
    local.c("ecr").create_repository(repositoryName=name)
    return name


def deploy(local: Local, app: str) -> tuple[str, dict]:
    """Push a new commit of the app (its image already there); the execution's ARN and end."""
    commit = new_commit()
    local.put_image(app, commit)
    status, reply = local.push(commit, repository=f"acme/{app}")
    assert status == 202, reply
    try:
        desc = local.follow(reply["execution_arn"], timeout=300)
    except SystemExit as stuck:  # say where it stopped
        last = [(e["type"], e.get("stateEnteredEventDetails", {}).get("name", "")) for e in local.history(reply["execution_arn"])[-6:]]
        raise AssertionError(f"{stuck}; its last events: {last}") from None
    return reply["execution_arn"], desc


def failures(local: Local, arn: str) -> list[tuple[str, str]]:
    """(error, cause) of every failed attempt of a task in the execution."""
    out = []
    for e in local.history(arn):
        for key, details in e.items():
            if key.endswith("FailedEventDetails") and isinstance(details, dict):
                out.append((details.get("error", ""), details.get("cause", "")))
    return out


def calls_since(local: Local, index: int) -> list[dict]:
    """The AWS calls the emulator answered after the `index`th."""
    return stk.get_json(f"{local.env['AWS_ENDPOINT_URL']}/_stepdeploy/calls?since={index}")["calls"]


def call_count(local: Local) -> int:
    return stk.get_json(f"{local.env['AWS_ENDPOINT_URL']}/_stepdeploy/calls?since=0")["count"]


# AWS services whose resources the steps create (the ledger's DynamoDB and
# Step Functions' own calls are not resources), and the actions that only read.
INFRA = {"ec2", "rds", "elasticloadbalancing", "ecs", "logs"}
READS = ("Describe", "List", "Get")


def is_mutating(call: dict) -> bool:
    """Whether a call the emulator logged changed a resource."""
    return call["service"] in INFRA and not call["action"].startswith(READS)


def watched_calls(local: Local, run) -> list[tuple[str, str, str]]:
    """Run `run()` with the emulator naming the function behind each call;
    the resource-changing calls it made, as `mutating_calls`."""
    local.clear_faults()
    local.arm_faults({"kind": "attribute_calls", "value": True})
    try:
        before = call_count(local)
        run()
        return mutating_calls(local, before)
    finally:
        local.clear_faults()


def mutating_calls(local: Local, since: int) -> list[tuple[str, str, str]]:
    """(service, action, function) of each resource-changing call after the
    `since`th, in order, as the emulator saw them."""
    return [(c["service"], c["action"], c.get("function", "")) for c in calls_since(local, since) if is_mutating(c)]


def crash_after_kth(local: Local, calls: list[tuple[str, str, str]], k: int) -> tuple[str, str, str]:
    """Arm a crash right after the k-th of these calls (as the n-th of its
    service and action); the call, as (service, action, function)."""
    service, action, function = calls[k - 1]
    nth = sum(1 for s, a, _ in calls[:k] if (s, a) == (service, action))
    local.arm_faults({"kind": "crash_after", "service": service, "action": action, "count": nth})
    return service, action, function


def assert_crashed_once(local: Local, arn: str, call: tuple[str, str, str]) -> None:
    """The crash fired once, after that call, in that function, and reached
    the state machine as the one Lambda timeout of the execution."""
    fired = [f for f in local.faults()["fired"] if f["kind"] == "crash_after"]
    assert [(f["service"], f["action"], f["function"]) for f in fired] == [call], fired
    assert [error for error, _ in failures(local, arn)] == ["Sandbox.Timedout"], failures(local, arn)
